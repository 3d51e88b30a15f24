"""The daily report job (09:00 UTC): numbers, words, local files, then Slack and Notion."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ai_ops.actuators.git import commit_owned
from ai_ops.actuators.terraform import current_thresholds
from ai_ops.config import OpsConfig, Secrets
from ai_ops.jobs.cycle import load_learner
from ai_ops.jobs.observing import Sources
from ai_ops.jobs.workspace import DAY, iso, load_training_log, paths_for, read_anomalies, read_ledger
from ai_ops.metrics import ServiceMetrics
from ai_ops.state import atomic_write_json

log = logging.getLogger(__name__)


@dataclass
class ReportResult:
    time: float
    folder: Path | None
    report: dict[str, Any]


def build_report(config: OpsConfig, now: float, secrets: Secrets) -> dict[str, Any]:
    """Every number of the daily report (no words yet): reads metrics and the models/ files."""
    from ai_ops.reporting.forecast import month_bounds
    from ai_ops.reporting.report import ReportSettings, compose_report, learning_status

    paths = paths_for(config)
    start = min(now - 7 * DAY, month_bounds(now)[0])
    sources = Sources(config, secrets)
    metrics = {s.name: sources.fetch(s, start, now) for s in config.services}
    learner = load_learner(config, paths)  # validates (and if damaged restores) the state file first
    learner_state = learner.state_dict() if paths.learner_state.exists() else {}
    learning = learning_status(learner.status() if learner_state else "exploring", learner_state,
                               load_training_log(paths))
    settings = ReportSettings(config.sla.target, config.sla.latency_objective_ms, config.cost.monthly_budget,
                              config.cost.currency, {k: (t.min, t.max) for k, t in config.thresholds.items()})
    week = now - 7 * DAY
    week_anomalies = [a for a in read_anomalies(paths) if week <= a.get("time", 0) < now]
    report = compose_report(now, settings, metrics, [r for r in read_ledger(paths) if r.get("time", 0) >= week],
                            week_anomalies, current_thresholds(config), learning)
    report["_main_series"] = _main_series(metrics[config.services[0].name], week_anomalies, now)
    return report


def _main_series(metrics: ServiceMetrics, anomalies: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """The chart's main metric over 7 days with every anomalous point of it (not only the last 24 h)."""
    from ai_ops.reporting.report import MAIN_METRIC, week_metrics_for_charts

    series = week_metrics_for_charts(metrics, now)
    series["anomalies"] = [{"time": a["time"], "severity": a["severity"]} for a in anomalies
                           if a.get("service") == metrics.service and a.get("metric") == MAIN_METRIC]
    return series


def run_report(config: OpsConfig, now: float | None = None, dry_run: bool = False,
               secrets: Secrets | None = None, charts: bool = True) -> ReportResult:
    """Numbers, words, local files (first), then Slack and Notion; a channel's failure never stops the rest."""
    from ai_ops.notifiers import notion, slack
    from ai_ops.reporting.narrative import write_narrative
    from ai_ops.reporting.recommend import evidence_values, recommend
    from ai_ops.reporting.render import write_local

    now = time.time() if now is None else now
    secrets = secrets or Secrets()
    report = build_report(config, now, secrets)
    main_series = report.pop("_main_series")
    recommendations = [r.to_dict() for r in recommend(report, {k: (t.min, t.max) for k, t in config.thresholds.items()},
                                                      config.cost.currency)]
    report["recommendations"] = recommendations
    state_path = paths_for(config).llm_state
    narrative = write_narrative(report, recommendations, evidence_values(report), config.llm, secrets,
                                state_path, now, config.cost.currency)
    report["narrative"] = narrative.to_dict()
    report["charts"] = []
    log.info("%s report narrative: %s (%s)", iso(now), narrative.written_by, narrative.reason)
    if dry_run:
        log.info("%s report: health %s/100 (dry run: nothing written or sent)", iso(now), report["health_score"])
        return ReportResult(now, None, report)
    folder = config.reports_path / report["date"]
    for problem in write_local(folder, report, main_series, charts=charts):
        log.warning("%s", problem)
    markdown_text = (folder / "report.md").read_text(encoding="utf-8")
    deliveries = [slack.send_report(report, folder, secrets, config.notifiers),
                  notion.send_report(report, markdown_text, secrets, config.notifiers)]
    report["delivery"] = {d.channel: d.to_dict() for d in deliveries}
    atomic_write_json(folder / "report.json", report)
    for d in deliveries:
        log.info("%s report %s", iso(now), d.line())
    commit_owned(config.path("."), [folder, paths_for(config).models],
                 f"ai-ops: daily report {report['date']} (health {report['health_score']}/100)\n\n"
                 f"Report: {folder.relative_to(config.path('.'))}/report.md", config.outputs.git,
                 secrets.secret_values())
    log.info("%s report: health %s/100, written to %s", iso(now), report["health_score"], folder)
    return ReportResult(now, folder, report)


