"""The detector protocol: the same verbs for every detector, scikit-learn style.

- `fit(timestamps, values)` learns from history (replaces the state, or for the GMM
  refits warm-started from the previous parameters);
- `score(timestamps, values)` scores new points causally and advances the state:
  each point's score uses only the points before it (and itself);
- `get_state()` / `set_state()` give and take plain JSON-able dicts (no pickle).
Scores are in [0, 1): `calibration.to_score` of a surprisal (-log10 of a tail probability)
measured against the series' own history, so one threshold means the same on every series.
A NaN value gets a NaN score and leaves the state unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ai_ops.detectors.calibration import BurstFilter, Calibrator, to_score


@dataclass(frozen=True)
class FitReport:
    samples: int
    trained: bool
    loss: float | None = None
    converged: bool | None = None
    message: str = ""


class Detector(Protocol):
    name: str

    def fit(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport: ...

    def score(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray: ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


MIN_TRAIN_SAMPLES = 48


@dataclass(frozen=True)
class CalibrationSettings:
    """How raw surprise becomes a score (shared by every detector; see calibration.py)."""

    long_span: int = 1000
    short_window: int = 3
    min_history: int = 48
    burst_hold: int = 60
    burst_damping: float = 0.1


def excess(z: np.ndarray, threshold: float) -> np.ndarray:
    """|z| beyond the threshold, log-compressed: 0 inside the band, heavy tails stay finite, NaN stays NaN."""
    return np.log1p(np.maximum(np.abs(z) - threshold, 0.0))


class CalibratedDetector:
    """Base of the detectors: subclasses give `_raw` (raw surprise >= 0, causal, advances state)."""

    name = "base"

    def __init__(self, calibration: CalibrationSettings | None = None) -> None:
        self.calibration = calibration or CalibrationSettings()
        self._reset_calibration()

    def _reset_calibration(self) -> None:
        c = self.calibration
        self.calibrator_ = Calibrator(c.long_span, c.short_window, c.min_history)
        self.burst_ = BurstFilter(c.burst_hold, c.burst_damping)

    # -- subclass hooks
    def _learn(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        """Learn model parameters from history (no streaming state). Default: nothing to learn."""
        return FitReport(int(np.isfinite(values).sum()), True)

    def _reset_stream(self) -> None:
        """Forget the streaming state (buffers, running mean) before a replay."""

    def _raw_points(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Raw surprise (>= 0; NaN = no opinion yet) of finite points in time order; advances the state."""
        raise NotImplementedError

    def _raw(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Gaps (NaN values) get no opinion and leave the streaming state as it was."""
        out = np.full(values.shape, np.nan)
        finite = np.isfinite(values)
        if finite.any():
            out[finite] = self._raw_points(timestamps[finite], values[finite])
        return out

    def _own_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_own_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- shared verbs
    def fit(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        """Learn from history, then replay it so the streaming state and calibration are warm.

        Fewer than MIN_TRAIN_SAMPLES finite points: nothing changes and the report says why.
        """
        timestamps, values = _as_arrays(timestamps, values)
        finite = int(np.isfinite(values).sum())
        if finite < MIN_TRAIN_SAMPLES:
            return insufficient(finite, MIN_TRAIN_SAMPLES)
        report = self._learn(timestamps, values)
        if report.trained:
            self.restart_stream()
            self.score(timestamps, values)
        return report

    def restart_stream(self) -> None:
        self._reset_stream()
        self._reset_calibration()

    def surprisal(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Calibrated surprisal before the burst filter (what the ensemble combines)."""
        timestamps, values = _as_arrays(timestamps, values)
        return self.calibrator_.transform(self._raw(timestamps, values))

    def score(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Scores in [0, 1); 0 while warming up or untrained, NaN only for NaN values."""
        timestamps, values = _as_arrays(timestamps, values)
        return no_opinion_is_zero(to_score(self.burst_.transform(self.surprisal(timestamps, values))), values)

    def get_state(self) -> dict[str, Any]:
        c = self.calibration
        return {"detector": self._own_state(), "calibration": {
            "settings": [c.long_span, c.short_window, c.min_history, c.burst_hold, c.burst_damping],
            "calibrator": self.calibrator_.get_state(), "burst": self.burst_.get_state()}}

    def set_state(self, state: dict[str, Any]) -> None:
        cal = state["calibration"]
        span, window, history, hold, damping = cal["settings"]
        self.calibration = CalibrationSettings(int(span), int(window), int(history), int(hold), float(damping))
        self._set_own_state(state["detector"])
        self.calibrator_ = Calibrator.from_state(cal["calibrator"])
        self.burst_ = BurstFilter.from_state(cal["burst"])


def no_opinion_is_zero(scores: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A finite value the detector cannot judge yet scores 0 (normal), a NaN value stays NaN."""
    return np.where(np.isfinite(values) & ~np.isfinite(scores), 0.0, scores)


def _as_arrays(timestamps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(timestamps, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if t.shape != v.shape:
        raise ValueError(f"timestamps ({t.size}) and values ({v.size}) differ in length")
    return t, v


def insufficient(finite: int, need: int) -> FitReport:
    return FitReport(finite, False, message=f"insufficient samples: have {finite}, need {need}")
