"""Benchmark of the threshold learner against the issue's targets (issue 4).

Replays the simulator's own seasonal demand (several seeds) and the real NAB ELB request-count
trace through the simulated service under the learned, static-80% and target-tracking policies,
and checks each target. Writes benchmarks/results/learner.json.

    PYTHONPATH=$PWD python benchmarks/learner.py [--elb PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from ai_ops.backtest import load_trace, run_backtest, simulated_trace
from ai_ops.config import OpsConfig, load_config
from ai_ops.jobs.demo import DEMO_START

ROOT = Path(__file__).resolve().parents[1]
ELB = ROOT.parent / "shared" / "datasets" / "nab-dev" / "realAWSCloudwatch" / "elb_request_count_8c0756.csv"
SEEDS = (42, 7, 2024)
DAYS = 14


def with_seed(config: OpsConfig, seed: int) -> OpsConfig:
    services = [s.model_copy(update={"simulation": s.simulation.model_copy(update={"seed": seed})})
                for s in config.services]
    return config.model_copy(update={"services": services})


def with_sla(config: OpsConfig, target: float) -> OpsConfig:
    return config.model_copy(update={"sla": config.sla.model_copy(update={"target": target})})


def judge(learned: dict[str, Any], sla_target: float) -> dict[str, Any]:
    """Each target of the issue: measured value, goal, and whether it is met (None = not applicable)."""
    best = learned["best_fixed_in_hindsight"]
    static_ok = learned["static_80_meets_sla"]
    return {
        "sla_after_day3": {"value": learned["sla_after_day3"], "goal": f">= {sla_target}",
                           "met": learned["sla_after_day3"] >= sla_target},
        "cost_vs_best_fixed": {"value": learned["cost_vs_best_fixed"], "goal": "<= 1.05",
                               "met": None if best is None else learned["cost_vs_best_fixed"] <= 1.05,
                               "note": "" if best else "no fixed target in the bounds meets the SLA"},
        "cost_vs_static_80": {"value": learned["cost_vs_static_80"], "goal": "<= 0.90 where static 80% meets the SLA",
                              "met": learned["cost_vs_static_80"] <= 0.90 if static_ok else None,
                              "note": "" if static_ok else
                              f"static 80% does not meet the SLA ({learned['static_80']['sla']}%)"},
        "convergence_day": {"value": learned["convergence_day"], "goal": "<= 7",
                            "met": learned["convergence_day"] <= 7},
        "max_changes_per_day_after_convergence": {"value": learned["max_changes_per_day_after_convergence"],
                                                  "goal": "<= 1",
                                                  "met": learned["max_changes_per_day_after_convergence"] <= 1},
        "exploration_breach_days_after_day3": {"value": learned["exploration_breach_days_after_day3"],
                                               "goal": "none", "met": not learned["exploration_breach_days_after_day3"]},
    }


def scenario(name: str, config: OpsConfig, trace: Any, peak_replicas: float = 40.0) -> dict[str, Any]:
    began = time.perf_counter()
    runs = {policy: run_backtest(config, trace, policy, peak_replicas)
            for policy in ("learned", "static", "target-tracking")}
    learned = runs["learned"]
    summary = {policy: {k: r[k] for k in ("sla_overall", "sla_after_day3", "cost", "final_target", "changes",
                                          "convergence_day", "max_changes_per_day_after_convergence",
                                          "exploration_breach_days_after_day3", "cost_vs_best_fixed",
                                          "cost_vs_static_80")}
               for policy, r in runs.items()}
    return {
        "scenario": name,
        "trace": trace.name,
        "sla_target": config.sla.target,
        "peak_replicas": peak_replicas,
        "best_fixed_in_hindsight": learned["best_fixed_in_hindsight"],
        "highest_sla_fixed": learned["highest_sla_fixed"],
        "static_80": learned["static_80"],
        "policies": summary,
        "learned_threshold_path": [(p["day"], p["target"], p["status"]) for p in learned["threshold_path"]],
        "targets": judge(learned, config.sla.target),
        "seconds": round(time.perf_counter() - began, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--elb", type=Path, default=ELB)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "learner.json")
    args = parser.parse_args()
    base = load_config(None)
    load_before = os.getloadavg()
    began = time.perf_counter()
    scenarios = [scenario(f"simulated seed {seed}, {DAYS} days", with_seed(base, seed),
                          simulated_trace(with_seed(base, seed), DAYS, start=DEMO_START)) for seed in SEEDS]
    if args.elb.exists():
        elb = load_trace(args.elb)
        scenarios.append(scenario("NAB ELB request count, SLA 99.95%", base, elb))
        scenarios.append(scenario("NAB ELB request count, SLA 95% (a target this trace can reach)",
                                  with_sla(base, 95.0), elb))
    else:
        print(f"skipped the ELB trace: {args.elb} not found")
    result = {
        "benchmark": "learner",
        "command": "PYTHONPATH=$PWD python benchmarks/learner.py",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "seconds": round(time.perf_counter() - began, 2),
        "scenarios": scenarios,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for s in scenarios:
        print(f"\n{s['scenario']}  (best fixed: {s['best_fixed_in_hindsight']}, static 80: {s['static_80']})")
        for target, row in s["targets"].items():
            mark = {True: "MET ", False: "MISS", None: "n/a "}[row["met"]]
            print(f"  {mark} {target}: {row['value']} (goal {row['goal']}) {row.get('note', '')}")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
