"""History with known incidents for replay tests and the replay benchmark: the simulator's metrics
for three services (one seed each), written into a real Prometheus with promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sources_helpers import GAUGES, STEP, PrometheusServer, start_prometheus

from ai_ops.config import QueriesConfig, SimulationConfig
from ai_ops.metrics import METRICS
from ai_ops.sim.service import Incident, constant_target, simulate

SERVICES = {"checkout": 11, "search": 12, "payments": 13}
"""Service -> simulation seed (each seed injects its own incidents)."""
QUERIES = QueriesConfig(**{m: f'{GAUGES[m]}{{service="{{service}}"}}' for m in METRICS})


CHUNK = 86_400
"""promtool rescans its whole input once per 2-hour block, so weeks of history are backfilled one
file per day (each scanned 12 times) instead of one file scanned hundreds of times."""


def history(first: float, end: float) -> tuple[list[list[str]], dict[str, list[Incident]]]:
    """OpenMetrics lines for [first, end), one list per day, and the incidents each service carries."""
    windows = {name: simulate(SimulationConfig(seed=seed), first, end, STEP, constant_target(70.0))
               for name, seed in SERVICES.items()}
    incidents = {name: window.incidents for name, window in windows.items()}
    chunks: list[list[str]] = []
    for day_start in range(int(first // CHUNK * CHUNK), int(end), CHUNK):
        lines: list[str] = []
        for metric, gauge in GAUGES.items():
            lines.append(f"# TYPE {gauge} gauge\n")
            for name, window in windows.items():
                keep = (window.timestamps >= day_start) & (window.timestamps < day_start + CHUNK)
                for ts, value in zip(window.timestamps[keep], window.metrics[metric][keep], strict=True):
                    lines.append(f'{gauge}{{service="{name}"}} {float(value)!r} {int(ts)}\n')
        chunks.append(lines)
    return chunks, incidents


def backfill_days(chunks: list[list[str]], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    for i, lines in enumerate(chunks):
        source = folder / f"day{i}.om"
        source.write_text("".join(lines) + "# EOF\n")
        result = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(source), str(data)],
                                check=False, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"promtool failed: {result.stderr[-2000:]}")
        source.unlink()
    return data


def start_with_history(folder: Path, first: float, end: float) -> tuple[PrometheusServer, dict[str, list[Incident]]]:
    chunks, incidents = history(first, end)
    server = start_prometheus(backfill_days(chunks, folder), folder, first)
    return server, incidents


def config_yaml(workspace: Path) -> str:
    services = "\n".join(
        f"  - name: {name}\n    source: prometheus\n    queries:\n"
        + "".join(f"      {m}: '{q}'\n" for m, q in QUERIES.model_dump().items())
        for name in SERVICES)
    return f"services:\n{services}outputs:\n  workspace: {workspace}\n"

