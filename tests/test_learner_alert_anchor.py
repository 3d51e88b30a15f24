"""Alert thresholds start from the metric's normal behaviour, then outcomes shift them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ai_ops.config import LearnerConfig, ThresholdConfig
from ai_ops.learner.learner import SCALING, ThresholdLearner
from ai_ops.learner.observation import Observation, normal_levels, observe

SIX_HOURS = 6 * 3600.0
LATENCY = "alert_latency_p95_ms"


def window(k: int, normal_ms: float | None = 200.0, sla: float = 99.99, fired: bool = False) -> Observation:
    return Observation(time=k * SIX_HOURS, sla_attainment=sla, cost=10.0, cost_per_hour=1.6, utilization_mean=50.0,
                       utilization_p95=70.0, replicas_mean=13.0, replicas_max=20.0, latency_p95_max_ms=250.0,
                       error_rate_mean=0.01, samples=72, alerts_fired={LATENCY: fired},
                       normal_levels={} if normal_ms is None else {LATENCY: normal_ms})


def model(**config: object) -> ThresholdLearner:
    specs = {SCALING: ThresholdConfig(initial=80, min=30, max=90, max_step=5, pin=True),
             LATENCY: ThresholdConfig(initial=500, min=100, max=5000, max_step=100)}
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


def test_alert_walks_from_its_initial_value_to_the_normal_level_with_headroom() -> None:
    path = run(model(alert_cooldown_cycles=0), [window(k) for k in range(1, 6)])
    assert path[:3] == [400.0, 300.0, 250.0]  # max_step 100 per cycle, then 200 ms x 1.25
    assert path[-1] == 250.0                  # settled: no further writes


def test_without_normal_levels_alerts_keep_the_outcome_rules_only() -> None:
    assert run(model(alert_cooldown_cycles=0), [window(k, normal_ms=None) for k in range(1, 4)]) == [500.0] * 3


def test_outcomes_shift_the_anchor_and_the_shift_is_kept() -> None:
    learner = model(alert_cooldown_cycles=0)
    path = run(learner, [window(k) for k in range(1, 4)])
    assert path[-1] == 250.0
    noisy = run(learner, [window(4, fired=True)], start=250.0)
    assert noisy == [300.0]                                  # fired with SLA met: +max_step/2
    assert learner.alert_offsets[LATENCY] == pytest.approx(50.0)
    # Normal latency doubles: the alert follows it and keeps the +50 ms learned from the outcome.
    later = run(learner, [window(k, normal_ms=400.0) for k in range(5, 60)], start=300.0)
    assert later[-1] == pytest.approx(400.0 * 1.25 + 50.0)


def test_a_missed_breach_caps_the_anchor_too() -> None:
    learner = model(alert_cooldown_cycles=0)
    run(learner, [window(k, normal_ms=400.0) for k in range(1, 2)], start=500.0)   # goal 500: stays
    missed = run(learner, [window(2, normal_ms=400.0, sla=99.5)], start=500.0)
    assert missed == [400.0]                                 # silent through a breach: -max_step
    later = run(learner, [window(k, normal_ms=800.0) for k in range(3, 40)], start=400.0)
    assert max(later) <= 450.0                               # never back to the 500 ms that missed it


def test_anchor_following_respects_the_alert_cooldown_and_survives_a_restart() -> None:
    learner = model(alert_cooldown_cycles=4)
    path = run(learner, [window(k) for k in range(1, 6)])
    assert path == [400.0, 400.0, 400.0, 400.0, 300.0]
    restored = ThresholdLearner(learner.config, learner.specs, 99.95, 1500.0,
                                state=json.loads(json.dumps(learner.state_dict())))
    assert restored.alert_anchor(LATENCY) == learner.alert_anchor(LATENCY)
    assert run(restored, [window(k) for k in range(6, 11)], start=300.0) == \
        run(learner, [window(k) for k in range(6, 11)], start=300.0)


def test_pinned_alert_ignores_the_normal_level() -> None:
    specs = {LATENCY: ThresholdConfig(initial=500, min=100, max=5000, max_step=100, pin=True)}
    learner = ThresholdLearner(LearnerConfig(alert_cooldown_cycles=0), specs, 99.95, 1500.0)
    current = {LATENCY: 500.0}
    for k in range(1, 4):
        assert not learner.step(window(k), current).changed


def test_alert_only_changes_do_not_restart_the_scaling_targets_evidence() -> None:
    specs = {SCALING: ThresholdConfig(initial=80, min=30, max=90, max_step=5),
             LATENCY: ThresholdConfig(initial=500, min=100, max=5000, max_step=100)}
    learner = ThresholdLearner(LearnerConfig(alert_cooldown_cycles=0), specs, 99.95, 1500.0)
    current = {SCALING: 80.0, LATENCY: 500.0}
    for k in range(1, 5):   # the latency alert moves in cycles 1-3; four clean windows at 80
        current = learner.step(window(k), current).new
    assert current == {SCALING: 85.0, LATENCY: 250.0}   # the probe is not delayed by the alert moves
