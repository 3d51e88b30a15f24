"""Per-service thresholds and the exact SLI: each service learns alone, from good / all requests."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from ai_ops.config import OpsConfig, load_config, parse_config
from ai_ops.errors import ConfigError
from ai_ops.jobs.cycle import load_learner, run_cycle
from ai_ops.jobs.workspace import paths_for, prepare_workspace
from ai_ops.learner.learner import ThresholdLearner
from ai_ops.learner.observation import (
    bad_step_share,
    error_budget_burn,
    exact_attainment,
    observe,
    sla_attainment,
    step_good_share,
)
from ai_ops.sim.service import slow_share
from ai_ops.state import read_jsonl

NOW = 1_768_780_800.0  # 2026-01-19 00:00 UTC
SCALING = "autoscaling_cpu_target"


def fleet(tmp_path: Path, services: list[dict[str, object]], **learner: object) -> OpsConfig:
    data = load_config(None).model_dump(mode="json")
    data["services"] = services
    data["learner"].update(learner)
    config = parse_config(json.dumps(data)).with_workspace(tmp_path / "ws")
    prepare_workspace(config, fresh=True)
    return config


# ---------------------------------------------------------------- the exact SLI, by hand


def test_exact_sli_is_good_over_all_requests() -> None:
    total = np.array([100.0, 200.0, np.nan, 50.0, 0.0])
    good = np.array([99.0, 200.0, 10.0, 40.0, 0.0])
    # Steps with both known: 100 + 200 + 50 + 0 requests, 99 + 200 + 40 good.
    assert exact_attainment(total, good) == pytest.approx(100.0 * 339.0 / 350.0)
    np.testing.assert_allclose(step_good_share(total, good), [0.99, 1.0, np.nan, 0.8, np.nan])
    # Good above total (scrape jitter) never counts more than served.
    assert exact_attainment(np.array([10.0]), np.array([12.0])) == 100.0
    assert np.isnan(exact_attainment(np.array([np.nan]), np.array([1.0])))
    assert error_budget_burn(99.9, 99.95) == pytest.approx(2.0)


def test_bad_step_share_counts_steps_below_the_target() -> None:
    values = {"sli_total": np.array([100.0, 100.0, 100.0, 100.0]),
              "sli_good": np.array([100.0, 99.9, 99.96, np.nan]),
              "latency_p95_ms": np.zeros(4), "error_rate": np.zeros(4)}
    # 99.9% < 99.95% is bad, 99.96% is fine, the unknown step is left out: 1 bad of 3.
    assert bad_step_share(values, 300.0, 99.95) == pytest.approx(1 / 3)


def window(n: int = 72, slow_p95: float = 250.0) -> dict[str, np.ndarray]:
    return {"request_rate": np.full(n, 100.0), "cpu_utilization": np.full(n, 60.0),
            "latency_p95_ms": np.full(n, slow_p95), "error_rate": np.full(n, 0.0),
            "replicas": np.full(n, 4.0), "cost_per_hour": np.full(n, 0.48)}


def test_observation_uses_the_exact_sli_when_present_and_labels_the_fallback() -> None:
    values = window(slow_p95=400.0)
    approximate = observe(NOW, 300, values, {}, 300.0, sla_target=99.95)
    assert approximate.sli_method == "approximate"
    # The p95 rule counts 5% of a slow step's requests bad: a lower bound.
    assert approximate.sla_attainment == pytest.approx(95.0)
    assert approximate.bad_step_share == 1.0
    # The same window with histogram-derived series: 30% of requests were slower than the objective.
    exact = observe(NOW, 300, {**values, "sli_total": np.full(72, 100.0), "sli_good": np.full(72, 70.0)}, {},
                    300.0, sla_target=99.95)
    assert exact.sli_method == "exact" and exact.sla_attainment == pytest.approx(70.0)
    assert exact.error_budget_burn == pytest.approx(30.0 / 0.05)
    assert exact.to_dict()["sli_method"] == "exact"


def test_simulated_latency_model_matches_its_p95() -> None:
    p95 = np.array([120.0, 300.0, 600.0, 5000.0])
    share = slow_share(40.0, p95, 300.0)
    assert share[1] == pytest.approx(0.05)  # p95 at the objective: exactly 5% slower
    assert share[0] < 1e-4 and 0.05 < share[2] < share[3] < 1.0
    assert np.all(np.diff(share) > 0)


def test_simulated_service_exposes_the_exact_sli(tmp_path: Path) -> None:
    config = fleet(tmp_path, [{"name": "checkout"}])
    result = run_cycle(config, NOW, dry_run=True)
    observation = result.observations["checkout"]
    assert observation.sli_method == "exact"
    # Exact counts every slow request, so it can only be at or below the p95 lower bound's estimate... of bad.
    assert np.isfinite(observation.bad_step_share) and np.isfinite(observation.error_budget_burn)


# ---------------------------------------------------------------- config


def test_per_service_override_merges_with_the_shared_thresholds() -> None:
    config = parse_config("""
services:
  - name: api
    thresholds: {autoscaling_cpu_target: {min: 40, max_step: 2}}
  - name: web
