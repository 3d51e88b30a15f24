"""Predictive scaling in the jobs (learner.predictive, docs/predictive.md).

`train` fits each learned service's demand forecast (`fit_forecasts`) and stores it under
models/forecast/<service>.json with the error of the previous forecast against the
seasonal-naive baseline, day after day. `cycle` sizes the day's schedule of minimum replicas
from the stored forecast (`plan_schedules`), applies the guardrails against the schedule in the
tfvars, and lists the breach warnings of the next hours. The math is in ai_ops.learner.forecast
and ai_ops.learner.schedule; this module is the I/O around it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ai_ops.config import OpsConfig
from ai_ops.errors import ActuatorError, SourceError, WorkspaceError
from ai_ops.jobs.observing import Sources
from ai_ops.jobs.workspace import DAY, Paths, iso
from ai_ops.learner.forecast import HOUR, DemandForecast, forecast_demand, hourly_means
from ai_ops.learner.schedule import (
    BreachWarning,
    ScheduleBlock,
    breach_warnings,
    breached_hours,
    capacity_per_replica,
    hour_of_day_minimums,
    plan_day,
)
from ai_ops.metrics import ServiceMetrics
from ai_ops.reporting.model import Predictive, PredictiveWarning, ServiceForecast
from ai_ops.state import atomic_write_json, read_json

log = logging.getLogger(__name__)

ERROR_HOURS = 6
"""The tracked error: the first 6 hours of each daily forecast (what the warnings look at)."""
ERRORS_KEPT = 90
CAPACITY_DAYS = 7
"""The capacity per replica is measured on the last week of the history."""
STALE_AFTER_HOURS = 48.0
"""A forecast older than this (train has not run) sizes no schedule and raises no warning."""


# ---------------------------------------------------------------- train


def forecast_error(previous: dict[str, Any], timestamps: np.ndarray, rate: np.ndarray) -> dict[str, Any] | None:
    """MAPE over the first `ERROR_HOURS` hours of a stored forecast, and of the seasonal-naive forecast
    (the same hours a day earlier) on the same hours; None when those hours are not all known yet."""
    start = float(previous["start"])
    actual = hourly_means(timestamps, rate, start + ERROR_HOURS * HOUR, ERROR_HOURS)
    naive = hourly_means(timestamps, rate, start + ERROR_HOURS * HOUR - DAY, ERROR_HOURS)
    model = np.asarray(previous["mean"][:ERROR_HOURS], dtype=float)
    ok = np.isfinite(actual) & np.isfinite(naive) & (np.abs(actual) > 1e-9)
    if model.size < ERROR_HOURS or ok.sum() < ERROR_HOURS or timestamps.size == 0 \
            or float(np.nanmax(timestamps)) < start + ERROR_HOURS * HOUR - HOUR:
        return None
    model_mape = float(np.mean(np.abs(model[ok] - actual[ok]) / actual[ok])) * 100
    naive_mape = float(np.mean(np.abs(naive[ok] - actual[ok]) / actual[ok])) * 100
    return {"origin": start, "origin_iso": iso(start), "hours": ERROR_HOURS, "method": previous.get("method"),
            "model_mape": round(model_mape, 3), "naive_mape": round(naive_mape, 3)}


def error_summary(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean MAPE of the model and of the baseline over the tracked days."""
    if not errors:
        return {"days": 0, "model_mape": None, "naive_mape": None, "beats_naive": None}
    model = float(np.mean([e["model_mape"] for e in errors]))
    naive = float(np.mean([e["naive_mape"] for e in errors]))
    return {"days": len(errors), "model_mape": round(model, 3), "naive_mape": round(naive, 3),
            "beats_naive": model < naive}


def _finite_list(values: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in values]


