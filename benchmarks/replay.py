"""Replay speed: `ai-ops replay --days 14` over three services from a real Prometheus.

Target (issue 12): <= 30 s. Runs the shipped defaults (config: the three services' queries, every
other setting the embedded default). Writes benchmarks/results/replay.json. The timing starts once
Prometheus has compacted the backfilled history (as a user's long-running server holds it).

Besides wall time, records the CPU time (user + system) of the replay process: on shared cores
the wall time depends on what else runs, the CPU time much less (see load_average_1m).
Usage: PYTHONPATH=. python benchmarks/replay.py [--days 14]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from replay_helpers import SERVICES, config_yaml, start_with_history
from sources_helpers import STEP, binaries_present, wait_for_compaction


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()
    missing = binaries_present()
    if missing:
        sys.exit(missing)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        now = time.time() // STEP * STEP
        first = now - (args.days + 32) * 86_400  # training window + the month start a report reads
        began = time.monotonic()
        server, incidents = start_with_history(folder / "prom", first, now)
        backfill_seconds = time.monotonic() - began
        # A user's Prometheus holds its history compacted; right after a backfill it is still merging
        # hundreds of 2-hour blocks on the other core, which would be timed as the replay's.
        compaction_seconds, blocks = wait_for_compaction(server.data_dir)
        try:
            config = folder / "ops_config.yaml"
            config.write_text(config_yaml(folder / "unused"))
            env = {**os.environ, "PROMETHEUS_URL": server.url, "PYTHONPATH": str(ROOT)}
            load_before = os.getloadavg()[0]
            cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.monotonic()
            run = subprocess.run([sys.executable, "-m", "ai_ops", "--config", str(config), "replay",
                                  "--days", str(args.days), "--workspace", str(folder / "scratch"), "--json"],
                                 capture_output=True, text=True, env=env, check=False)
            wall = time.monotonic() - began
            cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the replay process only (waited for)
        finally:
            server.stop()
        if run.returncode != 0:
            sys.exit(f"replay failed ({run.returncode}): {run.stderr[-3000:]}")
        summary = json.loads(run.stdout)
    load = os.getloadavg()
    result = {
        "what": f"ai-ops replay --days {args.days}, {len(SERVICES)} services, real Prometheus (promtool backfill)",
        "target_seconds": 30,
        "wall_seconds": round(wall, 2),
        "replay_seconds_inside": summary["seconds"],
        "replay_cpu_seconds": round((cpu_after.ru_utime - cpu_before.ru_utime)
                                    + (cpu_after.ru_stime - cpu_before.ru_stime), 2),
        "jobs": summary["jobs"],
        "source_requests": summary["source_requests"],
        "backfill_seconds": round(backfill_seconds, 2),
        "compaction_wait_seconds": compaction_seconds,
        "blocks_after_compaction": blocks,
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m": round(load[0], 2),
        "cpus": os.cpu_count(),
        "incidents_injected": {k: len(v) for k, v in incidents.items()},
        "episodes_found": {s["service"]: len(s["episodes"]) for s in summary["services"]},
    }
    out = ROOT / "benchmarks" / "results" / "replay.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
