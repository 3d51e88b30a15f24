"""A simulated web service: seasonal bursty demand, injected incidents, an HPA-style
autoscaler that uses the scaling target in force at each moment, queueing latency,
errors and cost.

Everything is a pure function of (settings, seed, time range, target timeline): a
window simulated twice gives the same numbers, so the controller, the tests and the
backtests can replay any period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from ai_ops.config import SimulationConfig

DAY = 86_400
HPA_TOLERANCE = 0.10
"""Kubernetes HPA does nothing while |utilization / target - 1| <= 10%."""
SCALE_DOWN_STABILIZATION_STEPS = 3
"""Scale down only to the largest recommendation of the last few steps (HPA behaviour)."""
WARMUP_SECONDS = 2 * 3600
OVERLOAD_P95_MS = 5_000.0
"""Latency reported when demand exceeds capacity (requests time out)."""
BASE_ERROR_PERCENT = 0.01
NOISE_AR = 0.8

IncidentKind = str  # "latency_spike" | "error_burst" | "traffic_surge"
INCIDENT_KINDS: tuple[IncidentKind, ...] = ("latency_spike", "error_burst", "traffic_surge")

TargetTimeline = Callable[[np.ndarray], np.ndarray]
"""Maps epoch seconds to the CPU scaling target (percent) in force at that time."""


@dataclass(frozen=True)
class Incident:
    kind: IncidentKind
    start: float
    end: float
    magnitude: float


@dataclass(frozen=True)
class SimulatedWindow:
    timestamps: np.ndarray
    metrics: dict[str, np.ndarray]
    incidents: list[Incident]


def constant_target(percent: float) -> TargetTimeline:
    return lambda ts: np.full(ts.shape, float(percent))


def _day_rng(seed: int, day: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, day & 0xFFFFFFFF, stream])


def _noise(cfg: SimulationConfig, timestamps: np.ndarray, step: int) -> np.ndarray:
    """AR(1) log-noise with stationary std `cfg.noise`, generated per UTC day so it is replayable."""
    per_day = DAY // step
    days = np.floor_divide(timestamps, DAY).astype(np.int64)
    out = np.empty(timestamps.shape)
    innovation_std = cfg.noise * np.sqrt(1 - NOISE_AR**2)
    for day in np.unique(days):
        eps = _day_rng(cfg.seed, int(day), 1).normal(0.0, innovation_std, per_day)
        series = lfilter([1.0], [1.0, -NOISE_AR], eps)
        mask = days == day
        index = ((timestamps[mask] - day * DAY) // step).astype(np.int64)
        out[mask] = series[np.clip(index, 0, per_day - 1)]
    return out


def incidents_between(cfg: SimulationConfig, start: float, end: float) -> list[Incident]:
    """The incidents injected in [start, end): their true times, for scoring the detectors."""
    found: list[Incident] = []
    for day in range(int(start // DAY) - 1, int(end // DAY) + 1):
        rng = _day_rng(cfg.seed, day, 2)
        for _ in range(rng.poisson(cfg.incidents_per_day)):
            kind = INCIDENT_KINDS[int(rng.integers(len(INCIDENT_KINDS)))]
            begin = day * DAY + float(rng.uniform(0, DAY))
            duration = float(rng.uniform(15, 60)) * 60
            magnitude = float(rng.uniform(0.5, 1.0))
            incident = Incident(kind, begin, begin + duration, magnitude)
            if incident.end > start and incident.start < end:
                found.append(incident)
    return sorted(found, key=lambda i: i.start)


def demand(cfg: SimulationConfig, timestamps: np.ndarray, step: int, incidents: list[Incident]) -> np.ndarray:
    """Request rate: daily cycle peaking at 15:00 UTC, quieter weekends, bursty noise, surges."""
    hour = (timestamps % DAY) / 3600.0
    daily = 1.0 + cfg.daily_amplitude * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
    weekday = (np.floor_divide(timestamps, DAY).astype(np.int64) + 3) % 7  # 0 = Monday
    weekly = np.where(weekday >= 5, 1.0 - cfg.weekly_amplitude, 1.0)
    rate = cfg.base_rps * daily * weekly * np.exp(_noise(cfg, timestamps, step))
    for incident in incidents:
        if incident.kind == "traffic_surge":
            active = (timestamps >= incident.start) & (timestamps < incident.end)
            rate[active] *= 1.6 + incident.magnitude
    return rate


def p95_latency_ms(service_time_ms: float, utilization: np.ndarray) -> np.ndarray:
    """Queueing curve of the M/M/c family: flat at low load, steep above ~85%, timeouts at 100%."""
    rho = np.clip(utilization, 0.0, 0.999)
    queueing = 8.0 * rho**10 / (1.0 - rho)
    latency = service_time_ms * (3.0 + queueing)
    return np.where(utilization >= 1.0, OVERLOAD_P95_MS, np.minimum(latency, OVERLOAD_P95_MS))


TAIL_DECADES = float(np.log(20.0))
"""ln(1 / 0.05): the p95 is this many mean tail lengths above the latency floor."""


def slow_share(service_time_ms: float, latency_p95_ms: np.ndarray, objective_ms: float) -> np.ndarray:
    """Share of a step's requests slower than `objective_ms` under the simulator's latency model.

    Each request's latency is the service time plus an exponential queueing/tail delay whose
    scale makes the step's 95th percentile exactly `latency_p95_ms` (the shifted-exponential
    response time of an M/M/c queue): P(latency > x) = 20 ** -((x - floor) / (p95 - floor)).
    So a step whose p95 sits at the objective has 5% slow requests, one far above it nearly all,
    and an idle step almost none: the share a histogram's objective bucket would count.
    """
    floor = service_time_ms
    p95 = np.maximum(np.asarray(latency_p95_ms, dtype=float), floor + 1e-9)
    if objective_ms <= floor:
        return np.ones(p95.shape)
    return np.exp(-TAIL_DECADES * (objective_ms - floor) / (p95 - floor))


def _autoscale(
    cfg: SimulationConfig, rate: np.ndarray, target_percent: np.ndarray, min_replicas: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Replicas and utilization per step; each step's replicas were decided from the previous step.

    `min_replicas` (one value per step, the HPA minReplicas in force) defaults to the configured
    `cfg.min_replicas` on every step; values above `cfg.max_replicas` are capped there.
    """
    n = rate.size
    floor = (np.full(n, float(cfg.min_replicas)) if min_replicas is None
             else np.minimum(np.maximum(np.asarray(min_replicas, dtype=float), 1.0), cfg.max_replicas))
    replicas = np.empty(n)
    utilization = np.empty(n)
    initial_target = max(target_percent[0], 1.0) / 100.0 if n else 0.5
    current = float(np.clip(np.ceil(rate[0] / (cfg.capacity_rps_per_replica * initial_target)), floor[0],
                            cfg.max_replicas)) if n else 0.0
    recent: list[float] = []
    for k in range(n):
        replicas[k] = current
        load = rate[k] / (current * cfg.capacity_rps_per_replica)
        utilization[k] = load
        ratio = min(load, 1.0) / max(target_percent[k] / 100.0, 0.01)
        desired = current if abs(ratio - 1.0) <= HPA_TOLERANCE else float(np.ceil(current * ratio))
        recent.append(desired)
        if len(recent) > SCALE_DOWN_STABILIZATION_STEPS:
            recent.pop(0)
        if desired < current:
            desired = min(current, max(recent))
        current = float(np.clip(desired, floor[min(k + 1, n - 1)], cfg.max_replicas))
    return replicas, utilization


