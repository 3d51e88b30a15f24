"""Backtest: replay a demand trace through the simulated service under a scaling policy.

A trace (CSV `timestamp,value`) is read as a request rate, rescaled so that its peak needs
`peak_replicas` replicas at 100% CPU, and served by the simulator's autoscaler, latency,
error and cost model (`ai_ops.sim.service.serve`). Every `cycle_hours` the policy sees the
window's Observation (exactly what the controller sees) and sets the CPU target for the next
window. The best single fixed target in hindsight comes from a grid search over the whole trace.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ai_ops.config import OpsConfig
from ai_ops.errors import ConfigError
from ai_ops.learner.learner import SCALING, ThresholdLearner
from ai_ops.learner.observation import Observation, observe, sla_attainment
from ai_ops.series_csv import read_series
from ai_ops.sim.service import DAY, demand, serve

POLICIES: tuple[str, ...] = ("learned", "static", "target-tracking")
EVALUATE_AFTER_DAYS = 3


@dataclass(frozen=True)
class Trace:
    """A demand trace on a regular grid (gaps filled from the previous value)."""

    name: str
    timestamps: np.ndarray
    values: np.ndarray
    step: int


def load_trace(path: Path) -> Trace:
    """A `timestamp,value` CSV as request rates on a regular grid; bad input is named with its line."""
    series = read_series(path, "--trace")
    for warning in series.warnings:
        logging.getLogger(__name__).warning(warning)
    bad = np.flatnonzero(~np.isfinite(series.values) | (series.values < 0))
    if bad.size:
        raise ConfigError(f"{path}: value at {series.point_text(int(bad[0]))} is {series.values[bad[0]]!r}; "
                          f"a trace needs a finite request rate >= 0 on every row")
    t = series.seconds
    if t.size < 2:
        raise ConfigError(f"trace {path} has {t.size} data rows; it needs at least one day of data")
    step = int(round(float(np.median(np.diff(t)))))
    if step < 10 or DAY % step:
        raise ConfigError(f"trace {path}: sampling step {step}s must be >= 10 s and divide a day (e.g. 60, 300)")
    grid = np.arange(t[0], t[-1] + 1, step, dtype=float)
    index = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, t.size - 1)
    if grid.size * step < DAY:
        raise ConfigError(f"trace {path} covers {grid.size * step / 3600:.1f} h; a backtest needs at least one day")
    trace_values = series.values[index]
    if trace_values.max() <= 0:
        raise ConfigError(f"trace {path} has no positive value; it cannot be read as a request rate")
    return Trace(path.name, grid, trace_values, step)


def simulated_trace(config: OpsConfig, days: int, start: float = 0.0, step: int = 300) -> Trace:
    """The simulator's own seasonal, bursty demand (no incidents), as a trace."""
    cfg = config.services[0].simulation
    grid = np.arange(start, start + days * DAY, step, dtype=float)
    return Trace(f"simulated(seed={cfg.seed}, days={days})", grid, demand(cfg, grid, step, []), step)


# ---------------------------------------------------------------- policies

Decide = Callable[[Observation, dict[str, float]], tuple[dict[str, float], str, bool]]
"""(observation, current thresholds) -> (new thresholds, status, was an upward probe)."""


def _learned(config: OpsConfig) -> Decide:
    learner = ThresholdLearner(config.learner, config.thresholds, config.sla.target, config.cost.monthly_budget)

    def decide(obs: Observation, current: dict[str, float]) -> tuple[dict[str, float], str, bool]:
        decision = learner.step(obs, current)
        return decision.new, decision.status, learner.last_change_kind == "probe" and decision.changed

    return decide


def _static(value: float) -> Decide:
    def decide(obs: Observation, current: dict[str, float]) -> tuple[dict[str, float], str, bool]:
        return {**current, SCALING: value}, "static", False

    return decide


def _target_tracking(config: OpsConfig) -> Decide:
    """A memoryless feedback rule: -max_step after a breached window, +resolution after a clean one."""
    spec = config.thresholds[SCALING]

    def decide(obs: Observation, current: dict[str, float]) -> tuple[dict[str, float], str, bool]:
        value = current[SCALING]
        met = obs.sla_attainment >= config.sla.target
        new = value + config.learner.resolution if met else value - spec.max_step
        return {**current, SCALING: float(min(max(new, spec.min), spec.max))}, "reactive", met and new > value

    return decide


