"""Backtest: replay a demand trace through the simulated service under a scaling policy.

A trace (CSV `timestamp,value`) is read as a request rate, rescaled so that its peak needs
`peak_replicas` replicas at 100% CPU, and served by the simulator's autoscaler, latency,
error and cost model (`ai_ops.sim.service.serve`). Every `cycle_hours` the policy sees the
window's Observation (exactly what the controller sees) and sets the CPU target for the next
window. The best single fixed target in hindsight comes from a grid search over the whole trace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ai_ops.backtest_trace import Trace as Trace
from ai_ops.backtest_trace import load_trace as load_trace
from ai_ops.backtest_trace import simulated_trace as simulated_trace
from ai_ops.config import OpsConfig
from ai_ops.errors import ConfigError
from ai_ops.learner.forecast import HOUR, DemandForecast, forecast_demand
from ai_ops.learner.learner import MIN_REPLICAS, SCALING, ThresholdLearner
from ai_ops.learner.observation import ALERT_METRICS, Observation, observe
from ai_ops.learner.schedule import (
    DAY_HOURS,
    breached_hours,
    capacity_per_replica,
    hour_of_day_minimums,
    plan_day,
)
from ai_ops.sim.service import DAY, serve, slow_share

POLICIES: tuple[str, ...] = ("learned", "scheduled", "static", "target-tracking")
"""`scheduled` = the learner (`learned`) plus the predictive schedule of minimum replicas (docs/predictive.md)."""
EVALUATE_AFTER_DAYS = 3
LEAD_IN_SECONDS = DAY
"""The replay serves each window from this long before it (the autoscaler's state is then the
whole run's); the final scoring serves the whole run at once."""


def good_share(metrics: dict[str, np.ndarray], latency_objective_ms: float, service_time_ms: float) -> np.ndarray:
    """Per step, the share of good requests (exact request-based SLI): not failed, and at or under
    the latency objective under the simulator's latency model (`ai_ops.sim.service.slow_share`,
    the same model as the simulator's histogram series `sli_good` / `sli_total`)."""
    slow = slow_share(service_time_ms, metrics["latency_p95_ms"], latency_objective_ms)
    return (1.0 - np.clip(metrics["error_rate"], 0.0, 100.0) / 100.0) * (1.0 - slow)


def exact_sla(metrics: dict[str, np.ndarray], keep: np.ndarray, latency_objective_ms: float,
              service_time_ms: float) -> float:
    """Share of good requests in percent over the steps `keep` (weighted by requests)."""
    rate = metrics["request_rate"][keep]
    total = float(rate.sum())
    if total <= 0:
        return 100.0
    return float(100.0 * (rate * good_share(metrics, latency_objective_ms, service_time_ms)[keep]).sum() / total)


# ---------------------------------------------------------------- policies

Decide = Callable[[Observation, dict[str, float], dict[str, np.ndarray]], tuple[dict[str, float], str, bool]]
"""(observation, current thresholds, the metrics of the last days) -> (new thresholds, status, was an upward probe)."""


class _WantsHistory:
    """A policy that may need the last days of metrics (the learner's warm start)."""

    def __init__(self, learner: ThresholdLearner, decide: Decide) -> None:
        self.learner, self.decide = learner, decide

    def wants_history(self) -> bool:
        return self.learner.wants_warm_start()

    def __call__(self, obs: Observation, current: dict[str, float],
                 past: dict[str, np.ndarray]) -> tuple[dict[str, float], str, bool]:
        return self.decide(obs, current, past)


def _learned(config: OpsConfig) -> Decide:
    learner = ThresholdLearner(config.learner, config.thresholds, config.sla.target, config.cost.monthly_budget)

    def decide(obs: Observation, current: dict[str, float],
               past: dict[str, np.ndarray]) -> tuple[dict[str, float], str, bool]:
        estimate = None
        if learner.wants_warm_start():
            # What the jobs do on the first cycle: the estimate from the last days of metrics.
            estimate = learner.warm_start_estimate(past, past["good_share"], current)
        decision = learner.step(obs, current, warm_start=estimate)
        return decision.new, decision.status, learner.last_change_kind == "probe" and decision.changed

    return _WantsHistory(learner, decide)


def _static(value: float) -> Decide:
    def decide(obs: Observation, current: dict[str, float],
               past: dict[str, np.ndarray]) -> tuple[dict[str, float], str, bool]:
        return {**current, SCALING: value}, "static", False

    return decide


def _target_tracking(config: OpsConfig) -> Decide:
    """A memoryless feedback rule: -max_step after a breached window, +resolution after a clean one."""
    spec = config.thresholds[SCALING]

    def decide(obs: Observation, current: dict[str, float],
               past: dict[str, np.ndarray]) -> tuple[dict[str, float], str, bool]:
        value = current[SCALING]
        met = obs.sla_attainment >= config.sla.target
        new = value + config.learner.resolution if met else value - spec.max_step
        return {**current, SCALING: float(min(max(new, spec.min), spec.max))}, "reactive", met and new > value

    return decide


class SchedulePlanner:
    """What the controller does with `learner.predictive` on: `train` forecasts the request rate once a
    day (at the first cycle of each UTC day, from `history_days` of the past only, `horizon_hours`
    ahead); every cycle sizes the day's schedule from that forecast at the scaling target in force
    and the measured capacity, and applies the guardrails (`guard_schedule`) against the previous one."""

    def __init__(self, config: OpsConfig) -> None:
        self.config = config
        self.spec = config.learner.predictive
        sim = config.services[0].simulation
        self.floor = max(self.spec.min_replicas, sim.min_replicas)
        self.ceiling = min(self.spec.max_replicas, sim.max_replicas)
        self.previous: np.ndarray | None = None
        self.forecast: DemandForecast | None = None
        self.forecast_day = -1
        self.history: list[dict[str, Any]] = []

    def __call__(self, now: float, rate_ts: np.ndarray, rate: np.ndarray, served: dict[str, np.ndarray],
                 window_ts: np.ndarray, window: dict[str, np.ndarray], target: float) -> np.ndarray:
        """The guarded 24 hourly minimums for the next cycle (`rate`: the request-rate history the
        forecast reads; `served`: the recent served metrics the capacity is measured from)."""
        day = int(now // DAY)
        if day != self.forecast_day:
            self.forecast = forecast_demand(rate_ts, rate, now, self.spec.horizon_hours,
                                            self.spec.history_days)
            self.forecast_day = day
        assert self.forecast is not None
        capacity = capacity_per_replica(served["request_rate"], served["replicas"], served["cpu_utilization"])
        if not np.isfinite(capacity):
            return self.previous if self.previous is not None else np.full(DAY_HOURS, self.floor, dtype=np.int64)
        ahead = self.forecast.hour_starts() >= now - HOUR  # hours still to come
        forecast = DemandForecast(float(self.forecast.hour_starts()[ahead][0]) if ahead.any() else now,
                                  self.forecast.mean[ahead], self.forecast.lower[ahead], self.forecast.upper[ahead],
                                  self.forecast.method, self.forecast.history_hours)
        good = good_share(window, self.config.sla.latency_objective_ms,
                          self.config.services[0].simulation.service_time_ms)
        breached = breached_hours(window_ts, window["request_rate"], good, self.config.sla.target)
        _, blocks = plan_day(forecast, capacity, target, self.floor, self.ceiling, self.spec.block_hours,
                             self.spec.max_step_replicas, self.previous, breached,
                             self.config.learner.hpa_tolerance)
        # What is written is blocks (the larger hour of each block holds): serve exactly that.
        written = hour_of_day_minimums(blocks, self.floor)
        self.previous = written
        self.history.append({"time": now, "minimums": written.tolist(),
                             "breached_hours": sorted(breached)})
        return written


# ---------------------------------------------------------------- replay


@dataclass
class Replay:
    targets: np.ndarray
    metrics: dict[str, np.ndarray]
    path: list[dict[str, Any]]
    thresholds: dict[str, np.ndarray]
    """Every threshold's value in force on each step of the trace."""


def _window_steps(config: OpsConfig, step: int) -> int:
    return max(1, int(round(config.cycle_window_hours * 3600 / step)))


def exact_observation(obs: Observation, window: dict[str, np.ndarray], objective: float,
                      sla_target: float, service_time_ms: float) -> Observation:
    """The observation with the exact request-based SLI of the window (see `good_share`)."""
    good = good_share(window, objective, service_time_ms)
    rate = window["request_rate"]
    total = float(rate.sum())
    exact = float(100.0 * (rate * good).sum() / total) if total > 0 else 100.0
    # The backtest's traces carry no incidents: every bad step is load's doing.
    return replace(obs, sla_attainment=exact, sla_attainment_load=exact, sli_method="exact",
                   bad_step_share=float(np.mean(good < sla_target / 100.0)))


def replay(config: OpsConfig, trace: Trace, rate: np.ndarray, decide: Decide, initial: float,
           prior_rate: np.ndarray | None = None, planner: SchedulePlanner | None = None) -> Replay:
    """Serve the trace window by window; the policy sets the thresholds for each next window.

    `prior_rate`: demand before the trace (same step), served at the initial thresholds: the
    history a fleet has before ai-ops is installed (the warm start reads it).
    `planner`: also write a schedule of minimum replicas each cycle (the `scheduled` policy).
    """
    cfg = config.services[0].simulation
    objective = config.sla.latency_objective_ms
    prior = np.asarray(prior_rate if prior_rate is not None else np.empty(0), dtype=float)
    offset = prior.size
    all_rate = np.concatenate([prior, rate])
    all_ts = np.concatenate([trace.timestamps[0] - trace.step * np.arange(offset, 0, -1), trace.timestamps])
    n, per_window = all_rate.size, _window_steps(config, trace.step)
    thresholds = {name: spec.initial for name, spec in config.thresholds.items()}
    thresholds[SCALING] = initial
    values = {name: np.full(n, value) for name, value in thresholds.items()}
    floor = values.get(MIN_REPLICAS, np.full(n, float(cfg.min_replicas)))
    scheduled = np.full(n, 0.0)
    if planner is not None:
        scheduled[:] = planner.floor
    hour_of_day = ((all_ts % DAY) // HOUR).astype(np.int64)
    forecast_steps = int(max(config.learner.predictive.history_days, 1) * DAY / trace.step)
    history_steps = int(config.learner.warm_start_days * DAY / trace.step)
    path: list[dict[str, Any]] = []
    lead = int(LEAD_IN_SECONDS / trace.step)
    for end in range(offset + per_window, n + 1, per_window):
        # The autoscaler is causal and forgets its start within hours: serving from a day before the
        # window gives the window's steps of the whole run (checked: tests/test_learner_backtest.py).
        begin = max(0, end - per_window - lead)
        if isinstance(decide, _WantsHistory) and decide.wants_history():
            begin = max(0, min(begin, end - history_steps - lead))
        metrics = serve(cfg, all_ts[begin:end], all_rate[begin:end], values[SCALING][begin:end],
                        min_replicas=np.maximum(floor, scheduled)[begin:end])
        window = {k: v[-per_window:] for k, v in metrics.items()}
        obs = observe(float(all_ts[end - 1]) + trace.step, trace.step, window, thresholds, objective,
                      sla_target=config.sla.target)
        obs = exact_observation(obs, window, objective, config.sla.target, cfg.service_time_ms)
        past = {k: v[-min(history_steps, v.size):] for k, v in metrics.items()}
        past["good_share"] = good_share(past, objective, cfg.service_time_ms)
        new, status, probe = decide(obs, thresholds, past)
        path.append({"day": round(((end - offset) * trace.step) / DAY, 3), "target": thresholds[SCALING],
                     "sla": round(obs.sla_attainment, 4), "next_target": new[SCALING], "status": status,
                     "probe": probe, "thresholds": dict(new)})
        thresholds = dict(new)
        for name, value in thresholds.items():
            if name in values:
                values[name][end:] = value
        floor = values.get(MIN_REPLICAS, floor)
        if planner is not None:
            # The request rate is what the metrics source returns, whatever the policy served; the
            # forecast reads the last history_days of it (the served metrics cover fewer days).
            start = max(0, end - forecast_steps)
            minimums = planner(float(all_ts[end - 1]) + trace.step, all_ts[start:end], all_rate[start:end],
                               past, all_ts[end - per_window:end], window, thresholds[SCALING])
            scheduled[end:] = minimums[hour_of_day[end:]]
    metrics = serve(cfg, all_ts, all_rate, values[SCALING], min_replicas=np.maximum(floor, scheduled))
    return Replay(values[SCALING][offset:].copy(), {k: v[offset:] for k, v in metrics.items()}, path,
                  {k: v[offset:].copy() for k, v in values.items()})


def _sla(config: OpsConfig, metrics: dict[str, np.ndarray], keep: np.ndarray) -> float:
    return exact_sla(metrics, keep, config.sla.latency_objective_ms, config.services[0].simulation.service_time_ms)


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
                     "sla": round(_sla(config, metrics, everything), 5),
                     "sla_after_day3": round(_sla(config, metrics, later), 5)
                     if later.any() else float("nan"),
                     "cost": round(_cost(metrics, trace.step), 4),
                     "cost_after_day3": round(_cost(metrics, trace.step, later), 4)})
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
    if policy in ("learned", "scheduled") and per_window < config.learner.min_samples:
        raise ConfigError(f"trace {trace.name}: a {trace.step}s step gives {per_window} samples per "
                          f"{config.cycle_window_hours:g} h window, fewer than learner.min_samples "
                          f"({config.learner.min_samples}), so the learner would never act; lower min_samples "
                          "in the config or use a finer trace")
    if trace.timestamps.size < per_window:
        raise ConfigError(f"trace {trace.name} is shorter than one {config.cycle_window_hours:g} h cycle window")
    rate = rescale(config, trace, peak_replicas)
    prior = None if trace.prior is None else trace.prior / trace.values.max() * peak_replicas * \
        config.services[0].simulation.capacity_rps_per_replica
    decide = {"learned": lambda: _learned(config), "scheduled": lambda: _learned(config),
              "static": lambda: _static(static_value), "target-tracking": lambda: _target_tracking(config)}[policy]()
    initial = static_value if policy == "static" else spec.initial
    planner = SchedulePlanner(config) if policy == "scheduled" else None
    run = replay(config, trace, rate, decide, initial, prior, planner)

    objective, target_sla = config.sla.latency_objective_ms, config.sla.target
    day_index = ((trace.timestamps - trace.timestamps[0]) // DAY).astype(int)
    days = []
    for d in range(int(day_index.max()) + 1):
        keep = day_index == d
        changes = sum(1 for p in run.path if int(p["day"] - 1e-9) == d and p["next_target"] != p["target"])
        days.append({"day": d, "sla": round(_sla(config, run.metrics, keep), 5),
                     "cost": round(_cost(run.metrics, trace.step, keep), 4),
                     "target_end": float(run.targets[keep][-1]), "changes": changes,
                     "threshold_changes": sum(1 for i, p in enumerate(run.path) if int(p["day"] - 1e-9) == d
                                              and p["thresholds"] != (run.path[i - 1]["thresholds"] if i else None)
                                              and i > 0)})
    later = day_index >= EVALUATE_AFTER_DAYS
    grid = fixed_grid(config, trace, rate)
    meeting = [g for g in grid if g["sla"] >= target_sla]
    best = min(meeting, key=lambda g: g["cost"]) if meeting else None
    meeting_later = [g for g in grid if g["sla_after_day3"] >= target_sla]
    best_later = min(meeting_later, key=lambda g: g["cost_after_day3"]) if meeting_later else None
    static80 = next((g for g in grid if abs(g["target"] - 80.0) < 1e-9), None)
    cost = _cost(run.metrics, trace.step)
    cost_later = _cost(run.metrics, trace.step, later)

    final = float(run.targets[-1])
    settle_day = 0.0
    for p in run.path:
        # The learner reports its own status; other policies settle when the target stops travelling.
        unsettled = (p["status"] != "settled" if policy in ("learned", "scheduled")
                     else abs(p["next_target"] - final) > config.learner.convergence_gap + 1e-9)
        if unsettled:
            settle_day = p["day"]
    after = [d for d in days if d["day"] >= math.ceil(settle_day - 1e-9)]
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
                     "days": round(trace.timestamps.size * trace.step / DAY, 3),
                     "history_days_before_start": 0.0 if prior is None else round(prior.size * trace.step / DAY, 3),
                     "sli": "exact: share of good requests per step (shifted-exponential latency tail "
                            "around the simulated p95; failed requests are bad)"},
        "sla_overall": round(_sla(config, run.metrics, np.ones_like(later)), 5),
        "sla_after_day3": round(_sla(config, run.metrics, later), 5) if later.any() else None,
        "cost": round(cost, 4),
        "cost_after_day3": round(cost_later, 4),
        "days_detail": days,
        "threshold_path": run.path,
        "final_target": final,
        "final_thresholds": {k: float(v[-1]) for k, v in run.thresholds.items()},
        "changes": sum(1 for p in run.path if p["next_target"] != p["target"]),
        "convergence_day": settle_day,
        "settle_day": settle_day,
        "max_changes_per_day_after_convergence": max((d["changes"] for d in after), default=0),
        "max_threshold_changes_per_day_after_settling": max((d["threshold_changes"] for d in after), default=0),
        "share_of_days_without_change_after_settling": round(
            sum(1 for d in after if d["threshold_changes"] == 0) / len(after), 3) if after else None,
        "exploration_breach_days_after_day3": exploration_breaches,
        "alerts": alert_outcomes(config, trace, run, later),
        "best_fixed_in_hindsight": best,
        "cost_vs_best_fixed": round(cost / best["cost"], 4) if best else None,
        "best_fixed_after_day3": best_later,
        "cost_after_day3_vs_best_fixed": round(cost_later / best_later["cost_after_day3"], 4) if best_later else None,
        "highest_sla_fixed": max(grid, key=lambda g: (g["sla"], -g["cost"])),
        "static_80": static80,
        "static_80_meets_sla": bool(static80 and static80["sla"] >= target_sla),
        "cost_vs_static_80": round(cost / static80["cost"], 4) if static80 else None,
        "fixed_grid": grid,
        "schedule_path": planner.history if planner is not None else None,
        "mean_replicas": round(float(run.metrics["replicas"].mean()), 3),
    }


