"""The source interface: every stage after OBSERVE sees only `ServiceMetrics`."""

from __future__ import annotations

from typing import Protocol

from ai_ops.config import ServiceConfig
from ai_ops.metrics import ServiceMetrics


class MetricSource(Protocol):
    """Fetches a service's metrics for [start, end) on a `step`-second grid.

    A metric that cannot be fetched comes back as NaN with its reason in
    `ServiceMetrics.errors`; a source that cannot be reached at all raises `SourceError`.
    """

    def fetch(self, service: ServiceConfig, start: float, end: float, step: int) -> ServiceMetrics: ...
