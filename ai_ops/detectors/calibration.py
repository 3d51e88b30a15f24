"""Turn a detector's raw surprise into a calibrated score that means the same on every series.

Why: a raw |z| of 4 is rare on a flat CPU series and common on a bursty request count. We
therefore judge each raw value against that series' own recent history of raw values
(an exponentially weighted mean and variance, like HTM's "anomaly likelihood"), average
it over a few points so one noisy point is not an incident, and express the result as a
surprisal S = -log10(tail probability). Then a burst filter keeps only the start of an
incident (a page), and `to_score` maps S to [0, 1) without saturating at exactly 1.0.

Everything here is a pure numpy function of (values, state) -> (result, new state), so
scoring in chunks gives the same answer as scoring in one go, and state is plain JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.signal import lfilter
from scipy.special import log_ndtr

SCORE_SCALE = float(np.log1p(4.0)) / 99.0  # so that S = 4 (p = 1e-4) scores 0.99
LN10 = np.log(10.0)
LN2 = np.log(2.0)


def ew_filter(x: np.ndarray, alpha: float, last: float | None) -> np.ndarray:
    """y_t = (1 - alpha) y_{t-1} + alpha x_t, started at `last` (or at x_0 when None)."""
    if x.size == 0:
        return x.astype(float)
    start = float(x[0]) if last is None else float(last)
    y, _ = lfilter([alpha], [1.0, -(1.0 - alpha)], x, zi=[(1.0 - alpha) * start])
    return np.asarray(y, dtype=float)


def to_score(surprisal: np.ndarray) -> np.ndarray:
    """S >= 0 -> L / (L + c) with L = ln(1 + S): monotone in [0, 1), S = 4 (p = 1e-4) -> 0.99.

    The log keeps astronomically rare points (S = 1e11 on a constant series) distinct and
    below 1.0, so a threshold can still rank them. NaN stays NaN.
    """
    s = np.minimum(np.maximum(surprisal, 0.0), 1e300)
    with np.errstate(invalid="ignore"):
        log_s = np.log1p(s)
        return log_s / (log_s + SCORE_SCALE)


@dataclass
class Calibrator:
    """Raw surprise -> surprisal against the series' own history of raw surprise."""

    long_span: int = 1000
    short_window: int = 3
    min_history: int = 48
    mean_: float | None = None
    sq_mean_: float | None = None
    seen_: int = 0
    recent_: list[float] = field(default_factory=list)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Surprisal of each finite raw value; NaN where raw is NaN. Advances the state.

        Runs once per member per series each cycle on a few dozen points, where numpy's per-call cost is
        most of the time: the usual case (no gap, a full short window, past min_history) skips the steps
        that cannot change a value there; every value is made by the same operations as in the general case.
        """
        finite = np.isfinite(raw)
        whole = raw.ndim == 1 and bool(finite.all())
        r = raw if whole else raw[finite]
        if r.size == 0:
            return np.full(raw.shape, np.nan)
        # Short-term average over the last `short_window` raw values (this one included).
        window = self.short_window
        k = len(self.recent_)
        joined = np.concatenate([np.asarray(self.recent_, dtype=float), r])
        csum = np.empty(joined.size + 1)
        csum[0] = 0.0
        np.cumsum(joined, out=csum[1:])
        full = k + 1 >= window
        if full:  # the usual case: every window is full, so slices, not gathers
            short = (csum[k + 1:] - csum[k + 1 - window: csum.size - window]) / window
        else:
            idx = np.arange(k, k + r.size)
            lo = np.maximum(idx + 1 - window, 0)
            short = (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)
        # Long-term mean / variance of raw values *before* each point (EW, span long_span): one
        # filter pass over both rows, each row started at its own state (ew_filter, twice at once).
        alpha = 2.0 / (self.long_span + 1.0)
        start_mean = self.mean_ if self.mean_ is not None else float(r[0])
        start_sq = self.sq_mean_ if self.sq_mean_ is not None else float(r[0]) ** 2
        rows = np.empty((2, r.size), dtype=r.dtype)  # what np.vstack([r, r * r]) makes
        rows[0] = r
        np.multiply(r, r, out=rows[1])
        before = np.empty((2, r.size + 1))
        before[:, 0] = start_mean, start_sq
        before[:, 1:], _ = lfilter([alpha], [1.0, -(1.0 - alpha)], rows, axis=-1,
                                   zi=[[(1.0 - alpha) * start_mean], [(1.0 - alpha) * start_sq]])
        mean_before, sq_before = before[0, :-1], before[1, :-1]
        var = np.maximum(sq_before - mean_before**2, 0.0)
        sd = np.sqrt(var) + 1e-3 * (np.abs(mean_before) + 1e-3)
        z = (short - mean_before) / sd
        # The short average of n points has a smaller spread than one point: sd / sqrt(n).
        # (Full windows: n = short_window everywhere; math.sqrt is the same correctly rounded root.)
        z = z * (math.sqrt(window) if full else np.sqrt(np.minimum(idx + 1 - lo, window)))
        # One-sided (only *more* surprise than usual counts), 0 at or below the usual level
        # (z <= 0 gives a tail probability >= 1/2, so the tail function runs only on the rest).
        surprisal = np.zeros(r.size)
        above = ~(z <= 0)  # NaN stays NaN
        surprisal[above] = np.maximum(-(log_ndtr(-z[above]) + LN2) / LN10, 0.0)
        if self.seen_ < self.min_history:
            seen = self.seen_ + np.arange(r.size)
            surprisal[seen < self.min_history] = 0.0
        self.mean_, self.sq_mean_ = float(before[0, -1]), float(before[1, -1])
        self.seen_ += int(r.size)
        self.recent_ = joined[-max(window - 1, 0):].tolist() if window > 1 else []
        if whole:
            return surprisal
        out = np.full(raw.shape, np.nan)
        out[finite] = surprisal
        return out

    def learned_state(self) -> dict[str, Any]:
        """What was learned; the settings come from the config."""
        return {"mean": self.mean_, "sq_mean": self.sq_mean_, "seen": self.seen_, "recent": self.recent_}

    @classmethod
    def from_state(cls, long_span: int, short_window: int, min_history: int, state: dict[str, Any]) -> Calibrator:
        return cls(long_span, short_window, min_history,
                   state["mean"], state["sq_mean"], int(state["seen"]), list(map(float, state["recent"])))


def _steady(calibrator: Calibrator) -> bool:
    """Past its warm-up: a full short window of earlier values, a running mean, min_history seen."""
    return (calibrator.short_window > 1 and len(calibrator.recent_) == calibrator.short_window - 1
            and calibrator.mean_ is not None and calibrator.sq_mean_ is not None
            and calibrator.seen_ >= calibrator.min_history)


def transform_rows(calibrators: list[Calibrator], raw: np.ndarray) -> np.ndarray:
    """Row i of `raw` (k, n) through `calibrators[i].transform`, the same numbers and the same new states.

    Why: the ensemble calibrates each of its members' raw surprise on the few dozen points of a cycle, where
    numpy's per-call cost is most of the time. The rows of steady calibrators with the same settings and no
    gap in their row are done together: every operation is elementwise along a row (the filter runs each row
    by itself, cumsum adds along each row in order), so each value comes from the same operations on the
    same numbers as `transform` of that row alone. Any other row goes through `transform`.
    """
    out = np.empty(raw.shape)
    whole = np.isfinite(raw).all(axis=1) if raw.shape[1] else np.zeros(raw.shape[0], dtype=bool)
    first = next((c for i, c in enumerate(calibrators) if whole[i] and _steady(c)), None)
    group = [i for i, c in enumerate(calibrators) if first is not None and whole[i] and _steady(c)
             and (c.long_span, c.short_window, c.min_history) == (first.long_span, first.short_window,
                                                                 first.min_history)]
    for i, calibrator in enumerate(calibrators):
        if i not in group:
            out[i] = calibrator.transform(raw[i])
    if not group:
        return out
    assert first is not None
    chosen = [calibrators[i] for i in group]
    m, n = len(group), raw.shape[1]
    r = raw[group]
    window = first.short_window
    k = window - 1
    joined = np.empty((m, k + n))
    joined[:, :k] = [c.recent_ for c in chosen]
    joined[:, k:] = r
    csum = np.empty((m, k + n + 1))
    csum[:, 0] = 0.0
    np.cumsum(joined, axis=1, out=csum[:, 1:])
    short = (csum[:, k + 1:] - csum[:, k + 1 - window: csum.shape[1] - window]) / window
    alpha = 2.0 / (first.long_span + 1.0)
    starts = [c.mean_ for c in chosen] + [c.sq_mean_ for c in chosen]
    rows = np.empty((2 * m, n), dtype=r.dtype)  # as transform's rows
    rows[:m] = r
    np.multiply(r, r, out=rows[m:])
    before = np.empty((2 * m, n + 1))
    before[:, 0] = starts
    before[:, 1:], _ = lfilter([alpha], [1.0, -(1.0 - alpha)], rows, axis=-1,
                               zi=[[(1.0 - alpha) * start] for start in starts])  # type: ignore[operator]
    mean_before, sq_before = before[:m, :-1], before[m:, :-1]
    var = np.maximum(sq_before - mean_before**2, 0.0)
    sd = np.sqrt(var) + 1e-3 * (np.abs(mean_before) + 1e-3)
    z = (short - mean_before) / sd
    z = z * math.sqrt(window)
    surprisal = np.zeros((m, n))
    above = ~(z <= 0)
    surprisal[above] = np.maximum(-(log_ndtr(-z[above]) + LN2) / LN10, 0.0)
    out[group] = surprisal
    for j, c in enumerate(chosen):
        c.mean_, c.sq_mean_ = float(before[j, -1]), float(before[m + j, -1])
        c.seen_ += n
        c.recent_ = joined[j, -k:].tolist()
    return out


@dataclass
class BurstFilter:
    """Keep the start of an incident: a point scores fully only if it beats the recent peak.

    Why: only the first alert of an incident is useful; every further alert is another page.
    A point whose surprisal does not exceed the highest of the previous `hold` points is
    damped by `damping` (so a plateau of high scores becomes one burst).
    """

    hold: int = 60
    damping: float = 0.1
    recent_: list[float] = field(default_factory=list)

    def transform(self, surprisal: np.ndarray) -> np.ndarray:
        out = surprisal.copy()
        finite = np.isfinite(surprisal)
        s = surprisal[finite]
        if s.size == 0 or self.hold <= 0:
            return out
        k = len(self.recent_)
        joined = np.concatenate([np.asarray(self.recent_, dtype=float), s])
        # Max over the `hold` points strictly before each point of `s`.
        if k >= self.hold >= s.size:
            # The usual case (a cycle: a full memory, fewer new points than `hold`): point j's window is the
            # memory from j on, then the new points before j. A max is the same whatever the order it is taken
            # in, so a running max from each end gives each window's max (NaN wherever the window has one).
            memory = joined[k - self.hold: k]
            from_here = np.maximum.accumulate(memory[::-1])[::-1][:s.size]
            so_far = np.concatenate([[-np.inf], np.maximum.accumulate(s)[:-1]])
            before = np.maximum(from_here, so_far)
        else:
            padded = np.concatenate([np.full(self.hold, -np.inf), joined])
            windows = np.lib.stride_tricks.sliding_window_view(padded[k: k + s.size + self.hold - 1], self.hold)
            before = windows.max(axis=1)
        damped = np.where(s > before, s, s * self.damping)
        out[finite] = damped
        self.recent_ = joined[-self.hold:].tolist()
        return out

    def learned_state(self) -> dict[str, Any]:
        """What was learned; the settings come from the config."""
        return {"recent": self.recent_}

    @classmethod
    def from_state(cls, hold: int, damping: float, state: dict[str, Any]) -> BurstFilter:
        return cls(hold, damping, list(map(float, state["recent"])))
