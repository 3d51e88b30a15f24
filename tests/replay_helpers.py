"""History with known incidents for replay tests and the replay benchmark: the simulator's metrics
for three services (one seed each), written into a real Prometheus with promtool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sources_helpers import GAUGES, STEP, PrometheusServer, backfill, start_prometheus

from ai_ops.config import QueriesConfig, SimulationConfig
from ai_ops.metrics import METRICS
from ai_ops.sim.service import Incident, constant_target, simulate

SERVICES = {"checkout": 11, "search": 12, "payments": 13}
"""Service -> simulation seed (each seed injects its own incidents)."""
QUERIES = QueriesConfig(**{m: f'{GAUGES[m]}{{service="{{service}}"}}' for m in METRICS})


def history(first: float, end: float) -> tuple[list[str], dict[str, list[Incident]]]:
    """OpenMetrics lines for [first, end) and the incidents each service carries."""
    lines: list[str] = []
    incidents: dict[str, list[Incident]] = {}
    windows = {name: simulate(SimulationConfig(seed=seed), first, end, STEP, constant_target(70.0))
               for name, seed in SERVICES.items()}
    for metric, gauge in GAUGES.items():
        lines.append(f"# TYPE {gauge} gauge\n")
        for name, window in windows.items():
            incidents[name] = window.incidents
            for ts, value in zip(window.timestamps, window.metrics[metric], strict=True):
                lines.append(f'{gauge}{{service="{name}"}} {float(value)!r} {int(ts)}\n')
    return lines, incidents


def start_with_history(folder: Path, first: float, end: float) -> tuple[PrometheusServer, dict[str, list[Incident]]]:
    lines, incidents = history(first, end)
    server = start_prometheus(backfill(lines, folder), folder, first)
    return server, incidents


def config_yaml(workspace: Path) -> str:
    services = "\n".join(
        f"  - name: {name}\n    source: prometheus\n    queries:\n"
        + "".join(f"      {m}: '{q}'\n" for m, q in QUERIES.model_dump().items())
        for name in SERVICES)
    return f"services:\n{services}outputs:\n  workspace: {workspace}\n"


def lines_iter(lines: list[str]) -> Iterator[str]:
    yield from lines
