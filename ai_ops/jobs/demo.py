"""`ai-ops demo`: many simulated days of the real jobs, in the order the schedule runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ai_ops.config import OpsConfig, Secrets, load_config
from ai_ops.errors import ConfigError
from ai_ops.jobs.cycle import run_cycle
from ai_ops.jobs.learner_state import load_learner
from ai_ops.jobs.observing import Anomaly, fetch, simulated_source
from ai_ops.jobs.report import run_report
from ai_ops.jobs.train import run_train
from ai_ops.jobs.workspace import DAY, iso, locked, paths_for, prepare_workspace
from ai_ops.reporting.report import daily_series


@dataclass
class DemoResult:
    workspace: Path
    days: list[dict[str, Any]]
    threshold_path: list[dict[str, Any]]
    incidents: int
    incidents_detected: int
    commits: int
    reports: Path
    seed: int
    learning: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per service, its learner's last status: exploring / converging / settled, criterion, days since change."""
    services: list[str] = field(default_factory=list)


DEMO_START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
"""Simulated time starts at a fixed date so the same seed gives the same demo."""


def demo_config(workspace: Path, seed: int | None = None) -> OpsConfig:
    config = load_config(None).with_workspace(workspace.resolve())
    # The demo shows predictive scaling (off by default, docs/predictive.md): the schedule of minimum
    # replicas in its commits, the forecast and the warnings in its reports.
    learner = config.learner.model_copy(update={
        "predictive": config.learner.predictive.model_copy(update={"enabled": True})})
    config = config.model_copy(update={"learner": learner})
    if seed is not None:  # the first service gets `seed`, the next ones seed + 1, + 2, ...: still one demo per seed
        services = [s.model_copy(update={"simulation": s.simulation.model_copy(update={"seed": seed + i})})
                    for i, s in enumerate(config.services)]
        config = config.model_copy(update={"services": services})
    return config


def run_demo(workspace: Path, days: int = 14, seed: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Many simulated days of the real jobs, in the order the schedule runs them."""
    if days < 1:
        raise ConfigError(f"--days must be at least 1, got {days}")
    config = demo_config(workspace, seed)
    prepare_workspace(config, fresh=True)
    secrets = Secrets()
    schedule = [(0, "cycle"), (3, "train"), (6, "cycle"), (9, "report"), (12, "cycle"), (18, "cycle")]
    total = days * len(schedule)
    all_anomalies: list[Anomaly] = []
    threshold_path: list[dict[str, Any]] = []
    with locked(config):
        # Day 0: train on the week before the demo starts, as a new install would.
        run_train(config, DEMO_START, secrets=secrets)
        done = 0
        for day in range(days):
            for hour, job in schedule:
                now = DEMO_START + day * DAY + hour * 3600
                if job == "cycle":
                    result = run_cycle(config, now, secrets=secrets)
                    all_anomalies += result.anomalies
                    threshold_path += [{"time_iso": iso(now), "service": name, **values}
                                       for name, values in result.decision.new.items()]
                elif job == "train":
                    run_train(config, now, secrets=secrets)
                else:
                    run_report(config, now, secrets=secrets)
                done += 1
                if progress:
                    progress(done, total)
    end = DEMO_START + days * DAY
    per_day = fleet_days({s.name: daily_series(fetch(config, s, secrets, DEMO_START, end), config.sla.latency_objective_ms,
                                               config.sla.target) for s in config.services})
    source = simulated_source(config)
    incidents = [i for s in config.services for i in source.incidents(s, DEMO_START, end)]
    detected = sum(any(i.start <= a.time < i.end + 1800 and a.severity in ("warning", "critical")
                       for a in all_anomalies) for i in incidents)
    from ai_ops.actuators.git import open_repo

    commits = sum(1 for _ in open_repo(config.path(".")).iter_commits()) - 1
    learning = {s.name: load_learner(config, paths_for(config), s.name).learning_status(end).to_dict()
                for s in config.services}
    return DemoResult(config.path("."), per_day, threshold_path, len(incidents), detected, commits,
                      config.reports_path, config.services[0].simulation.seed, learning, config.service_names)


def fleet_days(per_service: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per day: the fleet's cost and each service's SLA (exact SLI when available) and cost."""
    days: dict[str, dict[str, Any]] = {}
    for name, rows in per_service.items():
        for row in rows:
            day = days.setdefault(row["date"], {"date": row["date"], "cost": 0.0, "services": {}})
            day["cost"] = round(day["cost"] + row["cost"], 4)
            day["services"][name] = row
    return [days[d] for d in sorted(days)]