def serve(cfg: SimulationConfig, timestamps: np.ndarray, rate: np.ndarray, target_percent: np.ndarray,
          incidents: list[Incident] | None = None, *, latency_objective_ms: float | None = None,
          min_replicas: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The service's response to a given demand: autoscaler, latency, errors, cost on every step.

    Separate from `demand` so a recorded trace (a backtest) gets exactly the same service model.
    With `latency_objective_ms`, also the exact SLI series a latency histogram and an error
    counter would give: `sli_total` (all requests/s) and `sli_good` (requests/s at or under the
    objective and not failed; failures and slowness are independent in the model).
    `min_replicas`: the HPA minReplicas in force on each step (default: `cfg.min_replicas`).
    """
    replicas, load = _autoscale(cfg, rate, target_percent, min_replicas)
    latency = p95_latency_ms(cfg.service_time_ms, load)
    errors = np.full(timestamps.shape, BASE_ERROR_PERCENT)
    errors = np.where(load > 1.0, 100.0 * (1.0 - 1.0 / np.maximum(load, 1e-9)), errors)
    for incident in incidents or []:
        active = (timestamps >= incident.start) & (timestamps < incident.end)
        if incident.kind == "latency_spike":
            latency[active] = np.minimum(latency[active] + 400.0 + 1200.0 * incident.magnitude, OVERLOAD_P95_MS)
        elif incident.kind == "error_burst":
            errors[active] += 2.0 + 8.0 * incident.magnitude
    out = {
        "request_rate": rate,
        "cpu_utilization": 100.0 * np.minimum(load, 1.0),
        "latency_p95_ms": latency,
        "error_rate": np.minimum(errors, 100.0),
        "replicas": replicas,
        "cost_per_hour": replicas * cfg.replica_cost_per_hour,
    }
    if latency_objective_ms is not None:
        fast = 1.0 - slow_share(cfg.service_time_ms, latency, latency_objective_ms)
        out["sli_total"] = rate
        out["sli_good"] = rate * fast * (1.0 - out["error_rate"] / 100.0)
    return out


def simulate(
    cfg: SimulationConfig, start: float, end: float, step: int, cpu_target: TargetTimeline, *,
    latency_objective_ms: float | None = None, min_replicas: TargetTimeline | None = None,
) -> SimulatedWindow:
    """Metrics on the grid [start, end) every `step` seconds (with the SLI series when an objective is
    given); `min_replicas` maps epoch seconds to the HPA minReplicas in force (default: the configured one)."""
    if DAY % step:
        raise ValueError(f"simulation step {step}s must divide a day (86400 s)")
    first = np.ceil(start / step) * step
    warm_start = first - WARMUP_SECONDS
    grid = np.arange(warm_start, end, step, dtype=np.float64)
    incidents = incidents_between(cfg, warm_start, end)
    rate = demand(cfg, grid, step, incidents)
    metrics = serve(cfg, grid, rate, cpu_target(grid), incidents, latency_objective_ms=latency_objective_ms,
                    min_replicas=None if min_replicas is None else min_replicas(grid))
    keep = grid >= first
    return SimulatedWindow(
        timestamps=grid[keep],
        metrics={name: values[keep] for name, values in metrics.items()},
        incidents=[i for i in incidents if i.end > first and i.start < end],
    )
