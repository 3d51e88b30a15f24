"""The one registry of detectors: the ensemble's members (in order), the CLI's choices, the tests.

Light on purpose (the classes are imported when a detector is built), so the CLI can list
the names without loading numpy, pandas and scikit-learn. A new member is one entry here
plus its config section.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ai_ops.config import AnomalyConfig
    from ai_ops.detectors.base import CalibratedDetector, CalibrationSettings

MemberFactory = Callable[["AnomalyConfig", "CalibrationSettings"], "CalibratedDetector"]


def _zscore(c: AnomalyConfig, cal: CalibrationSettings) -> CalibratedDetector:
    from ai_ops.detectors.zscore import ZScoreDetector

    return ZScoreDetector(c.zscore.window, c.zscore.threshold, c.zscore.robust, cal)


def _ewma(c: AnomalyConfig, cal: CalibrationSettings) -> CalibratedDetector:
    from ai_ops.detectors.ewma import EWMADetector

    return EWMADetector(c.ewma.span, c.ewma.k_sigma, cal)


def _gmm(c: AnomalyConfig, cal: CalibrationSettings) -> CalibratedDetector:
    from ai_ops.detectors.gmm import SeasonalGMMDetector

    return SeasonalGMMDetector(c.gmm.n_components, c.gmm.choose_by_bic, c.gmm.training_window_days, cal)


def _window_shift(c: AnomalyConfig, cal: CalibrationSettings) -> CalibratedDetector:
    from ai_ops.detectors.window_shift import WindowShiftDetector

    ws = c.window_shift
    return WindowShiftDetector(ws.window, ws.history_span, ws.threshold, cal)


def _forecast(c: AnomalyConfig, cal: CalibrationSettings) -> CalibratedDetector:
    from ai_ops.detectors.forecast import ForecastDetector

    return ForecastDetector(c.forecast.order, c.forecast.threshold, c.forecast.seasonal, cal)


def _context(c: AnomalyConfig, cal: CalibrationSettings) -> CalibratedDetector:
    from ai_ops.detectors.context import ContextDetector

    return ContextDetector(c.context.levels, c.context.order, c.context.smoothing, cal)


MEMBERS: dict[str, MemberFactory] = {
    "zscore": _zscore,
    "ewma": _ewma,
    "gmm": _gmm,
    "window_shift": _window_shift,
    "forecast": _forecast,
    "context": _context,
}
DETECTOR_NAMES: tuple[str, ...] = ("ensemble", *MEMBERS)
