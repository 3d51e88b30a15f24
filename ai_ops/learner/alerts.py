"""Alert thresholds on a page budget. Pure numpy. See docs/learner.md#alerts-on-a-page-budget.

On-call teams judge an alert by two numbers: how often it pages, and how many real problems it
catches. For each remembered window the learner knows the highest threshold at which the alert
would have fired (its fire level) and whether the window breached the SLA. A threshold then
pages in every window whose fire level is above it, and catches the breached ones among them.
`budget_threshold` picks the threshold that catches the most breached windows while paging in
at most the allowed number of windows, and among those the most sensitive (lowest) one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class AlertChoice:
    threshold: float
    pages: int
    """Windows (of the remembered ones) in which the alert would page at `threshold`."""
    caught: int
    breached: int
    windows: int
    weeks: float

    @property
    def pages_per_week(self) -> float:
        return self.pages / self.weeks if self.weeks > 0 else float("nan")

    @property
    def recall(self) -> float | None:
        return self.caught / self.breached if self.breached else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pages_per_week"] = round(self.pages_per_week, 3)
        data["recall"] = None if self.recall is None else round(self.recall, 3)
        return data


def pages_and_catches(levels: np.ndarray, breached: np.ndarray, threshold: float) -> tuple[int, int]:
    """Windows in which an alert at `threshold` pages, and how many of them breached the SLA."""
    fires = levels > threshold
    return int(fires.sum()), int((fires & breached).sum())


def pages_and_catches_grid(levels: np.ndarray, breached: np.ndarray,
                           thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`pages_and_catches` at every threshold of `thresholds` at once (sorted levels and counts,
    O((n + m) log n) instead of n x m comparisons): the same strict `level > threshold` test, under
    which a NaN level never pages."""
    known = ~np.isnan(levels)
    levels, breached = levels[known], breached[known]
    order = np.argsort(levels, kind="stable")
    ranked = levels[order]
    # caught_above[i] = breached windows among ranked[i:]; index n (nothing above) is 0.
    caught_above = np.concatenate([np.cumsum(breached[order][::-1])[::-1], [0]]).astype(int)
    first_above = np.searchsorted(ranked, thresholds, side="right")
    return (levels.size - first_above).astype(int), caught_above[first_above]


def budget_threshold(levels: np.ndarray, breached: np.ndarray, lower: float, upper: float, grid: float,
                     allowed_pages: float, weeks: float) -> AlertChoice:
    """The threshold on the `grid` in [lower, upper] that catches the most breached windows with at
    most `allowed_pages` paging windows; ties go to the lowest (most sensitive) threshold. When no
    threshold in range keeps to the budget, the quietest one (`upper`)."""
    levels = np.asarray(levels, dtype=float)
    breached = np.asarray(breached, dtype=bool)
    candidates = np.arange(lower, upper + grid / 2, grid) if upper > lower else np.array([lower])
    pages, caught = pages_and_catches_grid(levels, breached, candidates)
    within = np.flatnonzero(pages <= allowed_pages)
    # np.argmax returns the first maximum: the lowest threshold among those that catch the most.
    chosen = round(float(candidates[within[np.argmax(caught[within])]]) if within.size else float(candidates[-1]), 6)
    at_chosen, caught_at_chosen = pages_and_catches(levels, breached, chosen)
    return AlertChoice(chosen, at_chosen, caught_at_chosen, int(breached.sum()), int(levels.size), weeks)
