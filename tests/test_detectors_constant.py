"""Constant series (a flat 0.01 % error rate, a zero error rate for days): numeric noise is not an incident,
a real step still is. Real detector code end to end: every member, the ensemble, its severity levels."""

from __future__ import annotations

import numpy as np
import pytest

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.ensemble import EnsembleDetector, build_detector
from ai_ops.detectors.registry import MEMBERS

STEP = 300.0
HISTORY = 7 * 288  # a week at 5 minutes
DAY_POINTS = 288


def trained(level: float) -> tuple[EnsembleDetector, np.ndarray]:
    t = 1_700_006_400.0 + np.arange(HISTORY + DAY_POINTS) * STEP
    detector = EnsembleDetector(AnomalyConfig())
    assert detector.fit(t[:HISTORY], np.full(HISTORY, level)).trained
    return detector, t[HISTORY:]


def float_noise(level: float, relative: float) -> np.ndarray:
    """The level as a ratio of two rates would come back: off in the last digits (around 0: as if the level were 0.01)."""
    return level + (abs(level) or 0.01) * relative * np.random.default_rng(1).standard_normal(DAY_POINTS)


@pytest.mark.parametrize("level", [0.01, 0.0, 250.0])
@pytest.mark.parametrize("relative", [1e-15, 1e-9, 1e-7])  # float64 rounding ... float32 storage (eps 1.2e-7)
def test_numeric_noise_on_a_constant_series_raises_no_alarm(level: float, relative: float) -> None:
    detector, t = trained(level)
    values = float_noise(level, relative)
    scores = detector.score(t, values)
    assert np.nanmax(scores) < detector.levels.warning, f"max score {np.nanmax(scores)}"


@pytest.mark.parametrize("name", list(MEMBERS))
def test_no_member_turns_float_noise_on_a_constant_series_into_surprise(name: str) -> None:
    """The context member (a value above the training max by 1e-17 was a never-seen symbol) and the GMM (a
    constant window scaled 30x finer than the other members' spread floor) used to give surprisal ~1e12 here."""
    t = 1_700_006_400.0 + np.arange(HISTORY + DAY_POINTS) * STEP
    member = build_detector(name, AnomalyConfig())
    assert member.fit(t[:HISTORY], np.full(HISTORY, 0.01)).trained
    surprisal = member.surprisal(t[HISTORY:], float_noise(0.01, 1e-9))  # type: ignore[attr-defined]
    assert np.nanmax(surprisal) < 1.0


@pytest.mark.parametrize(("level", "to"), [(0.0, 5.0), (0.01, 5.0), (0.01, 0.5), (0.0, 0.05)])
def test_a_real_step_off_a_constant_series_is_found_at_once_and_at_the_critical_level(level: float, to: float) -> None:
    detector, t = trained(level)
    values = np.full(DAY_POINTS, level)
    values[100:] = to  # 0 -> 5 % errors, 0.01 % -> 0.5 %, ...
    scores = detector.score(t, values)
    assert (scores[:100] < detector.levels.warning).all()
    assert scores[100] >= detector.levels.critical
    assert (scores[110:] < detector.levels.warning).all()  # one alarm for the step, not one per point


def test_a_short_error_burst_on_a_flat_error_rate_is_found() -> None:
    detector, t = trained(0.01)
    values = float_noise(0.01, 1e-12)
    values[150:156] += 2.0  # +2 percentage points for half an hour
    scores = detector.score(t, values)
    flagged = np.flatnonzero(scores >= detector.levels.warning)
    assert flagged.size and flagged[0] == 150 and flagged.max() < 160
