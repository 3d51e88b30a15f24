"""EWMA control chart: exponentially weighted mean and variance, k-sigma limits.

mean_t = mean_{t-1} + a d_t and var_t = (1 - a)(var_{t-1} + a d_t^2), with
d_t = x_t - mean_{t-1} and a = 2 / (span + 1). A point is judged by z_t = d_t / sqrt(var_{t-1});
the raw surprise is how far |z_t| exceeds the k-sigma limit. Both recursions are linear
filters, so they run in C through scipy.signal.lfilter (no per-point Python loop).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ai_ops.detectors.base import CalibratedDetector, CalibrationSettings, excess
from ai_ops.detectors.calibration import ew_filter
from ai_ops.detectors.zscore import spread_floor


def ewma_zscore(values: np.ndarray, alpha: float, mean: float | None, var: float) -> tuple[np.ndarray, float, float]:
    """z of each point against the EWMA before it, and the final (mean, var). No NaNs in."""
    if mean is None:
        mean = float(values[0])
    means = ew_filter(values, alpha, mean)
    mean_before = np.concatenate([[mean], means[:-1]])
    diff = values - mean_before
    variances = ew_filter(diff * diff, alpha, var / (1.0 - alpha)) * (1.0 - alpha)
    var_before = np.concatenate([[var], variances[:-1]])
    z = diff / (np.sqrt(var_before) + spread_floor(mean_before))
    return z, float(means[-1]), float(variances[-1])


class EWMADetector(CalibratedDetector):
    name = "ewma"

    def __init__(self, span: int = 20, k_sigma: float = 3.0, calibration: CalibrationSettings | None = None) -> None:
        super().__init__(calibration)
        self.span = span
        self.k_sigma = k_sigma
        self.alpha = 2.0 / (span + 1.0)
        self.mean_: float | None = None
        self.var_: float = 0.0
        self.count_: int = 0

    def _reset_stream(self) -> None:
        self.mean_, self.var_, self.count_ = None, 0.0, 0

    def _raw_points(self, timestamps: np.ndarray, new: np.ndarray) -> np.ndarray:
        z, self.mean_, self.var_ = ewma_zscore(new, self.alpha, self.mean_, self.var_)
        raw = excess(z, self.k_sigma)
        # The variance needs a few points before z means anything.
        warmup = self.count_ + np.arange(new.size) < max(3, self.span // 4)
        raw[warmup] = np.nan
        self.count_ += int(new.size)
        return raw

    def _own_state(self) -> dict[str, Any]:
        return {"mean": self.mean_, "var": self.var_, "count": self.count_}

    def _set_own_state(self, state: dict[str, Any]) -> None:
        self.mean_ = None if state["mean"] is None else float(state["mean"])
        self.var_, self.count_ = float(state["var"]), int(state["count"])
