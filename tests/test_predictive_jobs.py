"""Predictive scaling in the jobs: train stores the forecast, cycle writes the guarded schedule
into the tfvars (validated, reviewed in the commit), warnings reach Slack and the ledger."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import git
import numpy as np
import pytest
from pydantic import SecretStr

from ai_ops.actuators.terraform import SCHEDULE_VARIABLE, read_schedule
from ai_ops.config import OpsConfig, Secrets, load_config, parse_config
from ai_ops.errors import ActuatorError
from ai_ops.jobs.cycle import run_cycle
from ai_ops.jobs.predictive import blocks_of, load_forecast_record
from ai_ops.jobs.report import run_report
from ai_ops.jobs.train import run_train
from ai_ops.jobs.workspace import load_training_log, paths_for, prepare_workspace
from ai_ops.learner.schedule import hour_of_day_minimums
from ai_ops.state import read_jsonl
from tests.report_fakes import fake_server

NOW = 1_768_780_800.0  # 2026-01-19 00:00 UTC, a Monday
DAY = 86_400
TERRAFORM = shutil.which("terraform")


def workspace(tmp_path: Path, **predictive: object) -> OpsConfig:
    data = load_config(None).model_dump(mode="json")
    data["services"] = [{"name": "checkout", "simulation": {"seed": 42, "incidents_per_day": 0}}]
    data["learner"]["predictive"].update({"enabled": True, **predictive})
    config = parse_config(json.dumps(data)).with_workspace(tmp_path / "ws")
    prepare_workspace(config, fresh=True)
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> OpsConfig:
    """A workspace after two daily trainings (03:00) and the cycle at 06:00 of the second day."""
    config = workspace(tmp_path_factory.mktemp("predictive"))
    run_train(config, NOW + 3 * 3600)
    run_train(config, NOW + DAY + 3 * 3600)
    run_cycle(config, NOW + DAY + 6 * 3600)
    return config


def test_train_stores_the_forecast_and_tracks_its_error_against_seasonal_naive(trained: OpsConfig) -> None:
    paths = paths_for(trained)
    record = load_forecast_record(paths, "checkout")
    assert record is not None and record["method"] == "mstl(24,168)"
    assert record["start"] == NOW + DAY + 3 * 3600 and len(record["mean"]) == 30
    assert record["capacity_rps_per_replica"] == pytest.approx(40.0, rel=0.02)  # the simulator's, measured
    # the first day's forecast was scored on what happened: the model's and the baseline's MAPE
    [error] = record["errors"]
    assert error["origin"] == NOW + 3 * 3600 and error["hours"] == 6
    assert 0 < error["model_mape"] < 50 and 0 < error["naive_mape"] < 50
    assert record["error_summary"]["days"] == 1
    run = load_training_log(paths)["runs"][-1]
    assert run["forecasts"][0]["service"] == "checkout" and run["forecasts"][0]["trained"]
    # committed with the models, reviewed like them
    repo = git.Repo(trained.path("."))
    assert "models/forecast/checkout.json" in repo.git.ls_files().splitlines()


def test_cycle_writes_the_guarded_schedule_and_the_commit_shows_it(trained: OpsConfig) -> None:
    spec = trained.learner.predictive
    schedule = read_schedule(trained)
    blocks = schedule["checkout"]
    assert blocks[0]["start_hour"] == 0 and blocks[-1]["end_hour"] == 24
    minimums = hour_of_day_minimums(blocks_of(blocks), 0)
    [record] = [r for r in read_jsonl(paths_for(trained).ledger) if r.get("schedule")][-1:]
    assert record["schedule_applied"] and record["schedule"]["blocks"]
    # first schedule: ramped from min_replicas by at most max_step, except the blocks whose hours breached
    # in the window (00:00-06:00 at the initial 80% target), raised to the forecast's need
    breached = np.isin(np.arange(24), record["schedule"]["breached_hours"])
    blockwise = np.repeat(breached.reshape(-1, spec.block_hours).any(axis=1), spec.block_hours)
    assert minimums.min() >= spec.min_replicas
    assert (minimums[~blockwise] <= spec.min_replicas + spec.max_step_replicas).all()
    assert (minimums[blockwise] > spec.min_replicas + spec.max_step_replicas).all()
    repo = git.Repo(trained.path("."))
    message = repo.head.commit.message
    assert "autoscaling_min_replicas_schedule" in message and "| checkout | " in message
    assert "terraform/ai_ops.auto.tfvars.json" in repo.head.commit.stats.files


def test_the_next_cycle_moves_each_hour_by_at_most_the_max_step(trained: OpsConfig, tmp_path: Path) -> None:
    spec = trained.learner.predictive
    before = hour_of_day_minimums(blocks_of(read_schedule(trained)["checkout"]), 0)
    result = run_cycle(trained, NOW + DAY + 12 * 3600)
    after = hour_of_day_minimums(blocks_of(read_schedule(trained)["checkout"]), 0)
    plan = result.plans["checkout"]
    breached = np.isin(np.arange(24), plan.breached_hours)
    blockwise = np.repeat(breached.reshape(-1, spec.block_hours).any(axis=1), spec.block_hours)
    assert (np.abs(after - before)[~blockwise] <= spec.max_step_replicas).all()
    assert plan.changed and (after > before).any()  # still ramping towards the forecast's need


def test_the_report_shows_the_forecast_its_error_and_the_schedule(trained: OpsConfig) -> None:
    result = run_report(trained, NOW + DAY + 9 * 3600, secrets=Secrets())
    assert result.folder is not None
    report = json.loads((result.folder / "report.json").read_text())
    forecast = report["predictive"]["forecasts"]["checkout"]
    assert forecast["method"] == "mstl(24,168)" and forecast["error_days"] == 1
    assert forecast["model_mape"] is not None and forecast["naive_mape"] is not None
    assert len(forecast["mean"]) == 24  # 09:00 today to 09:00 tomorrow: the 03:00 forecast reaches 30 h
    assert forecast["schedule"] == read_schedule(trained)["checkout"]
    assert "forecast" in report["charts"] and (result.folder / "charts" / "forecast.png").stat().st_size > 1000
    markdown = (result.folder / "report.md").read_text()
    assert "first-6-h MAPE" in markdown and "vs seasonal naive" in markdown
    assert "schedule in force (UTC, min replicas): 00-" in markdown
    assert 'src="charts/forecast.png"' in (result.folder / "report.html").read_text()


@pytest.mark.skipif(TERRAFORM is None, reason="no terraform binary (.ci/run installs one from PyPI)")
def test_terraform_validates_and_plans_the_written_schedule(trained: OpsConfig, tmp_path: Path) -> None:
    folder = tmp_path / "tf"
    shutil.copytree(trained.path(trained.outputs.terraform_dir), folder)
    env = {"PATH": "/usr/bin:/bin", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "HOME": str(tmp_path)}

    def tf(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TERRAFORM or "terraform", *args, "-no-color"], cwd=folder, capture_output=True,
                              text=True, timeout=120, env=env, check=False)

    assert tf("init", "-backend=false", "-input=false").returncode == 0
    assert tf("validate").returncode == 0
    plan = tf("plan", "-input=false", "-lock=false")
    assert plan.returncode == 0, plan.stderr
    data = json.loads((folder / "ai_ops.auto.tfvars.json").read_text())
    data[SCHEDULE_VARIABLE]["checkout"][0]["min_replicas"] = 10_000  # beyond max_replicas: Terraform refuses too
    (folder / "ai_ops.auto.tfvars.json").write_text(json.dumps(data))
    assert tf("plan", "-input=false", "-lock=false").returncode != 0


def test_a_workspace_without_the_schedule_variable_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    config = workspace(tmp_path)
    run_train(config, NOW + 3 * 3600)
    variables = config.path(config.outputs.terraform_dir) / "variables.tf"
    text = variables.read_text()
    variables.write_text(text[:text.index(f'variable "{SCHEDULE_VARIABLE}"')])
    tfvars = config.tfvars_path
    before = tfvars.read_text() if tfvars.exists() else None
    with pytest.raises(ActuatorError, match=f"no `variable \"{SCHEDULE_VARIABLE}\"` is declared"):
        run_cycle(config, NOW + 6 * 3600)
    assert (tfvars.read_text() if tfvars.exists() else None) == before


def test_a_schedule_ai_ops_did_not_write_is_refused(tmp_path: Path) -> None:
    config = workspace(tmp_path)
    config.tfvars_path.write_text(json.dumps({SCHEDULE_VARIABLE: {"checkout": [
        {"start_hour": 0, "end_hour": 12, "min_replicas": 3}, {"start_hour": 10, "end_hour": 24, "min_replicas": 99}]}}))
    with pytest.raises(ActuatorError) as caught:
        read_schedule(config)
    assert "[1]: hours 10-24 must follow the previous block (start 12)" in str(caught.value)
    assert "min_replicas 99 is outside learner.predictive [1, 60]" in str(caught.value)


def test_a_forecast_beyond_max_replicas_warns_in_slack_and_the_ledger(tmp_path: Path) -> None:
    config = workspace(tmp_path, max_replicas=6)  # ~6 x 40 rps x 90% = 216 rps servable; the day peaks near 600
    run_train(config, NOW + 3 * 3600)
    with fake_server() as (url, state):
        result = run_cycle(config, NOW + 9 * 3600,
                           secrets=Secrets(SLACK_WEBHOOK_URL=SecretStr(f"{url}/hooks/T0/B0/xyz")))
        posted = [r.body for r in state.to("/hooks/")]
    warnings = result.plans["checkout"].warnings
    assert warnings and all(0 <= w.lead_hours < 6 for w in warnings)
    assert state.violations == [] and len(posted) == 1
    assert "predictive warning" in posted[0]["text"] and "- checkout: in " in posted[0]["text"]
    [record] = [r for r in read_jsonl(paths_for(config).ledger) if r.get("service") == "checkout"][-1:]
    assert len(record["predictive_warnings"]) == len(warnings)
    report = run_report(config, NOW + 10 * 3600, secrets=Secrets())
    assert report.report.predictive is not None and len(report.report.predictive.warnings) == len(warnings)
    assert report.folder is not None and "Predictive warnings of the last 24 h" in (report.folder / "report.md").read_text()


def test_switched_off_nothing_predictive_happens(tmp_path: Path) -> None:
    config = workspace(tmp_path, enabled=False)
    result = run_train(config, NOW + 3 * 3600)
    assert result.forecasts == [] and not paths_for(config).forecast("checkout").exists()
    assert SCHEDULE_VARIABLE not in (config.path(config.outputs.terraform_dir) / "variables.tf").read_text()
    assert run_cycle(config, NOW + 6 * 3600).plans == {}


@pytest.mark.parametrize("setting, needle", [
    ("block_hours: 5", "block_hours 5 must divide 24"),
    ("min_replicas: 9\n    max_replicas: 4", "max_replicas (4) < min_replicas (9)"),
    ("max_step_replicas: 0", "max_step_replicas"),
    ("enabeld: true", "enabeld"),
])
def test_bad_predictive_settings_are_named_and_exit_2(tmp_path: Path, setting: str, needle: str) -> None:
    from click.testing import CliRunner

    from ai_ops.cli import cli

    path = tmp_path / "ops.yaml"
    path.write_text(f"version: 1\nlearner:\n  predictive:\n    {setting}\n")
    run = CliRunner().invoke(cli, ["--config", str(path), "config", "check"])
    assert run.exit_code == 2 and needle in run.output and "Traceback" not in run.output


def test_a_plan_with_the_same_blocks_is_no_change() -> None:
    from ai_ops.jobs.predictive import ServicePlan
    from ai_ops.learner.schedule import ScheduleBlock

    written = [ScheduleBlock(0, 12, 3, 0.0), ScheduleBlock(12, 24, 5, 0.0)]
    same = [ScheduleBlock(0, 12, 3, 101.5), ScheduleBlock(12, 24, 5, 180.2)]  # only the forecast peaks differ
    assert not ServicePlan("s", written, same).changed
    assert ServicePlan("s", written, [ScheduleBlock(0, 24, 5, 1.0)]).changed
    assert not ServicePlan("s", written, []).changed  # nothing sized: nothing to write


def test_a_damaged_forecast_file_is_treated_as_absent_and_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from ai_ops.jobs.workspace import Paths

    paths = Paths(tmp_path / "models")
    paths.forecast("checkout").parent.mkdir(parents=True)
    paths.forecast("checkout").write_text('{"version": 1, "mean": [1.0,', encoding="utf-8")
    with caplog.at_level("WARNING"):
        assert load_forecast_record(paths, "checkout") is None
    assert "not readable JSON" in caplog.text and "next train" in caplog.text
    paths.forecast("checkout").write_text('{"version": 1, "mean": [-1.0], "lower": [0], "upper": [1], "start": 0}',
                                          encoding="utf-8")
    assert load_forecast_record(paths, "checkout") is None  # a negative demand is not a forecast ai-ops wrote
