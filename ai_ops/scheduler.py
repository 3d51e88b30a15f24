"""`ai-ops run`: the daemon. APScheduler cron triggers (UTC) call the same job functions as the CLI.

Why these settings: `coalesce` runs a job once after downtime instead of once per missed
slot; `max_instances=1` never overlaps a job with itself; `misfire_grace_time` still runs
a job that is late (APScheduler's 1 s default silently skips it); the workspace lock is the
one the CLI takes, so a manual run and the daemon never write at the same time. No
APScheduler job store: the controller's state lives in its own files (models/).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
    JobExecutionEvent,
    SchedulerEvent,
)
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from ai_ops.config import OpsConfig
from ai_ops.errors import LockedError, OpsError
from ai_ops.jobs.cycle import run_cycle
from ai_ops.jobs.report import run_report
from ai_ops.jobs.train import run_train
from ai_ops.state import workspace_lock

JOBS: dict[str, Callable[..., object]] = {"cycle": run_cycle, "train": run_train, "report": run_report}
log = logging.getLogger(__name__)


def trigger(expression: str) -> CronTrigger:
    return CronTrigger.from_crontab(expression, timezone=UTC)


def next_run_times(config: OpsConfig, after: datetime) -> dict[str, datetime]:
    """When each job fires next after `after` (UTC): what the daemon logs, and what tests drive."""
    out = {}
    for name in JOBS:
        fire = trigger(getattr(config.schedule, name)).get_next_fire_time(None, after)
        assert fire is not None  # a valid 5-field crontab always fires again
        out[name] = fire
    return out


def make_job(name: str, config: OpsConfig, dry_run: bool) -> Callable[[], str]:
    """The callable the scheduler runs: the job function under the shared lock; never raises.

    Returns "ok", "locked" (skipped: a manual run held the lock too long), "failed" (a
    user-facing error, printed) or "crashed" (a bug, logged with its traceback); the daemon
    keeps running in every case.
    """
    func = JOBS[name]

    def run() -> str:
        try:
            with workspace_lock(config.path("."), timeout=config.schedule.lock_wait_seconds):
                func(config, dry_run=dry_run)
        except LockedError as exc:
            log.warning("%s skipped: %s", name, exc)
            return "locked"
        except OpsError as exc:
            log.error("%s failed: %s", name, exc)
            return "failed"
        except Exception:  # a bug in one run must not stop the daemon
            log.exception("%s crashed; the daemon keeps running", name)
            return "crashed"
        return "ok"

    run.__name__ = f"ai_ops_{name}"
    return run


def build_scheduler(config: OpsConfig, dry_run: bool, scheduler: BaseScheduler | None = None) -> BaseScheduler:
    scheduler = scheduler or BlockingScheduler(timezone=UTC)
    for name in JOBS:
        scheduler.add_job(make_job(name, config, dry_run), trigger(getattr(config.schedule, name)),
                          id=name, name=name, coalesce=True, max_instances=1,
                          misfire_grace_time=config.schedule.misfire_grace_seconds, replace_existing=True)

    def after_run(event: JobExecutionEvent) -> None:
        job = scheduler.get_job(event.job_id)
        upcoming = f"; next {job.next_run_time:%Y-%m-%d %H:%M} UTC" if job and job.next_run_time else ""
        if event.code == EVENT_JOB_MISSED:
            log.warning("%s missed its %s UTC run (more than %s s late)%s", event.job_id,
                        f"{event.scheduled_run_time:%Y-%m-%d %H:%M}", config.schedule.misfire_grace_seconds, upcoming)
        else:
            log.info("%s done%s", event.job_id, upcoming)

    scheduler.add_listener(after_run, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def run_daemon(config: OpsConfig, dry_run: bool) -> None:
    """Block until SIGTERM/SIGINT; a job that is running then finishes before the process exits."""
    scheduler = build_scheduler(config, dry_run)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping (a running job finishes first)", signal.Signals(signum).name)
        if scheduler.running:
            scheduler.shutdown(wait=True)

    def started(_event: SchedulerEvent) -> None:
        # Logged once the scheduler runs, so a signal after this line always finds it running.
        now = datetime.now(UTC)
        log.info("ai-ops daemon started (UTC); next runs: " + ", ".join(
            f"{name} '{getattr(config.schedule, name)}' at {when:%Y-%m-%d %H:%M}"
            for name, when in next_run_times(config, now).items()))

    scheduler.add_listener(started, EVENT_SCHEDULER_STARTED)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("ai-ops daemon stopped")
