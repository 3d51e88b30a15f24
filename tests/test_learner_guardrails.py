"""The learner's guardrails, status and restart safety. Each guardrail test fails without it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ai_ops.config import LearnerConfig, OpsConfig, ThresholdConfig
from ai_ops.learner.learner import SCALING, LearnerStateError, ThresholdLearner, clamp_step, probe_target
from ai_ops.learner.observation import Observation, load_explained_attainment
from ai_ops.learner.reward import HOURS_PER_MONTH, reward

SIX_HOURS = 6 * 3600.0
MET, BREACH = 99.99, 99.5


def obs(k: int, sla: float = MET, **extra: object) -> Observation:
    base: dict[str, object] = {"time": k * SIX_HOURS, "sla_attainment": sla, "cost": 10.0, "cost_per_hour": 1.6,
                                   "utilization_mean": 50.0, "utilization_p95": 70.0, "replicas_mean": 13.0,
                                   "replicas_max": 20.0, "latency_p95_max_ms": 200.0, "error_rate_mean": 0.01, "samples": 72,
                                   "alerts_fired": {}}
    base.update(extra)
    return Observation(**base)  # type: ignore[arg-type]


def scaling_only(**spec: float | bool) -> dict[str, ThresholdConfig]:
    values: dict[str, float | bool] = {"initial": 80, "min": 30, "max": 90, "max_step": 5}
    values.update(spec)
    return {SCALING: ThresholdConfig(**values)}  # type: ignore[arg-type]


def learner(thresholds: dict[str, ThresholdConfig] | None = None, **config: object) -> ThresholdLearner:
    return ThresholdLearner(LearnerConfig(**config), thresholds or scaling_only(), 99.95, 1500.0)  # type: ignore[arg-type]


def drive(model: ThresholdLearner, slas: list[float], start: dict[str, float], first: int = 1) -> list[dict[str, float]]:
    current, path = dict(start), []
    for k, sla in enumerate(slas, start=first):
        current = model.step(obs(k, sla), current).new
        path.append(current)
    return path


def test_breach_lowers_the_target_and_clean_windows_probe_upward() -> None:
    path = drive(learner(exploration=0.5), [BREACH, MET, MET, MET, MET], {SCALING: 80.0})
    assert path[0][SCALING] == 75.0                      # retreat by max_step
    assert path[-1][SCALING] == pytest.approx(77.0)      # bisection probe toward the known-bad 80


def test_bounds_hold_under_repeated_breaches() -> None:
    path = drive(learner(scaling_only(min=60)), [BREACH] * 10, {SCALING: 80.0})
    assert min(p[SCALING] for p in path) == 60.0
    assert clamp_step(ThresholdConfig(initial=50, min=40, max=60, max_step=5), 58, 100) == 60


def test_max_step_limits_each_move() -> None:
    path = drive(learner(scaling_only(initial=50, max_step=2)), [MET] * 5, {SCALING: 50.0})
    assert path[-1][SCALING] == 52.0
    # The marginal retreat wants convergence_gap (3) but max_step (1) caps it.
    capped = learner(scaling_only(max_step=1), convergence_gap=3, clean_cycles_before_probe=1, probe_max_burn=0.01)
    assert drive(capped, [MET, MET, 90.0], {SCALING: 80.0})[-1][SCALING] == 79.0
    assert clamp_step(ThresholdConfig(initial=50, min=0, max=100, max_step=2), 50, 10) == 48


def test_cooldown_blocks_changes_until_enough_windows_are_observed() -> None:
    slow = learner(cooldown_cycles=3, rollback_on_breach=False)
    path = drive(slow, [BREACH, BREACH, BREACH, BREACH], {SCALING: 80.0})
    assert [p[SCALING] for p in path] == [75.0, 75.0, 75.0, 70.0]
    fast = learner(cooldown_cycles=1, rollback_on_breach=False)
    assert [p[SCALING] for p in drive(fast, [BREACH, BREACH], {SCALING: 80.0})] == [75.0, 70.0]


def test_incident_windows_teach_nothing() -> None:
    model = learner(max_incident_share=0.25)
    decision = model.step(obs(1, BREACH, anomaly_share=0.6), {SCALING: 80.0})
    assert not decision.changed and "anomalous" in decision.summary
    assert model.windows == []


@pytest.mark.parametrize("bad", [{"usable": False, "unusable_reason": "unusable data: stale"}, {"samples": 10},
                                 {"sla_attainment": float("nan")}])
def test_unusable_windows_change_nothing(bad: dict[str, object]) -> None:
    model = learner(min_samples=48)
    decision = model.step(obs(1, **{"sla": BREACH, **bad}) if "sla_attainment" not in bad
                          else obs(1, **bad), {SCALING: 80.0})  # type: ignore[arg-type]
    assert not decision.changed and decision.summary.startswith("no change")
    assert decision.reward is None


def test_rollback_restores_the_previous_values_after_a_breached_probe() -> None:
    model = learner(exploration=0.5)
    path = drive(model, [BREACH, MET, MET, MET, MET], {SCALING: 80.0})
    assert path[-1][SCALING] == 77.0                      # probe between 75 (clean) and 80 (bad)
    after = model.step(obs(6, BREACH), path[-1])
    assert after.new[SCALING] == 75.0 and "rollback" in after.reasons[SCALING]
    assert model.ceiling(obs(6).time) == 77.0
    without = learner(rollback_on_breach=False, exploration=0.5)
    path = drive(without, [BREACH, MET, MET, MET, MET], {SCALING: 80.0})
    assert without.step(obs(6, BREACH), path[-1]).new[SCALING] == 72.0


def test_pinned_thresholds_never_move() -> None:
    model = learner(scaling_only(pin=True))
    path = drive(model, [BREACH, BREACH, MET, MET, MET, MET, MET], {SCALING: 80.0})
    assert all(p[SCALING] == 80.0 for p in path)


def test_cpu_alert_is_not_lowered_for_a_breach_that_load_does_not_explain() -> None:
    specs = {**scaling_only(pin=True), "alert_cpu_utilization": ThresholdConfig(initial=90, min=50, max=99,
                                                                                 max_step=5)}
    model = learner(specs)
    incident = obs(1, BREACH, sla_attainment_load=MET, alerts_fired={"alert_cpu_utilization": False})
    assert not model.step(incident, {SCALING: 80.0, "alert_cpu_utilization": 90.0}).changed


def test_scaling_target_ignores_incidents_at_normal_load() -> None:
    model = learner()
    decision = model.step(obs(1, BREACH, sla_attainment_load=MET), {SCALING: 80.0})
    assert decision.new[SCALING] == 80.0
    overload = learner().step(obs(1, BREACH, sla_attainment_load=BREACH), {SCALING: 80.0})
    assert overload.new[SCALING] == 75.0


def test_load_explained_attainment_separates_incidents_from_overload() -> None:
    n = 72
    rate = np.full(n, 100.0)
    errors = np.full(n, 0.01)
    cpu = np.linspace(50, 70, n)
    latency = np.full(n, 150.0)
    latency[10:14] = 1500.0                      # a latency spike at ordinary CPU: an incident
    assert load_explained_attainment(rate, errors, latency, cpu, 300.0, 99.95) == pytest.approx(99.99)
    cpu[60:64], latency[60:64] = 95.0, 900.0     # overload at the highest CPU: the target's fault
    assert load_explained_attainment(rate, errors, latency, cpu, 300.0, 99.95) < 99.95
    surge = np.zeros(n, dtype=bool)
    surge[60:64] = True                          # ...unless the detectors flagged a demand surge there
    assert load_explained_attainment(rate, errors, latency, cpu, 300.0, 99.95, surge) == pytest.approx(99.99)


def test_probe_target_is_bisection_below_the_known_bad_value() -> None:
    spec = ThresholdConfig(initial=60, min=30, max=90, max_step=5)
    assert probe_target(60, 70, spec, 0.5, 1.0) == 64.0
    assert probe_target(60, None, spec, 0.5, 1.0) == 65.0
    assert probe_target(60, 61, spec, 0.5, 1.0) == 60.0
    assert probe_target(60, None, spec, 0.0, 1.0) == 60.0


def test_status_reaches_settled_with_its_criterion() -> None:
    model = learner()
    drive(model, [BREACH] + [MET] * 30, {SCALING: 80.0})
    status = model.learning_status()
    assert status.status == "settled" and "known-bad" in status.criterion
    assert status.ceiling == 80.0


def test_restart_from_json_state_continues_exactly() -> None:
    slas = [BREACH, MET, MET, MET, MET, BREACH, MET, MET, MET, MET, MET, MET]
    straight = drive(learner(), slas, {SCALING: 80.0})
    first = learner()
    half = drive(first, slas[:5], {SCALING: 80.0})
    state = json.loads(json.dumps(first.state_dict()))
    resumed = ThresholdLearner(LearnerConfig(), scaling_only(), 99.95, 1500.0, state=state)
    rest = drive(resumed, slas[5:], half[-1], first=6)
    assert half + rest == straight


def test_old_state_version_is_a_clear_error() -> None:
    with pytest.raises(LearnerStateError, match=r"learner_state\.json"):
        ThresholdLearner(LearnerConfig(), scaling_only(), 99.95, 1500.0, state={"version": 1})



def _saved_state() -> dict[str, object]:
    model = learner()
    drive(model, [BREACH, MET, MET], {SCALING: 80.0})
    state: dict[str, object] = json.loads(json.dumps(model.state_dict()))
    return state


@pytest.mark.parametrize(("path", "value", "named"), [
    (("windows", 0, "target"), "80", "windows[0].target"),
    (("windows", 0, "burn"), "0.5", "windows[0].burn"),
    (("windows", 0, "burn"), True, "windows[0].burn"),
    (("windows", 0), 5, "windows[0] must be a JSON object"),
    (("windows", 0, "cpu_p95"), 10**400, "windows[0].cpu_p95"),
    (("known_bad", "80"), "12", "known_bad.80"),
    (("before_last_change", SCALING), "80", f"before_last_change.{SCALING}"),
    (("predicted_limit",), "70", "predicted_limit"),
    (("history", 0, "scaling"), "75", "history[0].scaling"),
    (("history", 0, "time"), None, "history[0].time"),
    (("cycles",), "3", "cycles"),
    (("windows",), {"0": 1}, "windows must be a JSON list"),
])
def test_string_where_a_number_belongs_is_refused_on_load(path: tuple[object, ...], value: object,
                                                           named: str) -> None:
    """Before: a numeric string passed float() on load and a later step died with a TypeError traceback."""
    state = _saved_state()
    ThresholdLearner(LearnerConfig(), scaling_only(), 99.95, 1500.0, state=json.loads(json.dumps(state)))
    holder: object = state
    for key in path[:-1]:
        holder = holder[key]  # type: ignore[index]
    holder[path[-1]] = value  # type: ignore[index]
    with pytest.raises(LearnerStateError, match=r"learner_state\.json is damaged") as error:
        resumed = ThresholdLearner(LearnerConfig(), scaling_only(), 99.95, 1500.0, state=state)
        drive(resumed, [MET, BREACH, MET], {SCALING: 75.0}, first=4)
    assert named in str(error.value)

@pytest.mark.parametrize(("damage", "named"), [
    ({"time": "1"}, "alert_windows[1].time"),
    ({"breached": 1}, "alert_windows[1].breached"),
    ({"levels": {"alert_cpu_utilization": "80"}}, "alert_windows[1].levels.alert_cpu_utilization"),
    ({"levels": [80.0]}, "alert_windows[1].levels must be a JSON object"),
])
def test_damaged_alert_window_is_refused_naming_it(damage: dict[str, object], named: str) -> None:
    state = _saved_state()
    good = {"time": 1.0, "breached": True, "levels": {"alert_cpu_utilization": 80.0}}
    state["alert_windows"] = [good, {**good, **damage}]
    with pytest.raises(LearnerStateError, match=r"learner_state\.json is damaged") as error:
        ThresholdLearner(LearnerConfig(), scaling_only(), 99.95, 1500.0, state=state)
    assert named in str(error.value)


def test_reward_parts_and_cost_variance() -> None:
    budget = 1.6 * HOURS_PER_MONTH
    on_budget = reward(obs(1, MET), 99.95, budget, 1.0)
    assert on_budget.sla_met == 1.0 and on_budget.cost_variance == pytest.approx(0.0) and on_budget.total == 1.0
    over = reward(obs(1, BREACH, cost_per_hour=2.0), 99.95, budget, 2.0)
    assert over.sla_met == 0.0 and over.cost_variance == pytest.approx(2 * 0.25)
    assert over.total == pytest.approx(-0.5)


def test_no_write_and_no_commit_when_nothing_changes(sim_config: OpsConfig) -> None:
    from ai_ops.jobs.cycle import run_cycle
    from ai_ops.jobs.demo import DEMO_START

    pinned = {k: v.model_copy(update={"pin": True}) for k, v in sim_config.thresholds.items()}
    config = sim_config.model_copy(update={"thresholds": pinned})
    result = run_cycle(config, DEMO_START + 6 * 3600)
    assert not result.decision.changed and not result.wrote_tfvars and result.commit is None
    assert not Path(config.tfvars_path).exists()


def test_public_api_drives_the_learner_outside_the_controller_loop() -> None:
    from ai_ops.config import load_config
    from ai_ops.learner import ThresholdLearner as PublicLearner
    from ai_ops.learner import observe
    from ai_ops.sim.service import constant_target, simulate

    config = load_config(None)
    window = simulate(config.services[0].simulation, 0, SIX_HOURS, 300, constant_target(80))
    current = {n: s.initial for n, s in config.thresholds.items()}
    model = PublicLearner(config.learner, config.thresholds, config.sla.target, config.cost.monthly_budget)
    observation = observe(SIX_HOURS, 300, window.metrics, current, config.sla.latency_objective_ms,
                          sla_target=config.sla.target)
    decision = model.step(observation, current)
    assert decision.reward is not None and decision.reward.sla_met == 0.0
    assert decision.new[SCALING] == 75.0 and decision.reasons[SCALING]
    assert json.loads(json.dumps(decision.to_dict(), default=str))["changes"][SCALING] == {"old": 80.0, "new": 75.0}


def test_damaged_state_is_a_clear_cli_error_and_nothing_is_changed(sim_config: OpsConfig) -> None:
    from click.testing import CliRunner

    from ai_ops.cli import cli

    state = Path(sim_config.models_path) / "learner_state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    damaged = json.dumps({"version": 3, "windows": [{"target": "high"}]})
    state.write_text(damaged)
    config_file = Path(sim_config.path(".")) / "config" / "ops_config.yaml"
    config_file.write_text(config_file.read_text().replace("workspace: ai-ops-demo",
                                                           f"workspace: {sim_config.path('.')}"))
    result = CliRunner().invoke(cli, ["--config", str(config_file), "cycle"])
    assert result.exit_code == 2, result.output
    assert "learner_state.json is damaged" in result.output and "Traceback" not in result.output
    assert state.read_text() == damaged
    assert not Path(sim_config.tfvars_path).exists()


def test_observation_with_unknown_numbers_is_strict_json() -> None:
    payload = obs(1, float("nan"), sla_attainment_load=float("nan")).to_dict()
    assert payload["sla_attainment"] is None
    json.dumps(payload, allow_nan=False)


def test_latency_alert_is_not_lowered_when_latency_already_went_above_it() -> None:
    specs = {**scaling_only(pin=True), "alert_latency_p95_ms": ThresholdConfig(initial=500, min=100, max=5000,
                                                                                max_step=100)}
    brief_spike = obs(1, BREACH, latency_p95_max_ms=900.0, alerts_fired={"alert_latency_p95_ms": False})
    assert not learner(specs).step(brief_spike, {SCALING: 80.0, "alert_latency_p95_ms": 500.0}).changed


def test_request_weighting_lets_a_quiet_bursty_window_count_only_its_traffic() -> None:
    # At 70: three busy clean windows and one quiet window with a burst (burn ~10x the budget).
    windows = [(99.99, 1e6), (99.99, 1e6), (99.99, 1e6), (99.5, 1e4)]
    for weigh in (False, True):
        model = learner(weigh_by_requests=weigh, clean_cycles_before_probe=10)
        current = {SCALING: 70.0}
        for k, (sla, requests) in enumerate(windows, start=1):
            current = model.step(obs(k, sla, requests=requests), current).new
        burn, count = model.mean_burn_at(70.0, 4 * SIX_HOURS)
        assert count == 4
        if weigh:   # the burst hurt 0.3% of the requests served at 70: far below the budget
            assert burn < 0.5 and model.ceiling(4 * SIX_HOURS) is None
        else:       # equal weights: one bad window in four makes 70 known-bad
            assert burn > 0.8 and model.ceiling(4 * SIX_HOURS) == 70.0


def test_request_weighting_falls_back_to_equal_weights_for_windows_without_requests() -> None:
    model = learner(weigh_by_requests=True)
    model.windows = [{"target": 70.0, "time": 0.0, "burn": 2.0}, {"target": 70.0, "time": 1.0, "burn": 0.0,
                                                                   "requests": 1e6}]
    assert model.mean_burn_at(70.0, 2.0) == (1.0, 2)
