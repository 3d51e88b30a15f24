"""Demand forecast accuracy at 6 h ahead: the MSTL model vs the seasonal-naive baseline.

Traces: the simulator's demand (seeds 42, 7, 2024; 28 days, the shipped default service) and
the real daily-cycle series of NAB-dev (read by path from ../shared, 14-16 days). Origins
every 12 h once enough history exists (14 days on the simulator, 7 days on the shorter real
traces); at each origin only the past is used. Writes benchmarks/results/predictive.json.

    python benchmarks/predictive.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ai_ops.config import load_config
from ai_ops.learner.forecast import rolling_errors
from ai_ops.series_csv import read_series
from ai_ops.sim.service import demand, incidents_between

NAB = ROOT.parent / "shared" / "datasets" / "nab-dev" / "realAWSCloudwatch"
REAL_DAILY = ["grok_asg_anomaly.csv", "rds_cpu_utilization_cc0c53.csv", "ec2_cpu_utilization_53ea38.csv"]
"""The nab-dev series with a daily cycle (lag-1-day autocorrelation >= 0.6); the others have none."""
START = 1767571200.0  # 2026-01-05, a Monday
HORIZON = 6


def main() -> None:
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
    out = ROOT / "benchmarks" / "results" / "predictive.json"
    out.write_text(json.dumps({
        "what": "MAPE (%) of the forecast of the hour 6 h ahead (hourly mean demand), MSTL model vs seasonal naive "
                "(same hour a day earlier), same origins, only the past used",
        "load_average": os.getloadavg()[0], "forecast_mape_6h": rows}, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
