"""The value every source returns and every stage reads: a service's metrics on one time grid."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

METRICS: tuple[str, ...] = (
    "request_rate",
    "cpu_utilization",
    "latency_p95_ms",
    "error_rate",
    "replicas",
    "cost_per_hour",
)
"""Units: req/s, percent, milliseconds, percent of requests, count, currency per hour."""

SLI_METRICS: tuple[str, ...] = ("sli_total", "sli_good")
"""Optional series of the exact request-based SLI, both in req/s: all requests, and the good ones
(at or under the latency objective's histogram bucket and not failed). A source that has them
adds them to `ServiceMetrics.values`; detectors never score them (they are the SLI, not a signal)."""


@dataclass(frozen=True)
class ServiceMetrics:
    """Metrics of one service aligned on `timestamps` (epoch seconds, every `step` s); gaps are NaN."""

    service: str
    timestamps: np.ndarray
    step: int
    values: dict[str, np.ndarray]
    errors: dict[str, str] = field(default_factory=dict)
    """Metric name -> why it could not be fetched (its values are then all NaN)."""
    rejected: dict[str, str] = field(default_factory=dict)
    """Metric name -> why some of its values were not believable (non-finite, negative, beyond the
    physical range); those points are NaN and the series is unusable for decisions this window."""

    def __post_init__(self) -> None:
        for name, series in self.values.items():
            if series.shape != self.timestamps.shape:
                raise ValueError(f"{self.service}/{name}: {series.shape} values for {self.timestamps.shape} timestamps")

    def __getitem__(self, metric: str) -> np.ndarray:
        return self.values[metric]

    @property
    def start(self) -> float:
        return float(self.timestamps[0]) if self.timestamps.size else float("nan")

    @property
    def end(self) -> float:
        """End of the window (exclusive): one step past the last grid point."""
        return float(self.timestamps[-1]) + self.step if self.timestamps.size else float("nan")

    def slice(self, start: float, end: float) -> ServiceMetrics:
        keep = (self.timestamps >= start) & (self.timestamps < end)
        return ServiceMetrics(
            self.service, self.timestamps[keep], self.step, {k: v[keep] for k, v in self.values.items()}, self.errors,
            self.rejected,
        )


def grid(start: float, end: float, step: int) -> np.ndarray:
    """The step-aligned grid covering [start, end)."""
    first = np.ceil(start / step) * step
    return np.arange(first, end, step, dtype=np.float64)