def alert_outcomes(config: OpsConfig, trace: Trace, run: Replay, keep: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per alert, over the steps `keep`: pages (firing episodes: the metric above the threshold in
    force for 2 steps in a row, counted once until it clears) per week, and recall: the share of
    SLA-breaching cycle windows (6 h) in which the alert fired."""
    objective, target_sla = config.sla.latency_objective_ms, config.sla.target
    per_window = _window_steps(config, trace.step)
    weeks = keep.sum() * trace.step / (7 * DAY)
    good = good_share(run.metrics, objective, config.services[0].simulation.service_time_ms)
    rate = run.metrics["request_rate"]
    out: dict[str, dict[str, Any]] = {}
    for name, metric in ALERT_METRICS.items():
        if name not in run.thresholds or metric not in run.metrics:
            continue
        above = run.metrics[metric] > run.thresholds[name]
        firing = above & np.concatenate([[False], above[:-1]])
        starts = firing & ~np.concatenate([[False], firing[:-1]])
        pages = int((starts & keep).sum())
        breached = caught = 0
        for begin in range(0, rate.size - per_window + 1, per_window):
            span = slice(begin, begin + per_window)
            if not keep[span].all():
                continue
            total = rate[span].sum()
            sla = 100.0 * (rate[span] * good[span]).sum() / total if total > 0 else 100.0
            if sla < target_sla:
                breached += 1
                caught += int(firing[span].any())
        out[name] = {"pages": pages, "weeks": round(float(weeks), 3),
                     "pages_per_week": round(float(pages / weeks), 3) if weeks > 0 else None,
                     "breached_windows": breached, "caught_windows": caught,
                     "recall": round(caught / breached, 3) if breached else None,
                     "final_threshold": float(run.thresholds[name][-1])}
    if "alert_cpu_utilization" in out and SCALING in run.thresholds:
        out["alert_cpu_utilization"]["hindsight_best"] = _best_cpu_alert(config, run, keep, per_window, weeks, good)
    return out


def _best_cpu_alert(config: OpsConfig, run: Replay, keep: np.ndarray, per_window: int, weeks: float,
                    good: np.ndarray) -> dict[str, Any] | None:
    """The best recall ANY fixed CPU alert threshold could have had on this run in hindsight, with at
    most `pages_per_week` pages a week: every value on a 0.5-point grid, each lifted out of the
    autoscaler's band (>= target x (1 + hpa_tolerance) + alert_band_margin) where the target in
    force requires. Whether the issue's recall goal is reachable by a CPU alert at all."""
    if weeks <= 0:
        return None
    cpu, rate = run.metrics["cpu_utilization"], run.metrics["request_rate"]
    band = run.thresholds[SCALING] * (1.0 + config.learner.hpa_tolerance) + config.learner.alert_band_margin
    starts = np.arange(0, rate.size - per_window + 1, per_window)
    whole = np.array([keep[b:b + per_window].all() for b in starts], dtype=bool)
    sla = np.array([100.0 * (rate[b:b + per_window] * good[b:b + per_window]).sum() / max(rate[b:b + per_window].sum(),
                                                                                          1e-12) for b in starts])
    breached = whole & (sla < config.sla.target)
    best: dict[str, Any] | None = None
    for value in np.arange(50.0, 99.51, 0.5):
        above = cpu > np.maximum(value, band)
        firing = above & np.concatenate([[False], above[:-1]])
        pages = int((firing & ~np.concatenate([[False], firing[:-1]]) & keep).sum())
        if pages / weeks > config.learner.pages_per_week:
            continue
        caught = int(sum(firing[b:b + per_window].any() for b in starts[breached]))
        if best is None or caught > best["caught_windows"]:
            best = {"threshold": float(value), "pages_per_week": round(float(pages / weeks), 3), "caught_windows": caught,
                    "breached_windows": int(breached.sum()),
                    "recall": round(caught / int(breached.sum()), 3) if breached.any() else None}
    return best


def compare_policies(config: OpsConfig, trace: Trace, peak_replicas: float = 40.0) -> dict[str, Any]:
    """Learner + schedule, the learner alone and the best fixed target in hindsight on the same trace.

    The cost target of docs/predictive.md: after day 3, learner + schedule meets the SLA at a cost
    <= 0.95x the cheapest fixed target that meets it after day 3 (known only in hindsight).
    """
    runs = {policy: run_backtest(config, trace, policy, peak_replicas) for policy in ("scheduled", "learned")}
    best = runs["learned"]["best_fixed_after_day3"]
    target_sla = config.sla.target
    rows: dict[str, Any] = {}
    for policy, r in runs.items():
        rows[policy] = {"sla_after_day3": r["sla_after_day3"], "sla_overall": r["sla_overall"],
                        "cost_after_day3": r["cost_after_day3"], "cost": r["cost"],
                        "cost_after_day3_vs_best_fixed": r["cost_after_day3_vs_best_fixed"],
                        "final_target": r["final_target"], "mean_replicas": r["mean_replicas"],
                        "meets_sla_after_day3": r["sla_after_day3"] is not None and r["sla_after_day3"] >= target_sla}
    scheduled = rows["scheduled"]
    ratio = scheduled["cost_after_day3_vs_best_fixed"]
    return {
        "trace": trace.name, "peak_replicas": peak_replicas, "sla_target": target_sla,
        "policies": rows,
        "best_fixed_after_day3": best,
        "cost_target": {"goal": "SLA after day 3 >= target and cost after day 3 <= 0.95x the best fixed target",
                        "ratio": ratio,
                        "met": bool(best is not None and ratio is not None and ratio <= 0.95
                                    and scheduled["meets_sla_after_day3"]),
                        "note": "" if best is not None else "no fixed target meets the SLA after day 3"},
        "schedule_path": runs["scheduled"]["schedule_path"],
        "runs": runs,
    }
