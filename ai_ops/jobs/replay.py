"""`ai-ops replay`: the scheduled jobs over a past period of the configured sources, in a scratch workspace.

What a reviewer reads before enabling `pr` mode: what the controller would have done on the last
N days. Every job runs at its scheduled time (`config.schedule`) and sees only the data that
existed then (`ReplaySource` clamps every fetch at the job's `now`). Nothing leaves the scratch
folder: notifiers and the LLM are off, Git commits go to the scratch repository only.
"""

from __future__ import annotations

import importlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from ai_ops.config import OpsConfig, Secrets
from ai_ops.errors import ConfigError, SourceError
from ai_ops.jobs.cycle import run_cycle
from ai_ops.jobs.observing import Sources, detectors_kept_in_memory
from ai_ops.jobs.report import run_report
from ai_ops.jobs.train import run_train
from ai_ops.jobs.workspace import DAY, iso, locked, paths_for, prepare_workspace, read_anomalies, read_ledger
from ai_ops.reporting.forecast import month_bounds
from ai_ops.sources.replay import ReplaySource
from ai_ops.state import atomic_write_json, scratch_folder

log = logging.getLogger(__name__)
ORDER = {"train": 0, "cycle": 1, "report": 2}
"""Jobs due at the same minute run as full-cycle does: train, then cycle, then report."""
MAX_DAYS = 90


@dataclass
class ReplayResult:
    workspace: Path
    output: Path
    start: float
    end: float
    jobs: dict[str, int]
    seconds: float
    source_requests: int
    summary: dict[str, Any]


def scratch_config(config: OpsConfig, workspace: Path) -> OpsConfig:
    """The user's config pointed at the scratch folder, with every outward channel off."""
    git = config.outputs.git.model_copy(update={"mode": "commit", "open_pull_request": False})
    outputs = config.outputs.model_copy(update={"workspace": workspace.resolve(), "git": git})
    notifiers = config.notifiers.model_copy(update={
        "slack": config.notifiers.slack.model_copy(update={"enabled": False}),
        "notion": config.notifiers.notion.model_copy(update={"enabled": False})})
    return config.model_copy(update={"outputs": outputs, "notifiers": notifiers,
                                     "llm": config.llm.model_copy(update={"enabled": False})})


