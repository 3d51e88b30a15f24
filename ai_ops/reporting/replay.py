"""What `ai-ops replay` says about a past period, per service: pure functions over arrays and records.

Generic over the decision's shape: a ledger record's `new` may map threshold -> value (thresholds
shared by every service) or service -> {threshold -> value} (per-service thresholds); both are read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ai_ops.learner.observation import ALERT_METRICS
from ai_ops.metrics import ServiceMetrics
from ai_ops.reporting.health import anomaly_episodes
from ai_ops.reporting.report import daily_series

ALERT_FOR_STEPS = 2
"""An alert pages when its condition holds this many steps in a row (Prometheus `for:`)."""


def thresholds_of(new: dict[str, Any], service: str) -> dict[str, float]:
    """The thresholds a decision set for `service`: its own block if per-service, else the shared numbers."""
    own = new.get(service)
    if isinstance(own, dict):
        return {k: float(v) for k, v in own.items() if isinstance(v, (int, float))}
    return {k: float(v) for k, v in new.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def threshold_path(ledger: list[dict[str, Any]], service: str, initial: dict[str, float]) -> list[dict[str, Any]]:
    """[{time, name: value, ...}] from the first value to each cycle's decision (applied ones only move it)."""
    path: list[dict[str, Any]] = []
    current = dict(initial)
    for record in sorted(ledger, key=lambda r: r.get("time", 0)):
        if record.get("kind") != "cycle" or not isinstance(record.get("new"), dict):
            continue
        if record.get("applied"):
            current = {**current, **thresholds_of(record["new"], service)}
        path.append({"time": float(record["time"]), **current})
    return path


def in_force(path: list[dict[str, Any]], initial: dict[str, float], name: str, timestamps: np.ndarray) -> np.ndarray:
    """The value of threshold `name` in force at each timestamp (a step function of the path)."""
    times = np.array([p["time"] for p in path if name in p], dtype=float)
    values = np.array([initial.get(name, np.nan)] + [p[name] for p in path if name in p], dtype=float)
    return values[np.searchsorted(times, timestamps, side="right")]


def alert_pages(values: np.ndarray, thresholds: np.ndarray, for_steps: int = ALERT_FOR_STEPS) -> list[int]:
    """Indices where an alert starts paging: the metric above its threshold `for_steps` steps in a row.

    One page per continuous firing period (a held condition pages once, not every step).
    """
    above = np.nan_to_num(values, nan=-np.inf) > thresholds
    if above.size < for_steps:
        return []
    firing = above.copy()
    for k in range(1, for_steps):  # held at i: above at i, i-1, ..., i-for_steps+1
        firing[k:] &= above[:-k]
        firing[:k] = False
    starts = np.flatnonzero(firing & ~np.concatenate(([False], firing[:-1])))
    return [int(i) for i in starts]


def changes_proposed(ledger: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    """Every cycle that changed a threshold of `service`: time, old -> new, why, applied, commit."""
    out = []
    for r in sorted(ledger, key=lambda r: r.get("time", 0)):
        if r.get("kind") != "cycle":
            continue
        old = thresholds_of(r.get("old") or {}, service)
        new = thresholds_of(r.get("new") or {}, service)
        moved = {k: {"old": old.get(k), "new": v} for k, v in new.items() if old.get(k) != v}
        if moved:
            reasons = r.get("reasons") or {}
            out.append({"time": r["time"], "time_iso": r.get("time_iso", ""), "changes": moved,
                        "reasons": {k: reasons[k] for k in moved if reasons.get(k)},
                        "applied": bool(r.get("applied")), "commit": r.get("commit")})
    return out


def summarise_service(metrics: ServiceMetrics, ledger: list[dict[str, Any]], anomalies: list[dict[str, Any]],
                      initial: dict[str, float], latency_objective_ms: float, start: float,
                      end: float) -> dict[str, Any]:
    """One service over [start, end): threshold path, SLA and cost per day, episodes, pages, changes."""
    window = metrics.slice(start, end)
    # The cycle writes one record per service; a record without a service is the older shared form.
    ledger = [r for r in ledger if start <= r.get("time", 0) < end and r.get("service") in (None, metrics.service)]
    path = threshold_path(ledger, metrics.service, initial)
    episodes = anomaly_episodes([a for a in anomalies if a.get("service") == metrics.service
                                 and start <= a.get("time", 0) < end])
    alerts: dict[str, dict[str, Any]] = {}
    names = sorted({k for p in path for k in p if k != "time"} | set(initial))
    for name in names:
        metric = ALERT_METRICS.get(name)
        if metric is None or metric not in window.values:
            continue
        limit = in_force(path, initial, name, window.timestamps)
        pages = alert_pages(window[metric], limit)
        alerts[name] = {"metric": metric, "pages": len(pages),
                        "times": [float(window.timestamps[i]) for i in pages]}
    return {
        "service": metrics.service,
        "days": daily_series(window, latency_objective_ms) if window.timestamps.size else [],
        "threshold_path": path,
        "initial": initial,
        "final": {k: v for k, v in path[-1].items() if k != "time"} if path else dict(initial),
        "episodes": [{**e, "max_score": round(float(e["max_score"]), 6)} for e in episodes],
        "critical_episodes": sum(e["severity"] == "critical" for e in episodes),
        "warning_episodes": sum(e["severity"] == "warning" for e in episodes),
        "alerts": alerts,
        "changes": changes_proposed(ledger, metrics.service),
        "fetch_errors": dict(metrics.errors),
    }
