"""The embedded default: the simulated service behind the same interface as Prometheus."""

from __future__ import annotations

from ai_ops.config import ServiceConfig
from ai_ops.metrics import ServiceMetrics
from ai_ops.sim.service import Incident, TargetTimeline, incidents_between, simulate


class SimulatedSource:
    """Serves `sim` metrics; the autoscaler follows `cpu_target`, the target deployed at each moment."""

    def __init__(self, cpu_target: TargetTimeline) -> None:
        self.cpu_target = cpu_target

    def fetch(self, service: ServiceConfig, start: float, end: float, step: int) -> ServiceMetrics:
        window = simulate(service.simulation, start, end, step, self.cpu_target)
        return ServiceMetrics(service.name, window.timestamps, step, window.metrics)

    def incidents(self, service: ServiceConfig, start: float, end: float) -> list[Incident]:
        """Ground truth, only a simulation has it: used by the demo to score detection."""
        return incidents_between(service.simulation, start, end)
