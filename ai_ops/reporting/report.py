"""The daily report assembled: structured numbers first (report.json), words second.

`compose_report` is pure: it takes the fetched metrics and the ledger records and returns
the report dict (schema `REPORT_SCHEMA_VERSION`, described in docs/report.md). The job in
`ai_ops.jobs` does the reading; `render` and `notifiers` do the writing and sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ai_ops.learner.observation import sla_attainment
from ai_ops.metrics import ServiceMetrics
from ai_ops.reporting.forecast import project_month_end
from ai_ops.reporting.health import (
    HealthInputs,
    anomaly_episodes,
    health_score,
    latency_within_share,
    weighted_error_rate,
)
from ai_ops.reporting.trends import trends

REPORT_SCHEMA_VERSION = 2
DAY = 86_400
MAIN_METRIC = "latency_p95_ms"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(v: float, digits: int = 4) -> float | None:
    return round(float(v), digits) if np.isfinite(v) else None


def daily_series(metrics: ServiceMetrics, latency_objective_ms: float) -> list[dict[str, Any]]:
    """SLA attainment, cost and the hours covered, for each UTC day of the window.

    The window's first and last days are usually partial (a 7-day window ending at 09:00):
    `hours` says so, so a short day's lower cost is not read as a saving.
    """
    days = np.floor_divide(metrics.timestamps, DAY)
    rows = []
    for day in np.unique(days):
        mask = days == day
        cost = np.nansum(metrics["cost_per_hour"][mask]) * metrics.step / 3600.0
        sla = sla_attainment(metrics["request_rate"][mask], metrics["error_rate"][mask],
                             metrics["latency_p95_ms"][mask], latency_objective_ms)
        rows.append({"date": datetime.fromtimestamp(day * DAY, UTC).date().isoformat(),
                     "sla": round(sla, 4), "cost": round(float(cost), 4),
                     "hours": round(float(mask.sum()) * metrics.step / 3600.0, 2)})
    return rows


@dataclass(frozen=True)
class ReportSettings:
    """What of the configuration the report needs (kept small so composing stays pure)."""

    sla_target: float
    latency_objective_ms: float
    monthly_budget: float
    currency: str
    threshold_bounds: dict[str, tuple[float, float]]


def _last_24h(metrics: ServiceMetrics, now: float) -> ServiceMetrics:
    return metrics.slice(now - DAY, now)


def _combine_days(per_service: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Across services: the worst SLA of the day and the summed cost."""
    by_date: dict[str, dict[str, Any]] = {}
    for rows in per_service:
        for r in rows:
            d = by_date.setdefault(r["date"], {"date": r["date"], "sla": float("inf"), "cost": 0.0, "hours": 0.0})
            d["hours"] = max(d["hours"], r.get("hours", 24.0))
            if np.isfinite(r["sla"]):
                d["sla"] = min(d["sla"], r["sla"])
            d["cost"] = round(d["cost"] + r["cost"], 4)
    return [{**d, "sla": d["sla"] if np.isfinite(d["sla"]) else None} for _, d in sorted(by_date.items())]


def learning_status(learner_status: str, learner_state: dict[str, Any], training_log: dict[str, Any]) -> dict[str, Any]:
    runs = training_log.get("runs", []) if isinstance(training_log, dict) else []
    last = runs[-1] if runs else {"time": None, "series": []}
    detectors = [{k: e.get(k) for k in ("series", "samples", "trained", "loss", "converged", "message")}
                 for e in last.get("series", [])]
    losses: dict[str, list[float]] = {}
    for run in runs[-7:]:
        for e in run.get("series", []):
            if e.get("loss") is not None:
                losses.setdefault(e["series"], []).append(e["loss"])
    return {
        "learner_status": learner_status,
        "learner_cycles": int(learner_state.get("cycles", 0)) if isinstance(learner_state, dict) else 0,
        "last_training": last.get("time"),
        "detectors": detectors,
        "detectors_trained": sum(1 for d in detectors if d["trained"]),
        "detectors_not_converged": sum(1 for d in detectors if d["converged"] is False),
        "loss_history": dict(losses.items()),
    }


