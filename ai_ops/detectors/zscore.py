"""Rolling z-score: how far a point is from the previous `window` points, in their spreads.

Robust option (default): centre = rolling median, spread = 1.4826 x the rolling median of
the recent absolute deviations from the median (a streaming MAD), so one spike does not
inflate the spread and hide the next one. Non-robust: mean and standard deviation.
Vectorised: pandas' rolling median (skip list, O(n log w)) or cumulative sums.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ai_ops.detectors.base import CalibratedDetector, CalibrationSettings, excess

MAD_TO_SIGMA = 1.4826
MIN_POINTS = 8


def spread_floor(centre: np.ndarray) -> np.ndarray:
    """A tiny spread for zero-variance data, so a constant series gives finite z."""
    return 1e-6 * (np.abs(centre) + 1.0)


def _after_previous(x: np.ndarray) -> np.ndarray:
    """x shifted one step later (NaN first): each point sees the statistic of the points before it."""
    out = np.full(x.shape, np.nan)
    out[1:] = x[:-1]
    return out


def rolling_zscore(values: np.ndarray, window: int, robust: bool) -> np.ndarray:
    """z of each point against the `window` points before it (NaN while fewer than 8). No NaNs in."""
    s = pd.Series(values)
    if robust:
        centre_incl = s.rolling(window, min_periods=1).median().to_numpy()
        deviation = pd.Series(np.abs(values - centre_incl))
        spread = MAD_TO_SIGMA * _after_previous(deviation.rolling(window, min_periods=MIN_POINTS).median().to_numpy())
        centre = _after_previous(centre_incl)
        # Points before i in the window: min(i, window) (no NaNs in); a rolling count said the same, slower.
        centre[np.minimum(np.arange(values.size), window) < MIN_POINTS] = np.nan
    else:
        prior = s.shift(1).rolling(window, min_periods=MIN_POINTS)
        centre, spread = prior.mean().to_numpy(), prior.std(ddof=0).to_numpy()
    return (values - centre) / (spread + spread_floor(centre))


class ZScoreDetector(CalibratedDetector):
    name = "zscore"

    def __init__(self, window: int = 288, threshold: float = 3.0, robust: bool = True,
                 calibration: CalibrationSettings | None = None) -> None:
        super().__init__(calibration)
        self.window = window
        self.threshold = threshold
        self.robust = robust
        self.buffer_: list[float] = []

    def _reset_stream(self) -> None:
        self.buffer_ = []

    def _raw_points(self, timestamps: np.ndarray, new: np.ndarray) -> np.ndarray:
        # The buffer holds 2 windows: enough to recompute the deviations the spread needs.
        history = np.asarray(self.buffer_, dtype=float)
        z = rolling_zscore(np.concatenate([history, new]), self.window, self.robust)[history.size:]
        keep = 2 * self.window if self.robust else self.window
        self.buffer_ = [float(v) for v in np.concatenate([history, new])[-keep:]]
        return np.where(np.isfinite(z), excess(z, self.threshold), np.nan)

    def _own_state(self) -> dict[str, Any]:
        return {"buffer": self.buffer_}

    def _set_own_state(self, state: dict[str, Any]) -> None:
        self.buffer_ = [float(v) for v in state["buffer"]]
