"""Backtest a detector on one exported series: `ai-ops detect --input X.csv --output Y.csv`.

`stream_scores` is the production pattern in miniature and fully causal: the detector scores
each day as it arrives and is retrained at the end of every day on the rolling training
window (the GMM warm-started from the previous day). The first day is scored by an
untrained detector (z-score and EWMA need about 50 points to warm up; the GMM abstains).
The CSV helpers are the I/O edge: they raise ConfigError naming the bad line.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.ensemble import build_detector
from ai_ops.errors import ConfigError

DAY = 86400.0
DETECTORS = ("ensemble", "zscore", "ewma", "window_shift", "gmm", "forecast")


def stream_scores(name: str, config: AnomalyConfig, timestamps: np.ndarray, values: np.ndarray,
                  retrain_every: float = DAY) -> np.ndarray:
    """Scores of every point, causally: score a day, then retrain on the window ending there."""
    detector = build_detector(name, config)
    t = np.asarray(timestamps, dtype=float)
    v = np.asarray(values, dtype=float)
    scores = np.full(v.shape, np.nan)
    if t.size == 0:
        return scores
    window = config.gmm.training_window_days * DAY
    edges = np.searchsorted(t, np.arange(t[0] - t[0] % retrain_every + retrain_every, t[-1] + retrain_every,
                                         retrain_every))
    begin = 0
    for edge in [*edges.tolist(), t.size]:
        if edge <= begin:
            continue
        scores[begin:edge] = detector.score(t[begin:edge], v[begin:edge])
        begin = edge
        if begin < t.size:
            lo = int(np.searchsorted(t, t[begin - 1] - window))
            detector.fit(t[lo:begin], v[lo:begin])
    return scores


def _parse_time(text: str, line: int, path: Path) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{path}:{line}: timestamp '{text}' is neither epoch seconds nor ISO 8601 "
                          f"(e.g. 2024-01-31 12:00:00); fix that row") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def read_series(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(timestamp texts, epoch seconds, values) from a `timestamp,value` CSV; empty value = gap."""
    if not path.is_file():
        raise ConfigError(f"input file {path} does not exist; pass an existing CSV with --input")
    texts: list[str] = []
    seconds: list[float] = []
    values: list[float] = []
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if header[:2] != ["timestamp", "value"]:
            raise ConfigError(f"{path}: the header must be 'timestamp,value' (found '{','.join(header)}')")
        for line, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 2:
                raise ConfigError(f"{path}:{line}: expected 'timestamp,value', found '{','.join(row)}'")
            t = _parse_time(row[0], line, path)
            cell = row[1].strip()
            try:
                value = float(cell) if cell and cell.lower() not in ("nan", "null", "none") else math.nan
            except ValueError:
                raise ConfigError(f"{path}:{line}: value '{cell}' is not a number (leave it empty for a gap)") from None
            if seconds and t <= seconds[-1]:
                raise ConfigError(f"{path}:{line}: timestamp {row[0].strip()} is not after the previous row; "
                                  f"sort the file by time and remove duplicates")
            texts.append(row[0].strip())
            seconds.append(t)
            values.append(value)
    if not values:
        raise ConfigError(f"{path}: no data rows after the header")
    return texts, np.asarray(seconds), np.asarray(values)


def write_scores(path: Path, texts: list[str], scores: np.ndarray) -> None:
    """`timestamp,anomaly_score`, one row per input row (empty score for a gap); atomic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["timestamp", "anomaly_score"])
            for text, score in zip(texts, scores):
                writer.writerow([text, "" if not np.isfinite(score) else repr(float(score))])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def detect_file(config: AnomalyConfig, input_path: Path, output_path: Path, detector: str = "ensemble") -> int:
    """Score `input_path` with `detector` into `output_path`; the number of rows written."""
    if detector not in DETECTORS:
        raise ConfigError(f"unknown detector '{detector}': use one of {', '.join(DETECTORS)}")
    if output_path.resolve() == input_path.resolve():
        raise ConfigError(f"--output {output_path} is the input file; choose another path")
    texts, seconds, values = read_series(input_path)
    scores = stream_scores(detector, config, seconds, values)
    write_scores(output_path, texts, scores)
    return len(texts)
