"""A NAB-style scorer (our own implementation of the rules in the dataset README).

Probation (first min(15 %, 750) points of each file not scored), anomaly windows,
earliest-detection scaled-sigmoid reward, three cost profiles, one threshold optimised
for the whole corpus, normalised 100 x (raw - null) / (perfect - null).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tp": 1.0, "fn": 1.0, "fp": 0.11},
    "reward_low_FP_rate": {"tp": 1.0, "fn": 1.0, "fp": 0.22},
    "reward_low_FN_rate": {"tp": 1.0, "fn": 2.0, "fp": 0.11},
}


def scaled_sigmoid(position: float) -> float:
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_length(rows: int, percent: float = 0.15) -> int:
    return int(min(math.floor(percent * rows), percent * 5000))


@dataclass
class ScoredFile:
    """Per scored (post-probation) point: detector score, window id (-1 outside), unweighted reward."""

    scores: np.ndarray
    window: np.ndarray
    in_window_reward: np.ndarray  # scaled sigmoid / maxTP inside windows
    outside_reward: np.ndarray  # scaled sigmoid past the previous window (or -1) outside
    windows: int


def prepare(timestamps: np.ndarray, scores: np.ndarray, windows: list[tuple[np.datetime64, np.datetime64]],
            window_offset: int) -> ScoredFile:
    """Label each point with its window and NAB's position reward (independent of the profile)."""
    n = len(timestamps)
    probation = probation_length(n)
    max_tp = scaled_sigmoid(-1.0)
    window_of = np.full(n, -1)
    reward = np.zeros(n)
    limits = [(int(np.searchsorted(timestamps, a, "left")), int(np.searchsorted(timestamps, b, "right")) - 1)
              for a, b in windows]
    prev_right: int | None = None
    prev_width = 0
    w = 0
    for i in range(n):
        if w < len(limits) and limits[w][0] <= i <= limits[w][1]:
            left, right = limits[w]
            width = right - left + 1
            window_of[i] = window_offset + w
            reward[i] = scaled_sigmoid(-(right - i + 1) / width) / max_tp
            if i == right:
                prev_right, prev_width = right, width
                w += 1
        else:
            if prev_right is None:
                reward[i] = -1.0
            else:
                reward[i] = scaled_sigmoid(abs(prev_right - i) / float(prev_width - 1))
    keep = slice(probation, n)
    counted = len({int(x) for x in window_of[keep] if x >= 0})
    return ScoredFile(np.asarray(scores, dtype=float)[keep], window_of[keep], np.where(window_of >= 0, reward, 0)[keep],
                      np.where(window_of < 0, reward, 0)[keep], counted)


@dataclass
class CorpusResult:
    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    normalized: float
    tp_windows: int
    windows: int
    fp_points: int


def sweep(files: list[ScoredFile], profile: str) -> CorpusResult:
    """Best corpus-wide threshold: walk the points from the highest score down."""
    cost = PROFILES[profile]
    scores = np.concatenate([f.scores for f in files])
    window = np.concatenate([f.window for f in files])
    inside = np.concatenate([f.in_window_reward for f in files]) * cost["tp"]
    outside = np.concatenate([f.outside_reward for f in files]) * cost["fp"]
    windows = int(sum(f.windows for f in files))
    scores = np.nan_to_num(scores, nan=0.0)
    order = np.argsort(-scores, kind="stable")
    null = -cost["fn"] * windows
    perfect = cost["tp"] * windows
    best = (null, np.inf, 0, 0)  # (raw, threshold, detected windows, fp points)
    best_in_window: dict[int, float] = {}
    tp_total = 0.0
    fp_total = 0.0
    fp_points = 0
    s_sorted = scores[order]
    for pos, i in enumerate(order):
        wid = int(window[i])
        if wid >= 0:
            old = best_in_window.get(wid)
            if old is None:
                best_in_window[wid] = inside[i]
                tp_total += inside[i]
            elif inside[i] > old:
                best_in_window[wid] = inside[i]
                tp_total += inside[i] - old
        else:
            fp_total += outside[i]
            fp_points += 1
        if pos + 1 < len(order) and s_sorted[pos + 1] == s_sorted[pos]:
            continue  # ties: a threshold cannot split them
        raw = tp_total + fp_total - cost["fn"] * (windows - len(best_in_window))
        if raw > best[0]:
            best = (raw, float(s_sorted[pos]), len(best_in_window), fp_points)
    raw, threshold, tp_windows, fps = best
    return CorpusResult(profile, threshold, raw, null, perfect, 100.0 * (raw - null) / (perfect - null),
                        tp_windows, windows, fps)


def window_metrics(files: list[ScoredFile], threshold: float) -> dict[str, float]:
    """Window-level precision / recall / F1: a window is found if any point in it fires; every run
    of consecutive firing points outside windows is one false alarm."""
    tp = fn = fp = 0
    for f in files:
        fired = np.nan_to_num(f.scores, nan=0.0) >= threshold
        ids = {int(x) for x in f.window if x >= 0}
        found = {int(x) for x in f.window[fired] if x >= 0}
        tp += len(found)
        fn += len(ids - found)
        outside = fired & (f.window < 0)
        starts = outside & ~np.concatenate([[False], outside[:-1]])
        fp += int(starts.sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "windows_found": tp, "windows": tp + fn, "false_alarms": fp}
