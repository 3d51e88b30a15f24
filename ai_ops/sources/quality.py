"""Data quality per series: the controller never acts on stale, sparse or missing data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ai_ops.config import DataQualityConfig
from ai_ops.metrics import METRICS, ServiceMetrics


@dataclass(frozen=True)
class SeriesQuality:
    metric: str
    samples: int
    expected: int
    coverage: float
    staleness_minutes: float
    usable: bool
    reason: str


def screen(metrics: ServiceMetrics, rules: DataQualityConfig) -> ServiceMetrics:
    """Values that cannot be physical (infinite, negative, beyond `rules.max_value`) become gaps.

    The series keeps its name and the reason in `rejected`, so `assess` marks it unusable: the
    learner never acts on a window with a value nobody can believe, and no detector fits on it.
    """
    values: dict[str, np.ndarray] = {}
    rejected = dict(metrics.rejected)
    for name, raw in metrics.values.items():
        series = np.asarray(raw, dtype=np.float64)
        top = rules.max_value.get(name, np.inf)
        with np.errstate(invalid="ignore"):
            infinite = np.isinf(series)
            negative = series < 0
            huge = np.isfinite(series) & (series > top)
        bad = infinite | negative | huge
        if bad.any():
            parts = [f"{int(n)} {what}" for n, what in ((infinite.sum(), "infinite"), (negative.sum(), "negative"),
                                                        (huge.sum(), f"above {top:g}")) if n]
            rejected[name] = (f"{', '.join(parts)} value(s) outside the physical range [0, {top:g}] "
                              f"(data_quality.max_value.{name})")
            series = np.where(bad, np.nan, series)
        values[name] = series
    return ServiceMetrics(metrics.service, metrics.timestamps, metrics.step, values, metrics.errors, rejected)


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
        elif name in metrics.rejected:
            reason = f"not believable: {metrics.rejected[name]}"
        elif samples == 0:
            reason = "no samples"
        elif coverage < rules.min_coverage:
            reason = f"coverage {coverage:.0%} below minimum {rules.min_coverage:.0%}"
        elif staleness > rules.max_staleness_minutes:
            reason = f"stale: last sample {staleness:.0f} min old (max {rules.max_staleness_minutes:.0f})"
        out[name] = SeriesQuality(name, samples, expected, round(coverage, 4),
                                  round(staleness, 1) if np.isfinite(staleness) else float("inf"), not reason, reason)
    return out


def summarize_reasons(reasons: Mapping[str, str]) -> list[str]:
    """Each distinct reason once, with the series it affects: `reason (18 series: a (all 6 metrics), b/cpu)`.

    `reasons` maps `service/metric` to why that series is unusable; the order of first
    appearance is kept. A source that fails every query of three services gives one line, not 18.
    """
    by_reason: dict[str, list[str]] = {}
    for key, reason in reasons.items():
        by_reason.setdefault(reason, []).append(key)
    lines = []
    for reason, keys in by_reason.items():
        per_service: dict[str, list[str]] = {}
        for key in keys:
            service, _, metric = key.rpartition("/")
            per_service.setdefault(service, []).append(metric)
        names = [f"{service} (all {len(metrics)} metrics)" if set(metrics) >= set(METRICS)
                 else ", ".join(f"{service}/{m}" for m in metrics) for service, metrics in per_service.items()]
        count = f"{len(keys)} series" if len(keys) > 1 else "1 series"
        lines.append(f"{reason} ({count}: {', '.join(names)})")
    return lines
