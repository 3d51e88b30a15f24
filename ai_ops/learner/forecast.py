"""Demand for the next hours, per service: what a schedule of minimum replicas is built from.

Why this model: demand is multiplicative (a busy Monday is the quiet Sunday times a factor),
so it is modelled in log space; it has a daily and a weekly cycle, so it is decomposed by
MSTL (statsmodels: STL applied once per period) into a trend, a daily and a weekly season
and a remainder. The forecast continues the trend as a level (the mean of its last hours: a
trend extrapolated 12 h ahead from two weeks of data mostly extrapolates noise) and repeats
the last cycle of each season. MSTL's robust fitting down-weights outlying hours, so a
holiday or an incident stays in the remainder instead of becoming the new normal.

The interval is empirical: quantiles of the seasonal-naive forecast's errors over the last
week (see `_interval_errors`), honest about fat tails where a Gaussian interval would not be.

Everything here is a pure function of arrays; the seasonal-naive forecast (the same hour a
day earlier) is the baseline the model must beat, and `rolling_errors` measures both on the
same origins.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

HOUR = 3600
DAY_HOURS = 24
WEEK_HOURS = 168
LEVEL_HOURS = 6
"""The trend's last hours averaged into the level carried forward."""
MIN_HISTORY_HOURS = 2 * DAY_HOURS
"""This many hours or fewer: no seasonal model can be fitted; the forecast says it fell back."""
INTERVAL = (10.0, 90.0)


@dataclass(frozen=True)
class DemandForecast:
    """Hourly mean demand for `horizon` hours from `start` (epoch seconds, on the hour)."""

    start: float
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    method: str
    """"mstl(24,168)", "mstl(24)" or "seasonal-naive" (too little history for a model)."""
    history_hours: int

    def hour_starts(self) -> np.ndarray:
        return self.start + HOUR * np.arange(self.mean.size, dtype=float)