def compose_report(now: float, settings: ReportSettings, metrics_by_service: dict[str, ServiceMetrics],
                   ledger: list[dict[str, Any]], anomalies: list[dict[str, Any]], thresholds: dict[str, float],
                   learning: dict[str, Any]) -> dict[str, Any]:
    """Every number of the report, from data already read. Deterministic for the same inputs."""
    week_start = now - 7 * DAY
    days, trend_by_service, cost_series = [], {}, []
    sla_values, latency_shares, error_rates = [], [], []
    for name, metrics in metrics_by_service.items():
        week = metrics.slice(week_start, now)
        days.append(daily_series(week, settings.latency_objective_ms))
        trend_by_service[name] = {m: t.to_dict() for m, t in trends(week.timestamps, week.values, now).items()}
        last = _last_24h(metrics, now)
        sla_values.append(sla_attainment(last["request_rate"], last["error_rate"], last["latency_p95_ms"],
                                         settings.latency_objective_ms))
        latency_shares.append(latency_within_share(last["latency_p95_ms"], settings.latency_objective_ms))
        error_rates.append(weighted_error_rate(last["request_rate"], last["error_rate"]))
        cost_series.append(metrics)
    # Cost across services on the first service's grid (services share the configured step).
    first = cost_series[0]
    total_cost = np.sum([np.nan_to_num(m["cost_per_hour"], nan=0.0) if m.timestamps.shape == first.timestamps.shape
                         else np.zeros_like(first.timestamps) for m in cost_series], axis=0)
    all_nan = np.all([np.isnan(m["cost_per_hour"]) for m in cost_series if m.timestamps.shape == first.timestamps.shape],
                     axis=0)
    total_cost = np.where(all_nan, np.nan, total_cost)
    projection = project_month_end(first.timestamps, total_cost, first.step, now, settings.monthly_budget)

    recent_anomalies = [a for a in anomalies if now - DAY <= a["time"] < now]
    episodes = anomaly_episodes(recent_anomalies)
    critical = sum(e["severity"] == "critical" for e in episodes)
    warning = sum(e["severity"] == "warning" for e in episodes)

    def worst(values: list[float], fn: Any) -> float:
        finite = [v for v in values if np.isfinite(v)]
        return float(fn(finite)) if finite else float("nan")

    inputs = HealthInputs(
        sla_attainment=worst(sla_values, min), sla_target=settings.sla_target,
        latency_within_objective_share=worst(latency_shares, min), error_rate_mean=worst(error_rates, max),
        critical_episodes=critical, warning_episodes=warning,
        cost_ratio=projection.ratio,
    )
    health = health_score(inputs)
    recent_ledger = [r for r in ledger if now - DAY <= r["time"] < now]
    actions = [{"time_iso": r["time_iso"], "summary": r.get("summary", ""), "changes": r.get("changes", {}),
                "reasons": {k: v for k, v in (r.get("reasons") or {}).items() if v and k in r.get("changes", {})},
                "applied": bool(r.get("applied")), "commit": r.get("commit")}
               for r in recent_ledger if r.get("changes")]
    threshold_path = [{"time": r["time"], "time_iso": r["time_iso"], **r["new"]} for r in ledger
                      if week_start <= r["time"] < now and isinstance(r.get("new"), dict)]
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "date": datetime.fromtimestamp(now, UTC).date().isoformat(),
        "generated_at": _iso(now),
        "window": {"last_24h": [_iso(now - DAY), _iso(now)], "baseline": [_iso(week_start), _iso(now - DAY)]},
        "services": list(metrics_by_service),
        "currency": settings.currency,
        "health": health.to_dict(),
        "health_score": health.score,
        "sla_days": _combine_days(days),
        "trends": trend_by_service,
        "cost": projection.to_dict(),
        "anomalies": {"critical_episodes": critical, "warning_episodes": warning, "points": len(recent_anomalies),
                      "episodes": [{**e, "start_iso": _iso(e["start"]), "end_iso": _iso(e["end"]),
                                    "max_score": round(e["max_score"], 6)} for e in episodes[-20:]]},
        "actions": actions,
        "thresholds": thresholds,
        "threshold_path": threshold_path,
        "learning": learning,
    }


def week_metrics_for_charts(metrics: ServiceMetrics, now: float) -> dict[str, Any]:
    """The main metric's last 7 days, for the chart (not part of report.json)."""
    week = metrics.slice(now - 7 * DAY, now)
    return {"service": metrics.service, "metric": MAIN_METRIC, "timestamps": week.timestamps,
            "values": week[MAIN_METRIC] if MAIN_METRIC in week.values else np.full(week.timestamps.shape, np.nan)}


def report_folder(reports_dir: Path, date: str) -> Path:
    return reports_dir / date
