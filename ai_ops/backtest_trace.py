"""The backtest's demand traces: a recorded `timestamp,value` CSV put on a regular grid
(`load_trace`), or the simulator's own seasonal, bursty demand (`simulated_trace`), optionally
with the history a fleet has before ai-ops starts (`Trace.prior`). Served by `ai_ops.backtest`;
see docs/learner.md#backtest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ai_ops.config import OpsConfig
from ai_ops.errors import ConfigError
from ai_ops.series_csv import read_series
from ai_ops.sim.service import DAY, demand


@dataclass(frozen=True)
class Trace:
    """A demand trace on a regular grid (gaps filled from the previous value)."""

    name: str
    timestamps: np.ndarray
    values: np.ndarray
    step: int
    prior: np.ndarray | None = None
    """Demand before the trace (same step and scale), served at the initial thresholds: the history
    a fleet has before ai-ops starts (the learner's warm start reads it). None for recorded traces."""


def load_trace(path: Path) -> Trace:
    """A `timestamp,value` CSV as request rates on a regular grid; bad input is named with its line."""
    series = read_series(path, "--trace")
    for warning in series.warnings:
        logging.getLogger(__name__).warning(warning)
    bad = np.flatnonzero(~np.isfinite(series.values) | (series.values < 0))
    if bad.size:
        raise ConfigError(f"{path}: value at {series.point_text(int(bad[0]))} is {series.values[bad[0]]!r}; "
                          f"a trace needs a finite request rate >= 0 on every row")
    t = series.seconds
    if t.size < 2:
        raise ConfigError(f"trace {path} has {t.size} data rows; it needs at least one day of data")
    step = int(round(float(np.median(np.diff(t)))))
    if step < 10 or DAY % step:
        raise ConfigError(f"trace {path}: sampling step {step}s must be >= 10 s and divide a day (e.g. 60, 300)")
    grid = np.arange(t[0], t[-1] + 1, step, dtype=float)
    index = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, t.size - 1)
    if grid.size * step < DAY:
        raise ConfigError(f"trace {path} covers {grid.size * step / 3600:.1f} h; a backtest needs at least one day")
    trace_values = series.values[index]
    if trace_values.max() <= 0:
        raise ConfigError(f"trace {path} has no positive value; it cannot be read as a request rate")
    return Trace(path.name, grid, trace_values, step)


def simulated_trace(config: OpsConfig, days: int, start: float = 0.0, step: int = 300,
                    prior_days: float = 0.0) -> Trace:
    """The simulator's own seasonal, bursty demand (no incidents), as a trace; `prior_days` of the
    same demand before `start` become the trace's history (`Trace.prior`)."""
    cfg = config.services[0].simulation
    grid = np.arange(start, start + days * DAY, step, dtype=float)
    before = np.arange(start - prior_days * DAY, start, step, dtype=float)
    prior = demand(cfg, before, step, []) if before.size else None
    return Trace(f"simulated(seed={cfg.seed}, days={days})", grid, demand(cfg, grid, step, []), step, prior)
