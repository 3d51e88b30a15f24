"""`ai-ops run`: the daemon. APScheduler cron triggers (UTC) call the same job functions as the CLI."""

from __future__ import annotations

from collections.abc import Callable

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from ai_ops import jobs
from ai_ops.config import OpsConfig
from ai_ops.errors import OpsError

JOBS: dict[str, Callable[..., object]] = {"cycle": jobs.run_cycle, "train": jobs.run_train, "report": jobs.run_report}


def build_scheduler(config: OpsConfig, dry_run: bool, echo: jobs.Echo) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone="UTC")
    for name, func in JOBS.items():
        expression = getattr(config.schedule, name)

        def run(func: Callable[..., object] = func, name: str = name) -> None:
            try:
                with jobs.locked(config):
                    func(config, dry_run=dry_run, echo=echo)
            except OpsError as exc:
                echo(f"{name} failed: {exc}")

        scheduler.add_job(run, CronTrigger.from_crontab(expression, timezone="UTC"), id=name, name=name,
                          coalesce=True, max_instances=1, misfire_grace_time=config.schedule.misfire_grace_seconds)
    return scheduler


def run_daemon(config: OpsConfig, dry_run: bool, echo: jobs.Echo) -> None:
    scheduler = build_scheduler(config, dry_run, echo)
    echo("ai-ops daemon started; jobs (UTC): " + ", ".join(f"{j.id} '{getattr(config.schedule, j.id)}'" for j in scheduler.get_jobs()))
    scheduler.start()
