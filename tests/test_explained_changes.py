"""An anomaly in replicas or cost right after the controller's own scaling change is labelled as its effect."""

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
        "time": CHANGE_AT, "time_iso": "2023-11-14T22:13:20Z", "kind": "cycle", "applied": applied,
        "commit": "abcdef0123456789", "changes": {"autoscaling_cpu_target": {"old": 80.0, "new": 75.0}}})


def test_replica_shift_after_a_change_is_labelled_and_unrelated_anomaly_is_not(sim_config: OpsConfig) -> None:
    _ledger(sim_config)
    found = [Anomaly("checkout", "replicas", CHANGE_AT + 1800, 0.99, "critical"),       # effect of the change
             Anomaly("checkout", "cost_per_hour", CHANGE_AT + 3600, 0.97, "warning"),  # effect of the change
             Anomaly("checkout", "latency_p95_ms", CHANGE_AT + 1800, 0.99, "critical"),  # other metric: incident
             Anomaly("checkout", "replicas", CHANGE_AT + 3 * 3600, 0.99, "critical"),  # after the 2 h window
             Anomaly("checkout", "replicas", CHANGE_AT - 600, 0.99, "critical")]       # before the change
    labelled = explain(sim_config, paths_for(sim_config), found)
    assert [bool(a.caused_by) for a in labelled] == [True, True, False, False, False]
    assert "abcdef012345" in labelled[0].caused_by and "80 -> 75" in labelled[0].caused_by
    assert len(incidents_only([a.__dict__ for a in labelled])) == 3


def test_a_change_not_applied_explains_nothing(sim_config: OpsConfig) -> None:
    _ledger(sim_config, applied=False)
    labelled = explain(sim_config, paths_for(sim_config), [Anomaly("checkout", "replicas", CHANGE_AT + 60, 1, "critical")])
    assert labelled[0].caused_by == ""