def scratch_secrets(secrets: Secrets) -> Secrets:
    """Only the metrics credentials: no Slack, Notion, Anthropic or GitHub token can be used."""
    blocked = dict.fromkeys(("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_BASE_URL", "NOTION_API_KEY", "NOTION_DATABASE_ID", "NOTION_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "GITHUB_TOKEN", "GITHUB_REPOSITORY"))
    return secrets.model_copy(update=blocked)


def schedule_between(config: OpsConfig, start: float, end: float) -> list[tuple[float, str]]:
    """(time, job) of every scheduled run in [start, end), in the order they run."""
    runs: list[tuple[float, str]] = []
    for job in ORDER:
        trigger = CronTrigger.from_crontab(getattr(config.schedule, job), timezone=UTC)
        previous = None
        cursor = datetime.fromtimestamp(start, UTC)
        while True:
            fire = trigger.get_next_fire_time(previous, cursor)
            if fire is None or fire.timestamp() >= end:
                break
            if fire.timestamp() >= start:
                runs.append((fire.timestamp(), job))
            previous = fire
            cursor = datetime.fromtimestamp(fire.timestamp() + 1, UTC)
    return sorted(runs, key=lambda r: (r[0], ORDER[r[1]]))


def resolve_period(days: int | None, start: float | None, end: float | None, now: float,
                   step: int) -> tuple[float, float]:
    """[start, end) of the replay from `--days` or `--from/--to`; a ConfigError names what is wrong."""
    if days is not None and (start is not None):
        raise ConfigError("give either --days or --from/--to, not both")
    end = now if end is None else end
    if end > now:
        raise ConfigError(f"--to {iso(end)} is in the future (now is {iso(now)}); replay only covers the past")
    if start is None:
        days = 14 if days is None else days
        if days < 1:
            raise ConfigError(f"--days must be at least 1, got {days}")
        start = end - days * DAY
    if start >= end:
        raise ConfigError(f"--from {iso(start)} is not before --to {iso(end)}; swap them")
    if end - start > MAX_DAYS * DAY:
        raise ConfigError(f"the period is {(end - start) / DAY:.1f} days; replay covers at most {MAX_DAYS}")
    return float(start // step * step), float(end // step * step)


def run_replay(config: OpsConfig, start: float, end: float, workspace: Path | None = None,
               output: Path | None = None, secrets: Secrets | None = None,
               progress: Callable[[int, int], None] | None = None) -> ReplayResult:
    """Every scheduled job in [start, end) in a scratch workspace; then the per-service summary."""
    from ai_ops.reporting.replay import summarise_service
    from ai_ops.reporting.replay_render import write_replay

    began = time.monotonic()
    if workspace is None:
        workspace = Path(tempfile.mkdtemp(prefix="ai-ops-replay-"))
    scratch = scratch_config(config, workspace)
    prepare_workspace(scratch, fresh=True)
    # matplotlib caches fonts under $HOME unless told otherwise: keep even that inside the scratch folder.
    _scratch_matplotlib(scratch.path(".matplotlib"))
    threading.Thread(target=_import_for_later, name="replay-imports", daemon=True).start()
    secrets = scratch_secrets(secrets or Secrets())
    output = (output or scratch.path("replay")).resolve()

    runs = schedule_between(scratch, start, end)
    if not runs:
        raise ConfigError(f"no job is scheduled between {iso(start)} and {iso(end)} (schedule: cycle "
                          f"'{scratch.schedule.cycle}', train '{scratch.schedule.train}', report "
                          f"'{scratch.schedule.report}'); replay a longer period")
    # The earliest data any job asks for: the first training window, or a report's month start.
    history = min(start - scratch.anomaly.gmm.training_window_days * DAY, month_bounds(start)[0], start - 7 * DAY)
    sources = Sources(scratch, secrets)
    wrappers: dict[str, ReplaySource] = {}
    for service in scratch.services:
        if service.source not in wrappers:
            # Real history does not depend on what the replay decides; the simulated service does.
            wrappers[service.source] = ReplaySource(sources.source(service), start,
                                                    cache=service.source != "simulated")
            sources.use(service.source, wrappers[service.source])
    full: dict[str, Any] = {}
    for service in scratch.services:
        wrapper = wrappers[service.source]
        if wrapper.cache:
            wrapper.now = end
            full[service.name] = wrapper.prefetch(service, history, end, scratch.step_seconds)
            if len(full[service.name].errors) == len(full[service.name].values):
                raise SourceError(f"service '{service.name}': no metric could be fetched for the replay period: "
                                  + "; ".join(dict.fromkeys(full[service.name].errors.values())))
    jobs = {"train": 0, "cycle": 0, "report": 0}
    # The scratch workspace is thrown away: its writes skip fsync and ext4's flush-on-replace, see scratch_folder.
    with locked(scratch), scratch_folder(scratch.path(".")), detectors_kept_in_memory():
        # Day 0: train on the history before the period, as a new install would.
        for w in wrappers.values():
            w.now = start
        run_train(scratch, start, secrets=secrets, sources=sources)
        for done, (when, job) in enumerate(runs, start=1):
            for w in wrappers.values():
                w.now = when
            if job == "cycle":
                try:
                    run_cycle(scratch, when, secrets=secrets, sources=sources)
                except SourceError as exc:  # a gap in history: the cycle recorded why and changed nothing
                    log.warning("%s cycle: %s", iso(when), exc)
            elif job == "train":
                run_train(scratch, when, secrets=secrets, sources=sources)
            else:
                run_report(scratch, when, secrets=secrets, charts=False, sources=sources)
            jobs[job] += 1
            if progress:
                progress(done, len(runs))

    paths = paths_for(scratch)
    ledger = read_ledger(paths)  # the same schema checks as the jobs' own reads
    anomalies = read_anomalies(paths)
    services = []
    for service in scratch.services:
        wrapper = wrappers[service.source]
        wrapper.now = end
        metrics = full.get(service.name) or sources.fetch(service, start, end)
        initial = {k: t.initial for k, t in scratch.thresholds_for(service.name).items()}
        services.append(summarise_service(metrics, ledger, anomalies, initial, scratch.sla.latency_objective_ms,
                                          start, end))
    seconds = time.monotonic() - began
    requests = sum(w.requests for w in wrappers.values())
    summary = {"schema_version": 1, "from": iso(start), "to": iso(end), "workspace": str(scratch.path(".")),
               "sla_target": scratch.sla.target, "latency_objective_ms": scratch.sla.latency_objective_ms,
               "currency": scratch.cost.currency, "jobs": jobs,
               "thresholds": {k: {"initial": t.initial, "min": t.min, "max": t.max, "unit": t.unit}
                              for k, t in scratch.thresholds.items()},
               "services": services, "seconds": round(seconds, 2),
               "source_requests": requests}
    write_replay(output, summary)
    atomic_write_json(output / "replay.json", summary)
    return ReplayResult(scratch.path("."), output, start, end, jobs, seconds, requests, summary)


def _import_for_later() -> None:
    """Import what the first report (statsmodels' ETS) and the final charts (matplotlib) need, in a
    thread, while the jobs wait on Git and the source: about a second of a replay otherwise spent
    importing at those points. statsmodels first: a report needs it hours of replayed time (several
    seconds) later, and nothing else the jobs import loads either package, so the main thread finds
    both imported and never waits on a half-imported module."""
    importlib.import_module("statsmodels.tsa.exponential_smoothing.ets")
    importlib.import_module("matplotlib").use("Agg")
    importlib.import_module("matplotlib.pyplot")


def _scratch_matplotlib(folder: Path) -> None:
    """Point matplotlib's config/cache at `folder`, seeded (read-only) with an existing font list so it
    is not rebuilt (seconds) on every replay."""
    import shutil

    existing = os.environ.get("MPLCONFIGDIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "matplotlib")
    folder.mkdir(parents=True, exist_ok=True)
    for font_list in Path(existing).glob("fontlist-*.json"):
        shutil.copy2(font_list, folder / font_list.name)
    os.environ["MPLCONFIGDIR"] = str(folder)