def fit_forecast(config: OpsConfig, metrics: ServiceMetrics, now: float, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The stored record of one service's forecast (see `fit_forecasts`); raises ValueError when it cannot be fitted."""
    spec = config.learner.predictive
    rate = metrics.values.get("request_rate")
    if rate is None or not np.isfinite(rate).any():
        raise ValueError("no request_rate history to forecast from")
    forecast = forecast_demand(metrics.timestamps, rate, now, spec.horizon_hours, spec.history_days)
    if not (np.isfinite(forecast.mean).all() and np.isfinite(forecast.upper).all()):
        raise ValueError(f"the forecast is undefined ({forecast.history_hours} hours of request_rate history)")
    recent = metrics.timestamps >= now - CAPACITY_DAYS * DAY
    capacity = float("nan")
    if {"replicas", "cpu_utilization"} <= set(metrics.values):
        capacity = capacity_per_replica(rate[recent], metrics.values["replicas"][recent],
                                        metrics.values["cpu_utilization"][recent])
    errors = list(previous.get("errors", [])) if previous else []
    if previous:
        latest = forecast_error(previous, metrics.timestamps, rate)
        if latest is not None and all(e["origin"] != latest["origin"] for e in errors):
            errors.append(latest)
    errors = errors[-ERRORS_KEPT:]
    return {"version": 1, "service": metrics.service, "fitted_at": now, "fitted_at_iso": iso(now),
            "method": forecast.method, "history_hours": forecast.history_hours, "start": forecast.start,
            "mean": _finite_list(forecast.mean), "lower": _finite_list(forecast.lower),
            "upper": _finite_list(forecast.upper),
            "capacity_rps_per_replica": round(capacity, 4) if math.isfinite(capacity) else None,
            "errors": errors, "error_summary": error_summary(errors)}


def fit_forecasts(config: OpsConfig, paths: Paths, sources: Sources, now: float,
                  persist: bool) -> list[dict[str, Any]]:
    """Fit and store the forecast of every learned service; one entry per service for the training
    log (its `forecasts` list, beside the detectors' `series`)."""
    spec = config.learner.predictive
    entries = []
    for service in config.services:
        began = time.perf_counter()
        try:
            metrics = sources.fetch(service, now - spec.history_days * DAY, now)
            previous = load_forecast_record(paths, service.name)
            record = fit_forecast(config, metrics, now, previous)
        except (SourceError, ValueError) as exc:
            log.warning("%s: forecast not refitted (the last one stays): %s", service.name, exc)
            entries.append({"service": service.name, "trained": False, "message": f"forecast not refitted: {exc}",
                            "time": iso(now)})
            continue
        if persist:
            atomic_write_json(paths.forecast(service.name), record)
        summary = record["error_summary"]
        message = (f"{record['method']} on {record['history_hours']} h; first {ERROR_HOURS} h MAPE "
                   f"{summary['model_mape']}% vs seasonal naive {summary['naive_mape']}% over {summary['days']} days"
                   if summary["days"] else f"{record['method']} on {record['history_hours']} h; no error tracked yet")
        entries.append({"service": service.name, "trained": True, "message": message, "time": iso(now),
                        "method": record["method"], "error_summary": summary,
                        "seconds": round(time.perf_counter() - began, 3)})
    return entries


def load_forecast_record(paths: Paths, service: str) -> dict[str, Any] | None:
    """The stored forecast record, or None (missing or not a forecast this version wrote: logged)."""
    path = paths.forecast(service)
    try:
        record = read_json(path, None)
    except WorkspaceError as exc:  # a damaged forecast is treated as absent, and said: the next train refits it
        log.warning("%s is not readable JSON (%s); the forecast is refitted by the next train", path, exc)
        return None
    if record is None:
        return None
    ok = isinstance(record, dict) and record.get("version") == 1 and all(
        isinstance(record.get(k), list) and len(record[k]) == len(record.get("mean", [])) > 0
        for k in ("mean", "lower", "upper")) and isinstance(record.get("start"), (int, float))
    if ok:
        ok = all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
                 for k in ("mean", "lower", "upper") for v in record[k])
    if not ok:
        log.warning("%s is not a forecast ai-ops wrote (bad shape or values); ignored until the next train", path)
        return None
    return dict(record)


def as_forecast(record: dict[str, Any]) -> DemandForecast:
    return DemandForecast(float(record["start"]), np.asarray(record["mean"], dtype=float),
                          np.asarray(record["lower"], dtype=float), np.asarray(record["upper"], dtype=float),
                          str(record.get("method", "")), int(record.get("history_hours", 0)))


