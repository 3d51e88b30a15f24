"""Training cost per series, in process: what the fleet's train job spends per 2,016-point series.

The series are source_scale.py's (7 days at 5 minutes, a daily cycle plus noise; 6 metric shapes),
trained as the train job does (`batch.train_one`: the default `EnsembleDetector`, one process,
BLAS pinned to one thread by the GMM): a cold first fit on 6 days (1,728 points, what
source_scale's first-day training sees), a cold fit on all 7 days (2,016 points) and the next
day's warm-started refit on the 2,016 points; then one 6-hour cycle's scoring (72 points,
set_state + score as `jobs.detect`). CPU seconds of this process (steadier than wall time on the
shared 2-core machine; both are recorded, with the load average).

    PYTHONPATH=$PWD python benchmarks/train_speed.py [--series 60] [--out benchmarks/results/train_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.batch import SeriesHistory, train_one
from ai_ops.detectors.ensemble import EnsembleDetector

HERE = Path(__file__).resolve().parent
STEP = 300
POINTS = 7 * 288
DAY_POINTS = 288
CYCLE_POINTS = 72


def series(n: int, seed: int = 7) -> list[tuple[np.ndarray, np.ndarray]]:
    """source_scale.py's generator: 100 + 10 ((s + m) % 7) + 20 sin(daily) + N(0, 3)."""
    rng = np.random.default_rng(seed)
    index = np.arange(POINTS)
    daily = np.sin(2 * np.pi * index / 288)
    t = 1_700_000_000.0 + index * STEP
    return [(t, 100 + 10 * (i % 7) + 20 * daily + rng.normal(0, 3, POINTS)) for i in range(n)]


def clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def per_series(began: tuple[float, float], n: int) -> dict[str, float]:
    cpu, wall = clock()
    return {"cpu_ms": round((cpu - began[0]) / n * 1e3, 2), "wall_ms": round((wall - began[1]) / n * 1e3, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=60)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "train_speed.json")
    args = parser.parse_args()
    config = AnomalyConfig()
    data = series(args.series)
    load_before = os.getloadavg()
    train_one(config, SeriesHistory("warm-up", data[0][0][:-DAY_POINTS], data[0][1][:-DAY_POINTS]))  # imports
    result: dict[str, object] = {}
    began = clock()
    first = [train_one(config, SeriesHistory(str(i), t[:-DAY_POINTS], v[:-DAY_POINTS])) for i, (t, v) in enumerate(data)]
    result["cold_fit_1728_points"] = per_series(began, len(data))
    began = clock()
    for i, (t, v) in enumerate(data):
        train_one(config, SeriesHistory(str(i), t, v))
    result["cold_fit_2016_points"] = per_series(began, len(data))
    began = clock()
    states = [train_one(config, SeriesHistory(str(i), t, v, first[i].state)).state for i, (t, v) in enumerate(data)]
    result["warm_refit_2016_points"] = per_series(began, len(data))
    began = clock()
    for (t, v), state in zip(data, states, strict=True):
        detector = EnsembleDetector(config)
        detector.set_state(json.loads(json.dumps(state)))
        detector.score(t[-CYCLE_POINTS:] + DAY_POINTS * STEP, v[-CYCLE_POINTS:])
    result["cycle_score_72_points"] = per_series(began, len(data))
    report = {"benchmark": "train_speed", "series": len(data), "points_per_series": POINTS, "results": result,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "loadavg_before": [round(x, 2) for x in load_before],
                          "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
              "command": "PYTHONPATH=$PWD python benchmarks/train_speed.py"}
    print(json.dumps(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
