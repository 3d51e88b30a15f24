"""Rolling z-score over the last `window` points, optionally robust (median / MAD)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ai_ops.detectors.base import FitReport, two_sided_rarity

MAD_TO_SIGMA = 1.4826


class ZScoreDetector:
    name = "zscore"

    def __init__(self, window: int = 288, threshold: float = 3.0, robust: bool = True) -> None:
        self.window = window
        self.threshold = threshold
        self.robust = robust
        self.buffer_: list[float] = []

    def fit(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        finite = values[np.isfinite(values)]
        self.buffer_ = [float(v) for v in finite[-self.window:]]
        return FitReport(samples=int(finite.size), trained=True)

    def score(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        out = np.full(values.shape, np.nan)
        for i, x in enumerate(values):
            if not np.isfinite(x):
                continue
            if len(self.buffer_) >= 8:
                ref = np.asarray(self.buffer_)
                if self.robust:
                    centre = float(np.median(ref))
                    spread = MAD_TO_SIGMA * float(np.median(np.abs(ref - centre)))
                else:
                    centre, spread = float(ref.mean()), float(ref.std())
                diff = x - centre
                z = diff / spread if spread > 0 else (0.0 if diff == 0 else np.inf)
                out[i] = float(two_sided_rarity(np.array(z / self.threshold * 3.0)))
            else:
                out[i] = 0.0
            self.buffer_.append(float(x))
            if len(self.buffer_) > self.window:
                self.buffer_.pop(0)
        return out

    def get_state(self) -> dict[str, Any]:
        return {"window": self.window, "threshold": self.threshold, "robust": self.robust, "buffer": self.buffer_}

    def set_state(self, state: dict[str, Any]) -> None:
        self.__init__(state["window"], state["threshold"], state["robust"])  # type: ignore[misc]
        self.buffer_ = list(state["buffer"])
