"""Range-query answers on the step grid: chunking of long ranges, alignment of `matrix` results,
and counter increase/rate with resets handled. Pure numpy, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SeriesBlock:
    """Every series one query returned, aligned on one grid: values[i] belongs to labels[i]."""

    query: str
    timestamps: np.ndarray
    labels: list[dict[str, str]]
    values: np.ndarray
    nonfinite_samples: int = 0
    """Samples that were NaN or +/-Inf in Prometheus; they are kept as NaN (missing)."""


def chunk_ranges(first: float, count: int, step: int, max_points: int) -> list[tuple[float, float, int]]:
    """(start, end, offset) of each request so no request returns more than `max_points` per series."""
    return [(first + offset * step, first + (min(offset + max_points, count) - 1) * step, offset)
            for offset in range(0, count, max_points)]


def _series_key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(metric.items()))


def align(query: str, parts: Sequence[tuple[int, list[dict[str, Any]]]], timestamps: np.ndarray,
          step: int) -> SeriesBlock:
    """Turn raw `matrix` results (one per chunk, with the chunk's grid offset) into a 2-D array."""
    rows: dict[tuple[tuple[str, str], ...], np.ndarray] = {}
    labels: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    first = float(timestamps[0]) if timestamps.size else 0.0
    nonfinite = 0
    for _offset, result in parts:
        for series in result:
            metric = series.get("metric", {})
            key = _series_key(metric)
            row = rows.get(key)
            if row is None:
                row = rows[key] = np.full(timestamps.shape, np.nan)
                labels[key] = metric
            pairs = series.get("values", [])
            if not pairs:
                continue
            ts_text, vs_text = zip(*pairs, strict=True)
            ts = np.array(ts_text, dtype=np.float64)
            vs = np.array(vs_text, dtype=np.float64)  # numpy parses "NaN", "+Inf" and decimal strings
            index = np.rint((ts - first) / step).astype(np.int64)
            keep = (index >= 0) & (index < timestamps.size)
            bad = ~np.isfinite(vs)
            nonfinite += int((bad & keep).sum())
            vs[bad] = np.nan
            row[index[keep]] = vs[keep]
    keys = sorted(rows)
    values = np.vstack([rows[k] for k in keys]) if keys else np.empty((0, timestamps.size))
    return SeriesBlock(query, timestamps, [labels[k] for k in keys], values, nonfinite)


def counter_increase(values: np.ndarray) -> np.ndarray:
    """Per-step increase of a counter, with resets handled as Prometheus does.

    After a reset (the value drops), the counter restarted from zero, so the increase is the
    new value itself. NaN where either neighbour is missing; the first point is NaN.
    """
    out = np.full(values.shape, np.nan)
    if values.size < 2:
        return out
    diff = np.diff(values)
    out[1:] = np.where(diff < 0, values[1:], diff)
    return out


def counter_rate(values: np.ndarray, step: int) -> np.ndarray:
    """Per-second rate of a counter sampled every `step` seconds (resets handled)."""
    return counter_increase(values) / float(step)
