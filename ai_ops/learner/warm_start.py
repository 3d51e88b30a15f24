"""Warm start: the scaling target that history says would have kept the SLO. Pure numpy.

The learner's own search moves at most `max_step` per cycle; from a poor initial value that costs
days. But the last two weeks of metrics already hold the answer's main ingredients: how much
demand came (request rate and the CPU it took per replica) and how the share of good requests
fell as CPU rose. `estimate_target` replays an HPA-like autoscaler on that demand for every
candidate target and reads each step's predicted good share off the measured CPU-to-good-share
relation. It never extrapolates: a utilization the history never reached counts as bad, so the
estimate cannot be more aggressive than what was seen. See docs/learner.md#warm-start.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

BIN_PERCENT = 2.0
"""Width of the CPU utilization bins of the CPU-to-good-share relation."""
MIN_BIN_STEPS = 3
"""A bin with fewer steps than this is not evidence (treated like an unseen utilization)."""
SCALE_DOWN_STABILIZATION_STEPS = 3
SURGE_FACTOR = 1.5
"""A step whose demand is above this multiple of the previous hour's median is a surge's onset."""
SURGE_WINDOW_STEPS = 12
COST_TIE = 0.01
"""`estimate_capacity`: pairs whose replayed cost is within this share of the cheapest count as equally cheap."""


def demand_surges(rate: np.ndarray, factor: float = SURGE_FACTOR, window: int = SURGE_WINDOW_STEPS) -> np.ndarray:
    """Per step: True at the onset of a demand surge (rate above `factor` x the median of the
    `window` steps before it). Causal. No scaling target absorbs such a jump in one step: the
    online learner does not learn from bad steps during a surge its detectors flag, and the warm
    start leaves these steps out in the same way."""
    rate = np.asarray(rate, dtype=float)
    out = np.zeros(rate.shape, dtype=bool)
    if rate.size <= window:
        return out
    past = np.lib.stride_tricks.sliding_window_view(rate[:-1], window)
    baseline = np.nanmedian(past, axis=1)
    with np.errstate(invalid="ignore"):
        out[window:] = rate[window:] > factor * baseline
    return out


@dataclass(frozen=True)
class WarmStart:
    """The estimate and why: `target` is None when the history cannot support one (`reason` says why)."""

    target: float | None
    reason: str
    predicted_burn: float | None = None
    """Load-caused error-budget burn the chosen target would have had on the history (1.0 = the budget)."""
    limit: float | None = None
    """The lowest target above `target` whose predicted burn exceeds the whole budget: the learner
    treats it as known-bad (predicted) and never probes at or above it until the workload changes."""
    evidence: dict[str, Any] = field(default_factory=dict)
    min_replicas: float | None = None
    """With minimum replicas learned (`estimate_capacity`): the floor to hold with `target`."""
    too_short: bool = False
    """The history had fewer usable steps than asked for: try again once more has been served."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _relation(util: np.ndarray, bad: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin edges; per utilization bin the request-weighted bad share, made non-decreasing in
    utilization (NaN above the highest bin with enough steps: unknown); which bins were measured."""
    edges = np.arange(0.0, 100.0 + BIN_PERCENT, BIN_PERCENT)
    index = np.clip(np.digitize(util, edges) - 1, 0, edges.size - 2)
    counts = np.bincount(index, minlength=edges.size - 1)
    weights = np.bincount(index, weights=weight, minlength=edges.size - 1)
    bad_w = np.bincount(index, weights=weight * bad, minlength=edges.size - 1)
    share = np.where((counts >= MIN_BIN_STEPS) & (weights > 0), bad_w / np.maximum(weights, 1e-12), np.nan)
    # More load never makes requests faster: a bin is at least as bad as any seen bin below it.
    seen = np.isfinite(share)
    running = np.maximum.accumulate(np.where(seen, share, 0.0))
    if not seen.any():
        return edges, share, seen
    # Unseen bins below the highest seen one take the running maximum (less load is never worse);
    # above it they stay NaN: never seen, so unknown.
    last = int(np.flatnonzero(seen)[-1])
    out = np.full(share.shape, np.nan)
    out[:last + 1] = running[:last + 1]
    return edges, out, seen


def replay_hpa(demand_replicas: np.ndarray, targets: np.ndarray, tolerance: float,
               min_replicas: float | np.ndarray = 1.0, max_replicas: float = 1e9) -> np.ndarray:
    """Utilization (0..inf) per step and candidate target under an HPA-like autoscaler.

    `demand_replicas[k]`: replicas step k's demand needs at 100% CPU; `targets`: candidate targets
    in percent; `min_replicas`: the floor, one value or one per candidate. Each step's replicas
    come from the previous step's utilization (the HPA lags a step), with the tolerance band and a
    short scale-down stabilization. Shape (steps, targets).
    """
    t = np.maximum(np.asarray(targets, dtype=float) / 100.0, 0.01)
    out = np.empty((demand_replicas.size, t.size))
    for k, (load, _) in enumerate(_hpa_steps(demand_replicas, t, tolerance, min_replicas, max_replicas)):
        out[k] = load
    return out


def _hpa_steps(demand_replicas: np.ndarray, t: np.ndarray, tolerance: float, min_replicas: float | np.ndarray,
               max_replicas: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per step: (utilization, replicas) of every candidate (target fraction `t`, floor `min_replicas`)."""
    floor = np.broadcast_to(np.asarray(min_replicas, dtype=float), t.shape)
    current = np.clip(np.ceil(demand_replicas[0] / t), floor, max_replicas) if demand_replicas.size else t
    recent: list[np.ndarray] = []
    for k in range(demand_replicas.size):
        load = demand_replicas[k] / current
        yield load, current
        ratio = np.minimum(load, 1.0) / t
        desired = np.where(np.abs(ratio - 1.0) <= tolerance, current, np.ceil(current * ratio))
        recent.append(desired)
        if len(recent) > SCALE_DOWN_STABILIZATION_STEPS:
            recent.pop(0)
        desired = np.where(desired < current, np.minimum(current, np.max(recent, axis=0)), desired)
        current = np.clip(desired, floor, max_replicas)


