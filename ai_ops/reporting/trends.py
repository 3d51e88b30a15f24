"""Trends: each metric's last 24 h against the 7-day baseline, flagged only when significant.

"Significant" is judged against the metric's own day-to-day variation: the spread of the
baseline's daily means. A metric that swings 20% from one day to the next is not flagged
for a 10% move; a metric that never moves is flagged for a 5% one. Pure numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DAY = 86_400
Z_SIGNIFICANT = 3.0
"""|24 h mean - baseline mean| must exceed this many standard deviations of the baseline's daily means."""
MIN_CHANGE_PCT = 5.0
"""...and be at least this large relative to the baseline mean (tiny moves of flat metrics are noise)."""
MIN_BASELINE_DAYS = 3
"""Fewer full baseline days: the spread is unknown and nothing is flagged."""


@dataclass(frozen=True)
class Trend:
    metric: str
    mean_24h: float
    p95_24h: float
    mean_7d: float
    p95_7d: float
    change_pct: float
    direction: str
    z: float | None
    significant: bool
    baseline_days: int

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) and np.isfinite(v) else (None if isinstance(v, float) else v))
                for k, v in asdict(self).items()}


def metric_trend(metric: str, timestamps: np.ndarray, values: np.ndarray, now: float) -> Trend | None:
    """The trend of one series; None when either window has no data."""
    recent = (timestamps >= now - DAY) & (timestamps < now)
    base_mask = (timestamps >= now - 7 * DAY) & (timestamps < now - DAY)
    last = values[recent & np.isfinite(values)]
    base = values[base_mask & np.isfinite(values)]
    if not last.size or not base.size:
        return None
    mean_24h, mean_7d = float(last.mean()), float(base.mean())
    change = 100.0 * (mean_24h - mean_7d) / abs(mean_7d) if mean_7d else (0.0 if mean_24h == mean_7d else float("inf"))
    # Daily means of the baseline, in 24 h blocks counted back from the start of the last 24 h.
    block = np.ceil((now - DAY - timestamps) / DAY) - 1  # 0 = [now-2d, now-1d)
    daily = [float(values[(block == b) & base_mask & np.isfinite(values)].mean())
             for b in range(6) if ((block == b) & base_mask & np.isfinite(values)).any()]
    z: float | None = None
    significant = False
    if len(daily) >= MIN_BASELINE_DAYS:
        spread = float(np.std(daily, ddof=1))
        floor = 1e-9 + 1e-6 * abs(mean_7d)
        z = (mean_24h - mean_7d) / max(spread, floor)
        significant = abs(z) >= Z_SIGNIFICANT and abs(change) >= MIN_CHANGE_PCT
    direction = "flat" if abs(change) < MIN_CHANGE_PCT else ("up" if change > 0 else "down")
    return Trend(metric, mean_24h, float(np.percentile(last, 95)), mean_7d, float(np.percentile(base, 95)),
                 float(change), direction, None if z is None else float(z), significant, len(daily))


def trends(timestamps: np.ndarray, values: dict[str, np.ndarray], now: float) -> dict[str, Trend]:
    out: dict[str, Trend] = {}
    for metric, series in values.items():
        t = metric_trend(metric, timestamps, series, now)
        if t is not None:
            out[metric] = t
    return out
