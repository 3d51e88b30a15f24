"""Warm start, settle and remember, bursty services (min replicas, bad steps): each rule's test
fails without the rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ai_ops.backtest import good_share
from ai_ops.config import LearnerConfig, SimulationConfig, ThresholdConfig
from ai_ops.learner.change import demand_change, relation_change
from ai_ops.learner.learner import MIN_REPLICAS, SCALING, ThresholdLearner
from ai_ops.learner.observation import Observation
from ai_ops.learner.warm_start import WarmStart, demand_surges, estimate_capacity, estimate_target, replay_hpa
from ai_ops.sim.service import serve

SIX_HOURS = 6 * 3600.0
MET, BREACH = 99.99, 99.5


def obs(k: int, sla: float = MET, demand: float = 100.0, cpu: float = 70.0, latency: float = 150.0,
        **extra: object) -> Observation:
    base: dict[str, object] = {"time": k * SIX_HOURS, "sla_attainment": sla, "cost": 10.0, "cost_per_hour": 1.6,
                               "utilization_mean": 50.0, "utilization_p95": cpu, "replicas_mean": 13.0,
                               "replicas_max": 20.0, "latency_p95_max_ms": latency, "error_rate_mean": 0.01,
                               "samples": 72, "requests": demand * 72,
                               "normal_levels": {"alert_latency_p95_ms": latency}}
    base.update(extra)
    return Observation(**base)  # type: ignore[arg-type]


def specs(**scaling: float) -> dict[str, ThresholdConfig]:
    values: dict[str, float] = {"initial": 80, "min": 30, "max": 90, "max_step": 5}
    values.update(scaling)
    return {SCALING: ThresholdConfig(**values)}  # type: ignore[arg-type]


def learner(thresholds: dict[str, ThresholdConfig] | None = None, **config: object) -> ThresholdLearner:
    return ThresholdLearner(LearnerConfig(**config), thresholds or specs(), 99.95, 1500.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------- warm start

def history(target: float = 80.0, days: int = 3, seed: int = 1) -> dict[str, np.ndarray]:
    """Served metrics of a simulated service held at `target`, with the exact good share per step."""
    cfg = SimulationConfig()
    n = days * 288
    t = np.arange(n) * 300.0
    rng = np.random.default_rng(seed)
    rate = 400.0 * (1 + 0.45 * np.cos(2 * np.pi * (t / 86400.0 - 0.6))) * np.exp(rng.normal(0, 0.06, n))
    metrics = serve(cfg, t, rate, np.full(n, target))
    metrics["good_share"] = good_share(metrics, 300.0, cfg.service_time_ms)
    return metrics


def estimate(metrics: dict[str, np.ndarray], **kw: float) -> WarmStart:
    args: dict[str, float] = {"sla_target": 99.95, "lower": 30, "upper": 90}
    args.update(kw)
    return estimate_target(metrics["cpu_utilization"], metrics["replicas"], metrics["request_rate"],
                           metrics["good_share"], **args)  # type: ignore[arg-type]


def test_warm_start_estimate_finds_the_safe_region_from_history_at_an_unsafe_target() -> None:
    result = estimate(history(80.0))
    assert result.target is not None and 55 <= result.target <= 72
    assert result.evidence["capacity_rps_per_replica"] == pytest.approx(40.0, rel=0.05)
    assert result.predicted_burn is not None and result.predicted_burn <= 0.8
    assert "history steps" in result.reason
    # It never extrapolates: a target above anything history saw is not proposed.
    calm = estimate(history(40.0))
    assert calm.target is not None and calm.target <= calm.evidence["cpu_seen_max_percent"]


def test_warm_start_estimate_respects_the_bounds_and_refuses_thin_history() -> None:
    assert estimate(history(80.0), lower=30, upper=50).target == 50.0
    short = estimate(history(80.0, days=1), min_steps=1000)
    hopeless = estimate(history(80.0), lower=85, upper=90)
    assert hopeless.target == 85.0 and "cannot hold" in hopeless.reason and not hopeless.evidence["meets_slo"]
    assert short.target is None and "usable history steps" in short.reason
    with pytest.raises(ValueError, match="one shape"):
        estimate_target(np.ones(3), np.ones(2), np.ones(3), np.ones(3), sla_target=99.95, lower=30, upper=90)


def test_replay_hpa_scales_with_the_target() -> None:
    demand = np.full(50, 10.0)
    util = replay_hpa(demand, np.array([50.0, 80.0]), tolerance=0.1)
    assert util[-1, 0] == pytest.approx(0.5) and util[-1, 1] == pytest.approx(10 / 13)


def test_first_cycle_warm_start_may_exceed_max_step_with_evidence_and_says_so() -> None:
    model = learner()
    estimate_ = WarmStart(66.0, "14 days of history say so", 0.3, 68.0, {"steps": 4032})
    assert model.wants_warm_start()
    decision = model.step(obs(1, BREACH), {SCALING: 80.0}, warm_start=estimate_)
    assert decision.new[SCALING] == 66.0                        # 14 points in one move (max_step 5)
    assert "larger than max_step" in decision.reasons[SCALING] and "history" in decision.reasons[SCALING]
    assert decision.evidence["warm_start"]["target"] == 66.0
    assert model.ceiling(decision.time) == 68.0                 # the predicted limit is never probed
    assert not model.wants_warm_start()
    # Without an estimate the same window moves at most max_step.
    assert learner().step(obs(1, BREACH), {SCALING: 80.0}).new[SCALING] == 75.0


def test_warm_start_is_bounded_by_the_guardrails() -> None:
    model = learner(specs(min=70))
    decision = model.step(obs(1), {SCALING: 80.0}, warm_start=WarmStart(40.0, "history", 0.1))
    assert decision.new[SCALING] == 70.0
    off = learner(warm_start=False)
    assert not off.wants_warm_start()


# ---------------------------------------------------------------- settle and remember

def test_a_known_bad_target_is_never_probed_again_while_the_workload_is_unchanged() -> None:
    model = learner(exploration=0.5)
    current = {SCALING: 80.0}
    current = model.step(obs(1, BREACH), current).new            # 80 bad -> 75
    for k in range(2, 6):
        current = model.step(obs(k), current).new                # probe 77
    assert current[SCALING] == 77.0
    current = model.step(obs(6, BREACH), current).new            # rollback: 77 known-bad
    seen = set()
    for k in range(7, 7 + 4 * 60):                               # 60 days of clean windows
        current = model.step(obs(k), current).new
        seen.add(current[SCALING])
    assert max(seen) < 77.0                                      # the old 14-day expiry re-probed it
    assert model.learning_status().status == "settled"


def test_settled_only_with_its_criterion_not_while_walking() -> None:
    model = learner()
    current = {SCALING: 80.0}
    statuses = []
    for k in range(1, 4):
        decision = model.step(obs(k), current)
        current, statuses = decision.new, [*statuses, decision.status]
    assert "settled" not in statuses                             # no known limit yet: exploring
    assert model.learning_status().status == "exploring"
    model = learner()
    current = model.step(obs(1, BREACH), {SCALING: 80.0}).new
    for k in range(2, 40):
        current = model.step(obs(k), current).new
    status = model.learning_status()
    assert status.status == "settled" and "known-bad" in status.criterion


def test_a_demand_change_decays_the_evidence_and_a_weekend_dip_does_not() -> None:
    model = learner(change_min_windows=8)
    current = model.step(obs(1, BREACH, demand=100.0), {SCALING: 80.0}).new
    for k in range(2, 20):
        current = model.step(obs(k, demand=100.0 + k % 3), current).new
    assert model.known_bad
    for k in range(20, 28):                                      # 15% lower: not a new workload
        current = model.step(obs(k, demand=85.0 + k % 3), current).new
    assert model.known_bad and not model.workload_changes
    for k in range(28, 36):                                      # three times the demand
        decision = model.step(obs(k, demand=300.0 + k % 3), current)
        current = decision.new
    assert model.workload_changes and model.workload_changes[-1]["kind"] == "demand"
    assert not model.known_bad and len(model.windows) <= 8      # forgotten only now


def test_change_tests_on_their_own() -> None:
    ref, same, high = np.full(12, 100.0) + np.arange(12), np.full(8, 104.0) + np.arange(8), np.full(8, 400.0)
    assert not demand_change(ref, same, 0.001, 1.5).changed
    assert demand_change(ref, high + np.arange(8), 0.001, 1.5).changed
    cpu = np.linspace(60, 80, 12)
    latency = np.exp(0.02 * cpu + 4)
    assert not relation_change(cpu, latency, cpu[:8], latency[:8], 0.001, 0.25).changed
    slower = relation_change(cpu, latency, cpu[:8], latency[:8] * 2.0, 0.001, 0.25)
    assert slower.changed and slower.kind == "relation"
    outside = relation_change(cpu, latency, cpu[:8] - 40, latency[:8] * 2.0, 0.001, 0.25)
    assert not outside.changed                                    # never judged outside the fitted range


# ---------------------------------------------------------------- bursty services

def test_bad_steps_make_a_target_bad_even_when_the_average_burn_is_fine() -> None:
    model = learner(settle_windows=4, max_bad_step_share=0.15)
    current = {SCALING: 60.0}
    for k in range(1, 5):
        current = model.step(obs(k, MET, bad_step_share=0.4), current).new
    assert current[SCALING] < 60.0 and model.is_bad(60.0, 4 * SIX_HOURS)
    fine = learner(settle_windows=4, max_bad_step_share=0.5)
    current = {SCALING: 60.0}
    for k in range(1, 5):
        current = fine.step(obs(k, MET, bad_step_share=0.4), current).new
    assert current[SCALING] >= 60.0


def test_min_replicas_rise_when_the_target_floor_binds_and_the_status_says_so() -> None:
    thresholds = {**specs(min=30, initial=30),
                  MIN_REPLICAS: ThresholdConfig(initial=2, min=2, max=20, max_step=4)}
    model = learner(thresholds)
    current = {SCALING: 30.0, MIN_REPLICAS: 2.0}
    # First the learner asks for the history to size the floor from (wants_warm_start); a caller that
    # has none gets the stepwise rule on the next cycle: max_step up.
    decision = model.step(obs(1, 98.0), current)
    assert not decision.changed and model.wants_warm_start() and model.status() == "converging"
    decision = model.step(obs(2, 98.0), current)
    assert decision.new[MIN_REPLICAS] == 6.0 and "lower bound" in decision.reasons[MIN_REPLICAS]
    assert "binds" in model.learning_status().binding
    # Without the min-replicas variable the status names the bound and the fix.
    alone = learner(specs(min=30, initial=30))
    alone.step(obs(1, 98.0), {SCALING: 30.0})
    status = alone.learning_status()
    assert status.status == "settled" and MIN_REPLICAS in status.binding and "30" in status.binding


def test_the_simulator_honours_a_min_replicas_timeline_and_old_calls_still_work() -> None:
    cfg = SimulationConfig()
    t = np.arange(100) * 300.0
    rate = np.full(100, 100.0)
    floor = np.where(np.arange(100) < 50, 2.0, 12.0)
    plain = serve(cfg, t, rate, np.full(100, 70.0))
    held = serve(cfg, t, rate, np.full(100, 70.0), None, min_replicas=floor)
    assert plain["replicas"][-1] == held["replicas"][0] and held["replicas"][-1] == 12.0


def test_exact_good_share_follows_the_latency_model() -> None:
    metrics = {"latency_p95_ms": np.array([120.0, 300.0, 5000.0]), "error_rate": np.array([0.0, 0.0, 0.0])}
    share = good_share(metrics, 300.0, 40.0)
    assert share[0] > 0.9999 and share[1] == pytest.approx(0.95) and share[2] < 0.2


def test_state_survives_a_json_round_trip_with_the_new_memory() -> None:
    model = learner()
    current = model.step(obs(1, BREACH), {SCALING: 80.0}, warm_start=WarmStart(70.0, "history", 0.2, 74.0)).new
    for k in range(2, 10):
        current = model.step(obs(k), current).new
    state = json.loads(json.dumps(model.state_dict()))
    resumed = ThresholdLearner(LearnerConfig(), specs(), 99.95, 1500.0, state=state)
    assert resumed.state_dict() == model.state_dict()
    assert resumed.step(obs(10), current).new == model.step(obs(10), current).new


def test_demand_surge_onsets_are_flagged_causally_and_only_at_the_jump() -> None:
    rate = np.full(48, 100.0)
    rate[20:26] = 240.0   # a 2.4x surge lasting half an hour
    rate[40] = 130.0      # ordinary noise
    flags = demand_surges(rate)
    assert flags[20:26].tolist() == [True] * 6 and flags.sum() == 6  # the hour's median is still 100
    # Causal: the flag of a step does not change when later steps change.
    later = rate.copy()
    later[30:] = 1000.0
    assert (demand_surges(later)[:30] == flags[:30]).all()


# ---------------------------------------------------------------- bursty services: sizing the floor

def bursty_history(days: int = 4, seed: int = 3, target: float = 30.0, floor: float = 2.0) -> dict[str, np.ndarray]:
    """A daily cycle with short x3 bursts that arrive within one step, served at `target` / `floor`."""
    cfg = SimulationConfig()
    n = days * 288
    t = np.arange(n) * 300.0
    rng = np.random.default_rng(seed)
    rate = 150.0 * (1 + 0.4 * np.cos(2 * np.pi * (t / 86400.0 - 0.6))) * np.exp(rng.normal(0, 0.03, n))
    for begin in rng.integers(0, n - 3, size=6 * days):
        rate[begin:begin + 2] *= 3.0
    metrics = serve(cfg, t, rate, np.full(n, target), min_replicas=np.full(n, floor))
    metrics["good_share"] = good_share(metrics, 300.0, cfg.service_time_ms)
    return metrics


def sized(metrics: dict[str, np.ndarray], **kw: object) -> WarmStart:
    args: dict[str, object] = {"sla_target": 99.95, "targets": (30.0, 90.0), "floors": (2.0, 60.0)}
    args.update(kw)
    return estimate_capacity(metrics["cpu_utilization"], metrics["replicas"], metrics["request_rate"],
                             metrics["good_share"], **args)  # type: ignore[arg-type]


def test_capacity_estimate_sizes_a_floor_that_serves_the_bursts_the_target_cannot() -> None:
    past = bursty_history()
    # The target alone: the bursts are surges, left out, so a target is found; served, it breaches.
    alone = estimate(past)
    assert alone.target is not None
    pair = sized(past)
    assert pair.min_replicas is not None and pair.target is not None and pair.evidence["meets_slo"]
    # Replayed on the same demand through the simulator: the pair holds the SLO, the target alone does not.
    cfg, rate = SimulationConfig(), past["request_rate"]
    t = np.arange(rate.size) * 300.0
    for target, floor, holds in ((pair.target, pair.min_replicas, True), (alone.target, 2.0, False)):
        served = serve(cfg, t, rate, np.full(rate.size, target), min_replicas=np.full(rate.size, floor))
        sla = 100 * float((rate * good_share(served, 300.0, cfg.service_time_ms)).sum() / rate.sum())
        assert (sla >= 99.95) == holds, (target, floor, sla)
    # Headroom for bursts larger than any seen: a higher floor, never a lower one.
    assert sized(past, headroom=0.2).min_replicas > pair.min_replicas
    # Bounds: the floor never below the one in force, never above its bound; the target in its range.
    bounded = sized(past, floors=(30.0, 32.0), targets=(30.0, 40.0))
    assert bounded.min_replicas is not None and 30.0 <= bounded.min_replicas <= 32.0
    assert bounded.target is not None and 30.0 <= bounded.target <= 40.0
    assert sized(bursty_history(days=1), min_steps=400).too_short


def floor_specs() -> dict[str, ThresholdConfig]:
    return {**specs(), MIN_REPLICAS: ThresholdConfig(initial=2, min=2, max=60, max_step=4)}


def test_warm_start_with_min_replicas_moves_both_past_max_step_with_evidence() -> None:
    model = learner(floor_specs())
    assert model.wants_warm_start()
    past = bursty_history(target=80.0)
    estimate_ = model.warm_start_estimate(past, past["good_share"], {SCALING: 80.0, MIN_REPLICAS: 2.0})
    assert estimate_.min_replicas is not None and estimate_.min_replicas > 6
    decision = model.step(obs(1, BREACH), {SCALING: 80.0, MIN_REPLICAS: 2.0}, warm_start=estimate_)
    assert decision.new[MIN_REPLICAS] == estimate_.min_replicas
    assert "larger than max_step" in decision.reasons[MIN_REPLICAS]
    assert "every burst counted" in decision.reasons[MIN_REPLICAS]
    # The floor's upper bound still holds.
    capped = learner({**specs(), MIN_REPLICAS: ThresholdConfig(initial=2, min=2, max=8, max_step=4)})
    decision = capped.step(obs(1, BREACH), {SCALING: 80.0, MIN_REPLICAS: 2.0}, warm_start=estimate_)
    assert decision.new[MIN_REPLICAS] == 8.0


def test_a_bad_target_with_min_replicas_learned_is_resized_from_history_not_stepped() -> None:
    model = learner(floor_specs())
    current = {SCALING: 50.0, MIN_REPLICAS: 10.0}
    model.warm_started = True
    decision = model.step(obs(1, 90.0), current)  # far over budget: known-bad at once
    assert not decision.changed and model.wants_warm_start()
    assert "re-sized from the history" in model.learning_status().criterion
    # The re-size: the floor only rises, the target only falls (an estimate above 50 is held at 50).
    resize = WarmStart(70.0, "history with the burst", 0.5, None, {}, min_replicas=24.0)
    decision = model.step(obs(2, MET), current, warm_start=resize)
    assert decision.new[MIN_REPLICAS] == 24.0 and decision.new[SCALING] == 50.0
    assert "re-sized from history" in decision.reasons[MIN_REPLICAS]
    assert not model.wants_warm_start()
    # Without the re-size rule the known-bad target would simply have retreated by max_step.
    plain = learner(specs())
    assert plain.step(obs(1, 90.0), {SCALING: 50.0}).new[SCALING] == 45.0


def test_a_floor_that_carries_the_load_is_not_probed_above_and_counts_as_settled() -> None:
    model = learner(floor_specs())
    model.warm_started = True
    current = {SCALING: 30.0, MIN_REPLICAS: 40.0}
    for k in range(1, 7):  # replicas at the floor: a higher target saves nothing
        current = model.step(obs(k, MET, replicas_mean=40.2), current).new
    assert current[SCALING] == 30.0 and model.status() == "settled"
    assert "carry the load" in model.learning_status().criterion
    busy = learner(floor_specs())
    busy.warm_started = True
    current = {SCALING: 30.0, MIN_REPLICAS: 10.0}
    for k in range(1, 7):  # most replicas above the floor: probing saves money
        current = busy.step(obs(k, MET, replicas_mean=30.0), current).new
    assert current[SCALING] > 30.0


def test_a_warm_start_on_too_little_history_waits_for_more() -> None:
    model = learner()
    short = WarmStart(None, "only 72 usable history steps (< 288)", evidence={"steps": 72}, too_short=True)
    model.step(obs(1), {SCALING: 80.0}, warm_start=short)
    assert model.wants_warm_start()
    model.step(obs(2), {SCALING: 80.0}, warm_start=WarmStart(65.0, "a day of history", 0.5))
    assert not model.wants_warm_start()


def test_a_resize_never_lowers_the_floor_in_force() -> None:
    model = learner(floor_specs())
    model.warm_started = True
    current = {SCALING: 50.0, MIN_REPLICAS: 10.0}
    model.step(obs(1, 90.0), current)
    lower = WarmStart(40.0, "history", 0.5, None, {}, min_replicas=5.0)
    decision = model.step(obs(2, MET), current, warm_start=lower)
    assert decision.new[SCALING] == 40.0 and decision.new[MIN_REPLICAS] == 10.0