@dataclass(frozen=True)
class _History:
    """What the history says, per step and per CPU bin (see `estimate_target`)."""

    steps: int
    capacity: float
    rate: np.ndarray
    demand_replicas: np.ndarray
    edges: np.ndarray
    seen: np.ndarray
    measured: np.ndarray
    baseline: float
    excess: np.ndarray
    """Per CPU bin: the load-caused bad share (relative to the best-served bins; 1 where unseen)."""
    excess_upper: np.ndarray
    """The same, but a bin without enough steps between two measured ones is interpolated linearly
    between them instead of copying the one below: queueing delay grows convexly with load, so the
    straight line lies on the pessimistic side."""


def _read_history(cpu_percent: np.ndarray, replicas: np.ndarray, request_rate: np.ndarray, good_share: np.ndarray,
                  min_steps: int) -> _History | WarmStart:
    cpu = np.asarray(cpu_percent, dtype=float)
    reps = np.asarray(replicas, dtype=float)
    rate = np.asarray(request_rate, dtype=float)
    good = np.asarray(good_share, dtype=float)
    if not cpu.shape == reps.shape == rate.shape == good.shape:
        raise ValueError("estimate_target: cpu_percent, replicas, request_rate and good_share must have one shape")
    ok = np.isfinite(cpu) & np.isfinite(reps) & np.isfinite(rate) & np.isfinite(good) & (reps > 0) & (rate >= 0)
    steps = int(ok.sum())
    if steps < min_steps:
        return WarmStart(None, f"only {steps} usable history steps (< {min_steps})", evidence={"steps": steps},
                         too_short=True)
    cpu, reps, rate, good = cpu[ok], reps[ok], rate[ok], np.clip(good[ok], 0.0, 1.0)
    fit = (cpu >= 20.0) & (cpu <= 95.0) & (rate > 0)
    if fit.sum() < MIN_BIN_STEPS:
        return WarmStart(None, "no history step between 20% and 95% CPU to measure the capacity of a replica",
                         evidence={"steps": steps})
    capacity = float(np.median(rate[fit] / (reps[fit] * cpu[fit] / 100.0)))
    edges, bad_by_bin, measured = _relation(cpu, 1.0 - good, rate)
    seen = np.isfinite(bad_by_bin)
    baseline = float(np.min(bad_by_bin[measured]))
    excess = np.where(seen, np.maximum(bad_by_bin - baseline, 0.0), 1.0)  # unseen utilization counts as bad
    centers = (edges[:-1] + edges[1:]) / 2.0
    known = measured & seen
    line = np.interp(centers, centers[known], bad_by_bin[known]) if known.any() else np.ones(centers.size)
    excess_upper = np.where(seen, np.maximum(np.maximum(line, np.nan_to_num(bad_by_bin)) - baseline, 0.0), 1.0)
    return _History(steps, capacity, rate, rate / capacity, edges, seen, measured, baseline, excess, excess_upper)


