"""Changes that explain themselves: the controller's own scaling change moves replicas, cost and CPU.

Pure functions: an anomaly in `replicas`, `cost_per_hour` or `cpu_utilization` that starts within
the expected effect window after an applied change of the scaling target is that change's effect,
not an incident. The HPA sets replicas so that CPU sits at the target (replicas ~ demand / target,
cost = replicas x price), so a new target moves all three, at every load level of the day: hence
the default window of one daily cycle (learner.change_effect_hours = 24). Request rate, latency
and errors are never explained away: they are demand and what users feel.
"""

from __future__ import annotations

from typing import Any

EFFECT_METRICS = ("replicas", "cost_per_hour", "cpu_utilization")
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


EFFECT_WINDOWS = 4
"""Cycles (6 h each: one day) on each side of a change that its before/after effect is measured on."""


def _mean(records: list[dict[str, Any]], key: str) -> float | None:
    values = [o[key] for r in records if isinstance(o := (r.get("evidence") or {}).get("observation"), dict)
              and isinstance(o.get(key), (int, float))]
    return round(sum(values) / len(values), 4) if values else None


def _summary(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not records:
        return None
    return {"windows": len(records), "replicas_mean": _mean(records, "replicas_mean"),
            "cost_per_hour": _mean(records, "cost_per_hour"), "sla_attainment": _mean(records, "sla_attainment")}


def change_effects(ledger: list[dict[str, Any]], service: str, windows: int = EFFECT_WINDOWS) -> list[dict[str, Any]]:
    """What each applied scaling change of `service` did: mean replicas, cost per hour and SLA over
    the `windows` cycles before it and the cycles after it (up to `windows`, or the next change).

    Pure: reads the observations the cycles recorded in the ledger. A change without a cycle after
    it yet has `after` = None: its effect is not known yet.
    """
    own = sorted((r for r in ledger if r.get("service", service) == service and r.get("kind", "cycle") == "cycle"
                  and isinstance(r.get("time"), (int, float))), key=lambda r: r["time"])
    changes = applied_scaling_changes(own)
    out = []
    for k, change in enumerate(changes):
        until = changes[k + 1]["time"] if k + 1 < len(changes) else float("inf")
        before = [r for r in own if r["time"] <= change["time"]][-windows:]
        after = [r for r in own if change["time"] < r["time"] <= until][:windows]
        out.append({**change, "before": _summary(before), "after": _summary(after)})
    return out


def effect_line(effect: dict[str, Any]) -> str:
    """One sentence: what the change did, or that its effect is not measured yet."""
    head = f"{effect['time_iso']}: {SCALING} {effect['old']:g} -> {effect['new']:g}"
    before, after = effect.get("before"), effect.get("after")
    if not after or not before:
        return f"{head}: effect not measured yet (no cycle after it)"

    def pair(key: str, fmt: str) -> str:
        b, a = before.get(key), after.get(key)
        return "n/a" if b is None or a is None else f"{fmt.format(b)} -> {fmt.format(a)}"

    return (f"{head}: replicas {pair('replicas_mean', '{:.1f}')}, cost/h {pair('cost_per_hour', '{:.3f}')}, "
            f"SLA {pair('sla_attainment', '{:.3f}')}% ({before['windows']} cycles before, {after['windows']} after)")
