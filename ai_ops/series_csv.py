"""The `timestamp,value` CSV edge: read by `ai-ops detect` and `ai-ops backtest`, written by `detect`.

Every bad row is a ConfigError naming `file:line` and what to do; output is written atomically
so a failed run never leaves half a file (or destroys the previous one).
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
    """The timestamps as written, echoed back in outputs."""
    seconds: np.ndarray
    values: np.ndarray
    """NaN where the row's value is empty (a gap)."""


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
    """Rows of a `timestamp,value` CSV (epoch seconds or ISO 8601), strictly increasing in time."""
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
                if seconds and t <= seconds[-1]:
                    raise ConfigError(f"{where}: timestamp {stamp} is not after the previous row; "
                                      f"sort the file by time and remove duplicates")
                texts.append(stamp)
                seconds.append(t)
                values.append(value)
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a UTF-8 text CSV file") from None
    if not values:
        raise ConfigError(f"{path}: no data rows after the header")
    return SeriesFile(texts, np.asarray(seconds), np.asarray(values))


def write_scores(path: Path, texts: list[str], scores: np.ndarray) -> None:
    """`timestamp,anomaly_score`, one row per input row (empty score for a gap)."""
    lines = ["timestamp,anomaly_score"]
    lines += [f"{text},{'' if not np.isfinite(score) else repr(float(score))}" for text, score in zip(texts, scores, strict=True)]
    atomic_write_text(path, "\n".join(lines) + "\n")
