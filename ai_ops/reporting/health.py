"""The health score: 0-100 as a sum of five parts a reader can recompute from the report.

The formula is documented in docs/report.md#health-score; keep the two in step.
Pure functions over numbers and numpy arrays: no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ai_ops.detectors.episodes import DEFAULT_MERGE_GAP_SECONDS, episodes_from_records

SLA_POINTS = 40.0
LATENCY_POINTS = 20.0
ERROR_POINTS = 15.0
ANOMALY_POINTS = 10.0
COST_POINTS = 15.0

BURN_ZERO = 5.0
"""A burn rate (or error ratio) of 1 keeps full points; at 5 x the budget the part is 0."""
COST_ZERO_RATIO = 1.5
"""Projected month-end cost at or under budget keeps full points; at 150% of budget the part is 0."""
CRITICAL_PENALTY = 4.0
WARNING_PENALTY = 1.0
EPISODE_GAP_SECONDS = DEFAULT_MERGE_GAP_SECONDS
"""Anomalous points of one service less than 30 minutes apart are one episode, whatever their metric:
one incident (a surge moves request rate, CPU, replicas, cost and latency together) is one episode."""


def _clamp01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def burn_points(ratio: float, points: float) -> float:
    """Full points up to ratio 1, falling linearly to 0 at BURN_ZERO. Unknown (NaN) counts as 0."""
    if not np.isfinite(ratio):
        return 0.0
    return points * _clamp01((BURN_ZERO - ratio) / (BURN_ZERO - 1.0))


@dataclass(frozen=True)
class HealthInputs:
    """The numbers the score is computed from, all over the last 24 h (cost: the month-end projection)."""

    sla_attainment: float
    sla_target: float
    latency_within_objective_share: float
    error_rate_mean: float
    critical_episodes: int
    warning_episodes: int
    cost_ratio: float


@dataclass(frozen=True)
class HealthScore:
    score: int
    parts: dict[str, float]
    maxima: dict[str, float]
    inputs: HealthInputs
    error_budget_burn: float

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "parts": self.parts, "maxima": self.maxima,
                "inputs": {k: _round(v) for k, v in asdict(self.inputs).items()},
                "error_budget_burn": _round(self.error_budget_burn)}


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6) if np.isfinite(v) else None
    return v


def health_score(inputs: HealthInputs) -> HealthScore:
    """Sum of the five parts, rounded to an integer 0-100."""
    budget = max(100.0 - inputs.sla_target, 1e-9)
    burn = (100.0 - inputs.sla_attainment) / budget if np.isfinite(inputs.sla_attainment) else float("nan")
    error_ratio = inputs.error_rate_mean / budget if np.isfinite(inputs.error_rate_mean) else float("nan")
    latency_share = inputs.latency_within_objective_share
    parts = {
        "sla": burn_points(burn, SLA_POINTS),
        "latency": LATENCY_POINTS * _clamp01(latency_share) if np.isfinite(latency_share) else 0.0,
        "errors": burn_points(error_ratio, ERROR_POINTS),
        "anomalies": max(0.0, ANOMALY_POINTS - CRITICAL_PENALTY * inputs.critical_episodes
                         - WARNING_PENALTY * inputs.warning_episodes),
        "cost": COST_POINTS * _clamp01((COST_ZERO_RATIO - inputs.cost_ratio) / (COST_ZERO_RATIO - 1.0))
        if np.isfinite(inputs.cost_ratio) else 0.0,
    }
    parts = {k: round(v, 2) for k, v in parts.items()}
    maxima = {"sla": SLA_POINTS, "latency": LATENCY_POINTS, "errors": ERROR_POINTS, "anomalies": ANOMALY_POINTS,
              "cost": COST_POINTS}
    return HealthScore(int(round(sum(parts.values()))), parts, maxima, inputs, burn)


def latency_within_share(latency_p95_ms: np.ndarray, objective_ms: float) -> float:
    """Share of steps (with data) whose p95 latency is at or under the objective."""
    finite = latency_p95_ms[np.isfinite(latency_p95_ms)]
    return float((finite <= objective_ms).mean()) if finite.size else float("nan")


def weighted_error_rate(request_rate: np.ndarray, error_rate_percent: np.ndarray) -> float:
    """Request-weighted mean error rate in percent (a quiet hour's errors weigh less)."""
    ok = np.isfinite(request_rate) & np.isfinite(error_rate_percent)
    if not ok.any():
        return float("nan")
    weights = request_rate[ok]
    if weights.sum() <= 0:
        return float(error_rate_percent[ok].mean())
    return float(np.average(error_rate_percent[ok], weights=weights))


def anomaly_episodes(records: list[dict[str, Any]], step_seconds: float = 300.0, warning_surprisal: float = 15.0,
                     critical_surprisal: float = 30.0,
                     gap_seconds: float = EPISODE_GAP_SECONDS) -> list[dict[str, Any]]:
    """Group anomalous points into graded episodes per service (`ai_ops.detectors.episodes`), as dicts."""
    return [e.to_dict() for e in episodes_from_records(records, step_seconds, warning_surprisal, critical_surprisal,
                                                       gap_seconds)]
