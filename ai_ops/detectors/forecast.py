"""Forecast residual: how far is a point from what the series' own recent past predicted?

Why: the z-score, EWMA and window shift ask "is this value unusual?", the GMM "is this value
unusual at this time of day?". None asks "is this value unusual *given the last few
points*?", so a contextual anomaly (a value that is normal in level but breaks the series'
short-term dynamics, e.g. a missing daily peak or a flat stretch in a noisy series) goes
unseen. This member forecasts each point from the point one season (a day) earlier,
x_hat_t = a + b x_{t-season} (seasonal naive with a fitted level and gain), optionally plus
the previous `order` points (a short autoregression; default 0), fitted by least squares at
each daily refit. Without two days of training history there is no season to use and the
forecast falls back to a + b x_{t-1} (naive). Raw surprise = how far |residual| / residual spread exceeds
`threshold`, log-compressed like the other members.

Causal: a point is predicted from earlier points only. Lags are matched by time (the
series' median step), so a gap does not shift the season; a point whose lagged value is
missing gets no opinion (NaN), as does an untrained member. Streaming state: the last day of
(timestamp, value) pairs and the fitted coefficients (plain JSON).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ai_ops.detectors.base import CalibratedDetector, CalibrationSettings, FitReport, excess, insufficient
from ai_ops.detectors.zscore import MAD_TO_SIGMA, spread_floor

DAY = 86400.0
MIN_SAMPLES = 48


def lagged_values(times: np.ndarray, values: np.ndarray, at: np.ndarray, lag_seconds: float,
                  step: float) -> np.ndarray:
    """values at (at - lag_seconds), matched by time within half a step; NaN where that point is missing.

    By time, not by position, so a gap does not shift the season (a 30-point gap would
    otherwise compare 14:00 with yesterday's 11:30).
    """
    if times.size == 0:
        return np.full(at.shape, np.nan)
    wanted = at - lag_seconds
    idx = np.clip(np.searchsorted(times, wanted), 1, max(times.size - 1, 1))
    left = np.maximum(idx - 1, 0)
    nearest = np.where(np.abs(times[left] - wanted) <= np.abs(times[idx] - wanted), left, idx)
    return np.where(np.abs(times[nearest] - wanted) <= step / 2.0, values[nearest], np.nan)


def design(times: np.ndarray, values: np.ndarray, at: np.ndarray, lags: list[int], step: float) -> np.ndarray:
    """(len(at), 1 + len(lags)): an intercept column and each lag's value (NaN if missing)."""
    cols = [np.ones(at.size)] + [lagged_values(times, values, at, lag * step, step) for lag in lags]
    return np.column_stack(cols)


class ForecastDetector(CalibratedDetector):
    name = "forecast"

    def __init__(self, order: int = 0, threshold: float = 3.0, seasonal: bool = True,
                 calibration: CalibrationSettings | None = None) -> None:
        super().__init__(calibration)
        self.order = order
        self.threshold = threshold
        self.seasonal = seasonal
        self.lags_: list[int] = []
        self.coef_: list[float] = []
        self.intercept_: float = 0.0
        self.spread_: float = 1.0
        self.step_: float = 0.0
        self.buffer_: list[float] = []
        self.buffer_times_: list[float] = []

    def _learn(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        """Least-squares AR(order) (+ one-season lag) on the training history; robust residual spread."""
        keep = np.isfinite(values)
        t, v = np.asarray(timestamps, dtype=float)[keep], np.asarray(values, dtype=float)[keep]
        if v.size < MIN_SAMPLES:
            return insufficient(int(v.size), MIN_SAMPLES)
        lags = list(range(1, self.order + 1))
        step = float(np.median(np.diff(t))) if t.size > 1 else 0.0
        if step <= 0:
            return insufficient(0, MIN_SAMPLES)
        season = int(round(DAY / step))
        if self.seasonal and self.order < season and t[-1] - t[0] >= 2 * DAY:
            lags.append(season)
        lags = lags or [1]  # no season to use and order 0: the naive (last value) forecast
        x = design(t, v, t, lags, step)
        rows = np.isfinite(x).all(axis=1)
        if rows.sum() < MIN_SAMPLES:
            return insufficient(int(rows.sum()), MIN_SAMPLES)
        x, y = x[rows], v[rows]
        # Scale columns so the solve is well conditioned on large-valued series (bytes, counts).
        scale = np.maximum(np.abs(x).max(axis=0), 1e-12)
        coef, *_ = np.linalg.lstsq(x / scale, y, rcond=None)
        coef = coef / scale
        residual = y - x @ coef
        spread = MAD_TO_SIGMA * float(np.median(np.abs(residual - np.median(residual))))
        self.lags_, self.intercept_, self.coef_ = lags, float(coef[0]), [float(c) for c in coef[1:]]
        self.step_ = step
        floor = float(spread_floor(np.array(np.median(v))))
        self.spread_ = max(spread if spread > 0 else float(np.std(residual)), floor)
        return FitReport(int(v.size), True)

    def _reset_stream(self) -> None:
        self.buffer_, self.buffer_times_ = [], []

    def _raw_points(self, new_t: np.ndarray, new: np.ndarray) -> np.ndarray:
        if not self.lags_:
            return np.full(new.shape, np.nan)  # untrained: no opinion
        times = np.concatenate([np.asarray(self.buffer_times_, dtype=float), new_t])
        joined = np.concatenate([np.asarray(self.buffer_, dtype=float), new])
        x = design(times, joined, new_t, self.lags_, self.step_)
        forecast = x @ np.concatenate([[self.intercept_], self.coef_])
        keep = times >= new_t[-1] - (max(self.lags_) + 0.5) * self.step_
        self.buffer_times_ = times[keep].tolist()
        self.buffer_ = joined[keep].tolist()
        return excess((new - forecast) / self.spread_, self.threshold)  # NaN where a lag is missing

    def _own_state(self) -> dict[str, Any]:
        return {"lags": self.lags_,
                "coef": self.coef_, "intercept": self.intercept_, "spread": self.spread_, "step": self.step_,
                "buffer": self.buffer_, "buffer_times": self.buffer_times_}

    def _set_own_state(self, state: dict[str, Any]) -> None:
        self.lags_ = list(map(int, state["lags"]))
        self.coef_ = list(map(float, state["coef"]))
        self.intercept_, self.spread_ = float(state["intercept"]), float(state["spread"])
        self.step_ = float(state["step"])
        self.buffer_ = list(map(float, state["buffer"]))
        self.buffer_times_ = list(map(float, state["buffer_times"]))