""")
    api, web = config.thresholds_for("api")[SCALING], config.thresholds_for("web")[SCALING]
    assert (api.min, api.max, api.max_step, api.initial) == (40, 90, 2, 80)
    assert (web.min, web.max_step) == (30, 5)
    assert config.thresholds_for("api")["alert_error_rate"] == config.thresholds["alert_error_rate"]


@pytest.mark.parametrize(("text", "needle"), [
    ("services: [{name: api, thresholds: {nope: {min: 1}}}]", "services[api].thresholds.nope: not a threshold"),
    ("services: [{name: api, thresholds: {autoscaling_cpu_target: {min: 95}}}]", "bounds inverted"),
    ("services: [{name: api, thresholds: {autoscaling_cpu_target: {max_step: 0}}}]", "max_step"),
    ("services: [{name: api, thresholds: {autoscaling_cpu_target: {minimum: 3}}}]", "unknown key"),
    ("services: [{name: api, sli: {latency_histogram: h, buckets: [0.1, 0.25]}}]",
     "latency objective 300 ms (0.3 seconds) is not a bucket bound of h"),
    ("services: [{name: api, sli: {requests_total: x}}]", "give both requests_total and requests_good"),
    ("services: [{name: api, sli: {}}]", "give latency_histogram"),
])
def test_bad_per_service_config_is_a_clear_error(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert needle in str(info.value)


# ---------------------------------------------------------------- per-service decisions


def test_one_service_breaching_does_not_move_another(tmp_path: Path) -> None:
    config = fleet(tmp_path, [
        # Far too few replicas allowed: breaches at any target.
        {"name": "hot", "simulation": {"seed": 3, "max_replicas": 4}},
        # Comfortable at its own, lower start value.
        {"name": "calm", "simulation": {"seed": 5, "noise": 0.02, "incidents_per_day": 0},
         "thresholds": {SCALING: {"initial": 55}}},
    ], warm_start=False)  # the warm start would move each on its own history: here only breaches may
    first = run_cycle(config, NOW)
    second = run_cycle(config, NOW + 6 * 3600)
    hot = [first.decision.decisions["hot"], second.decision.decisions["hot"]]
    calm = [first.decision.decisions["calm"], second.decision.decisions["calm"]]
    assert first.observations["hot"].sla_attainment < config.sla.target
    assert first.observations["calm"].sla_attainment >= config.sla.target
    assert hot[0].new[SCALING] < hot[0].old[SCALING] == 80  # the breaching service scales earlier...
    assert [d.new[SCALING] for d in calm] == [55, 55]         # ...the healthy one keeps its own target
    # Terraform holds one value per service; the ledger one decision per service and cycle.
    tfvars = json.loads(config.tfvars_path.read_text())
    assert tfvars[SCALING] == {"calm": 55, "hot": hot[-1].new[SCALING]}
    ledger = read_jsonl(paths_for(config).ledger)
    assert [r["service"] for r in ledger] == ["hot", "calm", "hot", "calm"]
    assert all(r["sli_method"] == "exact" for r in ledger)
    # Each learner keeps its own evidence.
    paths = paths_for(config)
    assert load_learner(config, paths, "hot").mean_burn_at(80, NOW)[0] > 1
    assert load_learner(config, paths, "calm").mean_burn_at(55, NOW)[0] <= 1
    # The commit lists every service's changes in one table, with per-service evidence.
    import git

    message = git.Repo(config.path(".")).head.commit.message
    assert "| service | threshold | old | new | why |" in message
    assert f"| hot | autoscaling_cpu_target | {hot[-1].old[SCALING]:g} | {hot[-1].new[SCALING]:g} |" in message
    assert "| calm | autoscaling_cpu_target" not in message
    assert "Evidence for hot" in message and "Evidence for calm" in message and "exact SLI" in message


def test_approximate_sli_is_labelled_in_the_commit() -> None:
    from ai_ops.jobs.cycle import FleetDecision, commit_message

    config = load_config(None)
    learner = ThresholdLearner(config.learner, config.thresholds, config.sla.target, config.cost.monthly_budget)
    obs = observe(NOW, 300, window(slow_p95=400.0), {}, 300.0, sla_target=99.95)
    decision = learner.step(obs, {k: v.initial for k, v in config.thresholds.items()})
    text = commit_message(FleetDecision({"checkout": decision}), {"checkout": obs}, {}, [], config)
    assert "APPROXIMATE SLI" in text


def test_old_shared_learner_state_is_migrated_per_service(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = fleet(tmp_path, [{"name": "a", "simulation": {"seed": 1}}, {"name": "b", "simulation": {"seed": 2}}])
    learner = ThresholdLearner(config.learner, config.thresholds, config.sla.target, config.cost.monthly_budget)
    values = window()
    for i in range(3):
        learner.step(observe(NOW - (3 - i) * 6 * 3600, 300, values, {}, 300.0), {k: v.initial for k, v in
                                                                              config.thresholds.items()})
    paths = paths_for(config)
    paths.models.mkdir(parents=True, exist_ok=True)
    paths.legacy_learner_state.write_text(json.dumps(learner.state_dict()))
    # A dry run reads the old file and writes nothing.
    run_cycle(config, NOW, dry_run=True)
    assert paths.legacy_learner_state.exists() and not paths.learner_dir.exists()
    with caplog.at_level(logging.WARNING):
        run_cycle(config, NOW)
    assert any("migrated" in m and "learner_state.json" in m for m in caplog.messages)
    assert not paths.legacy_learner_state.exists()
    assert (paths.models / "learner_state.migrated.json").exists()  # kept, never silently dropped
    for name in ("a", "b"):
        assert json.loads(paths.learner_state(name).read_text())["cycles"] == 4  # 3 shared + this one


def test_a_damaged_old_state_stops_the_cycle_naming_the_file(tmp_path: Path) -> None:
    from ai_ops.state import StateError

    config = fleet(tmp_path, [{"name": "a"}])
    paths = paths_for(config)
    paths.models.mkdir(parents=True, exist_ok=True)
    paths.legacy_learner_state.write_text(json.dumps({"version": 3, "cycles": "many"}))
    # Not in Git history either: refused (exit 2) naming the file, never reset silently.
    with pytest.raises(StateError, match=r"learner_state\.json cannot be believed .*is damaged"):
        run_cycle(config, NOW)
    assert not config.tfvars_path.exists() and not paths.learner_dir.exists()
    # A damaged per-service file is named as such.
    paths.legacy_learner_state.unlink()
    paths.learner_state("a").parent.mkdir(parents=True)
    paths.learner_state("a").write_text(json.dumps({"version": 3, "cycles": "many"}))
    with pytest.raises(StateError, match=r"learner/a\.json cannot be believed .*learner/a\.json is damaged"):
        run_cycle(config, NOW)


def test_sla_attainment_lower_bound_is_below_the_exact_bad_share() -> None:
    """Why the exact SLI matters: the p95 rule reports at most 5% bad for a step where most requests were slow."""
    p95 = np.array([900.0])
    exact_bad = slow_share(40.0, p95, 300.0)[0]
    approx = sla_attainment(np.array([100.0]), np.array([0.0]), p95, 300.0)
    assert 100.0 - approx == pytest.approx(5.0) and exact_bad > 0.3


def test_config_check_names_every_bad_service_key_and_exits_2(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ai_ops.cli import cli

    bad = tmp_path / "ops.yaml"
    bad.write_text("services:\n  - name: api\n    thresholds: {autoscaling_cpu_target: {min: 95}}\n"
                   "  - name: web\n    sli: {latency_histogram: h, buckets: [0.25]}\n")
    result = CliRunner().invoke(cli, ["--config", str(bad), "config", "check"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "services[api].thresholds: bounds inverted" in result.output
    assert "\n  - services[web].sli: the latency objective 300 ms" in result.output


def test_slack_notice_lists_each_services_changes(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from ai_ops.config import Secrets
    from tests.report_fakes import fake_server

    config = fleet(tmp_path, [
        {"name": "hot", "simulation": {"seed": 3, "max_replicas": 4}},
        {"name": "calm", "simulation": {"seed": 5, "noise": 0.02, "incidents_per_day": 0},
         "thresholds": {SCALING: {"initial": 55}}},
    ])
    with fake_server() as (url, state):
        result = run_cycle(config, NOW, secrets=Secrets(SLACK_WEBHOOK_URL=SecretStr(f"{url}/hooks/T0/B0/xyz")))
        posted = [r.body for r in state.to("/hooks/")]
    assert len(posted) == 1 and state.violations == []
    text = posted[0]["text"]
    hot = result.decision.decisions["hot"]
    assert f"- hot: autoscaling_cpu_target {hot.old[SCALING]:g} -> {hot.new[SCALING]:g}" in text
    calm = result.decision.decisions["calm"]
    assert ("- calm:" in text) == calm.changed  # a service without a change is not listed


def test_fleet_summary_stays_a_readable_title() -> None:
    from ai_ops.jobs.cycle import SUMMARY_MAX, FleetDecision
    from ai_ops.learner.learner import Decision

    def decision(changes: dict[str, tuple[float, float]]) -> Decision:
        old = {k: o for k, (o, _) in changes.items()}
        new = {k: n for k, (_, n) in changes.items()}
        summary = "; ".join(f"{k} {o:g} -> {n:g}" for k, (o, n) in changes.items()) or "no change: cooldown"
        return Decision(NOW, old, new, None, {}, "exploring", summary)

    one = FleetDecision({"a": decision({SCALING: (80, 75)}), "b": decision({})})
    assert one.summary == "a: autoscaling_cpu_target 80 -> 75" and one.changes == {"a": {SCALING: (80, 75)}}
    many = {f"service{i}": decision({SCALING: (80, 75), "alert_cpu_utilization": (90, 85)}) for i in range(4)}
    fleet_decision = FleetDecision(many)
    assert len(fleet_decision.summary) <= SUMMARY_MAX
    assert fleet_decision.summary.startswith("8 threshold changes for service0, service1")
    quiet = FleetDecision({"a": decision({}), "b": decision({})})
    assert not quiet.changed and quiet.summary == "no change (a: cooldown; b: cooldown)"
