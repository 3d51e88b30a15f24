"""The source interface: every stage after OBSERVE sees only `ServiceMetrics`."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ai_ops.config import ServiceConfig
from ai_ops.metrics import METRICS, ServiceMetrics, grid


class MetricSource(Protocol):
    """Fetches a service's metrics for [start, end) on a `step`-second grid.

    A metric that cannot be fetched comes back as NaN with its reason in
    `ServiceMetrics.errors`; a source that cannot be reached at all raises `SourceError`.
    """

    def fetch(self, service: ServiceConfig, start: float, end: float, step: int) -> ServiceMetrics: ...


def unavailable(service: str, start: float, end: float, step: int, reason: str) -> ServiceMetrics:
    """What a cycle sees of a service whose source could not be reached: every metric NaN, with the reason."""
    timestamps = grid(start, end, step)
    return ServiceMetrics(service, timestamps, step, {m: np.full(timestamps.shape, np.nan) for m in METRICS},
                          dict.fromkeys(METRICS, reason))
