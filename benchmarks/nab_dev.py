"""NAB-dev benchmark: every detector and the ensemble, NAB-style scores, throughput.

Protocol (the production pattern, one default configuration for every series): the same
`stream_scores` that `ai-ops detect` uses: score each day as it arrives, retrain at the end
of each day on the rolling window (GMM warm-started from the previous day). Fully causal.
Usage: python benchmarks/nab_dev.py [DATA_DIR] [--only ensemble] [--set key=value ...]
Writes benchmarks/results/nab_dev.json (only for a full run with the default config).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from nab_scorer import PROFILES, ScoredFile, prepare, sweep, window_metrics

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.backtest import stream_scores
from ai_ops.detectors.ensemble import SeverityLevels
from ai_ops.detectors.ewma import EWMADetector
from ai_ops.detectors.zscore import ZScoreDetector

DATA = HERE.parent.parent / "shared" / "datasets" / "nab-dev"
DAY = 86400.0
TARGETS = {"ensemble_standard": 65.0, "ensemble_reward_low_FP_rate": 55.0, "ensemble_seconds_incl_training": 10.0,
           "zscore_points_per_second": 1e6, "ewma_points_per_second": 1e6}


def load(data: Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, list]]:
    windows = json.loads((data / "windows.json").read_text())
    series = []
    for rel in sorted(windows):
        frame = pd.read_csv(data / rel)
        stamps = pd.to_datetime(frame["timestamp"]).to_numpy()
        seconds = stamps.astype("datetime64[ns]").astype(np.int64) / 1e9
        wins = [(np.datetime64(pd.Timestamp(a)), np.datetime64(pd.Timestamp(b))) for a, b in windows[rel]]
        series.append((rel, stamps, seconds, frame["value"].to_numpy(dtype=float), wins))
    return series


def raw_throughput(points: int = 1_000_000) -> dict[str, float]:
    """Score-only speed of the two fast detectors on one long series."""
    rng = np.random.default_rng(0)
    v = rng.normal(size=points).cumsum() * 0.01 + rng.normal(size=points)
    t = np.arange(points) * 300.0
    out = {}
    for name, det in (("zscore", ZScoreDetector()), ("zscore_nonrobust", ZScoreDetector(robust=False)),
                      ("ewma", EWMADetector())):
        began = time.perf_counter()
        det.score(t, v)
        out[name] = round(points / (time.perf_counter() - began))
    return out


def run(data: Path, names: list[str], config: AnomalyConfig) -> dict:
    series = load(data)
    total_points = sum(len(s[3]) for s in series)
    results: dict = {}
    for name in names:
        files: list[ScoredFile] = []
        offset = 0
        began = time.perf_counter()
        all_scores = []
        for _rel, _stamps, seconds, values, _wins in series:
            all_scores.append(stream_scores(name, config, seconds, values))
        seconds_taken = time.perf_counter() - began
        for (_rel, stamps, _seconds, _values, wins), scores in zip(series, all_scores, strict=True):
            files.append(prepare(stamps, scores, wins, offset))
            offset += len(wins)
        entry: dict = {"seconds_incl_training": round(seconds_taken, 3),
                       "points_per_second_incl_training": round(total_points / seconds_taken)}
        for profile in PROFILES:
            best = sweep(files, profile)
            entry[profile] = {"normalized": round(float(best.normalized), 2), "threshold": best.threshold,
                              "windows_found": best.tp_windows, "windows": best.windows,
                              **{"window_" + k: val for k, val in window_metrics(files, best.threshold).items()
                                 if k in ("precision", "recall", "f1", "false_alarms")}}
        exact_ones = float(np.mean(np.concatenate(all_scores) == 1.0))
        entry["share_of_exact_1.0"] = exact_ones
        # What a user sees: points at or above the warning level of the configured sensitivity.
        warning = SeverityLevels.from_sensitivity(config.sensitivity).warning
        entry["alarms_at_warning"] = int(sum(int(np.sum(np.nan_to_num(s) >= warning)) for s in all_scores))
        results[name] = entry
        print(f"{name:9s} std {entry['standard']['normalized']:6.2f}  lowFP {entry['reward_low_FP_rate']['normalized']:6.2f}"
              f"  lowFN {entry['reward_low_FN_rate']['normalized']:6.2f}  {seconds_taken:6.2f}s"
              f"  alarms {entry['alarms_at_warning']}", flush=True)
    return {"points": total_points, "files": len(series), "results": results}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", type=Path, default=DATA)
    parser.add_argument("--only", action="append")
    parser.add_argument("--set", action="append", default=[], help="AnomalyConfig override, e.g. average_points=5")
    args = parser.parse_args()
    overrides: dict = {}
    for item in args.set:
        key, value = item.split("=", 1)
        node = overrides
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = json.loads(value) if value[:1] in "0123456789-[{tf" else value
    config = AnomalyConfig.model_validate(overrides)
    names = args.only or ["zscore", "ewma", "window_shift", "gmm", "forecast", "ensemble"]
    report = run(args.data, names, config)
    if args.only or args.set:
        return
    report["raw_points_per_second"] = raw_throughput()
    report["targets"] = TARGETS
    report["machine"] = {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "python": platform.python_version()}
    report["config"] = config.model_dump()
    out = HERE / "results" / "nab_dev.json"
    out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(json.dumps(report["raw_points_per_second"]), f"-> {out}")


if __name__ == "__main__":
    main()
