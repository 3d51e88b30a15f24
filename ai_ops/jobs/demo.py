"""`ai-ops demo`: many simulated days of the real jobs, in the order the schedule runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ai_ops.config import OpsConfig, Secrets, load_config
from ai_ops.errors import ConfigError
from ai_ops.jobs.cycle import load_learner, run_cycle
from ai_ops.jobs.observing import Anomaly, deployed_target_timeline, fetch
from ai_ops.jobs.report import run_report
from ai_ops.jobs.train import run_train
from ai_ops.jobs.workspace import DAY, iso, locked, paths_for, prepare_workspace
from ai_ops.reporting.report import daily_series
from ai_ops.sources.simulated import SimulatedSource


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
    learning: dict[str, Any] = field(default_factory=dict)
    """The learner's last status: exploring / converging / converged, criterion, days since change."""


DEMO_START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
"""Simulated time starts at a fixed date so the same seed gives the same demo."""


def demo_config(workspace: Path, seed: int | None = None) -> OpsConfig:
    config = load_config(None).with_workspace(workspace.resolve())
    if seed is not None:
        services = [s.model_copy(update={"simulation": s.simulation.model_copy(update={"seed": seed})})
                    for s in config.services]
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
                    threshold_path.append({"time_iso": iso(now), **result.decision.new})
                elif job == "train":
                    run_train(config, now, secrets=secrets)
                else:
                    run_report(config, now, secrets=secrets)
                done += 1
                if progress:
                    progress(done, total)
    end = DEMO_START + days * DAY
    per_day = daily_series(fetch(config, config.services[0], secrets, DEMO_START, end), config.sla.latency_objective_ms)
    incidents = [i for s in config.services for i in SimulatedSource(deployed_target_timeline(config)).incidents(s, DEMO_START, end)]
    detected = sum(any(i.start <= a.time < i.end + 1800 and a.severity in ("warning", "critical")
                       for a in all_anomalies) for i in incidents)
    from ai_ops.actuators.git import open_repo

    commits = sum(1 for _ in open_repo(config.path(".")).iter_commits()) - 1
    learning = load_learner(config, paths_for(config)).learning_status(end).to_dict()
    return DemoResult(config.path("."), per_day, threshold_path, len(incidents), detected, commits,
                      config.reports_path, config.services[0].simulation.seed, learning)
