"""Five recommendations, each grounded in one number of the report (its `evidence` key and value).

Rules are plain and ranked by urgency; when fewer than five rules fire, "keep watching"
items grounded in the healthiest numbers fill the list, so there are always five.
"""

from __future__ import annotations

from typing import Any

from ai_ops.reporting.model import Recommendation, Report

COUNT = 5


def evidence_values(report: Report) -> dict[str, Any]:
    """Every number a recommendation may cite, by its dotted path in report.json."""
    out: dict[str, Any] = {"health.score": report.health.score}
    for k, v in report.health.inputs.model_dump().items():
        out[f"health.inputs.{k}"] = v
    out["health.error_budget_burn"] = report.health.error_budget_burn
    for k in ("projected_total", "lower", "upper", "budget", "ratio_to_budget", "month_to_date"):
        out[f"cost.{k}"] = getattr(report.cost, k)
    for service, metrics in report.trends.items():
        for name, t in metrics.items():
            out[f"trends.{service}.{name}.change_pct"] = t.change_pct
            out[f"trends.{service}.{name}.mean_24h"] = t.mean_24h
    for service, values in report.thresholds.items():
        for name, value in values.items():
            out[f"thresholds.{service}.{name}"] = value
    for service, sla in report.service_sla.items():
        out[f"service_sla.{service}.sla_attainment"] = sla.sla_attainment
        out[f"service_sla.{service}.error_budget_burn"] = sla.error_budget_burn
        out[f"service_sla.{service}.bad_step_share"] = sla.bad_step_share
    out["actions.count"] = len(report.actions)
    out["learning.detectors_not_converged"] = report.learning.detectors_not_converged
    out["learning.learner_status"] = report.learning.learner_status
    return {k: v for k, v in out.items() if v is not None}


def _rec(title: str, action: str, evidence: str, value: float | int | str, priority: int) -> Recommendation:
    return Recommendation(title=title, action=action, evidence=evidence, value=value, priority=priority)


def recommend(report: Report, bounds: dict[str, dict[str, tuple[float, float]]],
              currency: str) -> list[Recommendation]:
    """The five most useful things a person could do today, most urgent first."""
    h, cost, learning = report.health, report.cost, report.learning
    inputs = h.inputs
    recs: list[Recommendation] = []
    burn = h.error_budget_burn
    if burn is not None and burn > 1:
        recs.append(_rec(
            "Error budget burning fast", f"Find the cause of the bad requests of the last 24 h: the error budget "
            f"burned at {burn:.1f}x the sustainable rate (SLA {inputs.sla_attainment:.3f}% vs target "
            f"{inputs.sla_target}%).", "health.error_budget_burn", burn, 100))
    crit = inputs.critical_episodes
    if crit:
        recs.append(_rec(
            "Review critical anomalies", f"Look at the {crit} critical anomaly episode(s) listed under Anomalies; "
            "confirm each was a real incident or mark the detector as too sensitive.",
            "health.inputs.critical_episodes", crit, 90))
    ratio = cost.ratio_to_budget
    if ratio is not None and ratio > 1 and cost.projected_total is not None:
        recs.append(_rec(
            "Month-end cost over budget", f"The month is projected to cost {cost.projected_total:.0f} "
            f"{currency} against a budget of {cost.budget:.0f}: check replicas and the scaling target, or "
            "raise the budget if the growth is expected.", "cost.projected_total", cost.projected_total, 85))
    share = inputs.latency_within_objective_share
    if share is not None and share < 0.99:
        recs.append(_rec(
            "Latency above objective", f"p95 latency was over the objective in {100 * (1 - share):.1f}% of the "
            "last 24 h: check saturation (CPU, replicas) at those times.",
            "health.inputs.latency_within_objective_share", share, 80))
    for service, metrics in report.trends.items():
        for name, t in metrics.items():
            if t.significant and t.change_pct is not None:
                recs.append(_rec(
                    f"{service}/{name} moved {t.direction}", f"{name} averaged {t.mean_24h:g} in the last "
                    f"24 h, {t.change_pct:+.1f}% against the 7-day baseline {t.mean_7d:g}; beyond its normal "
                    "day-to-day variation: check whether a release or traffic change explains it.",
                    f"trends.{service}.{name}.change_pct", t.change_pct, 70))
    for service, values in report.thresholds.items():
        for name, value in values.items():
            lo, hi = bounds.get(service, {}).get(name, (float("-inf"), float("inf")))
            if value in (lo, hi):
                side = "lower" if value == lo else "upper"
                recs.append(_rec(
                    f"{service}/{name} at its {side} bound", f"{name} of {service} sits at its configured {side} "
                    f"bound {value:g}: the learner wants to go further; widen the bound (services[{service}]."
                    f"thresholds.{name} in ops_config.yaml) if that is safe, or pin it.",
                    f"thresholds.{service}.{name}", value, 60))
    if learning.detectors_not_converged:
        n = learning.detectors_not_converged
        recs.append(_rec(
            "Detectors not converged", f"{n} detector(s) did not converge at the last training: check those "
            "series for gaps or a regime change (models/training_log.json).",
            "learning.detectors_not_converged", n, 50))
    if ratio is not None and ratio < 0.7:
        recs.append(_rec(
            "Cost well under budget", f"The projected month-end cost is {100 * ratio:.0f}% of the budget: the SLA "
            "may afford more headroom, or the budget can shrink.", "cost.ratio_to_budget", ratio, 40))
    # Keep-watching items: always true, always grounded, lowest priority.
    if inputs.sla_attainment is not None:
        recs.append(_rec(
            "Keep the SLA in view", f"SLA attainment was {inputs.sla_attainment:.3f}% over the last 24 h (target "
            f"{inputs.sla_target}%).", "health.inputs.sla_attainment", inputs.sla_attainment, 10))
    else:
        recs.append(_rec(
            "Restore the SLA data", "No request data arrived in the last 24 h, so SLA attainment is unknown: check "
            f"the metric source (target {inputs.sla_target}%).", "health.inputs.sla_target", inputs.sla_target, 10))
    if cost.projected_total is not None:
        recs.append(_rec(
        "Track the month's cost", f"Month-end projection {cost.projected_total:.0f} {currency} of "
        f"{cost.budget:.0f} budget.", "cost.projected_total", cost.projected_total, 9))
    recs.append(_rec(
        "Review the controller's changes", f"{len(report.actions)} threshold change(s) in the last 24 h; each "
        "is a commit with its evidence.", "actions.count", len(report.actions), 8))
    recs.append(_rec(
        "Follow the learner", f"The learner is {learning.learner_status}; changes stay small and reviewed until "
        "it converges.", "learning.learner_status", learning.learner_status, 7))
    recs.append(_rec(
        "Check the health score's weakest part", f"Health score {h.score}/100; the weakest part is "
        f"{h.weakest_part}.", "health.score", h.score, 6))
    seen: set[str] = set()
    unique = []
    for r in sorted(recs, key=lambda r: -r.priority):
        if r.evidence not in seen:
            seen.add(r.evidence)
            unique.append(r)
    return unique[:COUNT]