# ---------------------------------------------------------------- replay


@dataclass
class Replay:
    targets: np.ndarray
    metrics: dict[str, np.ndarray]
    path: list[dict[str, Any]]


def _window_steps(config: OpsConfig, step: int) -> int:
    return max(1, int(round(config.cycle_window_hours * 3600 / step)))


def replay(config: OpsConfig, trace: Trace, rate: np.ndarray, decide: Decide, initial: float) -> Replay:
    """Serve the trace window by window; the policy sets the target for each next window."""
    cfg = config.services[0].simulation
    n, per_window = rate.size, _window_steps(config, trace.step)
    targets = np.full(n, initial)
    thresholds = {name: spec.initial for name, spec in config.thresholds.items()}
    thresholds[SCALING] = initial
    path: list[dict[str, Any]] = []
    metrics: dict[str, np.ndarray] = {}
    for end in range(per_window, n + 1, per_window):
        # The autoscaler is causal: serving [0, end) gives the same first steps as the whole run.
        metrics = serve(cfg, trace.timestamps[:end], rate[:end], targets[:end])
        window = {k: v[end - per_window:end] for k, v in metrics.items()}
        obs = observe(float(trace.timestamps[end - 1]) + trace.step, trace.step, window, thresholds,
                      config.sla.latency_objective_ms, sla_target=config.sla.target)
        new, status, probe = decide(obs, thresholds)
        path.append({"day": round((end * trace.step) / DAY, 3), "target": thresholds[SCALING],
                     "sla": round(obs.sla_attainment, 4), "next_target": new[SCALING], "status": status,
                     "probe": probe})
        thresholds = dict(new)
        targets[end:] = thresholds[SCALING]
    metrics = serve(cfg, trace.timestamps, rate, targets)
    return Replay(targets, metrics, path)


def _sla(metrics: dict[str, np.ndarray], keep: np.ndarray, objective: float) -> float:
    return sla_attainment(metrics["request_rate"][keep], metrics["error_rate"][keep],
                          metrics["latency_p95_ms"][keep], objective)


def _cost(metrics: dict[str, np.ndarray], step: int, keep: np.ndarray | None = None) -> float:
    rate = metrics["cost_per_hour"] if keep is None else metrics["cost_per_hour"][keep]
    return float(rate.sum() * step / 3600.0)


