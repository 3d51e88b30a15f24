"""Changes that explain themselves: the controller's own scaling change moves replicas and cost.

Pure functions: an anomaly in `replicas` or `cost_per_hour` that starts within the expected effect
window after an applied change of the scaling target is that change's effect, not an incident.
"""

from __future__ import annotations

from typing import Any

EFFECT_METRICS = ("replicas", "cost_per_hour")
SCALING = "autoscaling_cpu_target"


def applied_scaling_changes(ledger: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Applied cycle decisions that moved the scaling target: {service, time, time_iso, commit, old, new}
    (`service` is None in ledger records from before per-service thresholds: then it was every service's)."""
    out = []
    for r in ledger:
        changes = r.get("changes") or {}
        if r.get("applied") and SCALING in changes:
            out.append({"service": r.get("service"), "time": float(r["time"]), "time_iso": r.get("time_iso", ""), "commit": r.get("commit"),
                        "old": changes[SCALING].get("old"), "new": changes[SCALING].get("new")})
    return sorted(out, key=lambda c: c["time"])


def cause_of(service: str, metric: str, time: float, changes: list[dict[str, Any]], window_seconds: float) -> str:
    """'<ledger time> (commit <sha>)' of the service's change whose effect window holds this anomaly, or ''."""
    if metric not in EFFECT_METRICS or window_seconds <= 0:
        return ""
    for change in reversed(changes):
        if change["service"] in (service, None) and change["time"] <= time <= change["time"] + window_seconds:
            commit = f" (commit {change['commit'][:12]})" if change.get("commit") else ""
            return f"{change['time_iso']}{commit}: {SCALING} {change['old']:g} -> {change['new']:g}"
    return ""


def incidents_only(anomalies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The anomaly records that are not explained by the controller's own change."""
    return [a for a in anomalies if not a.get("caused_by")]