def estimate_target(cpu_percent: np.ndarray, replicas: np.ndarray, request_rate: np.ndarray,
                    good_share: np.ndarray, *, sla_target: float, lower: float, upper: float,
                    resolution: float = 1.0, tolerance: float = 0.10, max_burn: float = 0.5,
                    min_steps: int = 288, min_replicas: float = 1.0) -> WarmStart:
    """The highest scaling target (percent, on the `resolution` grid in [lower, upper]) whose
    load-caused error-budget burn on this history would have been at most `max_burn`.

    Arguments are aligned per-step arrays of one service (NaN = no data): CPU utilization in
    percent (mean over replicas), replica count, request rate, and the step's share of good
    requests in [0, 1] (from the exact SLI: good / total requests). `sla_target` in percent.

    Method: capacity per replica = median of rate / (replicas x utilization) over steps between 20%
    and 95% CPU; demand in replicas = rate / capacity. The CPU-to-good-share relation is binned
    (2 points), made monotone, and taken relative to the best-served bins (bad steps at low CPU are
    incidents, not load). Each candidate target is replayed (`replay_hpa`); each step's predicted
    bad share is the relation at its predicted utilization; a utilization no history bin covers
    counts as fully bad. Returns `WarmStart(None, reason)` when the history is too short, has no
    load variation or no target qualifies.
    """
    read = _read_history(cpu_percent, replicas, request_rate, good_share, min_steps)
    if isinstance(read, WarmStart):
        return read
    steps, capacity, rate, demand_replicas = read.steps, read.capacity, read.rate, read.demand_replicas
    edges, seen, measured, baseline, excess = read.edges, read.seen, read.measured, read.baseline, read.excess
    allowed = (100.0 - sla_target) / 100.0
    grid = np.arange(lower, upper + resolution / 2, resolution)
    util = replay_hpa(demand_replicas, grid, tolerance, min_replicas) * 100.0
    index = np.clip(np.digitize(util, edges) - 1, 0, excess.size - 1)
    # Overload beyond 100% is the top bin: CPU saturates there, the relation already holds it.
    predicted_bad = excess[index]
    counted = ~demand_surges(rate)
    total = float(rate[counted].sum())
    if total <= 0:
        return WarmStart(None, "the history served no requests", evidence={"steps": steps})
    burns = ((rate[:, None] * predicted_bad)[counted].sum(axis=0) / total / allowed if allowed > 0
             else np.zeros(grid.size))
    fine = np.flatnonzero(burns <= max_burn)
    seen_max = float(edges[np.flatnonzero(seen)[-1] + 1])
    knee_bins = np.flatnonzero(measured & (excess > allowed))
    evidence = {
        "steps": steps,
        "capacity_rps_per_replica": round(capacity, 4),
        "cpu_seen_max_percent": round(seen_max, 1),
        "baseline_bad_share": round(baseline, 6),
        "surge_steps_left_out": int((~counted).sum()),
        "knee_cpu_percent": round(float(edges[knee_bins[0]]), 1) if knee_bins.size else None,
        "predicted_burn_by_target": {f"{t:g}": round(float(b), 4) for t, b in zip(grid, burns, strict=True)
                                     if abs(t - round(t / 5) * 5) < 1e-9},
        "max_burn": max_burn,
    }
    if not fine.size:
        # The target alone cannot hold the SLO here (bursts outrun the autoscaler): start where it
        # comes closest, and say so; standing capacity (minimum replicas) has to do the rest.
        best = int(np.argmin(burns))
        evidence["meets_slo"] = False
        return WarmStart(round(float(grid[best]), 6),
                         f"{steps} history steps: no target in [{lower:g}, {upper:g}] keeps the predicted load-caused "
                         f"burn under {max_burn:.0%} of the error budget; {grid[best]:g} comes closest "
                         f"({burns[best]:.1f} budgets): the target alone cannot hold the SLO",
                         round(float(burns[best]), 6), None, evidence)
    evidence["meets_slo"] = True
    # The highest target whose every lower neighbour also qualifies (burn is not always monotone in
    # the replay; a lone qualifying target above a failing one is noise).
    run_end = fine[0]
    while run_end + 1 < grid.size and burns[run_end + 1] <= max_burn:
        run_end += 1
    target = round(float(grid[run_end]), 6)
    reason = (f"{steps} history steps: a replica serves {capacity:.3g} req/s at 100% CPU; "
              + (f"requests start failing the objective above {evidence['knee_cpu_percent']:g}% CPU; "
                 if knee_bins.size else f"no load-caused failures up to {seen_max:g}% CPU (never seen higher); ")
              + f"replayed, target {target:g} would have used {burns[run_end]:.0%} of the error budget "
                f"(max {max_burn:.0%})")
    over = np.flatnonzero((np.arange(grid.size) > run_end) & (burns > 1.0))
    limit = round(float(grid[over[0]]), 6) if over.size else None
    return WarmStart(target, reason, round(float(burns[run_end]), 6), limit, evidence)


