"""Range-query answers on the step grid: chunking of long ranges, alignment of `matrix` results,
and counter increase/rate with resets handled. Pure numpy, no I/O."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd


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


_VALUES_KEY = b'"values":['


def _read_pairs(spans: list[bytes]) -> np.ndarray | None:
    """`[t,"v"],[t,"v"],...` spans (matrix values without their outer brackets) as one (pairs, 2)
    float array, parsed by pandas' C CSV reader ("NaN", "+Inf", "-Inf" included); None when the
    text is anything else."""
    pairs = sum(span.count(b"[") for span in spans)
    if not pairs:
        return np.empty((0, 2))
    text = b"\n".join(span for span in spans if span).replace(b"],[", b"\n").translate(None, b'[]"')
    if text.count(b",") != pairs:
        return None
    try:
        table = pd.read_csv(io.BytesIO(text), header=None, dtype=np.float64, skip_blank_lines=False).to_numpy()
    except (ValueError, pd.errors.ParserError):
        return None
    return table if table.shape == (pairs, 2) else None


def parse_matrix(body: bytes) -> list[dict[str, Any]]:
    """The `result` list of a `query_range` answer, each series' `values` as (timestamps, values) arrays.

    A fleet query answers millions of `[t, "v"]` pairs; JSON-decoding them makes three Python
    objects a point, then numpy converts the strings one by one. Instead the `values` arrays are
    cut out of the body (in valid JSON the bytes `"values":[` can only open that key: a quote
    inside a string is escaped), the rest (labels, status) is decoded with orjson, and all the
    numbers are read in one pass as CSV. Whatever does not fit this shape exactly (another order
    of keys, a non-numeric token, counts that do not add up) is decoded in full the ordinary way.
    """
    spans: list[bytes] = []
    skeleton: list[bytes] = []
    position = 0
    while (start := body.find(_VALUES_KEY, position)) >= 0:
        open_at = start + len(_VALUES_KEY)
        close = open_at if body[open_at:open_at + 1] == b"]" else body.find(b"]]", open_at) + 1
        if close <= 0:
            return _parse_plain(body)
        skeleton += [body[position:open_at], b"]"]
        spans.append(body[open_at:close])
        position = close + 1
    skeleton.append(body[position:])
    result = orjson.loads(b"".join(skeleton))["data"]["result"]
    if not isinstance(result, list) or len(result) != len(spans) or not all(
            isinstance(series, dict) and series.get("values") == [] for series in result):
        return _parse_plain(body)
    table = _read_pairs(spans)
    if table is None:
        return _parse_plain(body)
    offset = 0
    for series, span in zip(result, spans, strict=True):
        count = span.count(b"[")
        series["values"] = (table[offset:offset + count, 0], table[offset:offset + count, 1].copy())
        offset += count
    return result


def _parse_plain(body: bytes) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = orjson.loads(body)["data"]["result"]
    return result


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
            if isinstance(pairs, tuple):  # already arrays (parse_matrix)
                ts, vs = pairs
            elif pairs:
                ts_text, vs_text = zip(*pairs, strict=True)
                ts = np.array(ts_text, dtype=np.float64)
                vs = np.array(vs_text, dtype=np.float64)  # numpy parses "NaN", "+Inf" and decimal strings
            else:
                continue
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
