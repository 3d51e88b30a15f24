"""Episodes and their severity: duration, magnitude and agreeing metrics decide; one point is never critical."""

from __future__ import annotations

import numpy as np
import pytest

from ai_ops.detectors.episodes import (
    FlaggedPoint,
    build_episodes,
    episode_severity,
    episodes_from_records,
    sustained_runs,
)

STEP = 300.0
WARN, CRIT = 15.0, 30.0


def point(time: float, metric: str = "cpu", surprisal: float = 20.0, sustained: int = 1, service: str = "api") -> FlaggedPoint:
    return FlaggedPoint(service, metric, time, 0.995, surprisal, sustained)


@pytest.mark.parametrize("surprisal", [31.0, 1e6, 1e300])
def test_a_single_point_on_one_metric_is_never_critical(surprisal: float) -> None:
    [episode] = build_episodes([point(0.0, surprisal=surprisal)], STEP, WARN, CRIT)
    assert episode.severity == "warning"  # strong magnitude alone: a warning, not a page
    [weak] = build_episodes([point(0.0, surprisal=16.0)], STEP, WARN, CRIT)
    assert weak.severity == "info"  # one point, below the critical level: logged, not an incident


def test_duration_magnitude_and_agreement_each_matter() -> None:
    # strong and lasting (sustained 3 points) -> critical
    assert build_episodes([point(0.0, surprisal=40.0, sustained=3)], STEP, WARN, CRIT)[0].severity == "critical"
    # strong, one point each, but two metrics agree -> critical
    two = build_episodes([point(0.0, "cpu", 40.0), point(STEP, "latency", 18.0)], STEP, WARN, CRIT)
    assert len(two) == 1 and two[0].severity == "critical" and two[0].metrics == ["cpu", "latency"]
    # lasting but weak -> warning
    assert build_episodes([point(0.0, surprisal=16.0, sustained=10)], STEP, WARN, CRIT)[0].severity == "warning"
    # the rule itself
    assert episode_severity(1, 1e9, 1, CRIT) == "warning"
    assert episode_severity(3, 30.0, 1, CRIT) == "critical"
    assert episode_severity(2, 29.9, 3, CRIT) == "warning"
    assert episode_severity(1, 20.0, 1, CRIT) == "info"


def test_nearby_alarms_merge_and_distant_ones_do_not() -> None:
    points = [point(0.0), point(20 * 60.0), point(40 * 60.0, "latency"), point(3 * 3600.0)]
    episodes = build_episodes(points, STEP, WARN, CRIT, merge_gap_seconds=1800.0)
    assert [(e.start, e.points) for e in episodes] == [(0.0, 3), (3 * 3600.0, 1)]
    assert episodes[0].duration_points == 9 and episodes[0].severity == "warning"
    assert "2 metric(s) agree: cpu, latency" in episodes[0].evidence
    other_service = build_episodes([point(0.0), point(60.0, service="db")], STEP, WARN, CRIT)
    assert len(other_service) == 2  # services never merge


def test_sustained_runs_count_the_run_from_each_point() -> None:
    above = np.array([0, 1, 1, 1, 0, 1, 0, 0, 1, 1], dtype=bool)
    assert sustained_runs(above).tolist() == [0, 3, 2, 1, 0, 1, 0, 0, 2, 1]
    assert sustained_runs(np.zeros(0, dtype=bool)).tolist() == []


def test_old_records_without_evidence_still_group() -> None:
    records = [{"service": "api", "metric": "cpu", "time": 0.0, "score": 0.999, "severity": "critical"}]
    [episode] = episodes_from_records(records, STEP, WARN, CRIT)
    assert episode.severity == "info" and episode.points == 1  # the point's own level no longer makes it critical
    assert episode.to_dict()["evidence"].startswith("1 point(s) abnormal")
