"""Predictive scaling, measured with the SHIPPED config (config/ops_config.yaml, nothing tuned here).

1. Demand forecast accuracy at 6 h ahead: the MSTL model vs the seasonal-naive baseline.
2. Backtest (`ai_ops.backtest.compare_policies`): learner + schedule, the learner alone and the best
   fixed target in hindsight, on the simulator seeds 42, 7, 2024 (28 days after 14 days of history,
   as benchmarks/learner.py) and the real NAB ELB request-count trace benchmarks/learner.py uses
   (14 days, from ../shared when present). Target: SLA >= 99.95% after day 3 at cost <= 0.95x the
   cheapest fixed target meeting the SLA after day 3 (hindsight).
3. Upper bound on what any hourly schedule could save on seed 42: the schedule sized from the
   ACTUAL hourly mean demand (a perfect forecast), at several sizing and HPA targets.
4. Hindsight bound of a schedule of CPU TARGETS per block of hours (`target_schedule_bound`), tuned on
   seed 42, its schedules served unchanged on seeds 7 and 2024 (held out).

Forecast traces: the simulator's demand (seeds 42, 7, 2024; 28 days, the shipped default service) and
the real daily-cycle series of NAB-dev (read by path from ../shared, 14-16 days). Origins
every 12 h once enough history exists (14 days on the simulator, 7 days on the shorter real
traces); at each origin only the past is used. Writes benchmarks/results/predictive.json.

    PYTHONPATH=$PWD python benchmarks/predictive.py [--skip-forecast] [--skip-backtest] [--skip-target-bound]
                                                    [--skip-warnings]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ai_ops.backtest import EVALUATE_AFTER_DAYS, compare_policies, load_trace, rescale, serve, simulated_trace
from ai_ops.backtest import _cost as cost_of
from ai_ops.backtest import _sla as sla_of
from ai_ops.config import OpsConfig, load_config
from ai_ops.jobs.demo import DEMO_START
from ai_ops.learner.forecast import hourly_means, rolling_errors
from ai_ops.series_csv import read_series
from ai_ops.sim.service import demand, incidents_between

NAB = ROOT.parent / "shared" / "datasets" / "nab-dev" / "realAWSCloudwatch"
REAL_DAILY = ["grok_asg_anomaly.csv", "rds_cpu_utilization_cc0c53.csv", "ec2_cpu_utilization_53ea38.csv"]
"""The nab-dev series with a daily cycle (lag-1-day autocorrelation >= 0.6); the others have none."""
START = 1767571200.0  # 2026-01-05, a Monday
HORIZON = 6


SHIPPED = ROOT / "config" / "ops_config.yaml"
ELB = NAB / "elb_request_count_8c0756.csv"
DAYS, HISTORY_DAYS = 28, 14
PEAK_REPLICAS = 40.0


def with_seed(config: OpsConfig, seed: int) -> OpsConfig:
    services = [s.model_copy(update={"simulation": s.simulation.model_copy(update={"seed": seed})})
                for s in config.services]
    return config.model_copy(update={"services": services})


def backtests() -> list[dict[str, object]]:
    base = load_config(SHIPPED)
    out: list[dict[str, object]] = []
    traces = [(with_seed(base, seed), None) for seed in (42, 7, 2024)]
    if ELB.exists():
        traces.append((base, ELB))
    else:
        print(f"skipped the ELB trace: {ELB} not found (needs ../shared)")
    for config, path in traces:
        trace = load_trace(path) if path else simulated_trace(config, DAYS, start=DEMO_START, prior_days=HISTORY_DAYS)
        began = time.perf_counter()
        result = compare_policies(config, trace, PEAK_REPLICAS)
        row = {k: v for k, v in result.items() if k not in ("runs", "schedule_path")}
        path_ = result["schedule_path"] or []
        row["schedule_last_cycle"] = path_[-1] if path_ else None
        row["schedule_breach_raises"] = sum(bool(p["breached_hours"]) for p in path_)
        row["seconds"] = round(time.perf_counter() - began, 2)
        out.append(row)
        print(json.dumps({k: row[k] for k in ("trace", "policies", "best_fixed_after_day3", "cost_target")},
                         default=float), flush=True)
    return out


def perfect_foresight_bound(seed: int = 42) -> dict[str, object]:
    """The cheapest schedule meeting the SLA after day 3 when the hourly mean demand is KNOWN: sized at
    `sizing` % from the actual hourly mean (1 h blocks), served with a fixed HPA target. No forecast
    can do better than its own perfect version; compares with the best fixed target."""
    config = with_seed(load_config(SHIPPED), seed)
    cfg = config.services[0].simulation
    trace = simulated_trace(config, DAYS, start=DEMO_START)
    rate = rescale(config, trace, PEAK_REPLICAS)
    later = ((trace.timestamps - trace.timestamps[0]) // 86_400) >= EVALUATE_AFTER_DAYS
    hourly = hourly_means(trace.timestamps, rate, trace.timestamps[-1] + trace.step, DAYS * 24)
    per_step = np.repeat(hourly, 3600 // trace.step)[:rate.size]
    rows = []
    for target in np.arange(55.0, 91.0, 1.0):
        metrics = serve(cfg, trace.timestamps, rate, np.full(rate.size, target))
        rows.append({"schedule": None, "hpa_target": target, "sla_after_day3": sla_of(config, metrics, later),
                     "cost_after_day3": cost_of(metrics, trace.step, later)})
    for sizing in (55.0, 60.0, 65.0, 70.0, 75.0, 80.0):
        floor = np.maximum(np.ceil(per_step / (cfg.capacity_rps_per_replica * sizing / 100.0)), cfg.min_replicas)
        for target in (60.0, 65.0, 70.0, 75.0, 80.0, 90.0):
            metrics = serve(cfg, trace.timestamps, rate, np.full(rate.size, target), min_replicas=floor)
            rows.append({"schedule": sizing, "hpa_target": target, "sla_after_day3": sla_of(config, metrics, later),
                         "cost_after_day3": cost_of(metrics, trace.step, later)})
    sla = config.sla.target
    fixed = min((r for r in rows if r["schedule"] is None and r["sla_after_day3"] >= sla),
                key=lambda r: r["cost_after_day3"])
    scheduled = [r for r in rows if r["schedule"] is not None and r["sla_after_day3"] >= sla]
    best = min(scheduled, key=lambda r: r["cost_after_day3"]) if scheduled else None
    return {"trace": trace.name, "best_fixed": fixed, "best_perfect_schedule": best,
            "ratio": round(best["cost_after_day3"] / fixed["cost_after_day3"], 4) if best else None,
            "grid": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]}


def _bound_setup(seed: int) -> tuple[OpsConfig, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    config = with_seed(load_config(SHIPPED), seed)
    trace = simulated_trace(config, DAYS, start=DEMO_START)
    rate = rescale(config, trace, PEAK_REPLICAS)
    later = ((trace.timestamps - trace.timestamps[0]) // 86_400) >= EVALUATE_AFTER_DAYS
    hour = ((trace.timestamps % 86_400) // 3600).astype(int)
    return config, trace.timestamps, rate, later, hour


def _serve_block_targets(setup: tuple[OpsConfig, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                         targets: np.ndarray, block_hours: int,
                         floor: np.ndarray | None = None) -> tuple[float, float]:
    """(SLA after day 3, cost after day 3) with the CPU target of each block of hours in force."""
    config, ts, rate, later, hour = setup
    per_step = np.asarray(targets, dtype=float)[hour // block_hours]
    metrics = serve(config.services[0].simulation, ts, rate, per_step, min_replicas=floor)
    return sla_of(config, metrics, later), cost_of(metrics, 300, later)


def block_target_search(setup: tuple[OpsConfig, np.ndarray, np.ndarray, np.ndarray, np.ndarray], block_hours: int,
                        start: float, floor: np.ndarray | None = None, lo: float = 40.0,
                        hi: float = 90.0) -> dict[str, Any]:
    """Coordinate descent over the blocks' CPU targets (1-point steps, the learner's resolution), in hindsight:
    from `start` everywhere (feasible), take the feasible +-1 move of one block that saves the most cost per
    SLA point spent; when none is left, try exchanges (one block -1, another +1) ranked by their additive
    estimate, best 12 served; stop when nothing feasible is cheaper. A local optimum: a lower bound on what a
    per-block target schedule saves, not a proof of the global optimum."""
    sla_target = setup[0].sla.target
    n = 24 // block_hours
    targets = np.full(n, float(start))
    sla, cost = _serve_block_targets(setup, targets, block_hours, floor)
    evaluations = 1
    while True:
        effects: dict[tuple[int, int], tuple[float, float]] = {}
        for b in range(n):
            for d in (1, -1):
                trial = targets.copy()
                trial[b] += d
                if lo <= trial[b] <= hi:
                    effects[(b, d)] = _serve_block_targets(setup, trial, block_hours, floor)
                    evaluations += 1
        single = [((cost - c) / max(sla - s, 1e-7), b, d, s, c) for (b, d), (s, c) in effects.items()
                  if s >= sla_target and c < cost - 1e-9]
        if single:
            _, b, d, sla, cost = max(single)
            targets[b] += d
            continue
        pairs = sorted((ci + cj - 2 * cost, i, j) for (i, di), (si, ci) in effects.items() if di == -1
                       for (j, dj), (sj, cj) in effects.items() if dj == 1 and j != i and ci + cj - 2 * cost < -0.5)
        moved = False
        for _, i, j in pairs[:12]:
            trial = targets.copy()
            trial[i] -= 1
            trial[j] += 1
            s, c = _serve_block_targets(setup, trial, block_hours, floor)
            evaluations += 1
            if s >= sla_target and c < cost - 1e-9:
                targets, sla, cost, moved = trial, s, c, True
                break
        if not moved:
            break
    return {"block_hours": block_hours, "targets": targets.tolist(), "sla_after_day3": round(sla, 5),
            "cost_after_day3": round(cost, 2), "evaluations": evaluations}


def _best_fixed(setup: tuple[OpsConfig, np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> dict[str, float]:
    rows = []
    for target in np.arange(55.0, 80.0, 1.0):
        sla, cost = _serve_block_targets(setup, np.array([target]), 24)
        rows.append({"target": float(target), "sla_after_day3": round(sla, 5), "cost_after_day3": round(cost, 2)})
    return min((r for r in rows if r["sla_after_day3"] >= setup[0].sla.target), key=lambda r: r["cost_after_day3"])


def target_schedule_bound(tune_seed: int = 42, held_out: tuple[int, ...] = (7, 2024)) -> dict[str, object]:
    """The hindsight bound of a schedule of CPU TARGETS per block of hours (issue 13's other lever).

    On the tuning seed, `block_target_search` from the best fixed target: 8 blocks of 3 h, 6 of 4 h, 24 of
    1 h; 8 blocks of 3 h again from 60% everywhere (a second start: is the local optimum the same?); and 8 blocks of 3 h on top of the perfect-foresight minimum replicas (sized at 70% from the actual
    hourly mean; at 65%, the best of `perfect_foresight_bound`, the search found 0.983x, the same as that bound). The schedules found on the tuning seed are then
    served unchanged on the held-out seeds and compared with THEIR best fixed target (a learned schedule
    could not know more than a hindsight one fitted on another trace of the same service)."""
    tune = _bound_setup(tune_seed)
    config, ts, rate, _, _ = tune
    cfg = config.services[0].simulation
    fixed = _best_fixed(tune)
    hourly = hourly_means(ts, rate, ts[-1] + 300, DAYS * 24)
    floor = np.maximum(np.ceil(np.repeat(hourly, 12)[:rate.size] / (cfg.capacity_rps_per_replica * 0.70)),
                       cfg.min_replicas)
    variants: list[dict[str, Any]] = []
    for label, block_hours, start, min_floor in (
            ("8 blocks of 3 h", 3, fixed["target"], None), ("6 blocks of 4 h", 4, fixed["target"], None),
            ("24 blocks of 1 h", 1, fixed["target"], None),
            ("8 blocks of 3 h, searched from 60% everywhere", 3, 60.0, None),
            ("8 blocks of 3 h + perfect-foresight minimum replicas", 3, fixed["target"], floor)):
        began = time.perf_counter()
        found = block_target_search(tune, block_hours, start, min_floor)
        found["ratio"] = round(float(found["cost_after_day3"]) / fixed["cost_after_day3"], 4)
        found["seconds"] = round(time.perf_counter() - began, 1)
        variants.append({"variant": label, **found})
        print(variants[-1], flush=True)
    held: list[dict[str, object]] = []
    for seed in held_out:
        setup = _bound_setup(seed)
        best = _best_fixed(setup)
        for v in variants:
            if str(v["variant"]).endswith("minimum replicas"):
                continue  # its minimums are seed 42's actual demand: not a schedule another trace could use
            sla, cost = _serve_block_targets(setup, np.asarray(v["targets"]), int(v["block_hours"]))
            held.append({"seed": seed, "variant": v["variant"], "best_fixed": best, "sla_after_day3": round(sla, 5),
                         "cost_after_day3": round(cost, 2), "ratio": round(cost / best["cost_after_day3"], 4),
                         "meets_sla": sla >= config.sla.target})
            print(held[-1], flush=True)
    best_variant = min(variants, key=lambda v: float(v["ratio"]))
    return {"what": "hindsight bound of a per-block CPU target schedule: coordinate descent on seed "
                    f"{tune_seed} (tuning), cost after day 3 subject to SLA after day 3 >= target, exact SLI, shipped "
                    "config; the schedules found served unchanged on the held-out seeds",
            "tune_seed": tune_seed, "best_fixed": fixed, "variants": variants, "best_ratio": best_variant["ratio"],
            "held_out": held}


def warning_evaluation(seeds: tuple[int, ...] = (42, 7, 2024), days: int = 28) -> list[dict[str, object]]:
    """Predictive warnings as the controller raises them, on the simulator's demand WITH its traffic surges.

    The forecast is fitted daily at 03:00 from the last `history_days` (surges included, as a real
    history would be); every 6 h cycle warns of the hours in the next `warn_within_hours` whose forecast
    mean exceeds max_replicas x capacity x the CPU alert threshold (shipped: 60 x 40 rps x 90%).
    Scored per hour: an overload hour is one whose ACTUAL hourly mean demand exceeds that servable rate.
    Two capacities: the shipped max_replicas (60), and a tight one (16 replicas: the daily peak sits at
    the servable rate), where warnings have something to find. Surges: the simulator's traffic_surge
    incidents (random 15-60 min, x2.1-x2.6 demand); a surge counts as warned when a warning named one
    of its hours before it started."""
    from ai_ops.learner.forecast import forecast_demand
    from ai_ops.learner.schedule import breach_warnings

    base = load_config(SHIPPED)
    spec = base.learner.predictive
    alert = base.thresholds["alert_cpu_utilization"].initial
    rows: list[dict[str, object]] = []
    for seed in seeds:
        cfg = with_seed(base, seed).services[0].simulation
        start = DEMO_START
        ts = np.arange(start - spec.history_days * 86_400, start + days * 86_400, 300.0)
        surges_all = [i for i in incidents_between(cfg, ts[0], ts[-1]) if i.kind == "traffic_surge"]
        rate = demand(cfg, ts, 300, incidents_between(cfg, ts[0], ts[-1]))
        actual = hourly_means(ts, rate, start + days * 86_400, days * 24)
        hour_starts = start + 3600.0 * np.arange(days * 24)
        forecasts = {}
        for day in range(days):
            fitted = start + day * 86_400 + 3 * 3600
            keep = ts < fitted
            forecasts[day] = forecast_demand(ts[keep], rate[keep], fitted, spec.horizon_hours, spec.history_days)
        surges = [i for i in surges_all if start <= i.start < start + days * 86_400]
        for label, max_replicas in (("shipped max_replicas 60", spec.max_replicas), ("tight: max_replicas 16", 16)):
            servable = max_replicas * cfg.capacity_rps_per_replica * alert / 100.0
            lead_of: dict[float, float] = {}
            for cycle in range(days * 4):
                now = start + cycle * 6 * 3600
                day = int((now - start - 3 * 3600) // 86_400)  # the forecast of the last 03:00 train
                if day < 0:
                    continue
                for w in breach_warnings(forecasts[day], now, cfg.capacity_rps_per_replica, max_replicas, alert,
                                         spec.warn_within_hours):
                    lead_of[w.hour_start] = max(lead_of.get(w.hour_start, 0.0), w.lead_hours)
            overload = {float(h) for h, a in zip(hour_starts, actual, strict=True) if a > servable}
            warned = set(lead_of)
            caught = overload & warned
            weeks = days / 7
            warned_surges = [i for i in surges if any(i.start - 3600 < h < i.end for h in warned)]
            rows.append({
                "seed": seed, "capacity": label, "servable_rps": servable, "days": days,
                "overload_hours": len(overload), "warned_hours": len(warned),
                "recall_overload_hours": round(len(caught) / len(overload), 3) if overload else None,
                "mean_lead_hours_of_caught": round(float(np.mean([lead_of[h] for h in caught])), 2) if caught else None,
                "false_warned_hours_per_week": round(len(warned - overload) / weeks, 2),
                "surges": len(surges), "surges_warned": len(warned_surges),
                "surge_recall": round(len(warned_surges) / len(surges), 3) if surges else None,
                "surge_overload_hours_missed": len({h for h in overload - warned
                                                   if any(i.start - 3600 < h < i.end for i in surges)}),
            })
            print(rows[-1], flush=True)
    return rows


def forecast_rows() -> list[dict[str, object]]:
    rows = []
    simulation = load_config(None).services[0].simulation
    for seed in (42, 7, 2024):
        cfg = simulation.model_copy(update={"seed": seed})
        ts = np.arange(START, START + 28 * 86_400, 300.0)
        rate = demand(cfg, ts, 300, incidents_between(cfg, ts[0], ts[-1]))
        began = time.perf_counter()
        errors = rolling_errors(ts, rate, HORIZON, min_history_days=14, every_hours=12)
        rows.append({"trace": f"simulator seed {seed} (28 days)", **errors.__dict__, "beats_naive": errors.beats_naive,
                     "seconds": round(time.perf_counter() - began, 2)})
        print(rows[-1], flush=True)
    for name in REAL_DAILY:
        path = NAB / name
        if not path.exists():
            print(f"skipped {name}: {path} not found (needs ../shared)")
            continue
        series = read_series(path)
        began = time.perf_counter()
        errors = rolling_errors(series.seconds, series.values, HORIZON, min_history_days=7, every_hours=12)
        rows.append({"trace": f"NAB {name} (real, {len(series.seconds) * 300 / 86_400:.0f} days)", **errors.__dict__,
                     "beats_naive": errors.beats_naive, "seconds": round(time.perf_counter() - began, 2)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-forecast", action="store_true", help="keep the forecast rows of the last run")
    parser.add_argument("--skip-backtest", action="store_true", help="keep the backtest rows of the last run")
    parser.add_argument("--skip-warnings", action="store_true", help="keep the warning rows of the last run")
    parser.add_argument("--skip-target-bound", action="store_true",
                        help="keep the per-block CPU target bound of the last run")
    args = parser.parse_args()
    out = ROOT / "benchmarks" / "results" / "predictive.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    load_before = os.getloadavg()
    began = time.perf_counter()
    result = dict(previous)
    result["what"] = ("forecast_mape_6h: MAPE (%) of the forecast of the hour 6 h ahead (hourly mean demand), MSTL "
                      "model vs seasonal naive (same hour a day earlier), same origins, only the past used. "
                      "backtest: learner + schedule vs learner alone vs best fixed target in hindsight, shipped config. "
                      "perfect_foresight_bound: the best any hourly schedule of minimum replicas could do on seed 42. "
                      "target_schedule_bound: the best a schedule of CPU targets per block could do on seed 42 "
                      "(hindsight), and its schedules served on held-out seeds 7 and 2024.")
    result["command"] = "PYTHONPATH=$PWD python benchmarks/predictive.py"
    if not args.skip_forecast:
        result["forecast_mape_6h"] = forecast_rows()
    if not args.skip_backtest:
        result["backtest"] = backtests()
        result["perfect_foresight_bound"] = perfect_foresight_bound()
        bound = result["perfect_foresight_bound"]
        print(json.dumps({k: bound[k] for k in ("best_fixed", "best_perfect_schedule", "ratio")}, default=float))
    if not args.skip_target_bound:
        result["target_schedule_bound"] = target_schedule_bound()
    if not args.skip_warnings:
        result["warnings"] = warning_evaluation()
    result["load_average"] = {"before": [round(x, 2) for x in load_before],
                              "after": [round(x, 2) for x in os.getloadavg()]}
    result["seconds"] = round(time.perf_counter() - began, 2)
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
