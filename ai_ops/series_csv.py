"""The `timestamp,value` CSV edge: read by `ai-ops detect` and `ai-ops backtest`, written by `detect`.

Real exports are accepted as they come: rows out of time order are sorted, rows repeating a
timestamp (a daylight-saving hour in CloudWatch, a spreadsheet copy) are aggregated into one
point (the mean of their finite values), and each is reported as a warning with its count.
What cannot be read is a ConfigError naming `file:line` and what to do; output is written
atomically so a failed run never leaves half a file (or destroys the previous one).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ai_ops.errors import ConfigError
from ai_ops.state import atomic_write_text

GAP_WORDS = ("nan", "null", "none")


@dataclass(frozen=True)
class SeriesFile:
    texts: list[str]
    """The timestamps as written, one per input row in file order, echoed back in outputs."""
    seconds: np.ndarray
    """The distinct timestamps, increasing (what the detectors see)."""
    values: np.ndarray
    """One value per distinct timestamp: the mean of its rows' finite values, NaN for a gap."""
    rows: np.ndarray
    """For each input row (file order), the index of its point in `seconds` / `values`."""
    warnings: tuple[str, ...] = ()
    """What was repaired (sorted rows, aggregated repeats), for the caller to show."""

    def per_row(self, per_point: np.ndarray) -> np.ndarray:
        """Spread one result per point back to one per input row (repeated rows share their point's)."""
        return np.asarray(per_point)[self.rows]

    def point_text(self, index: int) -> str:
        """The timestamp of point `index` as the file wrote it (its first row)."""
        return self.texts[int(np.flatnonzero(self.rows == index)[0])]


def _parse_time(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{where}: timestamp '{text}' is neither epoch seconds nor ISO 8601 "
                          f"(e.g. 2024-01-31 12:00:00); fix that row") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def read_series(path: Path, option: str = "--input") -> SeriesFile:
    """Rows of a `timestamp,value` CSV (epoch seconds or ISO 8601); sorted and de-duplicated, with warnings."""
    if not path.is_file():
        raise ConfigError(f"input file {path} does not exist; pass an existing CSV with {option}")
    texts: list[str] = []
    seconds: list[float] = []
    values: list[float] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = [h.strip().lower() for h in next(reader, [])]
            if header[:2] != ["timestamp", "value"]:
                raise ConfigError(f"{path}: the header must be 'timestamp,value' (found '{','.join(header)}')")
            for line, row in enumerate(reader, start=2):
                if not row or not "".join(row).strip():
                    continue
                where = f"{path}:{line}"
                if len(row) < 2:
                    raise ConfigError(f"{where}: expected 'timestamp,value', found '{','.join(row)}'")
                stamp = row[0].strip()
                t = _parse_time(stamp, where)
                cell = row[1].strip()
                try:
                    value = float(cell) if cell and cell.lower() not in GAP_WORDS else math.nan
                except ValueError:
                    raise ConfigError(f"{where}: value '{cell}' is not a number (leave it empty for a gap)") from None
                texts.append(stamp)
                seconds.append(t)
                values.append(value)
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a UTF-8 text CSV file") from None
    if not values:
        raise ConfigError(f"{path}: no data rows after the header")
    return _ordered(path, texts, np.asarray(seconds), np.asarray(values))


def _ordered(path: Path, texts: list[str], seconds: np.ndarray, values: np.ndarray) -> SeriesFile:
    """Sort by time (stable) and aggregate rows sharing a timestamp; say what was done."""
    warnings: list[str] = []
    backwards = int(np.sum(np.diff(seconds) < 0))
    if backwards:
        warnings.append(f"{path}: {backwards} row(s) go back in time; the series was sorted by timestamp")
    unique, rows = np.unique(seconds, return_inverse=True)
    repeated = int(seconds.size - unique.size)
    if repeated:
        finite = np.isfinite(values)
        sums = np.bincount(rows, weights=np.where(finite, values, 0.0), minlength=unique.size)
        counts = np.bincount(rows, weights=finite.astype(float), minlength=unique.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            merged = np.where(counts > 0, sums / np.maximum(counts, 1.0), np.nan)
        shared = np.bincount(rows, minlength=unique.size) > 1
        first = texts[int(np.flatnonzero(shared[rows])[0])]
        warnings.append(f"{path}: {repeated} row(s) repeat an earlier timestamp (first at {first}); each "
                        f"timestamp's rows were averaged into one point, and every row gets that point's score")
    else:
        merged = np.empty(unique.size)
        merged[rows] = values
    return SeriesFile(texts, unique.astype(float), merged, rows.astype(np.int64), tuple(warnings))


def write_scores(path: Path, texts: list[str], scores: np.ndarray) -> None:
    """`timestamp,anomaly_score`, one row per input row (empty score for a gap)."""
    lines = ["timestamp,anomaly_score"]
    lines += [f"{text},{'' if not np.isfinite(score) else repr(float(score))}" for text, score in zip(texts, scores, strict=True)]
    atomic_write_text(path, "\n".join(lines) + "\n")
