"""Episodes and their severity: duration, magnitude and agreeing evidence families decide; one point is never critical."""

from __future__ import annotations

import numpy as np
import pytest

from ai_ops.detectors.episodes import (
    EVIDENCE_FAMILIES,
    FlaggedPoint,
    build_episodes,
    episode_severity,
    episodes_from_records,
    evidence_family,
    families_of,
    sustained_runs,
)

STEP = 300.0
WARN, CRIT = 15.0, 30.0


def point(time: float, metric: str = "latency_p95_ms", surprisal: float = 20.0, sustained: int = 1, service: str = "api") -> FlaggedPoint:
    return FlaggedPoint(service, metric, time, 0.995, surprisal, sustained)


@pytest.mark.parametrize("surprisal", [31.0, 1e6, 1e300])
def test_a_single_point_on_one_metric_is_never_critical(surprisal: float) -> None:
    [episode] = build_episodes([point(0.0, surprisal=surprisal)], STEP, WARN, CRIT)
    assert episode.severity == "warning"  # strong magnitude alone: a warning, not a page
    [weak] = build_episodes([point(0.0, surprisal=16.0)], STEP, WARN, CRIT)
    assert weak.severity == "info"  # one point, below the critical level: logged, not an incident


def test_duration_magnitude_and_agreement_each_matter() -> None:
    # strong and lasting (sustained 5 points) on a symptom -> critical
    assert build_episodes([point(0.0, surprisal=40.0, sustained=5)], STEP, WARN, CRIT)[0].severity == "critical"
    # one raw spike keeps the 3-point-averaged surprisal up for 3 points: not yet "lasting"
    assert build_episodes([point(0.0, surprisal=91.0, sustained=3)], STEP, WARN, CRIT)[0].severity == "warning"
    # strong, two independent families (saturation, latency) agree over two points -> critical
    two = build_episodes([point(0.0, "cpu_utilization", 40.0), point(STEP, "latency_p95_ms", 18.0)], STEP, WARN, CRIT)
    assert len(two) == 1 and two[0].severity == "critical"
    assert two[0].metrics == ["cpu_utilization", "latency_p95_ms"] and two[0].families == ["saturation", "latency"]
    # lasting but weak -> warning
    assert build_episodes([point(0.0, surprisal=16.0, sustained=10)], STEP, WARN, CRIT)[0].severity == "warning"
    # the rule itself
    assert episode_severity(1, 1e9, ["latency"], CRIT) == "warning"
    assert episode_severity(5, 30.0, ["latency"], CRIT) == "critical"
    assert episode_severity(4, 30.0, ["latency"], CRIT) == "warning"
    assert episode_severity(2, 29.9, ["latency", "errors", "saturation"], CRIT) == "warning"
    assert episode_severity(1, 20.0, ["errors"], CRIT) == "info"


def test_one_point_is_never_critical_even_when_families_agree() -> None:
    # a demand step moves request rate and CPU in the same 5 minutes, before the autoscaler acts
    same_point = build_episodes([point(0.0, "request_rate", 45.0), point(0.0, "cpu_utilization", 45.0)],
                                STEP, WARN, CRIT)
    assert [e.severity for e in same_point] == ["warning"]
    assert episode_severity(1, 1e6, ["load", "saturation", "latency", "errors"], CRIT) == "warning"


def test_replicas_and_cost_are_one_piece_of_evidence() -> None:
    """cost = replicas x price: the pair moving together is one fact, not multi-metric agreement."""
    pair = build_episodes([point(0.0, "replicas", 40.0), point(0.0, "cost_per_hour", 40.0)], STEP, WARN, CRIT)
    [episode] = pair
    assert episode.families == ["load"] and episode.metrics == ["replicas", "cost_per_hour"]
    assert episode.severity == "warning"  # strong, one point, one family: not critical
    assert "2 metric(s) in 1 independent evidence family agree: load (replicas, cost_per_hour)" in episode.evidence
    weak_pair = build_episodes([point(0.0, "replicas", 20.0), point(0.0, "cost_per_hour", 20.0)], STEP, WARN, CRIT)
    assert weak_pair[0].severity == "info"  # below critical, one point, one family: logged only


def test_demand_and_the_capacity_that_follows_it_are_not_a_page() -> None:
    """The autoscaler follows request rate: rate + replicas + cost over many points is load the service absorbed."""
    points = [point(i * STEP, m, 50.0, sustained=6) for i in range(3)
              for m in ("request_rate", "replicas", "cost_per_hour")]
    [episode] = build_episodes(points, STEP, WARN, CRIT)
    assert episode.families == ["load"] and episode.duration_points >= 6
    assert episode.severity == "warning"  # strong and lasting, but no symptom family: not critical
    # the same load episode with latency agreeing for two points is a page
    with_latency = build_episodes([*points, point(STEP, "latency_p95_ms", 20.0, sustained=2)], STEP, WARN, CRIT)
    assert with_latency[0].severity == "critical" and with_latency[0].families == ["load", "latency"]


def test_every_metric_has_a_family_and_unknown_metrics_stand_alone() -> None:
    from ai_ops.metrics import METRICS

    assert set(METRICS) <= set(EVIDENCE_FAMILIES)
    assert evidence_family("queue_depth") == "queue_depth"
    assert families_of(["replicas", "queue_depth", "cost_per_hour", "request_rate"]) == ["load", "queue_depth"]
    # two custom metrics are two families, and a custom metric is not a symptom family
    assert episode_severity(5, 40.0, ["queue_depth"], CRIT) == "warning"


def test_nearby_alarms_merge_and_distant_ones_do_not() -> None:
    points = [point(0.0), point(20 * 60.0), point(40 * 60.0, "error_rate"), point(3 * 3600.0)]
    episodes = build_episodes(points, STEP, WARN, CRIT, merge_gap_seconds=1800.0)
    assert [(e.start, e.points) for e in episodes] == [(0.0, 3), (3 * 3600.0, 1)]
    assert episodes[0].duration_points == 9 and episodes[0].severity == "warning"
    assert "2 metric(s) in 1 independent evidence family agree: latency (latency_p95_ms)" not in episodes[0].evidence
    assert "2 metric(s) in 2 independent evidence families agree: latency (latency_p95_ms); errors (error_rate)" \
        in episodes[0].evidence
    other_service = build_episodes([point(0.0), point(60.0, service="db")], STEP, WARN, CRIT)
    assert len(other_service) == 2  # services never merge


def test_sustained_runs_count_the_run_from_each_point() -> None:
    above = np.array([0, 1, 1, 1, 0, 1, 0, 0, 1, 1], dtype=bool)
    assert sustained_runs(above).tolist() == [0, 3, 2, 1, 0, 1, 0, 0, 2, 1]
    assert sustained_runs(np.zeros(0, dtype=bool)).tolist() == []


def test_old_records_without_evidence_still_group() -> None:
    records = [{"service": "api", "metric": "cpu_utilization", "time": 0.0, "score": 0.999, "severity": "critical"}]
    [episode] = episodes_from_records(records, STEP, WARN, CRIT)
    assert episode.severity == "info" and episode.points == 1  # the point's own level no longer makes it critical
    assert episode.to_dict()["evidence"].startswith("1 point(s) abnormal")
