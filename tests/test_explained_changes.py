"""An anomaly in replicas, cost or CPU within a day of the controller's own scaling change is labelled as its effect."""

from __future__ import annotations

from ai_ops.config import OpsConfig
from ai_ops.jobs.cycle import explain
from ai_ops.jobs.observing import Anomaly
from ai_ops.jobs.workspace import paths_for
from ai_ops.reporting.explained import incidents_only
from ai_ops.state import append_jsonl

CHANGE_AT = 1_700_000_000.0


def _ledger(config: OpsConfig, applied: bool = True) -> None:
    append_jsonl(paths_for(config).ledger, {
        "time": CHANGE_AT, "time_iso": "2023-11-14T22:13:20Z", "kind": "cycle", "service": "checkout", "applied": applied,
        "commit": "abcdef0123456789", "changes": {"autoscaling_cpu_target": {"old": 80.0, "new": 75.0}}})


def test_replica_shift_after_a_change_is_labelled_and_unrelated_anomaly_is_not(sim_config: OpsConfig) -> None:
    _ledger(sim_config)
    found = [Anomaly("checkout", "replicas", CHANGE_AT + 1800, 0.99, "critical"),       # effect of the change
             Anomaly("checkout", "cost_per_hour", CHANGE_AT + 3600, 0.97, "warning"),  # effect of the change
             Anomaly("checkout", "latency_p95_ms", CHANGE_AT + 1800, 0.99, "critical"),  # a symptom: incident
             Anomaly("checkout", "request_rate", CHANGE_AT + 1800, 0.99, "critical"),  # demand: incident
             Anomaly("checkout", "cpu_utilization", CHANGE_AT + 15 * 3600, 0.99, "critical"),  # HPA holds CPU at target
             Anomaly("checkout", "replicas", CHANGE_AT + 12 * 3600, 0.99, "critical"),  # the evening peak, same day
             Anomaly("checkout", "replicas", CHANGE_AT + 25 * 3600, 0.99, "critical"),  # after the 24 h window
             Anomaly("checkout", "replicas", CHANGE_AT - 600, 0.99, "critical"),       # before the change
             Anomaly("search", "replicas", CHANGE_AT + 600, 0.99, "critical")]         # another service: not its change
    assert sim_config.learner.change_effect_hours == 24.0  # the default: one daily load cycle
    labelled = explain(sim_config, paths_for(sim_config), found)
    assert [bool(a.caused_by) for a in labelled] == [True, True, False, False, True, True, False, False, False]
    assert "abcdef012345" in labelled[0].caused_by and "80 -> 75" in labelled[0].caused_by
    assert len(incidents_only([a.__dict__ for a in labelled])) == 5


def test_a_change_not_applied_explains_nothing(sim_config: OpsConfig) -> None:
    _ledger(sim_config, applied=False)
    labelled = explain(sim_config, paths_for(sim_config), [Anomaly("checkout", "replicas", CHANGE_AT + 60, 1, "critical")])
    assert labelled[0].caused_by == ""


def _cycle(service: str, t: float, replicas: float, cost: float, sla: float,
           change: tuple[float, float] | None = None) -> dict[str, object]:
    record: dict[str, object] = {"kind": "cycle", "service": service, "time": t, "time_iso": f"t{t:g}",
                                 "evidence": {"observation": {"replicas_mean": replicas, "cost_per_hour": cost,
                                                              "sla_attainment": sla}}}
    if change is not None:
        record.update(applied=True, commit="abc", changes={"autoscaling_cpu_target": {"old": change[0], "new": change[1]}})
    return record


def test_change_effects_compare_the_day_before_with_the_day_after_per_service() -> None:
    from ai_ops.reporting.explained import change_effects, effect_line

    h = 6 * 3600.0
    ledger = [_cycle("a", i * h, 4.0, 1.0, 99.99) for i in range(4)]
    ledger.append(_cycle("a", 4 * h, 4.0, 1.0, 99.99, change=(80, 60)))  # decided on the window before it
    ledger += [_cycle("a", (5 + i) * h, 6.0, 1.5, 99.999) for i in range(6)]
    ledger += [_cycle("b", i * h, 9.0, 3.0, 99.0) for i in range(10)]    # another service: never mixed in
    [effect] = change_effects(ledger, "a")
    assert effect["before"] == {"windows": 4, "replicas_mean": 4.0, "cost_per_hour": 1.0, "sla_attainment": 99.99}
    assert effect["after"] == {"windows": 4, "replicas_mean": 6.0, "cost_per_hour": 1.5, "sla_attainment": 99.999}
    line = effect_line(effect)
    assert "80 -> 60" in line and "replicas 4.0 -> 6.0" in line and "cost/h 1.000 -> 1.500" in line
    assert change_effects(ledger, "b") == []
    # A change with no cycle after it yet says so instead of inventing an effect.
    [fresh] = change_effects(ledger[:5], "a")
    assert fresh["after"] is None and "not measured yet" in effect_line(fresh)
