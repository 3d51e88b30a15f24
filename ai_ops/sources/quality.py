"""Data quality per series: the controller never acts on stale, sparse or missing data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ai_ops.config import DataQualityConfig
from ai_ops.metrics import ServiceMetrics


@dataclass(frozen=True)
class SeriesQuality:
    metric: str
    samples: int
    expected: int
    coverage: float
    staleness_minutes: float
    usable: bool
    reason: str


def assess(metrics: ServiceMetrics, now: float, expected_start: float, rules: DataQualityConfig) -> dict[str, SeriesQuality]:
    """Quality of each metric for the window [expected_start, now)."""
    expected = max(int(np.floor((now - expected_start) / metrics.step)), 1)
    out: dict[str, SeriesQuality] = {}
    for name, values in metrics.values.items():
        present = np.isfinite(values)
        samples = int(present.sum())
        coverage = min(samples / expected, 1.0)
        last = float(metrics.timestamps[present][-1]) if samples else float("-inf")
        staleness = max((now - metrics.step - last) / 60.0, 0.0) if samples else float("inf")
        reason = ""
        if name in metrics.errors:
            reason = f"fetch failed: {metrics.errors[name]}"
        elif samples == 0:
            reason = "no samples"
        elif coverage < rules.min_coverage:
            reason = f"coverage {coverage:.0%} below minimum {rules.min_coverage:.0%}"
        elif staleness > rules.max_staleness_minutes:
            reason = f"stale: last sample {staleness:.0f} min old (max {rules.max_staleness_minutes:.0f})"
        out[name] = SeriesQuality(name, samples, expected, round(coverage, 4),
                                  round(staleness, 1) if np.isfinite(staleness) else float("inf"), not reason, reason)
    return out
