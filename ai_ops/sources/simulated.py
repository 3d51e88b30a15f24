"""The embedded default: the simulated service behind the same interface as Prometheus."""

from __future__ import annotations

from ai_ops.config import ServiceConfig
from ai_ops.metrics import ServiceMetrics
from ai_ops.sim.service import Incident, TargetTimeline, incidents_between, simulate


class SimulatedSource:
    """Serves `sim` metrics; the autoscaler follows `cpu_target`, the target deployed at each moment."""

    def __init__(self, cpu_target: TargetTimeline | dict[str, TargetTimeline],
                 latency_objective_ms: float | None = None) -> None:
        self.cpu_target = cpu_target
        self.latency_objective_ms = latency_objective_ms

    def timeline(self, service: str) -> TargetTimeline:
        """The scaling target deployed for `service` (one timeline may serve every service)."""
        if isinstance(self.cpu_target, dict):
            return self.cpu_target[service]
        return self.cpu_target

    def fetch(self, service: ServiceConfig, start: float, end: float, step: int) -> ServiceMetrics:
        """The six metrics, plus the exact SLI series (`sli_total`, `sli_good`) when the source knows
        the latency objective: what a latency histogram's buckets and an error counter would give."""
        window = simulate(service.simulation, start, end, step, self.timeline(service.name),
                          latency_objective_ms=self.latency_objective_ms)
        return ServiceMetrics(service.name, window.timestamps, step, window.metrics)

    def incidents(self, service: ServiceConfig, start: float, end: float) -> list[Incident]:
        """Ground truth, only a simulation has it: used by the demo to score detection."""
        return incidents_between(service.simulation, start, end)
