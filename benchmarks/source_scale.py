"""Fetch N series x 7 days x 5 min from a real Prometheus into arrays, then one detection pass.

For each N (100, 1,000, 5,000 by default): generate the history, backfill it with promtool,
start Prometheus on 127.0.0.1, then in a FRESH child process (so peak memory is that N's alone)
fetch every series through `PrometheusClient.query_many` (one query per series, bounded
parallelism, the production code path) and run the controller's detection pass on every series:
train (fit on the history, as `jobs.run_train`, in --workers processes) and score the last 6 h
cycle with the trained state (as `jobs.detect`). See `measure` for the exact definition.

Writes benchmarks/results/source_scale.json. Target (issue 5): N = 1,000 in <= 30 s wall and
<= 1.5 GiB peak, cost no worse than linear in N.

    PYTHONPATH=$PWD python benchmarks/source_scale.py            # 100, 1000, 5000
    PYTHONPATH=$PWD python benchmarks/source_scale.py --n 100    # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

STEP = 300
POINTS = 7 * 86_400 // STEP  # 2016 points a series


def history(n: int, first: int, seed: int = 7) -> Iterator[str]:
    """N gauges with a daily cycle and noise, 7 days at 5 minutes, as OpenMetrics text."""
    rng = np.random.default_rng(seed)
    index = np.arange(POINTS)
    daily = np.sin(2 * np.pi * index / 288)
    ts = [str(first + i * STEP) for i in range(POINTS)]
    yield "# TYPE bench_metric gauge\n"
    for s in range(n):
        values = 100 + 10 * (s % 7) + 20 * daily + rng.normal(0, 3, POINTS)
        prefix = f'bench_metric{{series="s{s}"}} '
        yield "".join(f"{prefix}{v:.3f} {t}\n" for v, t in zip(values.tolist(), ts, strict=True))


CYCLE_POINTS = 6 * 3600 // STEP  # the 6-hourly cycle scores 72 new points
BACKTEST_SAMPLE = 100  # series timed with the old streaming backtest (secondary figure)


def measure(url: str, n: int, first: int, parallel: int, workers: int) -> dict[str, float]:
    """Runs in the child: fetch all series, then the controller's detection pass; wall times and peak RSS.

    Detection pass = what the jobs run at scale: the train job (`batch.train_many`, the same call
    `jobs.run_train` makes: `EnsembleDetector.fit` on the history, cold, as on the first day) on all
    but the last 6 h, the state stored as JSON, then the cycle (`EnsembleDetector.set_state` +
    `score`, as `jobs.detect`) on the last 6 h. Secondary: the old 7-day streaming backtest
    (`stream_scores`, a retrain every simulated day) on the first BACKTEST_SAMPLE series.
    """
    from ai_ops.config import AnomalyConfig, Secrets, SourcesConfig
    from ai_ops.detectors.backtest import stream_scores
    from ai_ops.detectors.batch import SeriesHistory, train_many
    from ai_ops.detectors.ensemble import EnsembleDetector
    from ai_ops.sources.prometheus import PrometheusClient, SeriesBlock, endpoint_from

    settings = SourcesConfig(max_parallel=parallel, timeout_seconds=120)
    client = PrometheusClient(endpoint_from("prometheus", Secrets(PROMETHEUS_URL=url), settings), settings)
    start, end = float(first), float(first + POINTS * STEP)
    began = time.perf_counter()
    blocks = client.query_many([f'bench_metric{{series="s{s}"}}' for s in range(n)], start, end, STEP)
    fetched = time.perf_counter()
    config = AnomalyConfig()
    series: list[tuple[np.ndarray, np.ndarray]] = []
    for block in blocks:
        assert isinstance(block, SeriesBlock) and len(block.labels) == 1, block
        series.append((block.timestamps, block.values[0]))
    points = sum(int(np.isfinite(v).sum()) for _, v in series)
    histories = (SeriesHistory(str(i), t[:-CYCLE_POINTS], v[:-CYCLE_POINTS]) for i, (t, v) in enumerate(series))
    stored: list[str] = []
    trained = 0
    for result in train_many(config, histories, workers=workers):
        trained += int(result.report.trained)
        stored.append(json.dumps(result.state))
    train_done = time.perf_counter()
    flagged = 0
    for (t, v), text in zip(series, stored, strict=True):
        detector = EnsembleDetector(config)
        detector.set_state(json.loads(text))
        scores = detector.score(t[-CYCLE_POINTS:], v[-CYCLE_POINTS:])
        flagged += int((np.nan_to_num(scores) >= detector.levels.warning).sum())
    scored = time.perf_counter()
    sample = series[:BACKTEST_SAMPLE]
    for t, v in sample:
        stream_scores("ensemble", config, t, v)
    backtest = time.perf_counter() - scored
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if workers > 1 else 0
    return {"n_series": n, "points": points, "workers": workers, "fetch_seconds": round(fetched - began, 3),
            "train_seconds": round(train_done - fetched, 3), "cycle_score_seconds": round(scored - train_done, 3),
            "score_seconds": round(scored - fetched, 3), "total_seconds": round(scored - began, 3),
            "peak_rss_mib": round((peak_kib + workers * child_kib) / 1024, 1),
            "main_process_peak_rss_mib": round(peak_kib / 1024, 1), "worker_peak_rss_mib": round(child_kib / 1024, 1),
            "series_trained": trained, "anomalous_points_last_cycle": flagged,
            "streaming_backtest_ms_per_series": round(backtest / len(sample) * 1000, 2),
            "streaming_backtest_sample": len(sample)}


def _blocks(data: Path) -> int:
    return sum(1 for p in data.iterdir() if p.is_dir() and p.name not in ("wal", "chunks_head"))


def wait_for_compaction(data: Path, stable_seconds: float = 20, limit: float = 600) -> tuple[float, int]:
    """promtool writes 2-hour blocks (84 for 7 days); a production Prometheus holds that week in a few
    compacted blocks, and range queries are ~5x faster on them. Wait until Prometheus has compacted."""
    began = time.monotonic()
    last, since = _blocks(data), time.monotonic()
    while time.monotonic() - began < limit:
        time.sleep(2)
        count = _blocks(data)
        if count != last:
            last, since = count, time.monotonic()
        elif count <= 12 and time.monotonic() - since >= stable_seconds:
            break
    return round(time.monotonic() - began, 1), last


def run_one(n: int, parallel: int, workers: int, workdir: Path) -> dict[str, object]:
    from sources_helpers import backfill, start_prometheus

    folder = workdir / f"n{n}"
    first = (int(time.time()) // STEP) * STEP - POINTS * STEP
    began = time.perf_counter()
    data = backfill(history(n, first), folder)
    backfill_seconds = time.perf_counter() - began
    server = start_prometheus(data, folder, first)
    compaction_seconds, blocks = wait_for_compaction(data)
    try:
        child = subprocess.run(
            [sys.executable, __file__, "--measure", server.url, str(n), str(first), str(parallel), str(workers)],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        result = json.loads(child.stdout.strip().splitlines()[-1])
        status = Path(f"/proc/{server.process.pid}/status").read_text()
        hwm = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")), "0")
    finally:
        server.stop()
    result.update({"backfill_seconds": round(backfill_seconds, 1), "compaction_wait_seconds": compaction_seconds,
                   "blocks_after_compaction": blocks, "prometheus_peak_rss_mib": round(int(hwm) / 1024, 1)})
    print(json.dumps(result), flush=True)
    return result


def phase_summary(runs: list[dict[str, object]]) -> dict[str, object]:
    """Per-series cost of each phase (flat across N = linear cost) and the target check for fetching alone."""
    thousand = next((r for r in runs if r["n_series"] == 1000), None)
    return {
        "fetch_ms_per_series": {str(r["n_series"]): round(float(r["fetch_seconds"]) / int(r["n_series"]) * 1000, 2)
                                for r in runs},
        "score_ms_per_series": {str(r["n_series"]): round(float(r["score_seconds"]) / int(r["n_series"]) * 1000, 2)
                                for r in runs},
        "streaming_backtest_ms_per_series": {str(r["n_series"]): r["streaming_backtest_ms_per_series"] for r in runs},
        "fetch_only_met": None if thousand is None else bool(float(thousand["fetch_seconds"]) <= 30
                                                             and float(thousand["peak_rss_mib"]) <= 1536),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="*", default=[100, 1000, 5000])
    parser.add_argument("--parallel", type=int, default=4, help="sources.max_parallel")
    parser.add_argument("--workers", type=int, default=2, help="training processes (anomaly.train_workers)")
    parser.add_argument("--measure", nargs=5, metavar=("URL", "N", "FIRST", "PARALLEL", "WORKERS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "source_scale.json")
    args = parser.parse_args()
    if args.measure:
        url, n, first, parallel, workers = args.measure
        print(json.dumps(measure(url, int(n), int(first), int(parallel), int(workers))))
        return
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ai-ops-bench-") as tmp:
        runs = [run_one(n, args.parallel, args.workers, Path(tmp)) for n in args.n]
    per_series = {str(r["n_series"]): round(float(r["total_seconds"]) / int(r["n_series"]) * 1000, 2) for r in runs}
    thousand = next((r for r in runs if r["n_series"] == 1000), None)
    out = {
        "benchmark": "source_scale",
        "what": "fetch N series x 7 days x 5 min from a real Prometheus (one query per series, parallel) "
                "into numpy arrays, then the detection pass the controller runs",
        "detection_pass": "per series: the train job (ai_ops.detectors.batch.train_many, as jobs.run_train: "
                          "EnsembleDetector.fit, cold, on the 7 days minus the last 6 h, in --workers processes), "
                          "state stored as JSON, then the 6-hourly cycle (set_state + EnsembleDetector.score, as "
                          "jobs.detect) on the last 6 h (72 points). score_seconds = train_seconds + "
                          "cycle_score_seconds; total_seconds = fetch_seconds + score_seconds (the target).",
        "secondary_streaming_backtest": "streaming_backtest_ms_per_series: the previous definition, a fresh detector "
                                        "streamed causally over the 7 days with a retrain every simulated day "
                                        "(stream_scores, what `ai-ops detect` and nab_dev do), single process, "
                                        "timed on the first 100 series; not what the controller runs each cycle",
        "target": {"n_series": 1000, "max_seconds": 30, "max_peak_mib": 1536, "scaling": "linear in N"},
        "met": None if thousand is None else bool(float(thousand["total_seconds"]) <= 30
                                                  and float(thousand["peak_rss_mib"]) <= 1536),
        "runs": runs,
        "ms_per_series": per_series,
        **phase_summary(runs),
        "peak_rss_note": "peak_rss_mib = main process peak + workers x the largest worker's peak (an upper bound on the sum); "
                         "Prometheus's own peak is listed apart",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                    "note": "2 cores shared with other jobs: times are noisy"},
        "parallel": args.parallel,
        "workers": args.workers,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "PYTHONPATH=$PWD python benchmarks/source_scale.py",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