# ---------------------------------------------------------------- cycle


@dataclass
class ServicePlan:
    """One service's schedule and warnings in a cycle."""

    service: str
    previous: list[ScheduleBlock]
    blocks: list[ScheduleBlock]
    reasons: dict[int, str] = field(default_factory=dict)
    note: str = ""
    """Why no schedule was sized (no forecast, stale forecast, no capacity), empty when one was."""
    warnings: list[BreachWarning] = field(default_factory=list)
    breached_hours: list[int] = field(default_factory=list)
    forecast_method: str = ""

    @property
    def changed(self) -> bool:
        """A block's hours or minimum differ from the schedule in force (the forecast peaks are not written)."""
        return bool(self.blocks) and tfvars_blocks(self.blocks) != tfvars_blocks(self.previous)

    def to_dict(self) -> dict[str, Any]:
        return {"previous": [b.to_dict() for b in self.previous], "blocks": [b.to_dict() for b in self.blocks],
                "changed": self.changed, "reasons": {str(h): r for h, r in sorted(self.reasons.items())},
                "note": self.note, "warnings": [w.to_dict() for w in self.warnings],
                "breached_hours": self.breached_hours, "forecast_method": self.forecast_method}


def blocks_of(written: list[dict[str, int]] | None) -> list[ScheduleBlock]:
    return [ScheduleBlock(int(b["start_hour"]), int(b["end_hour"]), int(b["min_replicas"]), 0.0)
            for b in written or []]


def tfvars_blocks(blocks: list[ScheduleBlock]) -> list[dict[str, int]]:
    return [{"start_hour": b.start_hour, "end_hour": b.end_hour, "min_replicas": b.min_replicas} for b in blocks]


def plan_service(config: OpsConfig, paths: Paths, service: str, now: float, written: list[dict[str, int]] | None,
                 window: ServiceMetrics, good: np.ndarray, target: float, alert_cpu: float | None) -> ServicePlan:
    """Size, guard and warn for one service (see the module docstring)."""
    spec = config.learner.predictive
    previous = blocks_of(written)
    plan = ServicePlan(service, previous, [])
    record = load_forecast_record(paths, service)
    if record is None:
        plan.note = "no forecast yet (the next train fits it)"
        return plan
    age_hours = (now - float(record["fitted_at"])) / HOUR
    if age_hours > STALE_AFTER_HOURS:
        plan.note = f"forecast is {age_hours:.0f} h old (> {STALE_AFTER_HOURS:g} h): schedule kept, no warnings"
        return plan
    forecast = as_forecast(record)
    plan.forecast_method = forecast.method
    capacity = float(record["capacity_rps_per_replica"]) if record.get("capacity_rps_per_replica") else float("nan")
    if {"replicas", "cpu_utilization", "request_rate"} <= set(window.values):
        measured = capacity_per_replica(window.values["request_rate"], window.values["replicas"],
                                        window.values["cpu_utilization"])
        capacity = measured if math.isfinite(measured) else capacity
    if not math.isfinite(capacity) or capacity <= 0:
        plan.note = "capacity per replica unknown (no step above 20% CPU): no schedule sized"
        return plan
    ahead = forecast.hour_starts() >= math.floor(now / HOUR) * HOUR
    if not ahead.any():
        plan.note = "the forecast covers no hour from now on: schedule kept"
        return plan
    upcoming = DemandForecast(float(forecast.hour_starts()[ahead][0]), forecast.mean[ahead], forecast.lower[ahead],
                              forecast.upper[ahead], forecast.method, forecast.history_hours)
    before = hour_of_day_minimums(previous, spec.min_replicas) if previous else None
    breached = breached_hours(window.timestamps, window.values.get("request_rate", np.full(good.shape, np.nan)),
                              good, config.sla.target)
    guarded, plan.blocks = plan_day(upcoming, capacity, target, spec.min_replicas, spec.max_replicas,
                                    spec.block_hours, spec.max_step_replicas, before, breached,
                                    config.learner.hpa_tolerance)
    plan.reasons = guarded.reasons
    plan.breached_hours = sorted(breached)
    safe = alert_cpu if alert_cpu is not None else min(100.0, target * (1 + config.learner.hpa_tolerance))
    plan.warnings = breach_warnings(upcoming, now, capacity, spec.max_replicas, safe, spec.warn_within_hours)
    return plan


