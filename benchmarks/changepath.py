"""Cost of the change path on one machine: Terraform checks + write, and Git commit / PR push.

Run:  PYTHONPATH=. python benchmarks/changepath.py   -> benchmarks/results/changepath.json
No targets in issue 6; these numbers show the change path is negligible next to a cycle.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ai_ops.actuators.git import commit_owned, propose_change
from ai_ops.actuators.terraform import check_terraform, write_tfvars
from ai_ops.config import GitConfig, load_config
from ai_ops.jobs.workspace import prepare_workspace

REPEATS = 20


def timed(func, repeats: int = REPEATS) -> dict[str, float]:  # type: ignore[no-untyped-def]
    samples = []
    for i in range(repeats):
        began = time.perf_counter()
        func(i)
        samples.append(time.perf_counter() - began)
    return {"median_ms": round(statistics.median(samples) * 1000, 2), "max_ms": round(max(samples) * 1000, 2),
            "runs": repeats}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(None).with_workspace(Path(tmp) / "ws")
        prepare_workspace(config, fresh=True)
        ws = config.path(".")
        subprocess.run(["git", "init", "-q", "--bare", str(Path(tmp) / "remote.git")], check=True)
        subprocess.run(["git", "remote", "add", "origin", str(Path(tmp) / "remote.git")], cwd=ws, check=True)
        subprocess.run(["git", "push", "-q", "origin", "main"], cwd=ws, check=True)
        base = {service: {name: spec.initial for name, spec in config.thresholds_for(service).items()}
                for service in config.service_names}

        def values(i: int) -> dict[str, dict[str, float]]:
            return {service: {**v, "autoscaling_cpu_target": 40.0 + i} for service, v in base.items()}

        results = {
            "check_terraform (hcl2 parse + checks)": timed(lambda i: check_terraform(config, values(i))),
            "write_tfvars (checks + atomic write)": timed(lambda i: write_tfvars(config, values(i))),
            "commit mode commit": timed(lambda i: (write_tfvars(config, values(i + 20)),
                                                   commit_owned(ws, [config.tfvars_path], f"c{i}", config.outputs.git))),
            "pr mode: commit-tree + push branch": timed(lambda i: (
                write_tfvars(config, values(i)),
                propose_change(ws, [config.tfvars_path], f"ai-ops: t{i}\n\nb", GitConfig(mode="pr"), f"t{i}", 0))),
            "pr mode: state branch push": timed(lambda i: (
                (config.models_path).mkdir(exist_ok=True),
                (config.models_path / "x.json").write_text(str(i)),
                commit_owned(ws, [config.models_path], f"s{i}", GitConfig(mode="pr")))),
        }
    out = {"benchmark": "changepath", "python": platform.python_version(), "load_avg": os.getloadavg(),
           "cpus": os.cpu_count(), "results": results}
    path = Path(__file__).parent / "results" / "changepath.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
