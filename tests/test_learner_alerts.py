"""Alert thresholds on a page budget; the CPU alert never inside the autoscaler's band."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ai_ops.config import HPA_TOLERANCE, LearnerConfig, ThresholdConfig
from ai_ops.learner.alerts import budget_threshold, pages_and_catches
from ai_ops.learner.learner import SCALING, ThresholdLearner
from ai_ops.learner.observation import Observation, normal_levels, observe

SIX_HOURS = 6 * 3600.0
LATENCY = "alert_latency_p95_ms"
CPU = "alert_cpu_utilization"


def window(k: int, normal_ms: float | None = 200.0, sla: float = 99.99, fired: bool = False,
           level: float | None = None) -> Observation:
    return Observation(time=k * SIX_HOURS, sla_attainment=sla, cost=10.0, cost_per_hour=1.6, utilization_mean=50.0,
                       utilization_p95=70.0, replicas_mean=13.0, replicas_max=20.0, latency_p95_max_ms=250.0,
                       error_rate_mean=0.01, samples=72, alerts_fired={LATENCY: fired},
                       normal_levels={} if normal_ms is None else {LATENCY: normal_ms},
                       alert_fire_levels={} if level is None else {LATENCY: level})


def model(**config: object) -> ThresholdLearner:
    specs = {SCALING: ThresholdConfig(initial=80, min=30, max=90, max_step=5, pin=True),
             LATENCY: ThresholdConfig(initial=500, min=100, max=5000, max_step=5000)}
    return ThresholdLearner(LearnerConfig(**config), specs, 99.95, 1500.0)  # type: ignore[arg-type]


def run(learner: ThresholdLearner, windows: list[Observation], start: float = 500.0) -> list[float]:
    current, path = {SCALING: 80.0, LATENCY: start}, []
    for w in windows:
        current = learner.step(w, current).new
        path.append(current[LATENCY])
    return path


def test_normal_level_leaves_out_the_flagged_steps() -> None:
    latency = np.full(72, 200.0)
    latency[:5] = 3000.0                      # an incident the detectors flagged
    flagged = np.zeros(72, dtype=bool)
    flagged[:5] = True
    assert normal_levels({"latency_p95_ms": latency}, flagged)[LATENCY] == pytest.approx(200.0)
    assert normal_levels({"latency_p95_ms": latency})[LATENCY] > 2000      # unflagged: the incident counts
    assert normal_levels({"latency_p95_ms": latency[:5]}) == {}             # too few steps to say


def test_observe_reports_the_normal_level_of_each_alert_metric() -> None:
    n = 72
    values = {"request_rate": np.full(n, 100.0), "cpu_utilization": np.linspace(40, 60, n),
              "latency_p95_ms": np.full(n, 180.0), "error_rate": np.full(n, 0.02), "replicas": np.full(n, 4.0),
              "cost_per_hour": np.full(n, 1.0)}
    obs = observe(0.0, 300, values, {}, 500.0, anomalous_steps=np.zeros(n, dtype=bool))
    assert set(obs.normal_levels) == {"alert_latency_p95_ms", "alert_cpu_utilization", "alert_error_rate"}
    assert obs.normal_levels["alert_cpu_utilization"] == pytest.approx(np.percentile(np.linspace(40, 60, n), 99))


def week(breach_every: int = 0) -> list[Observation]:
    """28 windows (one week at 6 h): normal fire levels 200..470 ms; every `breach_every`-th window
    breaches the SLA with latency held at 900 ms."""
    out = []
    for k in range(1, 29):
        breach = bool(breach_every) and k % breach_every == 0
        out.append(window(k, sla=99.5 if breach else 99.99, level=900.0 if breach else 190.0 + 10 * k))
    return out


def test_page_budget_picks_the_most_sensitive_threshold_that_keeps_to_the_budget() -> None:
    learner = model(alert_cooldown_cycles=0, pages_per_week=2.0, alert_budget_use=1.0, alert_min_windows=8)
    path = run(learner, week(breach_every=14), start=1000.0)
    # Two breached windows in the week, budget 2 pages: it pages exactly in those two (> 470 ms).
    assert 470.0 - 24.5 < path[-1] <= 470.0 + 24.5   # on the 24.5 ms grid, above every normal window
    choice = learner.alert_choice(LATENCY, 80.0)
    assert choice is not None and choice.pages == 2 and choice.caught == 2 and choice.recall == 1.0
    # Without the budget (a huge one) the most sensitive threshold is the lower bound: noise pages.
    loose = run(model(alert_cooldown_cycles=0, pages_per_week=1000.0, alert_min_windows=8), week(14), start=1000.0)
    assert loose[-1] < 200.0


def test_page_budget_gives_up_catching_when_breaches_look_like_normal_windows() -> None:
    learner = model(alert_cooldown_cycles=0, pages_per_week=1.0, alert_budget_use=1.0, alert_min_windows=8)
    windows = [window(k, sla=99.5 if k % 2 else 99.99, level=200.0 + k) for k in range(1, 29)]
    path = run(learner, windows, start=100.0)
    choice = learner.alert_choice(LATENCY, 80.0)
    assert choice is not None and choice.pages <= 1             # never over budget to chase recall
    assert path[-1] >= 227.0 - 24.5


def test_decision_evidence_reports_pages_per_week_and_recall() -> None:
    learner = model(alert_cooldown_cycles=0, alert_min_windows=8, alert_budget_use=1.0)
    current = {SCALING: 80.0, LATENCY: 1000.0}
    decision = None
    for w in week(breach_every=14):
        decision = learner.step(w, current)
        current = decision.new
    assert decision is not None
    row = decision.evidence["alerts"][LATENCY]
    assert row["budget_pages_per_week"] == 2.0 and row["recall"] == 1.0 and row["pages_per_week"] <= 2.0


def test_no_ratchet_a_silent_breach_does_not_lower_the_alert_forever() -> None:
    learner = model(alert_cooldown_cycles=0, alert_min_windows=8)
    run(learner, [window(k, sla=99.5, fired=False) for k in range(1, 4)], start=500.0)
    assert not hasattr(learner, "alert_ceilings")
    path = run(learner, week(), start=500.0)
    assert path[-1] >= 200.0      # with no breach in memory it follows the budget, not a ceiling


def test_cpu_alert_never_sits_inside_the_autoscaler_band() -> None:
    specs = {SCALING: ThresholdConfig(initial=80, min=30, max=90, max_step=5),
             CPU: ThresholdConfig(initial=70, min=50, max=99, max_step=5)}
    learner = ThresholdLearner(LearnerConfig(alert_band_margin=2.0), specs, 99.95, 1500.0)
    decision = learner.step(window(1), {SCALING: 80.0, CPU: 70.0})
    # 80 x 1.10 + 2 = 90: raised past max_step because this guardrail wins over it.
    assert decision.new[CPU] == pytest.approx(90.0) and "band" in decision.reasons[CPU]
    assert learner.cpu_alert_floor(80.0) == pytest.approx(80 * (1 + HPA_TOLERANCE) + 2.0)
    # The page budget never picks a value inside the band either.
    levels = [window(k, level=None) for k in range(2, 40)]
    current = decision.new
    for plain in levels:
        w = Observation(**{**plain.__dict__, "alert_fire_levels": {CPU: 60.0 + (plain.time / SIX_HOURS) % 5}})
        current = learner.step(w, current).new
        assert current[CPU] >= learner.cpu_alert_floor(current[SCALING]) - 1e-9


def test_alert_only_changes_do_not_restart_the_scaling_targets_evidence() -> None:
    specs = {SCALING: ThresholdConfig(initial=80, min=30, max=90, max_step=5),
             LATENCY: ThresholdConfig(initial=500, min=100, max=5000, max_step=100)}
    learner = ThresholdLearner(LearnerConfig(alert_cooldown_cycles=0, alert_min_windows=1, alert_budget_use=1.0),
                               specs, 99.95, 1500.0)
    current = {SCALING: 80.0, LATENCY: 100.0}
    for k in range(1, 5):   # the latency alert pages in every window at 100 ms: over budget, it moves
        current = learner.step(window(k, level=150.0), current).new
    assert current[SCALING] == 85.0          # the probe is not delayed by the alert moves
    assert current[LATENCY] >= 150.0


def _budget_by_brute_force(levels: np.ndarray, breached: np.ndarray, lower: float, upper: float, grid: float,
                           allowed: float) -> tuple[float, int, int]:
    """The definition, one candidate at a time (what budget_threshold computed before it was vectorised)."""
    candidates = np.arange(lower, upper + grid / 2, grid) if upper > lower else np.array([lower])
    best: tuple[int, float] | None = None
    for threshold in candidates:
        pages, caught = pages_and_catches(levels, breached, float(threshold))
        if pages <= allowed and (best is None or caught > best[0]):
            best = (caught, float(threshold))
    chosen = round(best[1] if best else float(candidates[-1]), 6)
    return (chosen, *pages_and_catches(levels, breached, chosen))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.floats(40, 110), st.just(float("nan")), st.sampled_from([60.0, 70.0, 75.5])),
                          st.booleans()), max_size=40),
       st.integers(40, 90), st.integers(0, 30), st.sampled_from([0.5, 1.0, 2.5]), st.integers(0, 12))
def test_budget_threshold_is_the_brute_force_search(rows: list[tuple[float, bool]], lower: int, width: int,
                                                    grid: float, allowed: int) -> None:
    """Ties (levels exactly on the grid), NaN levels (never page) and an empty memory included."""
    levels = np.array([x for x, _ in rows], dtype=float)
    breached = np.array([b for _, b in rows], dtype=bool)
    choice = budget_threshold(levels, breached, float(lower), float(lower + width), grid, float(allowed), 2.0)
    assert (choice.threshold, choice.pages, choice.caught) == _budget_by_brute_force(
        levels, breached, float(lower), float(lower + width), grid, float(allowed))
    assert (choice.breached, choice.windows) == (int(breached.sum()), len(rows))


def test_alerts_share_one_cooldown_so_they_move_together_not_on_different_days() -> None:
    """Two alerts that both need to move change in the same cycle, and then neither moves again within
    `alert_cooldown_cycles`: at most one alert change per service and day (issue 10's settle target)."""
    errors = "alert_error_rate"
    specs = {SCALING: ThresholdConfig(initial=80, min=30, max=90, max_step=5, pin=True),
             LATENCY: ThresholdConfig(initial=500, min=100, max=5000, max_step=100),
             errors: ThresholdConfig(initial=1.0, min=0.05, max=10, max_step=0.25)}
    learner = ThresholdLearner(LearnerConfig(alert_cooldown_cycles=4, alert_min_windows=8), specs, 99.95, 1500.0)
    current = {SCALING: 80.0, LATENCY: 500.0, errors: 1.0}
    changed_cycles: list[tuple[int, set[str]]] = []
    for k in range(1, 40):
        # Both alerts page at their current values (the error alert from cycle 10 on): each must move up.
        obs = Observation(time=k * SIX_HOURS, sla_attainment=99.99, cost=10.0, cost_per_hour=1.6,
                          utilization_mean=50.0, utilization_p95=70.0, replicas_mean=13.0, replicas_max=20.0,
                          latency_p95_max_ms=250.0, error_rate_mean=0.01, samples=72,
                          alert_fire_levels={LATENCY: 1500.0 + 10 * (k % 3),
                                             errors: 0.5 if k < 10 else 4.0 + 0.1 * (k % 3)})
        decision = learner.step(obs, current)
        moved = {name for name in (LATENCY, errors) if decision.new[name] != current[name]}
        if moved:
            changed_cycles.append((k, moved))
        current = decision.new
    assert any(len(m) == 2 for _, m in changed_cycles)
    gaps = np.diff([k for k, _ in changed_cycles])
    assert (gaps >= 4).all()