def schedule_table(plans: dict[str, ServicePlan]) -> list[str]:
    """Markdown rows for the commit message / PR: every changed block, old -> new, and why."""
    changed = {s: p for s, p in plans.items() if p.changed}
    if not changed:
        return []
    lines = ["", "Schedule of minimum replicas (autoscaling_min_replicas_schedule, UTC, from the demand forecast):",
             "| service | hours | old min replicas | new min replicas | forecast peak rps | why |", "|---|---|---|---|---|---|"]
    for service, plan in changed.items():
        old = hour_of_day_minimums(plan.previous, 0) if plan.previous else None
        for block in plan.blocks:
            hours = range(block.start_hour, block.end_hour)
            if old is not None and all(int(old[h]) == block.min_replicas for h in hours):
                continue  # unchanged block: not a change to review
            before = "-" if old is None else "/".join(str(v) for v in sorted({int(old[h]) for h in hours}))
            why = "; ".join(sorted({plan.reasons[h] for h in hours if h in plan.reasons})).replace("|", "/")
            peak = f"{block.forecast_peak_rps:g}" if block.forecast_peak_rps > 0 else "- (hours already passed)"
            lines.append(f"| {service} | {block.start_hour:02d}-{block.end_hour:02d} | {before} | {block.min_replicas} "
                         f"| {peak} | {why or 'sized from the forecast'} |")
    return lines


def warning_lines(plans: dict[str, ServicePlan]) -> list[str]:
    return [f"- {s}: in {w.lead_hours:g} h ({iso(w.hour_start)}): {w.reason}"
            for s, p in plans.items() for w in p.warnings]


def report_part(config: OpsConfig, paths: Paths, ledger: list[dict[str, Any]], now: float) -> Predictive:
    """The report's predictive part: each service's stored forecast for the next 24 h with its tracked
    error, the schedule in force, and the warnings the cycles of the last 24 h raised."""
    from ai_ops.actuators.terraform import read_schedule

    try:
        schedule = read_schedule(config)
    except ActuatorError as exc:  # the report still goes out; the cycle refuses and says why
        log.warning("%s", exc)
        schedule = {}
    forecasts: dict[str, ServiceForecast] = {}
    for service in config.service_names:
        record = load_forecast_record(paths, service)
        if record is None:
            continue
        forecast = as_forecast(record)
        shown = (forecast.hour_starts() >= math.floor(now / HOUR) * HOUR) & (forecast.hour_starts() < now + DAY)
        summary = record.get("error_summary") or error_summary(record.get("errors", []))
        forecasts[service] = ServiceForecast(
            method=forecast.method, fitted_at=str(record.get("fitted_at_iso", "")),
            hour_starts=[float(t) for t in forecast.hour_starts()[shown]],
            mean=[float(v) for v in forecast.mean[shown]], lower=[float(v) for v in forecast.lower[shown]],
            upper=[float(v) for v in forecast.upper[shown]], error_days=int(summary.get("days") or 0),
            model_mape=summary.get("model_mape"), naive_mape=summary.get("naive_mape"),
            beats_naive=summary.get("beats_naive"), schedule=schedule.get(service, []))
    warnings = [PredictiveWarning(service=str(r.get("service")), cycle_iso=str(r.get("time_iso")),
                                  hour_iso=iso(float(w["hour_start"])), lead_hours=float(w["lead_hours"]),
                                  forecast_rps=float(w["forecast_rps"]), servable_rps=float(w["servable_rps"]),
                                  reason=str(w["reason"]))
                for r in ledger if now - DAY <= float(r.get("time", 0)) < now
                for w in r.get("predictive_warnings") or []]
    return Predictive(forecasts=forecasts, warnings=warnings)
