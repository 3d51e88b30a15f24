"""The report's numbers on constructed data with known answers: health score, trends, projection, episodes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from ai_ops.reporting.forecast import month_bounds, project_month_end
from ai_ops.reporting.health import (
    HealthInputs,
    anomaly_episodes,
    health_score,
    latency_within_share,
    weighted_error_rate,
)
from ai_ops.reporting.trends import metric_trend

DAY = 86_400
NOW = datetime(2026, 1, 20, 9, tzinfo=UTC).timestamp()


def inputs(**kw: float) -> HealthInputs:
    base = {"sla_attainment": 99.99, "sla_target": 99.95, "latency_within_objective_share": 1.0, "error_rate_mean": 0.01,
                "critical_episodes": 0, "warning_episodes": 0, "cost_ratio": 0.9}
    return HealthInputs(**{**base, **kw})


def test_perfect_day_scores_100() -> None:
    h = health_score(inputs())
    assert h.score == 100
    assert h.parts == {"sla": 40, "latency": 20, "errors": 15, "anomalies": 10, "cost": 15}
    assert h.error_budget_burn == pytest.approx(0.2)


def test_each_part_follows_the_documented_formula() -> None:
    # SLA 99.80 with target 99.95: burn = 0.20 / 0.05 = 4 -> 40 * (5 - 4) / 4 = 10 points.
    # Latency 75% within objective -> 15. Error 0.10% vs budget 0.05% -> ratio 2 -> 15 * 3/4 = 11.25.
    # 1 critical + 3 warning episodes -> 10 - 4 - 3 = 3. Cost at 125% of budget -> 15 * (1.5 - 1.25) / 0.5 = 7.5.
    h = health_score(inputs(sla_attainment=99.80, latency_within_objective_share=0.75, error_rate_mean=0.10,
                            critical_episodes=1, warning_episodes=3, cost_ratio=1.25))
    assert h.parts == {"sla": 10, "latency": 15, "errors": 11.25, "anomalies": 3, "cost": 7.5}
    assert h.score == round(10 + 15 + 11.25 + 3 + 7.5)


def test_worst_case_and_unknowns_score_zero_not_crash() -> None:
    h = health_score(inputs(sla_attainment=90.0, latency_within_objective_share=0.0, error_rate_mean=5.0,
                            critical_episodes=9, warning_episodes=9, cost_ratio=3.0))
    assert h.score == 0
    unknown = health_score(inputs(sla_attainment=float("nan"), latency_within_objective_share=float("nan"),
                                  error_rate_mean=float("nan"), cost_ratio=float("nan")))
    assert unknown.score == 10  # only the anomaly part is known; unknown parts give no points
    assert unknown.to_dict()["inputs"]["sla_attainment"] is None


def test_latency_share_and_weighted_error_rate() -> None:
    assert latency_within_share(np.array([100, 200, 400, np.nan]), 300) == pytest.approx(2 / 3)
    # A busy step's errors weigh more: (1000 * 1 + 10 * 10) / 1010
    assert weighted_error_rate(np.array([1000.0, 10.0]), np.array([1.0, 10.0])) == pytest.approx(1100 / 1010)


def _series(daily_means: list[float], last_day: float, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """7 days at 5 minutes ending at NOW: six baseline days with the given means, then the last 24 h."""
    ts = np.arange(NOW - 7 * DAY, NOW, 300.0)
    values = np.empty(ts.shape)
    block = (np.ceil((NOW - ts) / DAY) - 1).astype(int)  # 0 = last 24 h [NOW - 1 d, NOW)
    for b in range(1, 7):
        values[block == b] = daily_means[6 - b]
    values[block == 0] = last_day
    if noise:
        values += np.random.default_rng(0).normal(0, noise, ts.size)
    return ts, values


def test_trend_significant_only_beyond_the_metrics_own_variation() -> None:
    means = [100, 104, 96, 102, 98, 100]  # daily std ~2.83
    ts, v = _series(means, 120.0)
    t = metric_trend("m", ts, v, NOW)
    assert t is not None
    assert t.mean_7d == pytest.approx(100.0) and t.mean_24h == pytest.approx(120.0)
    assert t.change_pct == pytest.approx(20.0) and t.direction == "up"
    assert t.z == pytest.approx(20 / np.std(means, ddof=1))
    assert t.significant and t.baseline_days == 6
    # The same +6% move is noise for this metric (z ~ 2.1)...
    assert not metric_trend("m", *_series(means, 106.0), NOW).significant
    # ...but significant for a metric that never moves.
    flat = metric_trend("m", *_series([100] * 6, 106.0), NOW)
    assert flat.significant and flat.direction == "up"
    # A tiny move of a flat metric stays under the 5% floor.
    assert not metric_trend("m", *_series([100] * 6, 101.0), NOW).significant


def test_trend_needs_three_baseline_days_and_reports_p95() -> None:
    ts, v = _series([10] * 6, 10.0, noise=1.0)
    short = ts >= NOW - 3 * DAY
    t = metric_trend("m", ts[short], v[short], NOW)
    assert t.baseline_days == 2 and t.z is None and not t.significant
    full = metric_trend("m", ts, v, NOW)
    assert full.p95_24h == pytest.approx(np.percentile(v[ts >= NOW - DAY], 95))
    assert metric_trend("m", ts, np.full(ts.shape, np.nan), NOW) is None


def test_cost_projection_of_a_known_seasonal_series() -> None:
    start, end = month_bounds(NOW)
    ts = np.arange(start, NOW, 300.0)
    rate = 2.0 + np.sin(2 * np.pi * ts / DAY) + np.random.default_rng(1).normal(0, 0.05, ts.size)
    p = project_month_end(ts, rate, 300, NOW, budget=1500.0)
    assert p.method.startswith("ets")
    expected = 2.0 * (end - start) / 3600  # the sine sums to ~0 over whole days
    assert p.month_to_date == pytest.approx(2.0 * (NOW - start) / 3600, rel=0.02)
    assert p.projected_total == pytest.approx(expected, rel=0.02)
    assert p.lower <= p.projected_total <= p.upper
    assert p.ratio == pytest.approx(expected / 1500.0, rel=0.02)


def test_cost_projection_falls_back_to_run_rate_and_says_so() -> None:
    ts = np.arange(NOW - 10 * 3600, NOW, 300.0)
    p = project_month_end(ts, np.full(ts.shape, 3.0), 300, NOW, budget=100.0)
    assert p.method == "run-rate" and "seasonal model" in p.note
    assert p.projected_total == pytest.approx(3.0 * 10 + 3.0 * (month_bounds(NOW)[1] - NOW) / 3600)
    none = project_month_end(ts, np.full(ts.shape, np.nan), 300, NOW, budget=100.0)
    assert none.method == "none" and none.to_dict()["projected_total"] is None


def test_anomaly_points_group_into_episodes() -> None:
    points = [{"service": "a", "metric": "latency_p95_ms", "time": t, "score": 0.99, "severity": s, "surprisal": x}
              for t, s, x in [(0, "warning", 16.0), (300, "critical", 40.0), (600, "warning", 16.0),
                              (5000, "warning", 16.0)]]
    points.append({"service": "a", "metric": "error_rate", "time": 300, "score": 0.9, "severity": "warning"})
    points.append({"service": "b", "metric": "latency_p95_ms", "time": 300, "score": 0.9, "severity": "warning"})
    episodes = anomaly_episodes(points)
    # One incident touching two symptom families of service a is one episode (strong, lasting: critical);
    # service b's is its own; single points on one metric are info, never critical.
    assert [(e["service"], e["metrics"], e["points"], e["severity"]) for e in episodes] == [
        ("a", ["latency_p95_ms", "error_rate"], 4, "critical"), ("b", ["latency_p95_ms"], 1, "info"),
        ("a", ["latency_p95_ms"], 1, "info")]


def test_partial_days_of_the_window_are_marked() -> None:
    from ai_ops.metrics import ServiceMetrics
    from ai_ops.reporting.model import SlaDay
    from ai_ops.reporting.render import _partial
    from ai_ops.reporting.report import daily_series

    start = 1_767_600_000 - 1_767_600_000 % 86_400 + 9 * 3600  # 09:00 UTC
    ts = np.arange(start, start + 2 * 86_400, 300.0)
    ones = np.ones(ts.shape)
    metrics = ServiceMetrics("s", ts, 300, {"request_rate": ones * 10, "error_rate": ones * 0, "latency_p95_ms": ones,
                                            "cost_per_hour": ones * 2})
    days = daily_series(metrics, 300.0)
    assert [d["hours"] for d in days] == [15.0, 24.0, 9.0]
    assert [d["cost"] for d in days] == [30.0, 48.0, 18.0]
    assert [_partial(SlaDay.model_validate(d)) for d in days] == [" (partial: 15 h)", "", " (partial: 9 h)"]
