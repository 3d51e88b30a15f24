"""One score in [0, 1] from several detectors, and severity levels from the sensitivity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.base import Detector, FitReport
from ai_ops.detectors.ewma import EWMADetector
from ai_ops.detectors.zscore import ZScoreDetector

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class SeverityLevels:
    """A score at or above `warning` is an anomaly; above `critical` pages someone."""

    warning: float
    critical: float

    @classmethod
    def from_sensitivity(cls, sensitivity: float) -> SeverityLevels:
        # Higher sensitivity -> lower score needed to alarm.
        warning = 1.0 - (1.0 - sensitivity) * 0.125
        critical = 1.0 - (1.0 - sensitivity) * 0.0125
        return cls(warning=warning, critical=critical)

    def classify(self, scores: np.ndarray) -> np.ndarray:
        out = np.full(scores.shape, "normal", dtype=object)
        out[scores >= self.warning] = "warning"
        out[scores >= self.critical] = "critical"
        return out


class EnsembleDetector:
    name = "ensemble"

    def __init__(self, config: AnomalyConfig) -> None:
        self.config = config
        self.members: list[Detector] = [
            ZScoreDetector(config.zscore.window, config.zscore.threshold, config.zscore.robust),
            EWMADetector(config.ewma.span, config.ewma.k_sigma),
        ]
        self.levels = SeverityLevels.from_sensitivity(config.sensitivity)

    def fit(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        finite = int(np.isfinite(values).sum())
        if finite < self.config.min_train_samples:
            return FitReport(finite, False, message=f"insufficient samples: have {finite}, need {self.config.min_train_samples}")
        for member in self.members:
            member.fit(timestamps, values)
        return FitReport(finite, True)

    def score(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        scores = np.vstack([m.score(timestamps, values) for m in self.members])
        with np.errstate(all="ignore"):
            return np.nanmean(scores, axis=0) if scores.size else scores

    def get_state(self) -> dict[str, Any]:
        return {m.name: m.get_state() for m in self.members}

    def set_state(self, state: dict[str, Any]) -> None:
        for member in self.members:
            member.set_state(state[member.name])
