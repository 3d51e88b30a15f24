"""Per-service thresholds vs one shared set, on the shipped 3-service default fleet, 14 simulated days.

    PYTHONPATH=. python benchmarks/per_service.py     # writes benchmarks/results/per_service.json

Two parts:

1. `real_jobs`: `ai-ops demo` (the real run_train / run_cycle / run_report, detectors, Git, Terraform)
   over 14 days with the shipped default config: every service learns its own thresholds. Each
   service is then re-simulated under the scaling targets it actually had (replayed from the
   decision ledger) and measured with the exact SLI after day 3 and over the whole run.
2. `per_service_vs_shared`: the same fleet and learner config through one harness, twice: one
   learner per service on its own window (what the cycle now does), and the baseline the cycle
   used to run, one learner for one shared set judged on the worst SLA and the total cost (the old
   `combine`, kept here only). The harness skips anomaly detection for both arms alike (windows
   are never discarded as incidents), so the two arms differ only in per-service vs shared.

Cost and SLA are measured the same way for every arm: re-simulate each service under its target
timeline from day 3 (and from day 0) to the end, exact SLI = good / all requests; also without
the injected incidents (their span plus one hour), the part of the SLA a scaling target controls.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ai_ops.config import OpsConfig, load_config
from ai_ops.jobs.demo import DEMO_START, run_demo
from ai_ops.jobs.observing import deployed_target_timeline
from ai_ops.learner.learner import ThresholdLearner
from ai_ops.learner.observation import Observation, exact_attainment, observe
from ai_ops.sim.service import TargetTimeline, simulate

DAYS = 14
SETTLE_DAYS = 3
DAY = 86_400
SCALING = "autoscaling_cpu_target"
RESULTS = Path(__file__).resolve().parent / "results" / "per_service.json"


def measure(config: OpsConfig, timelines: dict[str, TargetTimeline], start: float, end: float) -> dict[str, Any]:
    """Exact SLI and cost of each service under its target timeline over [start, end)."""
    out: dict[str, Any] = {}
    total_cost = 0.0
    for service in config.services:
        window = simulate(service.simulation, start, end, config.step_seconds, timelines[service.name],
                          latency_objective_ms=config.sla.latency_objective_ms)
        m = window.metrics
        cost = float(np.sum(m["cost_per_hour"]) * config.step_seconds / 3600.0)
        total_cost += cost
        share = m["sli_good"] / np.where(m["sli_total"] > 0, m["sli_total"], np.nan)
        calm = np.ones(window.timestamps.shape, dtype=bool)
        for incident in window.incidents:  # injected latency spikes / error bursts / surges: no target fixes those
            calm &= ~((window.timestamps >= incident.start) & (window.timestamps < incident.end + 3600))
        out[service.name] = {
            "sla_exact": round(exact_attainment(m["sli_total"], m["sli_good"]), 4),
            "sla_exact_outside_incidents": round(exact_attainment(m["sli_total"][calm], m["sli_good"][calm]), 4),
            "bad_step_share": round(float(np.nanmean(share < config.sla.target / 100.0)), 4),
            "cost": round(cost, 2),
            "mean_target": round(float(np.mean(timelines[service.name](window.timestamps))), 2),
        }
    return {"services": out, "total_cost": round(total_cost, 2),
            "worst_sla_exact": min(v["sla_exact"] for v in out.values()),
            "worst_sla_exact_outside_incidents": min(v["sla_exact_outside_incidents"] for v in out.values())}


def step_timeline(changes: list[tuple[float, float]], initial: float) -> TargetTimeline:
    times = np.array([t for t, _ in changes], dtype=float)
    values = np.array([initial] + [v for _, v in changes], dtype=float)
    return lambda ts: values[np.searchsorted(times, ts, side="right")]


def combine(observations: list[Observation]) -> Observation:
    """The old cycle's shared-set judgement (removed from the product): worst SLA, total cost."""
    first = observations[0]
    worst = min(observations, key=lambda o: o.sla_attainment if np.isfinite(o.sla_attainment) else -1)
    worst_load = min(o.sla_attainment_load for o in observations)
    return Observation(
        time=first.time, sla_attainment=worst.sla_attainment,
        cost=sum(o.cost for o in observations), cost_per_hour=sum(o.cost_per_hour for o in observations),
        utilization_mean=max(o.utilization_mean for o in observations),
        utilization_p95=max(o.utilization_p95 for o in observations),
        replicas_mean=sum(o.replicas_mean for o in observations),
        replicas_max=sum(o.replicas_max for o in observations),
        latency_p95_max_ms=max(o.latency_p95_max_ms for o in observations),
        error_rate_mean=max(o.error_rate_mean for o in observations),
        samples=min(o.samples for o in observations),
        anomaly_share=max(o.anomaly_share for o in observations),
        alerts_fired={k: any(o.alerts_fired.get(k, False) for o in observations) for k in first.alerts_fired},
        usable=all(o.usable for o in observations),
        sla_attainment_load=worst_load,
        requests=sum(o.requests for o in observations),
        normal_levels={k: max(o.normal_levels[k] for o in observations if k in o.normal_levels)
                       for k in {k for o in observations for k in o.normal_levels}},
        sli_method=worst.sli_method,
        bad_step_share=max(o.bad_step_share for o in observations),
        error_budget_burn=worst.error_budget_burn,
    )


