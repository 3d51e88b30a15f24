"""Window shift: is the mean of the last few points unusual for this series' long history?

Why: the z-score and EWMA judge single points against a recent window, so they adapt to a
slow change or a short burst of odd points before it stands out. Comparing the mean of a
short recent window (`window` points) with the distribution of everything *before* it
(an exponentially weighted mean and variance with a long `history_span`) catches a run of
moderately odd points (the windowed-Gaussian / KNN-CAD idea). z = (short mean - history
mean) / (history sd / sqrt(window)); the raw surprise is how far |z| exceeds `threshold`.

Streaming state: the last `window` values and three decayed sums (weight, sum, sum of
squares), so it is O(1) in the history length. The sums are first-order linear filters run
by scipy.signal.lfilter (no per-point Python loop).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.signal import lfilter

from ai_ops.detectors.base import CalibratedDetector, CalibrationSettings, excess
from ai_ops.detectors.zscore import spread_floor

MIN_HISTORY_POINTS = 30


def window_shift_z(values: np.ndarray, recent: list[float], sums: tuple[float, float, float], window: int,
                   decay: float) -> tuple[np.ndarray, np.ndarray, list[float], tuple[float, float, float]]:
    """z of each point's recent-window mean against the decayed history before that window.

    `recent` holds up to `window` earlier values (the window, and the value leaving it next); `sums` are the
    decayed (weight, sum, sum of squares) of everything older. Returns z, the history weight
    each z rests on, and the new (recent, sums). No NaNs in `values`.
    """
    joined = np.concatenate([np.asarray(recent, dtype=float), values])
    k = len(recent)
    n = values.size
    csum = np.empty(joined.size + 1)
    csum[0] = 0.0
    np.cumsum(joined, out=csum[1:])
    # The usual case (a cycle after the first: `recent` holds the whole window) takes slices where the
    # general case gathers; every value comes from the same operations on the same numbers.
    full = k >= window and n > 0
    if full:
        short = (csum[k + 1:] - csum[k + 1 - window: csum.size - window]) / window
        leaving = joined[k - window: joined.size - window]  # every step has a value leaving the window
        has_leaving: np.ndarray | None = None
    else:
        idx = np.arange(k, joined.size)
        lo = np.maximum(idx + 1 - window, 0)
        short = (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)
        # The value leaving the short window at each step (joined[j - window]) enters the history.
        leaving_idx = idx - window
        has_leaving = leaving_idx >= 0
        leaving = np.where(has_leaving, joined[np.maximum(leaving_idx, 0)], 0.0)
    if n:  # the three decayed sums in one filter pass, each row from its own start (decayed_sums, thrice)
        rows = np.empty((3, n))
        rows[0] = 1.0 if has_leaving is None else has_leaving
        rows[1] = leaving
        np.multiply(leaving, leaving, out=rows[2])
        filtered, _ = lfilter([1.0], [1.0, -decay], rows, axis=-1, zi=[[decay * start] for start in sums])
        weight, total, squares = filtered[0], filtered[1], filtered[2]
    else:
        weight = total = squares = np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / weight
        var = np.maximum(squares / weight - mean * mean, 0.0)
    sd = np.sqrt(var) + spread_floor(mean if np.isfinite(mean).all() else np.nan_to_num(mean))
    # (Full windows: every short mean has `window` points; math.sqrt is the same correctly rounded root.)
    z = (short - mean) / sd * (math.sqrt(window) if full else np.sqrt(idx + 1 - lo))
    new_recent = joined[-window:].tolist()
    return z, weight, new_recent, (float(weight[-1]), float(total[-1]), float(squares[-1]))


class WindowShiftDetector(CalibratedDetector):
    name = "window_shift"

    def __init__(self, window: int = 10, history_span: int = 8640, threshold: float = 5.0,
                 calibration: CalibrationSettings | None = None) -> None:
        super().__init__(calibration)
        self.window = window
        self.history_span = history_span
        self.threshold = threshold
        self._reset_stream()

    @property
    def decay(self) -> float:
        return 1.0 - 2.0 / (self.history_span + 1.0)

    def _reset_stream(self) -> None:
        self.recent_: list[float] = []
        self.sums_: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.seen_ = 0

    def _raw_points(self, timestamps: np.ndarray, new: np.ndarray) -> np.ndarray:
        z, _, self.recent_, self.sums_ = window_shift_z(new, self.recent_, self.sums_, self.window, self.decay)
        raw = excess(z, self.threshold)
        # Judge only once the history holds enough points to have a spread.
        history_points = self.seen_ + np.arange(new.size) + 1 - self.window
        raw[history_points < MIN_HISTORY_POINTS] = np.nan
        self.seen_ += int(new.size)
        return raw

    def _own_state(self) -> dict[str, Any]:
        return {"recent": self.recent_, "sums": list(self.sums_), "seen": self.seen_}

    def _set_own_state(self, state: dict[str, Any]) -> None:
        self.recent_ = list(map(float, state["recent"]))
        weight, total, squares = (float(v) for v in state["sums"])
        self.sums_ = (weight, total, squares)
        self.seen_ = int(state["seen"])
