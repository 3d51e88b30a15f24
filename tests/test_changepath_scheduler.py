"""The daemon: job registration, trigger times (driven, never waited for), the shared lock, SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from ai_ops.config import OpsConfig
from ai_ops.jobs import cycle, report, train
from ai_ops.scheduler import JOBS, build_scheduler, make_job, next_run_times
from ai_ops.state import read_jsonl, workspace_lock


def test_the_daemon_runs_the_same_job_functions_as_the_cli() -> None:
    assert JOBS == {"cycle": cycle.run_cycle, "train": train.run_train, "report": report.run_report}


def test_jobs_are_registered_with_coalesce_one_instance_and_misfire_grace(sim_config: OpsConfig) -> None:
    scheduler = build_scheduler(sim_config, False, BackgroundScheduler(timezone=UTC))
    registered = {job.id: job for job in scheduler.get_jobs()}
    assert set(registered) == {"cycle", "train", "report"}
    for job in registered.values():
        assert job.coalesce and job.max_instances == 1
        assert job.misfire_grace_time == sim_config.schedule.misfire_grace_seconds == 3600
        assert str(job.trigger.timezone) == "UTC"


@pytest.mark.parametrize(("after", "expected"), [
    (datetime(2026, 1, 5, 4, 30, tzinfo=UTC),
     {"cycle": datetime(2026, 1, 5, 6, tzinfo=UTC), "train": datetime(2026, 1, 6, 3, tzinfo=UTC),
      "report": datetime(2026, 1, 5, 9, tzinfo=UTC)}),
    (datetime(2026, 1, 5, 23, 59, tzinfo=UTC),
     {"cycle": datetime(2026, 1, 6, 0, tzinfo=UTC), "train": datetime(2026, 1, 6, 3, tzinfo=UTC),
      "report": datetime(2026, 1, 6, 9, tzinfo=UTC)}),
])
def test_default_trigger_times(sim_config: OpsConfig, after: datetime, expected: dict[str, datetime]) -> None:
    assert next_run_times(sim_config, after) == expected


def test_a_day_of_cycle_triggers_fires_four_times(sim_config: OpsConfig) -> None:
    fires, when = [], datetime(2026, 1, 5, tzinfo=UTC)
    trigger = build_scheduler(sim_config, False, BackgroundScheduler(timezone=UTC)) \
        .get_job("cycle").trigger
    previous = None
    while True:
        nxt = trigger.get_next_fire_time(previous, when)
        if nxt >= datetime(2026, 1, 6, tzinfo=UTC):
            break
        fires.append(nxt.hour)
        previous, when = nxt, nxt.replace(minute=1)
    assert fires == [0, 6, 12, 18]


def test_a_job_waits_for_then_skips_a_manual_run_holding_the_lock(
        sim_config: OpsConfig, caplog: pytest.LogCaptureFixture) -> None:
    config = sim_config.model_copy(update={"schedule": sim_config.schedule.model_copy(
        update={"lock_wait_seconds": 0})})
    job = make_job("cycle", config, False)
    with workspace_lock(config.path(".")):  # what `ai-ops cycle` holds while it runs
        assert job() == "locked"
    assert "cycle skipped: another ai-ops run holds" in caplog.text
    assert read_jsonl(config.models_path / "decisions.jsonl") == []


def test_a_job_runs_under_the_lock_and_failures_do_not_escape(
        sim_config: OpsConfig, caplog: pytest.LogCaptureFixture) -> None:
    assert make_job("cycle", sim_config, False)() == "ok"
    # One decision per service and cycle.
    assert len(read_jsonl(sim_config.models_path / "decisions.jsonl")) == len(sim_config.services)
    # A damaged state file is restored from Git history (logged), so the job goes on ...
    (sim_config.models_path / "learner" / f"{sim_config.services[0].name}.json").write_text("{not json")
    assert make_job("cycle", sim_config, False)() == "ok"
    assert any("restored the version of commit" in m for m in caplog.messages)
    # ... and a failure (a tampered tfvars value: exit 4) is logged, never raised out of the daemon.
    sim_config.tfvars_path.write_text('{"autoscaling_cpu_target": NaN}')
    assert make_job("cycle", sim_config, False)() == "failed"
    assert any("cycle failed:" in m and "autoscaling_cpu_target" in m for m in caplog.messages)


def test_sigterm_stops_the_daemon_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "ops.yaml"
    config.write_text(f"outputs:\n  workspace: {tmp_path / 'ws'}\n")
    process = subprocess.Popen([sys.executable, "-u", "-m", "ai_ops", "--config", str(config), "run"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "next runs: cycle '0 */6 * * *' at" in first and "train '0 3 * * *'" in first
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "received SIGTERM" in out and "daemon stopped" in out and "Traceback" not in err
