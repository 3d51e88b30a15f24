"""Score one series as the controller would have, day by day (`ai-ops detect`, the NAB benchmark).

`stream_scores` is the production pattern in miniature and fully causal: the detector scores
each day as it arrives and is retrained at the end of every day on the rolling training
window (the GMM warm-started from the previous day). The first day is scored by an
untrained detector (z-score and EWMA need about 50 points to warm up; the GMM abstains).
"""

from __future__ import annotations

import numpy as np

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.ensemble import build_detector

DAY = 86400.0
DETECTORS = ("ensemble", "zscore", "ewma", "window_shift", "gmm", "forecast", "context")


def stream_scores(name: str, config: AnomalyConfig, timestamps: np.ndarray, values: np.ndarray,
                  retrain_every: float = DAY) -> np.ndarray:
    """Scores of every point, causally: score a day, then retrain on the window ending there."""
    detector = build_detector(name, config)
    t = np.asarray(timestamps, dtype=float)
    v = np.asarray(values, dtype=float)
    scores = np.full(v.shape, np.nan)
    if t.size == 0:
        return scores
    window = config.gmm.training_window_days * DAY
    edges = np.searchsorted(t, np.arange(t[0] - t[0] % retrain_every + retrain_every, t[-1] + retrain_every,
                                         retrain_every))
    begin = 0
    for edge in [*edges.tolist(), t.size]:
        if edge <= begin:
            continue
        scores[begin:edge] = detector.score(t[begin:edge], v[begin:edge])
        begin = edge
        if begin < t.size:
            lo = int(np.searchsorted(t, t[begin - 1] - window))
            detector.fit(t[lo:begin], v[lo:begin])
    return scores
