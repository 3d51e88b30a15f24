"""The NAB-style scorer of benchmarks/ (not in the package) on constructed cases."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from nab_scorer import prepare, probation_length, scaled_sigmoid, sweep


def corpus(scores_for: str) -> list:
    n = 1000
    stamps = np.datetime64("2024-01-01T00:00") + np.arange(n).astype("timedelta64[m]")
    windows = [(stamps[400], stamps[449]), (stamps[800], stamps[849])]
    scores = np.zeros(n)
    if scores_for == "perfect":
        scores[[400, 800]] = 1.0
    elif scores_for == "late":
        scores[[449, 849]] = 1.0
    elif scores_for == "noisy":
        scores[[400, 800]] = 1.0
        scores[200:210] = 1.0
    return [prepare(stamps, scores, windows, 0)]


def test_perfect_null_and_late_detections() -> None:
    assert probation_length(1000) == 150 and probation_length(10000) == 750
    assert sweep(corpus("perfect"), "standard").normalized == 100.0
    assert sweep(corpus("null"), "standard").normalized == 0.0
    late = sweep(corpus("late"), "standard").normalized
    assert 0 < late < 100  # found, but at the last point of each window
    assert abs(scaled_sigmoid(-1.0) - 0.9866) < 1e-4 and scaled_sigmoid(4.0) == -1.0


def test_false_positives_cost_twice_as_much_in_the_low_fp_profile() -> None:
    standard = sweep(corpus("noisy"), "standard")
    low_fp = sweep(corpus("noisy"), "reward_low_FP_rate")
    assert standard.threshold == 1.0 and low_fp.normalized < standard.normalized < 100.0
