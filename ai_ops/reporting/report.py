"""The daily report: structured numbers first (JSON), words second (Markdown)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ai_ops.learner.observation import sla_attainment
from ai_ops.metrics import ServiceMetrics
from ai_ops.state import atomic_write_json, atomic_write_text

REPORT_SCHEMA_VERSION = 1
DAY = 86_400


def daily_series(metrics: ServiceMetrics, latency_objective_ms: float) -> list[dict[str, Any]]:
    """SLA attainment and cost for each UTC day of the window."""
    days = np.floor_divide(metrics.timestamps, DAY)
    rows = []
    for day in np.unique(days):
        mask = days == day
        cost = np.nansum(metrics["cost_per_hour"][mask]) * metrics.step / 3600.0
        sla = sla_attainment(metrics["request_rate"][mask], metrics["error_rate"][mask],
                             metrics["latency_p95_ms"][mask], latency_objective_ms)
        rows.append({"date": datetime.fromtimestamp(day * DAY, timezone.utc).date().isoformat(),
                     "sla": round(sla, 4), "cost": round(float(cost), 4)})
    return rows


def trends(metrics: ServiceMetrics, now: float) -> dict[str, dict[str, float]]:
    """Each metric: last 24 h against the 7-day baseline."""
    recent = metrics.timestamps >= now - DAY
    out = {}
    for name, values in metrics.values.items():
        last, base = values[recent], values[~recent]
        last, base = last[np.isfinite(last)], base[np.isfinite(base)]
        if not last.size or not base.size:
            continue
        mean_24h, mean_7d = float(last.mean()), float(base.mean())
        change = 100.0 * (mean_24h - mean_7d) / abs(mean_7d) if mean_7d else 0.0
        out[name] = {"mean_24h": round(mean_24h, 4), "mean_7d": round(mean_7d, 4), "change_pct": round(change, 2)}
    return out


def health_score(sla: float, sla_target: float, critical_anomalies: int, cost_ratio: float) -> int:
    """100 when the SLA holds, nothing critical happened and cost is within budget."""
    score = 100.0
    if np.isfinite(sla) and sla < sla_target:
        budget = 100.0 - sla_target
        score -= min(60.0, 60.0 * (sla_target - sla) / max(budget, 1e-9))
    score -= min(20.0, 5.0 * critical_anomalies)
    if cost_ratio > 1.0:
        score -= min(20.0, 100.0 * (cost_ratio - 1.0))
    return int(round(max(score, 0.0)))


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# ai-ops daily health report: {report['date']}", "",
             f"**Health score: {report['health_score']}/100**", "", "## SLA and cost per day", "",
             "| date | SLA % | cost |", "|---|---|---|"]
    lines += [f"| {d['date']} | {d['sla']:.3f} | {d['cost']:.2f} |" for d in report["days"]]
    lines += ["", "## Trends (24 h vs 7 d)", "", "| metric | 24 h mean | 7 d mean | change % |", "|---|---|---|---|"]
    for service, metrics in report["trends"].items():
        for name, t in metrics.items():
            lines.append(f"| {service}/{name} | {t['mean_24h']:.2f} | {t['mean_7d']:.2f} | {t['change_pct']:+.1f} |")
    lines += ["", "## Actions (last 24 h)", ""]
    lines += [f"- {a['time_iso']}: {a['summary']}" for a in report["actions"]] or ["- none"]
    lines += ["", "## Learning status", "", f"- learner: {report['learning']['learner_status']}", ""]
    return "\n".join(lines)


def write_report(reports_dir: Path, report: dict[str, Any]) -> Path:
    folder = reports_dir / report["date"]
    atomic_write_json(folder / "report.json", report)
    atomic_write_text(folder / "report.md", render_markdown(report))
    return folder
