"""An episode's evidence is what at least half of the ensemble's members agree on, not one member's extreme value.

The alarm points still come from the combined (mean) surprisal, so scores and NAB-dev are unchanged; what changes
is how long and how strong an episode is judged to be (duration, magnitude in ai_ops.detectors.episodes).
"""

from __future__ import annotations

import numpy as np

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.ensemble import EnsembleDetector, agreed_level

STEP = 300.0


def test_agreed_level_is_the_upper_median_of_the_members_with_an_opinion() -> None:
    stacked = np.array([[30.0, 239.0, np.nan, 0.0],
                        [27.0, 0.0, np.nan, 0.0],
                        [15.0, 0.0, np.nan, 0.0],
                        [11.0, 0.0, 4.0, np.nan],
                        [0.0, 0.0, np.nan, np.nan],
                        [0.0, 0.0, np.nan, np.nan]])
    level = agreed_level(stacked, np.isfinite(stacked))
    # four of six members see a latency step: 3 of them reach 15. One member alone at 239: nothing agreed.
    # One member with an opinion: its own value. None: 0.
    assert level.tolist() == [15.0, 0.0, 4.0, 0.0]


def bursty_latency(points: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = 1_700_006_400.0 + np.arange(points) * STEP
    v = 120.0 * np.exp(rng.normal(0.0, 0.05, points))
    bursts = rng.random(points) < 0.01
    v[bursts] *= rng.uniform(2.0, 8.0, bursts.sum())  # queueing spikes: the series' own normal bursts
    return t, v


def test_a_ten_fold_latency_step_lasts_as_long_as_the_members_agree() -> None:
    t, v = bursty_latency(14 * 288)
    detector = EnsembleDetector(AnomalyConfig())
    detector.fit(t[:12 * 288], v[:12 * 288])
    tail = v[12 * 288:].copy()
    tail[100:106] = 1200.0  # 30 minutes at 10x
    detector.score(t[12 * 288:], tail)
    evidence = detector.last_evidence_
    warning = detector.levels.warning_surprisal
    assert (evidence[102:106] >= warning).all()  # the step is evidence while it lasts, not one point of it
    assert (evidence[130:] < warning).all()


def test_the_evidence_run_may_start_a_little_after_the_alarm() -> None:
    from ai_ops.detectors.episodes import evidence_after

    # A flat error rate jumps to 9 %: the GMM alone raises the alarm at once (evidence 6), the others agree
    # from the next point on (their 3-point averages catch up), for three points.
    evidence = np.array([0.0, 6.0, 19.8, 38.4, 34.5, 14.1, 3.8, 0.0])
    assert evidence_after(evidence, 15.0, 1, lag=3) == (4, 38.4)  # from the alarm to the end of the run
    assert evidence_after(evidence, 15.0, 1, lag=1) == (1, 6.0)   # no lag allowed: nothing agreed at the alarm
    lone = np.array([0.0, 2.0, 1.0, 0.0, 0.0, 0.0])               # one member alone: never agreed
    assert evidence_after(lone, 15.0, 1, lag=3) == (1, 2.0)
    assert evidence_after(evidence, 15.0, 7, lag=3) == (1, 0.0)   # at the end of the window


def test_alarms_without_evidence_add_no_duration() -> None:
    from ai_ops.detectors.episodes import FlaggedPoint, build_episodes

    step = 300.0
    lone = [FlaggedPoint("search", "cpu_utilization", t * step, 0.995, 4.0, 1) for t in (0, 1)]
    [episode] = build_episodes(lone, step, 15.0, 30.0)
    assert episode.points == 2 and episode.duration_points == 1 and episode.severity == "info"
    agreed = [FlaggedPoint("search", "cpu_utilization", 0.0, 0.995, 4.0, 1),
              FlaggedPoint("search", "cpu_utilization", step, 0.995, 20.0, 3)]
    [episode] = build_episodes(agreed, step, 15.0, 30.0)
    assert episode.duration_points == 4 and episode.severity == "warning"
