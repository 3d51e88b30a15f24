"""Fault battery at scale: run tests/test_faults.py with more Hypothesis examples than CI and count outcomes.

    PYTHONPATH=. python benchmarks/faults.py [--examples 60] [--kill-examples 6]

Writes benchmarks/results/faults.json: cases per kind, exit codes, and the issue-15 targets
(tracebacks, silent resets, writes outside the workspace, changes proposed from a tampered or
unbelievable value), plus the peak memory (max RSS of a child process) of `train` and `cycle`
against a local fake Prometheus answering every query with 2,000 series (a forgotten `sum`).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def battery(examples: int, kill_examples: int, log: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FAULTS_LOG": str(log)}
    started = time.time()
    runs = []
    for selection, count in (("not kill", examples), ("kill", kill_examples)):
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(ROOT / "tests/test_faults.py"), "-k", selection],
                              env={**env, "FAULTS_EXAMPLES": str(count)}, capture_output=True, text=True, check=False)
        runs.append({"selection": selection, "examples_per_test": count, "pytest_exit": done.returncode,
                     "pytest_tail": done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []})
    return {"seconds": round(time.time() - started, 1), "pytest": runs}


def peak_memory(series: int) -> dict[str, object]:
    """Max RSS of a child `train` / `cycle` whose Prometheus answers with `series` series per query."""
    import yaml

    from ai_ops.config import embedded_default_yaml
    from tests.test_faults import FakePrometheus, response

    fake = FakePrometheus()
    out: dict[str, object] = {"series": series}
    try:
        # 30 days of 5-minute points per series, as the daily training asks for.
        fake.body = response(series, "1", 8640, "")
        out["response_bytes"] = len(fake.body)
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            data = yaml.safe_load(embedded_default_yaml().replace("workspace: ai-ops-demo", "workspace: ws"))
            (base / "ops.yaml").write_text(yaml.safe_dump(data))
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            subprocess.run([sys.executable, "-m", "ai_ops", "--config", "ops.yaml", "cycle"], cwd=base, env=env,
                           capture_output=True, check=False, timeout=300)  # creates the workspace
            data["services"] = [{"name": "checkout", "source": "prometheus", "queries": {
                m: f"app_{m}" for m in ("request_rate", "cpu_utilization", "latency_p95_ms", "error_rate",
                                        "replicas", "cost_per_hour")}}]
            (base / "ops.yaml").write_text(yaml.safe_dump(data))
            for job in ("train", "cycle"):
                code = ("import resource, subprocess, sys;"
                        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
                        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
                        "print(p.stderr[-400:], file=sys.stderr)")
                done = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "ai_ops", "--config",
                                       "ops.yaml", job], cwd=base, capture_output=True, text=True, check=False,
                                      env={**env, "PROMETHEUS_URL": fake.url}, timeout=600)
                exit_code, rss_kib = done.stdout.split()
                out[job] = {"exit": int(exit_code), "peak_rss_mib": round(int(rss_kib) / 1024, 1),
                            "traceback": "Traceback" in done.stderr, "message": done.stderr.strip()[-300:]}
    finally:
        fake.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=60, help="Hypothesis examples per fast test")
    parser.add_argument("--kill-examples", type=int, default=6, help="kill -9 runs (each ~15 s)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/faults.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "cases.jsonl"
        meta = battery(args.examples, args.kill_examples, log)
        cases = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    by_kind = collections.Counter(c["kind"] for c in cases)
    exits = collections.Counter(f"{c['kind']}:{c['exit']}" for c in cases)
    memory = peak_memory(2000)
    result = {
        "command": f"PYTHONPATH=. python benchmarks/faults.py --examples {args.examples} "
                   f"--kill-examples {args.kill_examples}",
        "load_1min": round(os.getloadavg()[0], 2),
        "cases": len(cases),
        "cases_by_kind": dict(by_kind),
        "exit_codes": dict(sorted(exits.items())),
        "targets": {
            "tracebacks": sum(bool(c["traceback"]) for c in cases),
            "silent_resets": sum(bool(c["silent_reset"]) for c in cases),
            "writes_outside_workspace": sum(bool(c["outside_writes"]) for c in cases),
            "changes_from_unbelievable_values": sum(bool(c["proposed_from_tampered"]) for c in cases),
            "undocumented_exit_codes": sum(c["exit"] not in (0, 2, 3, 4, 75) for c in cases),
            "peak_rss_mib_on_2000_series": max(memory[j]["peak_rss_mib"] for j in ("train", "cycle")),  # type: ignore[index]
        },
        "memory_2000_series": memory,
        "battery": meta,
        "note": "Hypothesis runs each example of a failing-free test once per phase, so cases count every run; "
                "cases are derandomized (same seed, same cases).",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result["targets"], indent=2), f"\n{len(cases)} cases -> {args.output}")


if __name__ == "__main__":
    main()