def estimate_capacity(cpu_percent: np.ndarray, replicas: np.ndarray, request_rate: np.ndarray,
                      good_share: np.ndarray, *, sla_target: float, targets: tuple[float, float],
                      floors: tuple[float, float], resolution: float = 1.0, tolerance: float = 0.10,
                      max_burn: float = 0.8, min_steps: int = 288, headroom: float = 0.0) -> WarmStart:
    """The cheapest (scaling target, minimum replicas) pair whose load-caused error-budget burn on
    this history would have been at most `max_burn`: for services whose bursts outrun the autoscaler.

    Same history and relation as `estimate_target` (arguments alike), but every pair of a target
    on the `resolution` grid in `targets` (low, high) and a whole floor in `floors` (low, high) is
    replayed through the HPA model, and **every step counts**, demand surges included: standing
    capacity is exactly what serves a burst the one-step-late autoscaler cannot follow. A CPU level
    the history rarely reached (a burst passes through it in one step) is interpolated between the
    measured levels around it (not copied from the one below): the pessimistic side. A step the
    replay overloads (utilization above 100%) is at least as bad as its failed share
    (1 - 1/utilization). Cost = replica-steps of the replay; among pairs within `COST_TIE` (1%) of the
    cheapest, the lowest predicted burn (then the higher target, the lower floor). When no pair qualifies, the pair with the lowest burn (the highest floor).
    """
    read = _read_history(cpu_percent, replicas, request_rate, good_share, min_steps)
    if isinstance(read, WarmStart):
        return read
    allowed = (100.0 - sla_target) / 100.0
    total = float(read.rate.sum())
    if total <= 0 or allowed <= 0:
        return WarmStart(None, "the history served no requests", evidence={"steps": read.steps})
    target_grid = np.arange(targets[0], targets[1] + resolution / 2, resolution)
    floor_grid = np.arange(math.ceil(floors[0]), math.floor(floors[1]) + 1, dtype=float)
    if not target_grid.size or not floor_grid.size:
        return WarmStart(None, f"no candidate in targets {targets} x floors {floors}", evidence={"steps": read.steps})
    t = np.repeat(target_grid, floor_grid.size) / 100.0
    f = np.tile(floor_grid, target_grid.size)
    bad = np.zeros(t.size)
    cost = np.zeros(t.size)
    top = read.excess.size - 1
    demand = read.demand_replicas * (1.0 + headroom)
    for k, (load, current) in enumerate(_hpa_steps(demand, t, tolerance, f, 1e9)):
        index = np.clip(np.digitize(load * 100.0, read.edges) - 1, 0, top)
        share = np.where(load > 1.0, np.maximum(read.excess_upper[index], 1.0 - 1.0 / np.maximum(load, 1e-9)),
                         read.excess_upper[index])
        bad += read.rate[k] * share
        cost += current
    burns = bad / total / allowed
    fine = burns <= max_burn
    evidence: dict[str, Any] = {
        "steps": read.steps,
        "capacity_rps_per_replica": round(read.capacity, 4),
        "cpu_seen_max_percent": round(float(read.edges[np.flatnonzero(read.seen)[-1] + 1]), 1),
        "demand_peak_replicas": round(float(read.demand_replicas.max()), 2),
        "max_burn": max_burn,
        "candidates": int(t.size),
    }
    if fine.any():
        # The cheapest, but among pairs within COST_TIE of it the one with the lowest predicted burn:
        # once the floor carries the load, a lower target costs next to nothing and lets the
        # autoscaler follow a burst bigger than any in the history (at target 90 it never would).
        cheapest = float(cost[fine].min())
        near = fine & (cost <= cheapest * (1.0 + COST_TIE))
        best = int(np.lexsort((f, -t, np.where(near, burns, np.inf)))[0])
        evidence["meets_slo"] = True
    else:
        best = int(np.lexsort((f, -t, burns))[0])
        evidence["meets_slo"] = False
    target, floor = round(float(t[best] * 100.0), 6), float(f[best])
    mean_replicas = cost[best] / read.rate.size
    evidence["mean_replicas"] = round(float(mean_replicas), 2)
    reason = (f"{read.steps} history steps, peak demand {read.demand_replicas.max():.1f} replicas at 100% CPU "
              f"(a replica serves {read.capacity:.3g} req/s); replayed with every burst counted, target {target:g} "
              f"with at least {floor:g} replicas would have used {burns[best]:.0%} of the error budget "
              f"(max {max_burn:.0%}) at {mean_replicas:.1f} replicas on average")
    if not fine.any():
        reason += (f": no pair in targets [{targets[0]:g}, {targets[1]:g}] x floors [{floor_grid[0]:g}, "
                   f"{floor_grid[-1]:g}] holds the SLO; this one comes closest")
    return WarmStart(target, reason, round(float(burns[best]), 6), None, evidence, min_replicas=floor)
