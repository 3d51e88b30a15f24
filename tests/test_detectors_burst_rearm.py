"""The ensemble's burst filter re-arms: a second event after a quiet spell alarms even when smaller than the first."""

from __future__ import annotations

import numpy as np
import pytest

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.ensemble import EnsembleDetector, rearmed

QUIET = 1.0


def test_rearmed_undamps_only_points_after_a_quiet_spell() -> None:
    surprisal = np.array([0.0, 50.0, 40.0, 0.5, 0.0, 0.9, 20.0, 20.0])
    damped = surprisal * 0.1  # as if the burst filter damped everything
    out = rearmed(surprisal, damped, recent=[0.0, 0.0, 0.0], rearm_points=3, quiet_below=QUIET)
    # 50 starts an event (3 quiet points before); 40 is inside it and lower; 20 at index 6 starts a new
    # event after 3 quiet points; the equal 20 after it does not beat it: the plateau alarms once
    assert out.tolist() == pytest.approx([0.0, 50.0, 4.0, 0.05, 0.0, 0.09, 20.0, 2.0])
    rising = rearmed(np.array([0.0, 10.0, 20.0, 30.0, 25.0]), np.array([0.0, 1.0, 2.0, 3.0, 2.5]), [0.0, 0.0], 2, QUIET)
    assert rising.tolist() == [0.0, 10.0, 20.0, 30.0, 2.5]  # a rising onset scores as it rises, as a first event would


def test_rearmed_uses_the_memory_before_the_batch_and_leaves_nan_alone() -> None:
    surprisal = np.array([np.nan, 30.0])
    damped = np.array([np.nan, 3.0])
    assert np.isnan(rearmed(surprisal, damped, [99.0, 0.0], 2, QUIET)[0])
    assert rearmed(surprisal, damped, [99.0, 0.0], 2, QUIET)[1] == 3.0  # 99 two points back: not quiet yet
    assert rearmed(surprisal, damped, [0.0, 0.0], 2, QUIET)[1] == 30.0
    assert rearmed(surprisal, damped, [0.0], 2, QUIET)[1] == 3.0  # too little memory to call it quiet
    assert rearmed(surprisal, damped, [0.0, 0.0], 0, QUIET)[1] == 3.0  # 0 = off
    assert rearmed(surprisal, damped, [5.0, 2.0], 2, QUIET)[1] == 3.0  # below warning but not unremarkable



def _rearmed_point_by_point(surprisal: np.ndarray, damped: np.ndarray, recent: list[float], rearm_points: int,
                            quiet_below: float) -> np.ndarray:
    """The rule as its docstring says it, one point at a time (what the vectorised version must equal)."""
    out = damped.copy()
    history = list(recent)
    for i, value in enumerate(surprisal):
        if not np.isfinite(value):
            continue
        position = len(history)
        quiet_from = [p for p in range(rearm_points, position + 1) if rearm_points > 0
                      and all(h < quiet_below for h in history[p - rearm_points:p])]
        if quiet_from:
            start = quiet_from[-1]
            if value > max(history[start:position], default=-np.inf):
                out[i] = value
        history.append(float(value))
    return out


def test_rearmed_equals_the_point_by_point_rule() -> None:
    rng = np.random.default_rng(5)
    for case in range(300):
        n, k, rearm = int(rng.integers(0, 60)), int(rng.integers(0, 40)), int(rng.integers(0, 8))
        s = rng.choice([0.0, 0.5, 2.0, 2.0, 30.0], n) if case % 2 else rng.exponential(0.6, n)
        s[rng.random(n) < 0.1] = np.nan
        recent = [float(x) for x in rng.choice([0.0, 0.5, 2.0], k)]
        expected = _rearmed_point_by_point(s, s * 0.1, recent, rearm, QUIET)
        np.testing.assert_array_equal(rearmed(s, s * 0.1, recent, rearm, QUIET), expected)

def _error_rate(days: int, bursts: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    step = 300
    t = np.arange(days * 288, dtype=float) * step
    rng = np.random.default_rng(3)
    v = 0.01 + np.abs(rng.normal(0.0, 0.002, t.size))
    for start, height in bursts:
        v[start:start + 6] += height
    return t, v


def test_a_second_smaller_burst_the_next_morning_is_an_alarm() -> None:
    """Seed 7 of the demo: an error burst, then a smaller one 18 h later inside the 300-point hold."""
    train_t, train_v = _error_rate(7, [])
    t, v = _error_rate(2, [(60, 9.0), (60 + 216, 4.0)])
    t = t + train_t[-1] + 300
    levels = EnsembleDetector(AnomalyConfig()).levels

    def alarms(config: AnomalyConfig) -> list[int]:
        detector = EnsembleDetector(config)
        detector.fit(train_t, train_v)
        scores = np.concatenate([detector.score(t[k:k + 72], v[k:k + 72]) for k in range(0, t.size, 72)])
        return np.flatnonzero(scores >= levels.warning).tolist()

    rearm = alarms(AnomalyConfig())
    assert any(60 <= i < 66 for i in rearm) and any(276 <= i < 282 for i in rearm)
    # the second burst alarms as a first one would: on its rising onset (one episode), not on its plateau
    assert 1 <= sum(276 <= i < 282 for i in rearm) <= 3 and not any(282 <= i < 300 for i in rearm)
    hold_only = alarms(AnomalyConfig(burst_rearm_points=0))
    assert not any(276 <= i < 282 for i in hold_only)  # what the hold alone did: the second burst is silent