def harness(config: OpsConfig, shared: bool) -> dict[str, list[tuple[float, float]]]:
    """Run the learner(s) cycle by cycle on the simulated fleet; returns each service's target changes."""
    names = config.service_names
    specs = {s: config.thresholds_for(s) for s in names}
    current = {s: {k: v.initial for k, v in specs[s].items()} for s in names}
    changes: dict[str, list[tuple[float, float]]] = {s: [] for s in names}

    def learner(thresholds: Any) -> ThresholdLearner:
        return ThresholdLearner(config.learner, thresholds, config.sla.target, config.cost.monthly_budget)

    learners = {"*": learner(config.thresholds)} if shared else {s: learner(specs[s]) for s in names}
    window = int(config.cycle_window_hours * 3600)
    for k in range(1, DAYS * DAY // window + 1):
        now = DEMO_START + k * window
        observations = {}
        for service in config.services:
            timeline = step_timeline(changes[service.name], specs[service.name][SCALING].initial)
            sim = simulate(service.simulation, now - window, now, config.step_seconds, timeline,
                           latency_objective_ms=config.sla.latency_objective_ms)
            observations[service.name] = observe(now, config.step_seconds, sim.metrics, current[service.name],
                                                 config.sla.latency_objective_ms, 0.0, config.sla.target)
        if shared:
            decision = learners["*"].step(combine(list(observations.values())), current[names[0]])
            decided = dict.fromkeys(names, decision.new)
        else:
            decided = {s: learners[s].step(observations[s], current[s]).new for s in names}
        for s in names:
            if decided[s][SCALING] != current[s][SCALING]:
                changes[s].append((now, decided[s][SCALING]))
            current[s] = dict(decided[s])
    return changes


def arm(config: OpsConfig, shared: bool) -> dict[str, Any]:
    began = time.perf_counter()
    changes = harness(config, shared)
    timelines = {s: step_timeline(changes[s], config.thresholds_for(s)[SCALING].initial) for s in changes}
    end = DEMO_START + DAYS * DAY
    return {"after_day_3": measure(config, timelines, DEMO_START + SETTLE_DAYS * DAY, end),
            "whole_run": measure(config, timelines, DEMO_START, end),
            "final_targets": {s: (c[-1][1] if c else config.thresholds_for(s)[SCALING].initial)
                              for s, c in changes.items()},
            "target_changes": {s: len(c) for s, c in changes.items()},
            "seconds": round(time.perf_counter() - began, 2)}


def real_jobs() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        result = run_demo(Path(tmp) / "demo", days=DAYS)
        seconds = time.perf_counter() - began
        config = load_config(None).with_workspace(result.workspace)
        timelines: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            s: deployed_target_timeline(config, s) for s in config.service_names}
        end = DEMO_START + DAYS * DAY
        final = {p["service"]: p[SCALING] for p in result.threshold_path}
        return {"after_day_3": measure(config, timelines, DEMO_START + SETTLE_DAYS * DAY, end),
                "whole_run": measure(config, timelines, DEMO_START, end),
                "final_targets": final, "learning": {s: v["status"] for s, v in result.learning.items()},
                "commits": result.commits, "seconds": round(seconds, 1)}


def main() -> None:
    config = load_config(None)
    per_service = arm(config, shared=False)
    shared = arm(config, shared=True)
    jobs = real_jobs()
    ratio = per_service["after_day_3"]["total_cost"] / shared["after_day_3"]["total_cost"]
    result = {
        "what": "per-service thresholds vs one shared set (worst SLA, total cost) on the shipped default fleet",
        "config": "embedded default (= config/ops_config.yaml services, learner, thresholds)",
        "days": DAYS, "measured_from_day": SETTLE_DAYS, "sla_target": config.sla.target,
        "sli": "exact: good / all requests from the simulated latency histogram and errors",
        "per_service_vs_shared": {"per_service": per_service, "shared": shared,
                                  "cost_ratio_per_service_to_shared_after_day_3": round(ratio, 4)},
        "real_jobs_per_service": jobs,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
