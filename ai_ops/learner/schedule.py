"""A day's schedule of minimum replicas, and warnings of demand the service cannot serve.

Why a schedule: a fixed CPU target must leave headroom for the fastest rise of the day all
day long. Scheduled minimum replicas put capacity in place before the forecast peak, so the
reactive autoscaler only has to absorb the forecast's error (KEDA cron triggers, AWS
scheduled actions and GKE predictive autoscaling do the same).

Pure functions of a `DemandForecast` and the service's measured capacity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ai_ops.learner.forecast import HOUR, DemandForecast


def capacity_per_replica(request_rate: np.ndarray, replicas: np.ndarray, cpu_percent: np.ndarray,
                         min_cpu: float = 20.0) -> float:
    """Requests per second one replica serves at 100% CPU, as measured: median of rate / (replicas x CPU).

    Steps below `min_cpu` are left out (idle overhead makes them overstate capacity). NaN
    when no step qualifies: then no schedule can be built and the caller must say so.
    """
    rate, reps, cpu = (np.asarray(a, dtype=float) for a in (request_rate, replicas, cpu_percent))
    ok = np.isfinite(rate) & np.isfinite(reps) & np.isfinite(cpu) & (reps > 0) & (cpu >= min_cpu) & (cpu < 100.0)
    if not ok.any():
        return float("nan")
    return float(np.median(rate[ok] / (reps[ok] * cpu[ok] / 100.0)))


@dataclass(frozen=True)
class ScheduleBlock:
    """From `start_hour` (UTC, inclusive) to `end_hour` (exclusive), keep at least `min_replicas`."""

    start_hour: int
    end_hour: int
    min_replicas: int
    forecast_peak_rps: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def replica_schedule(forecast: DemandForecast, capacity_rps: float, target_percent: float, floor: int,
                     ceiling: int, block_hours: int = 3) -> list[ScheduleBlock]:
    """Minimum replicas per `block_hours` block for the forecast's hours.

    Each block holds enough replicas for the upper end of the forecast interval within it at
    the scaling target: the capacity is ready when the rise starts, and the autoscaler still
    scales above it for what the forecast missed. Bounded by [floor, ceiling] (the learner's
    bounds for min replicas); blocks with the same value are merged.
    """
    if not (math.isfinite(capacity_rps) and capacity_rps > 0 and 0 < target_percent <= 100):
        raise ValueError(f"capacity {capacity_rps} rps/replica and target {target_percent}% cannot size a schedule")
    if 24 % block_hours:
        raise ValueError(f"block_hours {block_hours} must divide 24")
    hours = forecast.hour_starts()
    upper = np.where(np.isfinite(forecast.upper), forecast.upper, forecast.mean)
    per_replica = capacity_rps * target_percent / 100.0
    blocks: list[ScheduleBlock] = []
    for i in range(0, hours.size, block_hours):
        peak = float(np.nanmax(upper[i:i + block_hours]))
        needed = int(min(max(math.ceil(peak / per_replica), floor), ceiling)) if math.isfinite(peak) else floor
        start = int((hours[i] % 86_400) // HOUR)
        end = (start + min(block_hours, hours.size - i)) % 24 or 24
        if blocks and blocks[-1].min_replicas == needed and blocks[-1].end_hour == start:
            last = blocks.pop()
            blocks.append(ScheduleBlock(last.start_hour, end, needed, max(last.forecast_peak_rps, round(peak, 3))))
        else:
            blocks.append(ScheduleBlock(start, end, needed, round(peak, 3)))
    return blocks


@dataclass(frozen=True)
class BreachWarning:
    """Forecast demand above what the service can serve within its SLO, `lead_hours` from now."""

    hour_start: float
    lead_hours: float
    forecast_rps: float
    servable_rps: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def breach_warnings(forecast: DemandForecast, now: float, capacity_rps: float, max_replicas: int,
                    safe_utilization_percent: float, within_hours: int = 6) -> list[BreachWarning]:
    """Hours in the next `within_hours` whose forecast mean exceeds the servable rate.

    Servable = max replicas x capacity x the utilization above which latency leaves the SLO
    (e.g. the CPU alert level): beyond it, no autoscaler setting can keep the SLO, so a person
    must raise max replicas or shed load before then. The forecast mean, not its upper end, so
    a warning is a prediction, not a worst case.
    """
    servable = max_replicas * capacity_rps * safe_utilization_percent / 100.0
    out: list[BreachWarning] = []
    for start, mean in zip(forecast.hour_starts(), forecast.mean, strict=True):
        lead = (start - now) / HOUR
        if 0 <= lead < within_hours and math.isfinite(mean) and mean > servable:
            out.append(BreachWarning(float(start), round(lead, 2), round(float(mean), 3), round(servable, 3),
                                     f"forecast {mean:.1f} rps > {servable:.1f} rps servable ({max_replicas} replicas x "
                                     f"{capacity_rps:.2f} rps at {safe_utilization_percent:g}% CPU)"))
    return out
