"""EWMA control chart: exponentially weighted mean and variance, k-sigma limits."""

from __future__ import annotations

from typing import Any

import numpy as np

from ai_ops.detectors.base import FitReport, two_sided_rarity


class EWMADetector:
    name = "ewma"

    def __init__(self, span: int = 20, k_sigma: float = 3.0) -> None:
        self.span = span
        self.k_sigma = k_sigma
        self.alpha = 2.0 / (span + 1.0)
        self.mean_: float | None = None
        self.var_: float = 0.0

    def fit(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        self.mean_, self.var_ = None, 0.0
        self.score(timestamps, values)
        return FitReport(samples=int(np.isfinite(values).sum()), trained=True)

    def score(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        out = np.full(values.shape, np.nan)
        a = self.alpha
        for i, x in enumerate(values):
            if not np.isfinite(x):
                continue
            if self.mean_ is None:
                self.mean_ = float(x)
                out[i] = 0.0
                continue
            sd = np.sqrt(self.var_)
            diff = x - self.mean_
            z = diff / sd if sd > 0 else (0.0 if diff == 0 else np.inf)
            out[i] = float(two_sided_rarity(np.array(z / self.k_sigma * 3.0)))
            self.mean_ += a * diff
            self.var_ = (1 - a) * (self.var_ + a * diff * diff)
        return out

    def get_state(self) -> dict[str, Any]:
        return {"span": self.span, "k_sigma": self.k_sigma, "mean": self.mean_, "var": self.var_}

    def set_state(self, state: dict[str, Any]) -> None:
        self.__init__(state["span"], state["k_sigma"])  # type: ignore[misc]
        self.mean_, self.var_ = state["mean"], state["var"]
