"""How fast the CLI starts: `python -m ai_ops --help` and `python -m ai_ops config check` (target <= 0.3 s).

Run: PYTHONPATH=. python benchmarks/cli_startup.py   -> benchmarks/results/cli_startup.json
Each command runs REPEATS times in a fresh interpreter; we record wall and CPU (user + sys) time
of the child. On the shared 2-core machine wall time follows the load average (recorded), so the
CPU time is the steadier figure; the median of both is reported.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPEATS = 15
COMMANDS = {"help": ["--help"], "config_check": ["config", "check"]}
TARGET_SECONDS = 0.3


def run_once(args: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ai_ops", *args], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    results: dict = {}
    load_before = os.getloadavg()[0]
    for name, args in COMMANDS.items():
        run_once(args)  # warm the file cache and .pyc files
        walls, cpus = zip(*(run_once(args) for _ in range(REPEATS)), strict=True)
        results[name] = {"median_wall_s": round(statistics.median(walls), 3), "min_wall_s": round(min(walls), 3),
                         "median_cpu_s": round(statistics.median(cpus), 3), "min_cpu_s": round(min(cpus), 3),
                         "target_s": TARGET_SECONDS}
        print(name, results[name], flush=True)
    out = {"commands": results, "repeats": REPEATS,
           "machine": {"cpus": os.cpu_count(), "load_avg_1m_before": load_before, "load_avg_1m_after": os.getloadavg()[0],
                       "python": platform.python_version()}}
    path = HERE / "results" / "cli_startup.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
