"""The daily report job (09:00 UTC): numbers, words, local files, then Slack and Notion."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ai_ops import monitoring
from ai_ops.actuators.git import commit_owned
from ai_ops.actuators.terraform import current_thresholds
from ai_ops.config import OpsConfig, Secrets
from ai_ops.detectors.ensemble import SeverityLevels
from ai_ops.jobs.learner_state import load_learner
from ai_ops.jobs.observing import Sources
from ai_ops.jobs.workspace import DAY, iso, load_training_log, paths_for, read_anomalies, read_ledger
from ai_ops.metrics import ServiceMetrics
from ai_ops.reporting.model import Report
from ai_ops.state import atomic_write_json

log = logging.getLogger(__name__)


@dataclass
class ReportResult:
    time: float
    folder: Path | None
    report: Report


@dataclass(frozen=True)
class ReportInputs:
    """The report's numbers and, beside them (not part of report.json), the main chart's series."""

    report: Report
    main_series: dict[str, Any]


def build_report(config: OpsConfig, now: float, secrets: Secrets, sources: Sources | None = None) -> ReportInputs:
    """Every number of the daily report (no words yet): reads metrics and the models/ files."""
    from ai_ops.reporting.forecast import month_bounds
    from ai_ops.reporting.report import ReportSettings, compose_report, learning_status

    paths = paths_for(config)
    start = min(now - 7 * DAY, month_bounds(now)[0])
    sources = sources or Sources(config, secrets)
    metrics = {s.name: sources.fetch(s, start, now) for s in config.services}
    learners = {s.name: load_learner(config, paths, s.name) for s in config.services}
    statuses = {name: learner.learning_status(now) for name, learner in learners.items()}
    order = ["exploring", "converging", "settled"]
    least_settled = min((st.status for st in statuses.values()), key=lambda v: order.index(v) if v in order else -1)
    learning = learning_status(least_settled, {"cycles": min(learner.cycles for learner in learners.values())},
                               load_training_log(paths))
    learning["learners"] = {name: {**st.to_dict(), "cycles": learners[name].cycles} for name, st in statuses.items()}
    levels = SeverityLevels.from_sensitivity(config.anomaly.sensitivity)
    settings = ReportSettings(config.sla.target, config.sla.latency_objective_ms, config.cost.monthly_budget,
                              config.cost.currency, {k: (t.min, t.max) for k, t in config.thresholds.items()},
                              levels.warning_surprisal, levels.critical_surprisal)
    week = now - 7 * DAY
    from ai_ops.reporting.explained import change_effects, effect_line, incidents_only

    all_week = [a for a in read_anomalies(paths) if week <= a.get("time", 0) < now]
    week_anomalies = incidents_only(all_week)  # the controller's own change's effect is not an incident
    ledger = read_ledger(paths)
    report = compose_report(now, settings, metrics, [r for r in ledger if r.get("time", 0) >= week],
                            week_anomalies, current_thresholds(config), learning)
    explained = sorted({a["caused_by"] for a in all_week if a.get("caused_by") and now - DAY <= a["time"] < now})
    effects = {s.name: [effect_line(e) for e in change_effects([r for r in ledger if r.get("time", 0) < now], s.name)
                        if e["time"] >= week] for s in config.services}
    report = report.model_copy(update={"anomalies": report.anomalies.model_copy(
        update={"explained_by_changes": explained}), "change_effects": {k: v for k, v in effects.items() if v}})
    if config.learner.predictive.enabled:
        from ai_ops.jobs.predictive import report_part

        report = report.model_copy(update={"predictive": report_part(config, paths, ledger, now)})
    return ReportInputs(report, _main_series(metrics[config.services[0].name], week_anomalies, now))


def _main_series(metrics: ServiceMetrics, anomalies: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """The chart's main metric over 7 days with every anomalous point of it (not only the last 24 h)."""
    from ai_ops.reporting.report import MAIN_METRIC, week_metrics_for_charts

    series = week_metrics_for_charts(metrics, now)
    series["anomalies"] = [{"time": a["time"], "severity": a["severity"]} for a in anomalies
                           if a.get("service") == metrics.service and a.get("metric") == MAIN_METRIC]
    return series


@monitoring.instrumented("report")
def run_report(config: OpsConfig, now: float | None = None, dry_run: bool = False,
               secrets: Secrets | None = None, charts: bool = True, sources: Sources | None = None) -> ReportResult:
    """Numbers, words, local files (first), then Slack and Notion; a channel's failure never stops the rest."""
    from ai_ops.notifiers import notion, slack
    from ai_ops.reporting.model import Delivery
    from ai_ops.reporting.narrative import write_narrative
    from ai_ops.reporting.recommend import evidence_values, recommend
    from ai_ops.reporting.render import write_local

    now = time.time() if now is None else now
    secrets = secrets or Secrets()
    inputs = build_report(config, now, secrets, sources)
    report = inputs.report
    bounds = {s: {k: (t.min, t.max) for k, t in config.thresholds_for(s).items()} for s in config.service_names}
    recommendations = recommend(report, bounds, config.cost.currency)
    narrative = write_narrative(report, recommendations, evidence_values(report), config.llm, secrets,
                                paths_for(config).llm_state, now, config.cost.currency, save_state=not dry_run)
    report = report.model_copy(update={"recommendations": recommendations, "narrative": narrative})
    log.info("%s report narrative: %s (%s)", iso(now), narrative.written_by, narrative.reason)
    if dry_run:
        log.info("%s report: health %s/100 (dry run: nothing written or sent)", iso(now), report.health_score)
        return ReportResult(now, None, report)
    folder = config.reports_path / report.date
    report, problems = write_local(folder, report, inputs.main_series, charts=charts)
    for problem in problems:
        log.warning("%s", problem)
    markdown_text = (folder / "report.md").read_text(encoding="utf-8")
    deliveries = [slack.send_report(report, folder, secrets, config.notifiers),
                  notion.send_report(report, markdown_text, secrets, config.notifiers)]
    report = report.model_copy(update={"delivery": {d.channel: Delivery.model_validate(d.to_dict())
                                                    for d in deliveries}})
    atomic_write_json(folder / "report.json", report.to_json())
    for d in deliveries:
        log.info("%s report %s", iso(now), d.line())
    monitoring.save_state(config)  # the self-monitoring counters travel with models/ (fresh CI checkouts)
    commit_owned(config.path("."), [folder, paths_for(config).models],
                 f"ai-ops: daily report {report.date} (health {report.health_score}/100)\n\n"
                 f"Report: {folder.relative_to(config.path('.'))}/report.md", config.outputs.git,
                 secrets.secret_values())
    log.info("%s report: health %s/100, written to %s", iso(now), report.health_score, folder)
    return ReportResult(now, folder, report)
