"""A source for replaying history: never returns data after the job's `now`; optionally cached.

`ai-ops replay` runs many jobs over a past period. Each job must see only what existed at its
time, so this wrapper clamps every request's end to `now` (set before each job) and drops any
point at or after it. For Prometheus/Grafana the whole period is fetched once per service
(`prefetch`) and each job gets a slice, instead of re-querying the server some 100 times.
A simulated service is not cached: its autoscaler follows the thresholds the replay writes.
"""

from __future__ import annotations

from ai_ops.config import ServiceConfig
from ai_ops.metrics import ServiceMetrics, grid
from ai_ops.sources.base import MetricSource


class ReplaySource:
    """Wraps a source; `now` is the replayed job's time: nothing at or after it is ever returned."""

    def __init__(self, inner: MetricSource, now: float, cache: bool) -> None:
        self.inner = inner
        self.now = now
        self.cache = cache
        self._cached: dict[str, ServiceMetrics] = {}
        self.requests = 0
        """Fetches that reached the wrapped source (a benchmark and test counter)."""

    def prefetch(self, service: ServiceConfig, start: float, end: float, step: int) -> ServiceMetrics:
        """Fetch [start, end) once; later fetches inside it are served from memory."""
        self.requests += 1
        metrics = self.inner.fetch(service, start, end, step)
        if self.cache:
            self._cached[service.name] = metrics
        return metrics

    def fetch(self, service: ServiceConfig, start: float, end: float, step: int) -> ServiceMetrics:
        end = min(end, self.now)
        cached = self._cached.get(service.name)
        if cached is not None and cached.step == step and cached.timestamps.size:
            wanted = grid(start, end, step)
            if not wanted.size or (wanted[0] >= cached.timestamps[0] and wanted[-1] <= cached.timestamps[-1]):
                return cached.slice(start, end)
        self.requests += 1
        metrics = self.inner.fetch(service, start, end, step)
        return metrics.slice(start, end)  # a source that overshoots is cut at `now` too
