"""A day's schedule of minimum replicas, and warnings of demand the service cannot serve.

Why a schedule: a fixed CPU target must leave headroom for the fastest rise of the day all
day long. Scheduled minimum replicas put capacity in place before the forecast peak, so the
reactive autoscaler only has to absorb the forecast's error (KEDA cron triggers, AWS
scheduled actions and GKE predictive autoscaling do the same). The minimums are sized under the
autoscaler's own count (`hourly_floor`), so they bind only where it is behind the forecast and
never cost more than the autoscaler alone would run (docs/predictive.md).

Pure functions of a `DemandForecast` and the service's measured capacity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ai_ops.config import HPA_TOLERANCE
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


def hourly_floor(forecast_lower: np.ndarray, forecast_mean: np.ndarray, capacity_rps: float,
                 target_percent: float, tolerance: float, floor: int, ceiling: int) -> np.ndarray:
    """Per forecast hour, the fewest replicas the autoscaler itself holds at the least demand the forecast
    expects: the lower end of the interval (the mean where it is undefined) at the top of the HPA's band,
    target x (1 + tolerance), within [floor, ceiling].

    Why this and not the replicas for the forecast's upper end at the target: a minimum at or above the
    autoscaler's own steady state is paid every hour and buys nothing the autoscaler would not do one step
    later (measured: +18% replicas, 1.21x the best fixed target on the simulator, docs/predictive.md). Sized
    here, it binds only when the autoscaler is behind the forecast (its one-step lag on a ramp, or a scale-down
    into a dip the forecast says will not last). Capacity above it comes from the autoscaler itself and, after
    a breach, from `guard_schedule`'s raise, not from the forecast's width.
    """
    if not (math.isfinite(capacity_rps) and capacity_rps > 0 and 0 < target_percent <= 100 and tolerance >= 0):
        raise ValueError(f"capacity {capacity_rps} rps/replica and target {target_percent}% cannot size a schedule")
    per_replica = capacity_rps * min(target_percent * (1.0 + tolerance), 100.0) / 100.0
    lower = np.where(np.isfinite(forecast_lower), forecast_lower, forecast_mean)
    needed = np.ceil(np.where(np.isfinite(lower), lower, 0.0) / per_replica)
    return np.clip(np.where(np.isfinite(lower), needed, floor), floor, ceiling).astype(np.int64)


def replica_schedule(forecast: DemandForecast, capacity_rps: float, target_percent: float, floor: int,
                     ceiling: int, block_hours: int = 3, tolerance: float = HPA_TOLERANCE) -> list[ScheduleBlock]:
    """Minimum replicas per `block_hours` block for the forecast's hours (any length).

    Each hour is sized by `hourly_floor`; a block holds its quietest hour's value (a block's minimum is in
    force for all its hours, so more would be paid in the hours that need less). Blocks with the same value
    are merged; `forecast_peak_rps` is the block's highest forecast mean.
    """
    if 24 % block_hours:
        raise ValueError(f"block_hours {block_hours} must divide 24")
    hours = forecast.hour_starts()
    sized = hourly_floor(forecast.lower, forecast.mean, capacity_rps, target_percent, tolerance, floor, ceiling)
    blocks: list[ScheduleBlock] = []
    for i in range(0, hours.size, block_hours):
        means = forecast.mean[i:i + block_hours]
        peak = float(np.nanmax(means)) if np.isfinite(means).any() else 0.0
        needed = int(sized[i:i + block_hours].min())
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


# ---------------------------------------------------------------- the schedule the controller writes

DAY_HOURS = 24


def hour_of_day_minimums(blocks: list[ScheduleBlock], default: int) -> np.ndarray:
    """The schedule as 24 minimums, one per UTC hour of day (`default` where no block covers an hour)."""
    out = np.full(DAY_HOURS, int(default), dtype=np.int64)
    for block in blocks:
        hours = range(block.start_hour, block.end_hour) if block.end_hour > block.start_hour else \
            [*range(block.start_hour, DAY_HOURS), *range(block.end_hour)]
        for hour in hours:
            out[hour % DAY_HOURS] = block.min_replicas
    return out


def blocks_from_hours(minimums: np.ndarray, block_hours: int, peaks: np.ndarray | None = None) -> list[ScheduleBlock]:
    """24 hourly minimums -> blocks of `block_hours` from 00:00 UTC, equal neighbours merged.

    Within a block the largest hourly minimum holds (a block never offers less than an hour of it needs).
    """
    if minimums.shape != (DAY_HOURS,):
        raise ValueError(f"a day's schedule has {DAY_HOURS} hourly minimums, got {minimums.shape}")
    if DAY_HOURS % block_hours:
        raise ValueError(f"block_hours {block_hours} must divide 24")
    peak_of = np.zeros(DAY_HOURS) if peaks is None else np.asarray(peaks, dtype=float)
    blocks: list[ScheduleBlock] = []
    for start in range(0, DAY_HOURS, block_hours):
        value = int(minimums[start:start + block_hours].max())
        peak = round(float(np.nanmax(peak_of[start:start + block_hours])), 3) if np.isfinite(
            peak_of[start:start + block_hours]).any() else 0.0
        end = start + block_hours
        if blocks and blocks[-1].min_replicas == value:
            last = blocks.pop()
            blocks.append(ScheduleBlock(last.start_hour, end, value, max(last.forecast_peak_rps, peak)))
        else:
            blocks.append(ScheduleBlock(start, end, value, peak))
    return blocks


def daily_schedule(forecast: DemandForecast, capacity_rps: float, target_percent: float, floor: int,
                   ceiling: int, block_hours: int, tolerance: float = HPA_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """(24 hourly minimums, 24 forecast means) for the hours of day the forecast covers (its first 24 hours),
    sized like `replica_schedule` (`hourly_floor`, each block at its quietest covered hour); hours it does not
    cover get `floor` and a NaN mean."""
    if 24 % block_hours:
        raise ValueError(f"block_hours {block_hours} must divide 24")
    sized = hourly_floor(forecast.lower[:DAY_HOURS], forecast.mean[:DAY_HOURS], capacity_rps, target_percent,
                         tolerance, floor, ceiling)
    minimums = np.full(DAY_HOURS, int(floor), dtype=np.int64)
    means = np.full(DAY_HOURS, np.nan)
    covered = np.zeros(DAY_HOURS, dtype=bool)
    for start, value, mean in zip(forecast.hour_starts()[:DAY_HOURS], sized, forecast.mean[:DAY_HOURS], strict=True):
        hour = int((start % 86_400) // HOUR)
        minimums[hour], means[hour], covered[hour] = int(value), mean, True
    for start in range(0, DAY_HOURS, block_hours):
        span = slice(start, start + block_hours)
        if covered[span].any():
            minimums[span] = np.where(covered[span], int(minimums[span][covered[span]].min()), floor)
    return minimums, means


@dataclass(frozen=True)
class GuardedSchedule:
    """The schedule after the guardrails, and why each hour that differs from the sized one differs."""

    minimums: np.ndarray
    """24 minimums, one per UTC hour of day."""
    reasons: dict[int, str]
    """Hour of day -> why the guarded value is not the sized one (bounds, step, breach)."""

    def changed_from(self, previous: np.ndarray) -> bool:
        return bool((self.minimums != previous).any())


def guard_schedule(previous: np.ndarray | None, sized: np.ndarray, floor: int, ceiling: int, max_step: int,
                   breached_hours: set[int] | frozenset[int] = frozenset()) -> GuardedSchedule:
    """Apply the learner's guardrails to a newly sized schedule (pure; 24 hourly minimums in and out).

    - bounds: every hour within [floor, ceiling];
    - step: no hour moves more than `max_step` replicas from `previous` in one cycle (no previous
      schedule: the previous is the floor everywhere, so a schedule ramps up over cycles);
    - breach: an hour of day whose steps breached the SLO in the last window is never lowered and
      is raised by at least `max_step` from its previous value (undoing a lowering, which the step
      limit kept to at most `max_step`), or straight to the sized value when that is higher (the
      step limit guards against a wrong forecast lowering capacity, not against adding it after
      a breach), up to `ceiling`.
    """
    if floor < 1 or ceiling < floor or max_step < 1:
        raise ValueError(f"schedule bounds [{floor}, {ceiling}] with max step {max_step} are not usable")
    sized = np.asarray(sized, dtype=np.int64)
    if sized.shape != (DAY_HOURS,):
        raise ValueError(f"a day's schedule has {DAY_HOURS} hourly minimums, got {sized.shape}")
    before = np.full(DAY_HOURS, floor, dtype=np.int64) if previous is None else \
        np.clip(np.asarray(previous, dtype=np.int64), floor, ceiling)
    out = np.empty(DAY_HOURS, dtype=np.int64)
    reasons: dict[int, str] = {}
    for hour in range(DAY_HOURS):
        want = int(sized[hour])
        value = min(max(want, floor), ceiling)
        if value != want:
            reasons[hour] = f"sized {want}, held within the bounds [{floor}, {ceiling}]"
        old = int(before[hour])
        if hour in breached_hours:
            raised = min(max(value, old + max_step), ceiling)
            if raised != want:
                reasons[hour] = (f"SLO breached in this hour: raised {old} -> {raised} (sized {want})"
                                 if raised > old else f"SLO breached in this hour: kept at {old} (ceiling {ceiling})")
            value = raised
        elif abs(value - old) > max_step:
            limited = old + max_step if value > old else old - max_step
            reasons[hour] = f"sized {want}, moved {old} -> {limited} (max step {max_step} per cycle)"
            value = limited
        out[hour] = value
    return GuardedSchedule(out, reasons)


def plan_day(upcoming: DemandForecast, capacity_rps: float, target_percent: float, floor: int, ceiling: int,
             block_hours: int, max_step: int, previous: np.ndarray | None, breached: set[int],
             tolerance: float = HPA_TOLERANCE) -> tuple[GuardedSchedule, list[ScheduleBlock]]:
    """One cycle's schedule: sized from the forecast of the hours to come (`upcoming`, `daily_schedule` at the
    scaling target and the HPA `tolerance`), hours of day it no longer covers keeping their `previous`
    minimum, then guarded (`guard_schedule`: `breached` hours raised) and cut into blocks. The cycle
    (jobs.predictive) and the backtest (`scheduled` policy) both plan with this."""
    sized, peaks = daily_schedule(upcoming, capacity_rps, target_percent, floor, ceiling, block_hours, tolerance)
    if previous is not None:
        covered = np.zeros(DAY_HOURS, dtype=bool)
        covered[((upcoming.hour_starts()[:DAY_HOURS] % (DAY_HOURS * HOUR)) // HOUR).astype(int)] = True
        sized = np.where(covered, sized, previous)
    guarded = guard_schedule(previous, sized, floor, ceiling, max_step, breached)
    return guarded, blocks_from_hours(guarded.minimums, block_hours, peaks)


def breached_hours(timestamps: np.ndarray, request_rate: np.ndarray, good_share: np.ndarray,
                   sla_target: float) -> set[int]:
    """UTC hours of day whose requests in the window were good less often than the SLA target."""
    ts, rate, good = (np.asarray(a, dtype=float) for a in (timestamps, request_rate, good_share))
    ok = np.isfinite(ts) & np.isfinite(rate) & np.isfinite(good) & (rate > 0)
    hours = ((ts[ok] % 86_400) // HOUR).astype(np.int64)
    total = np.bincount(hours, weights=rate[ok], minlength=DAY_HOURS)
    served_well = np.bincount(hours, weights=rate[ok] * good[ok], minlength=DAY_HOURS)
    with np.errstate(invalid="ignore", divide="ignore"):
        attained = 100.0 * served_well / total
    return {int(h) for h in np.flatnonzero((total > 0) & (attained < sla_target))}
