"""The bracketing search's pure steps: the next scaling target to probe below the lowest
known-bad one, and the `max_step` / [min, max] guardrail every proposed threshold passes.
Used by `ai_ops.learner.learner.ThresholdLearner`; see docs/learner.md.
"""

from __future__ import annotations

import math

from ai_ops.config import ThresholdConfig


def clamp_step(spec: ThresholdConfig, old: float, proposed: float) -> float:
    """Guardrail: at most `max_step` from the old value, always inside [min, max]."""
    moved = min(max(proposed, old - spec.max_step), old + spec.max_step)
    return round(min(max(moved, spec.min), spec.max), 6)


def probe_target(current: float, ceiling: float | None, spec: ThresholdConfig, exploration: float,
                 resolution: float) -> float:
    """Next scaling target to try above `current`: a share of the gap to the lowest known-bad
    target (bisection at 0.5), on the `resolution` grid, never reaching the known-bad value."""
    if exploration <= 0:
        return current
    top = spec.max if ceiling is None else ceiling - resolution
    gap = top - current
    if gap < resolution - 1e-9:
        return current
    step = spec.max_step if ceiling is None else max(resolution, math.floor(gap * exploration / resolution) * resolution)
    return round(min(current + step, top), 6)
