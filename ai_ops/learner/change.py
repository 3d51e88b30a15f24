"""Workload change test: has demand, or the CPU-to-latency relation, moved away from what the
learner remembers? Pure numpy/scipy on per-window summaries. See docs/learner.md#settle-and-remember.

The learner keeps its evidence (known-bad targets, clean windows) until this test says the
workload changed; only then does it forget. Both signals need a significant Mann-Whitney U test
(rank-based: no normality assumed, robust to a few odd windows) AND a practically large effect,
so that a weekend dip or a noisy day is never called a new workload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class ChangeTest:
    changed: bool
    kind: str
    """"demand", "relation" or "" (no change)."""
    detail: str


def _mwu(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or b.size < 2 or (np.ptp(np.concatenate([a, b])) == 0):
        return 1.0
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def demand_change(reference: np.ndarray, recent: np.ndarray, p_value: float, ratio: float) -> ChangeTest:
    """Mean request rate per window: recent vs remembered windows."""
    ref = np.asarray(reference, dtype=float)
    new = np.asarray(recent, dtype=float)
    ref, new = ref[np.isfinite(ref) & (ref > 0)], new[np.isfinite(new) & (new > 0)]
    if ref.size < 2 or new.size < 2:
        return ChangeTest(False, "", "not enough windows with demand")
    p = _mwu(np.log(ref), np.log(new))
    factor = float(np.median(new) / np.median(ref))
    big = factor >= ratio or factor <= 1.0 / ratio
    detail = (f"median demand of the last {new.size} windows is {factor:.2f}x the {ref.size} remembered ones "
              f"(Mann-Whitney p={p:.2g}; change needs p < {p_value:g} and a factor beyond {ratio:g}x)")
    return ChangeTest(bool(p < p_value and big), "demand" if p < p_value and big else "", detail)


def relation_change(ref_cpu: np.ndarray, ref_latency: np.ndarray, new_cpu: np.ndarray, new_latency: np.ndarray,
                    p_value: float, shift: float) -> ChangeTest:
    """The CPU-to-latency relation: log latency (a high quantile per window) against CPU (p95 per
    window), fitted on the remembered windows; the recent windows' residuals must be shifted."""
    rx, ry = np.asarray(ref_cpu, dtype=float), np.asarray(ref_latency, dtype=float)
    nx, ny = np.asarray(new_cpu, dtype=float), np.asarray(new_latency, dtype=float)
    rk = np.isfinite(rx) & np.isfinite(ry) & (ry > 0)
    nk = np.isfinite(nx) & np.isfinite(ny) & (ny > 0)
    if rk.sum() < 3 or nk.sum() < 2:
        return ChangeTest(False, "", "not enough windows with CPU and latency")
    rx, ry, nx, ny = rx[rk], np.log(ry[rk]), nx[nk], np.log(ny[nk])
    # Compare only where the remembered windows saw the same CPU: the relation is steeply
    # non-linear near saturation, and a fit says nothing outside the range it was fitted on.
    inside = (nx >= rx.min() - 1.0) & (nx <= rx.max() + 1.0)
    if inside.sum() < 2:
        return ChangeTest(False, "", "the recent windows ran at a CPU the remembered ones never saw")
    nx, ny = nx[inside], ny[inside]
    degree = 1 if np.ptp(rx) > 1e-9 else 0
    coef = np.polyfit(rx, ry, degree)
    ref_res = ry - np.polyval(coef, rx)
    new_res = ny - np.polyval(coef, nx)
    p = _mwu(ref_res, new_res)
    moved = float(np.median(new_res) - np.median(ref_res))
    big = abs(moved) >= shift
    detail = (f"latency at the same CPU moved {moved:+.2f} (log) in the last {nx.size} windows vs the fit of "
              f"{rx.size} remembered ones (Mann-Whitney p={p:.2g}; change needs p < {p_value:g} and |shift| >= "
              f"{shift:g})")
    return ChangeTest(bool(p < p_value and big), "relation" if p < p_value and big else "", detail)