def hourly_means(timestamps: np.ndarray, values: np.ndarray, end: float, hours: int) -> np.ndarray:
    """Mean of `values` in each of the `hours` whole hours before `end` (rounded down to the hour).

    Empty hours are filled from the same hour a day earlier, else by linear interpolation
    between known hours, so a scrape gap does not read as zero demand. Hours before the first
    or after the last known one stay NaN.
    """
    last = math.floor(end / HOUR) * HOUR
    first = last - hours * HOUR
    ts = np.asarray(timestamps, dtype=float)
    vs = np.asarray(values, dtype=float)
    keep = (ts >= first) & (ts < last) & np.isfinite(vs)
    index = ((ts[keep] - first) // HOUR).astype(np.int64)
    sums = np.bincount(index, weights=vs[keep], minlength=hours)
    counts = np.bincount(index, minlength=hours)
    out = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    for i in np.flatnonzero(~np.isfinite(out)):
        if i >= DAY_HOURS and np.isfinite(out[i - DAY_HOURS]):
            out[i] = out[i - DAY_HOURS]
    known = np.flatnonzero(np.isfinite(out))
    if known.size >= 2:  # interior gaps only: before the first and after the last known hour stays unknown
        inside = np.arange(known[0], known[-1] + 1)
        out[inside] = np.interp(inside, known, out[known])
    return out


def seasonal_naive(hourly: np.ndarray, horizon: int, season: int = DAY_HOURS) -> np.ndarray:
    """The same hour one season earlier (a day by default): the baseline to beat."""
    if hourly.size < season:
        return np.full(horizon, hourly[-1] if hourly.size else np.nan)
    last_cycle = hourly[-season:]
    return np.array([last_cycle[h % season] for h in range(horizon)], dtype=float)


def _periods(hours: int) -> tuple[int, ...]:
    """MSTL needs more than two whole cycles of a period to estimate it."""
    return (DAY_HOURS, WEEK_HOURS) if hours > 2 * WEEK_HOURS else (DAY_HOURS,)


def _decompose(log_hourly: np.ndarray, periods: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(trend, seasonal per period as columns, remainder) of the log series, by robust MSTL."""
    from statsmodels.tsa.seasonal import MSTL

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MSTL(log_hourly, periods=periods if len(periods) > 1 else periods[0],
                   stl_kwargs={"robust": True}).fit()
    seasonal = np.asarray(fit.seasonal, dtype=float).reshape(log_hourly.size, -1)
    return np.asarray(fit.trend, dtype=float), seasonal, np.asarray(fit.resid, dtype=float)


def _project(trend: np.ndarray, seasonal: np.ndarray, periods: tuple[int, ...], horizon: int) -> np.ndarray:
    level = float(np.mean(trend[-LEVEL_HOURS:]))
    ahead = np.full(horizon, level)
    for column, period in enumerate(periods):
        last_cycle = seasonal[-period:, column]
        ahead += np.array([last_cycle[h % period] for h in range(horizon)])
    return ahead


def forecast_demand(timestamps: np.ndarray, values: np.ndarray, end: float, horizon: int = 12,
                    history_days: int = 21) -> DemandForecast:
    """Forecast the hourly mean of `values` for the `horizon` hours after `end`, from `history_days`."""
    hourly = hourly_means(timestamps, values, end, history_days * DAY_HOURS)
    known = np.flatnonzero(np.isfinite(hourly))
    hourly = hourly[known[0]:] if known.size else hourly[:0]
    start = math.floor(end / HOUR) * HOUR
    # MSTL drops a period unless the series is longer than two of its cycles (and then fails with none left).
    if hourly.size <= MIN_HISTORY_HOURS or not np.isfinite(hourly).all():
        naive = seasonal_naive(hourly, horizon) if hourly.size else np.full(horizon, np.nan)
        return DemandForecast(start, naive, naive.copy(), naive.copy(), "seasonal-naive", int(hourly.size))
    log_hourly = np.log1p(np.maximum(hourly, 0.0))
    periods = _periods(hourly.size)
    trend, seasonal, _ = _decompose(log_hourly, periods)
    mean_log = _project(trend, seasonal, periods, horizon)
    errors = _interval_errors(log_hourly)
    low_q, high_q = (np.percentile(errors, INTERVAL) if errors.size else (0.0, 0.0))
    method = "mstl(" + ",".join(str(p) for p in periods) + ")"
    return DemandForecast(start, np.expm1(mean_log).clip(min=0.0), np.expm1(mean_log + low_q).clip(min=0.0),
                          np.expm1(mean_log + high_q).clip(min=0.0), method, int(hourly.size))


def _interval_errors(log_hourly: np.ndarray) -> np.ndarray:
    """Log errors of the seasonal-naive forecast over the last week: the interval's spread.

    Out of sample by construction and cheap; the model's own in-sample errors are useless
    here (with three weekly cycles the weekly season absorbs last week almost exactly). The
    naive errors are at least as wide as the model's on a daily-cycle trace, so the interval
    errs wide, which is the safe side for capacity.
    """
    recent = log_hourly[-(7 * DAY_HOURS + DAY_HOURS):]
    return recent[DAY_HOURS:] - recent[:-DAY_HOURS] if recent.size > DAY_HOURS else np.empty(0)


@dataclass(frozen=True)
class ForecastErrors:
    """Mean absolute percentage error at one horizon, model vs seasonal naive, on the same origins."""

    horizon_hours: int
    origins: int
    model_mape: float
    naive_mape: float

    @property
    def beats_naive(self) -> bool:
        return self.model_mape < self.naive_mape


def rolling_errors(timestamps: np.ndarray, values: np.ndarray, horizon: int = 6, min_history_days: int = 7,
                   every_hours: int = 6, history_days: int = 21) -> ForecastErrors:
    """MAPE of the hour `horizon` hours ahead, from origins every `every_hours` once `min_history_days` exist.

    Only what was known at each origin is used. Hours whose actual mean is ~0 are skipped
    (a percentage of nothing is undefined).
    """
    ts = np.asarray(timestamps, dtype=float)
    first_hour = math.ceil(ts.min() / HOUR) * HOUR
    last_hour = math.floor(ts.max() / HOUR) * HOUR
    total_hours = int((last_hour - first_hour) // HOUR)
    actual = hourly_means(ts, values, last_hour, total_hours)
    model_err: list[float] = []
    naive_err: list[float] = []
    origin = first_hour + min_history_days * DAY_HOURS * HOUR
    while origin + horizon * HOUR <= last_hour:
        target = actual[int((origin - first_hour) // HOUR) + horizon - 1]
        if np.isfinite(target) and abs(target) > 1e-9:
            model = forecast_demand(ts, values, origin, horizon, history_days)
            hist = hourly_means(ts, values, origin, DAY_HOURS)
            naive = seasonal_naive(hist, horizon)
            model_err.append(abs(model.mean[horizon - 1] - target) / abs(target))
            naive_err.append(abs(naive[horizon - 1] - target) / abs(target))
        origin += every_hours * HOUR
    if not model_err:
        return ForecastErrors(horizon, 0, float("nan"), float("nan"))
    return ForecastErrors(horizon, len(model_err), round(100 * float(np.mean(model_err)), 3),
                          round(100 * float(np.mean(naive_err)), 3))