def fixed_grid(config: OpsConfig, trace: Trace, rate: np.ndarray) -> list[dict[str, float]]:
    """Every fixed target on the resolution grid: SLA (whole run and after day 3) and cost."""
    cfg = config.services[0].simulation
    spec = config.thresholds[SCALING]
    day_index = ((trace.timestamps - trace.timestamps[0]) // DAY).astype(int)
    later = day_index >= EVALUATE_AFTER_DAYS
    everything = np.ones(rate.size, dtype=bool)
    rows = []
    for target in np.arange(spec.min, spec.max + 1e-9, config.learner.resolution):
        metrics = serve(cfg, trace.timestamps, rate, np.full(rate.size, target))
        rows.append({"target": round(float(target), 6),
                     "sla": round(_sla(metrics, everything, config.sla.latency_objective_ms), 5),
                     "sla_after_day3": round(_sla(metrics, later, config.sla.latency_objective_ms), 5)
                     if later.any() else float("nan"),
                     "cost": round(_cost(metrics, trace.step), 4)})
    return rows


def rescale(config: OpsConfig, trace: Trace, peak_replicas: float) -> np.ndarray:
    """Request rate such that the trace's peak needs `peak_replicas` replicas at 100% CPU."""
    capacity = config.services[0].simulation.capacity_rps_per_replica
    return trace.values / trace.values.max() * peak_replicas * capacity


def run_backtest(config: OpsConfig, trace: Trace, policy: str = "learned", peak_replicas: float = 40.0,
                 static_target: float | None = None) -> dict[str, Any]:
    """Replay `trace` under `policy`; returns the JSON-able result (see docs/learner.md#backtest)."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
    if SCALING not in config.thresholds:
        raise ConfigError(f"the backtest needs a '{SCALING}' threshold in the configuration's thresholds block")
    if not peak_replicas > 0:
        raise ConfigError(f"--peak-replicas must be > 0, got {peak_replicas}")
    spec = config.thresholds[SCALING]
    static_value = spec.initial if static_target is None else static_target
    if not spec.min <= static_value <= spec.max:
        raise ConfigError(f"--target {static_value:g} is outside [{spec.min:g}, {spec.max:g}] of {SCALING}")
    per_window = _window_steps(config, trace.step)
    if policy == "learned" and per_window < config.learner.min_samples:
        raise ConfigError(f"trace {trace.name}: a {trace.step}s step gives {per_window} samples per "
                          f"{config.cycle_window_hours:g} h window, fewer than learner.min_samples "
                          f"({config.learner.min_samples}), so the learner would never act; lower min_samples "
                          "in the config or use a finer trace")
    if trace.timestamps.size < per_window:
        raise ConfigError(f"trace {trace.name} is shorter than one {config.cycle_window_hours:g} h cycle window")
    rate = rescale(config, trace, peak_replicas)
    decide = {"learned": lambda: _learned(config), "static": lambda: _static(static_value),
              "target-tracking": lambda: _target_tracking(config)}[policy]()
    initial = static_value if policy == "static" else spec.initial
    run = replay(config, trace, rate, decide, initial)

    objective, target_sla = config.sla.latency_objective_ms, config.sla.target
    day_index = ((trace.timestamps - trace.timestamps[0]) // DAY).astype(int)
    days = []
    for d in range(int(day_index.max()) + 1):
        keep = day_index == d
        days.append({"day": d, "sla": round(_sla(run.metrics, keep, objective), 5),
                     "cost": round(_cost(run.metrics, trace.step, keep), 4),
                     "target_end": float(run.targets[keep][-1]),
                     "changes": sum(1 for p in run.path if int(p["day"] - 1e-9) == d and p["next_target"] != p["target"])})
    later = day_index >= EVALUATE_AFTER_DAYS
    grid = fixed_grid(config, trace, rate)
    meeting = [g for g in grid if g["sla"] >= target_sla]
    best = min(meeting, key=lambda g: g["cost"]) if meeting else None
    static80 = next((g for g in grid if abs(g["target"] - 80.0) < 1e-9), None)
    cost = _cost(run.metrics, trace.step)

    final = float(run.targets[-1])
    convergence_day = 0.0
    for p in run.path:
        # The learner reports its own status; other policies converge when the target stops travelling.
        unsettled = (p["status"] != "converged" if policy == "learned"
                     else abs(p["next_target"] - final) > config.learner.convergence_gap + 1e-9)
        if unsettled:
            convergence_day = p["day"]
    after = [d for d in days if d["day"] >= math.ceil(convergence_day - 1e-9)]
    # A day breached by exploration: its SLA missed, and a window of it breached right after an upward probe.
    probe_breached = {int(p["day"] - 1e-9) for i, p in enumerate(run.path)
                      if p["sla"] < target_sla and i > 0 and run.path[i - 1]["probe"]}
    exploration_breaches = sorted(d["day"] for d in days if d["day"] >= EVALUATE_AFTER_DAYS
                                  and d["day"] in probe_breached and d["sla"] < target_sla)
    return {
        "trace": trace.name,
        "policy": policy,
        "settings": {"peak_replicas": peak_replicas, "step_seconds": trace.step,
                     "cycle_window_hours": config.cycle_window_hours, "sla_target": target_sla,
                     "latency_objective_ms": objective, "initial_target": initial,
                     "days": round(trace.timestamps.size * trace.step / DAY, 3)},
        "sla_overall": round(_sla(run.metrics, np.ones_like(later), objective), 5),
        "sla_after_day3": round(_sla(run.metrics, later, objective), 5) if later.any() else None,
        "cost": round(cost, 4),
        "days_detail": days,
        "threshold_path": run.path,
        "final_target": final,
        "changes": sum(1 for p in run.path if p["next_target"] != p["target"]),
        "convergence_day": convergence_day,
        "max_changes_per_day_after_convergence": max((d["changes"] for d in after), default=0),
        "exploration_breach_days_after_day3": exploration_breaches,
        "best_fixed_in_hindsight": best,
        "cost_vs_best_fixed": round(cost / best["cost"], 4) if best else None,
        "highest_sla_fixed": max(grid, key=lambda g: (g["sla"], -g["cost"])),
        "static_80": static80,
        "static_80_meets_sla": bool(static80 and static80["sla"] >= target_sla),
        "cost_vs_static_80": round(cost / static80["cost"], 4) if static80 else None,
        "fixed_grid": grid,
    }
