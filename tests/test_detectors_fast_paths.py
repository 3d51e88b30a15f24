"""The fast paths give the same numbers as the straightforward code they replaced (bit for bit).

Each detector's hot loop was rewritten for speed (benchmarks/nab_dev.py); these tests keep the
reference implementation next to the fast one and compare them on awkward inputs (ties, short
histories, heavy tails, chunked streaming), so a later "optimisation" cannot change a score unseen.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ai_ops.detectors.zscore import MAD_TO_SIGMA, MIN_POINTS, rolling_zscore, spread_floor


def pandas_robust_zscore(values: np.ndarray, window: int) -> np.ndarray:
    """The robust rolling z-score as first written with pandas' rolling median."""
    s = pd.Series(values)
    centre_incl = s.rolling(window, min_periods=1).median().to_numpy()
    deviation = pd.Series(np.abs(values - centre_incl))
    spread = MAD_TO_SIGMA * deviation.rolling(window, min_periods=MIN_POINTS).median().shift(1).to_numpy()
    centre = pd.Series(centre_incl).shift(1).to_numpy().copy()
    count = s.rolling(window, min_periods=1).count().shift(1).to_numpy()
    centre[count < MIN_POINTS] = np.nan
    return (values - centre) / (spread + spread_floor(centre))


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 50, 287, 288, 289, 1000])
@pytest.mark.parametrize("window", [8, 10, 288])
def test_robust_zscore_equals_the_pandas_version(n: int, window: int) -> None:
    rng = np.random.default_rng(n * 1000 + window)
    heavy = rng.standard_t(2, n) * 1e4
    ties = np.round(rng.normal(0, 2, n))  # many equal values: the median of an even window averages two
    for values in (heavy, ties, np.full(n, 3.0)):
        np.testing.assert_array_equal(rolling_zscore(values, window, robust=True), pandas_robust_zscore(values, window))


def reference_calibration(chunks: list[np.ndarray], long_span: int = 1000, short_window: int = 3,
                          min_history: int = 48) -> np.ndarray:
    """Calibrator.transform as first written (two separate EW filters, the tail function everywhere),
    fed the same chunks and carrying the same state from chunk to chunk."""
    from scipy.special import log_ndtr

    from ai_ops.detectors.calibration import LN10, ew_filter

    mean: float | None = None
    sq_mean: float | None = None
    seen = 0
    recent: list[float] = []
    outputs = []
    for raw in chunks:
        out = np.full(raw.shape, np.nan)
        finite = np.isfinite(raw)
        r = raw[finite]
        joined = np.concatenate([np.asarray(recent, dtype=float), r])
        csum = np.concatenate([[0.0], np.cumsum(joined)])
        idx = np.arange(len(recent), len(recent) + r.size)
        lo = np.maximum(idx + 1 - short_window, 0)
        short = (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)
        alpha = 2.0 / (long_span + 1.0)
        mean_after = ew_filter(r, alpha, mean)
        sq_after = ew_filter(r * r, alpha, sq_mean)
        mean_before = np.concatenate([[mean if mean is not None else r[0]], mean_after[:-1]])
        sq_before = np.concatenate([[sq_mean if sq_mean is not None else r[0] ** 2], sq_after[:-1]])
        sd = np.sqrt(np.maximum(sq_before - mean_before**2, 0.0)) + 1e-3 * (np.abs(mean_before) + 1e-3)
        z = (short - mean_before) / sd
        z = z * np.sqrt(np.minimum(idx + 1 - lo, short_window))
        surprisal = np.maximum(-(log_ndtr(-z) + np.log(2.0)) / LN10, 0.0)
        surprisal[seen + np.arange(r.size) < min_history] = 0.0
        out[finite] = surprisal
        mean, sq_mean = float(mean_after[-1]), float(sq_after[-1])
        seen += int(r.size)
        recent = [float(v) for v in joined[-(short_window - 1):]]
        outputs.append(out)
    return np.concatenate(outputs)


@pytest.mark.parametrize("chunks", [1, 3, 17])
def test_calibrator_equals_the_reference_in_one_go_and_in_chunks(chunks: int) -> None:
    from ai_ops.detectors.calibration import Calibrator

    rng = np.random.default_rng(chunks)
    raw = np.abs(rng.standard_t(2, 3000)) * rng.choice([0.0, 1.0], 3000, p=[0.3, 0.7])  # many exact zeros
    raw[rng.random(3000) < 0.05] = np.nan
    parts = np.array_split(raw, chunks)
    calibrator = Calibrator()
    got = np.concatenate([calibrator.transform(part) for part in parts])
    np.testing.assert_array_equal(got, reference_calibration(parts))


def test_gmm_log_density_equals_the_solve_version() -> None:
    """The cached LU factors give what np.linalg.solve on every call gave (same LAPACK steps)."""
    from scipy.special import logsumexp

    from ai_ops.detectors.gmm import gaussian_log_density

    rng = np.random.default_rng(0)
    d, k = 5, 3
    a = rng.normal(size=(k, d, d))
    covariances = a @ a.transpose(0, 2, 1) + 0.1 * np.eye(d)
    means, weights = rng.normal(size=(k, d)), np.array([0.2, 0.3, 0.5])
    x = rng.normal(size=(400, d)) * 3
    per_component = np.empty((400, k))
    for j in range(k):
        chol = np.linalg.cholesky(covariances[j])
        solved = np.linalg.solve(chol, (x - means[j]).T)
        per_component[:, j] = np.log(weights[j]) - 0.5 * (d * np.log(2 * np.pi) + 2.0 * np.log(np.diag(chol)).sum()
                                                          + (solved**2).sum(axis=0))
    np.testing.assert_allclose(gaussian_log_density(x, weights, means, covariances), logsumexp(per_component, axis=1),
                               rtol=1e-13)


@pytest.mark.parametrize("high", [1, 3, 1000, 65_535, 65_536, 10**9])
def test_running_counts_equals_a_plain_count(high: int) -> None:
    """Small keys take the uint16 radix-sort path, large ones the int64 sort: both count the same."""
    from collections import Counter

    from ai_ops.detectors.context import running_counts

    keys = np.random.default_rng(high).integers(0, high, 2000) if high > 1 else np.zeros(2000, dtype=np.int64)
    seen: Counter[int] = Counter()
    expected = []
    for key in keys.tolist():
        expected.append(seen[key])
        seen[key] += 1
    np.testing.assert_array_equal(running_counts(keys), expected)


# ------------------------------------------------------------------------------------------------
# The cycle's fast paths (issue 14): a 6-hourly cycle scores ~72 points per series, where numpy's
# per-call cost is most of the time; each rewrite below is compared with the code it replaced.

def test_calibrated_rows_equal_each_row_alone() -> None:
    """transform_rows (steady calibrators with gap-free rows done together) gives each row's transform
    and leaves each calibrator in the same state, whichever rows are steady, cold or gappy."""
    from dataclasses import astuple

    from ai_ops.detectors.calibration import Calibrator, transform_rows

    rng = np.random.default_rng(14)

    def calibrators() -> list[Calibrator]:
        rng_states = np.random.default_rng(7)
        made = [Calibrator(1000, 3, 48, float(rng_states.normal()), float(rng_states.random() * 3), 2000,
                           list(rng_states.random(2) * 5)) for _ in range(6)]
        made[1] = Calibrator()  # cold: no mean yet, nothing seen
        made[2] = Calibrator(1000, 3, 48, 0.2, 0.3, 10, [0.1, 0.2])  # still within min_history
        made[3] = Calibrator(500, 3, 48, 0.2, 0.3, 4000, [0.1, 0.2])  # other settings
        made[4] = Calibrator(1000, 3, 48, 0.2, 0.3, 4000, [0.1])  # short memory
        return made

    raw = np.abs(rng.standard_t(2, (8, 72))) * rng.choice([0.0, 1.0], (8, 72), p=[0.3, 0.7])
    raw[5, 10] = np.nan  # a member without an opinion on one point
    several, alone = calibrators(), calibrators()
    several += [Calibrator(1000, 3, 48, 1.0, 2.0, 3000, [0.5, 0.5]) for _ in range(2)]
    alone += [Calibrator(1000, 3, 48, 1.0, 2.0, 3000, [0.5, 0.5]) for _ in range(2)]
    got = transform_rows(several, raw)
    expected = np.vstack([c.transform(row) for c, row in zip(alone, raw, strict=True)])
    np.testing.assert_array_equal(got, expected)
    assert [astuple(c) for c in several] == [astuple(c) for c in alone]


def reference_context_raw(detector: object, timestamps: np.ndarray, new: np.ndarray,
                          tables: tuple[list[np.ndarray], list[np.ndarray]]) -> np.ndarray:
    """ContextDetector._raw_points as first written: one pass per order over its own pair and context tables."""
    from ai_ops.detectors.context import MIN_CONTEXT, running_counts

    d: Any = detector
    pair_counts, context_counts = tables
    size = d.alphabet
    joined = np.concatenate([np.asarray(d.recent_, dtype=np.int64), d.symbols(new).astype(np.int64)])
    times = np.concatenate([np.asarray(d.recent_times_, dtype=float), timestamps])
    k = len(d.recent_)
    positions = np.arange(k, joined.size)
    current = joined[k:]
    raw = np.full(new.shape, np.nan)
    context = np.zeros(new.size, dtype=np.int64)
    for o in range(d.order + 1):
        if o:
            context = context + size ** (o - 1) * joined[np.maximum(positions - o, 0)]
        span = times[positions] - times[np.maximum(positions - o, 0)]
        usable = (positions >= o) & (span <= (o + 0.5) * d.step_)
        pair = (context * size + current)[usable]
        ctx = context[usable]
        n_pair = running_counts(pair) + pair_counts[o][pair]
        n_context = running_counts(ctx) + context_counts[o][ctx]
        probability = (n_pair + d.smoothing) / (n_context + d.smoothing * size)
        known = n_context >= MIN_CONTEXT * size
        target = np.flatnonzero(usable)[known]
        raw[target] = np.maximum(-np.log(probability[known]) - np.log(size), 0.0)
        pair_counts[o] += np.bincount(pair, minlength=pair_counts[o].size)
        context_counts[o] += np.bincount(ctx, minlength=context_counts[o].size)
    return raw


@pytest.mark.parametrize(("levels", "order"), [(2, 1), (8, 2), (8, 3), (12, 4)])
def test_context_member_counts_every_order_at_once_as_order_by_order(levels: int, order: int) -> None:
    """All orders counted in one pass over one table give the per-order loop's surprise and counts, through
    gaps (a context never spans one), chunk boundaries and never-seen values."""
    from ai_ops.detectors.context import ContextDetector

    rng = np.random.default_rng(levels * 10 + order)
    n = 3000
    t = 1_700_000_000.0 + 300.0 * np.arange(n)
    t[1500:] += 300.0 * 7  # a gap of 7 steps
    v = np.sin(np.arange(n) / 9.0) * 10 + rng.normal(0, 1, n)
    v[2500:2510] = 50.0  # above anything seen in training
    detector = ContextDetector(levels=levels, order=order)
    detector._learn(t[:1000], v[:1000])
    tables = ([np.zeros_like(c) for c in detector.pair_counts_], [np.zeros_like(c) for c in detector.context_counts_])
    bounds = [1000, 1001, 1072, 1499, 1500, 1573, 2000, 2505, 3000]
    for lo, hi in itertools.pairwise(bounds):
        recent, recent_times = list(detector.recent_), list(detector.recent_times_)
        expected = reference_context_raw(detector, t[lo:hi], v[lo:hi], tables)
        got = detector._raw_points(t[lo:hi], v[lo:hi])
        np.testing.assert_array_equal(got, expected)
        assert detector.recent_ == [int(s) for s in np.concatenate([recent, detector.symbols(v[lo:hi])])[-order:]]
        assert detector.recent_times_ == [float(x) for x in np.concatenate([recent_times, t[lo:hi]])[-order:]]
        for mine, theirs in zip(detector.pair_counts_ + detector.context_counts_, tables[0] + tables[1], strict=True):
            np.testing.assert_array_equal(mine, theirs)
    state = detector._own_state()
    assert state["pairs"] == [np.column_stack([np.flatnonzero(c), c[np.flatnonzero(c)]]).tolist() for c in tables[0]]
    assert state["contexts"] == [np.column_stack([np.flatnonzero(c), c[np.flatnonzero(c)]]).tolist() for c in tables[1]]


def reference_burst(recent: list[float], surprisal: np.ndarray, hold: int, damping: float) -> np.ndarray:
    """BurstFilter.transform's damping as first written: the max of a sliding window over the padded memory."""
    k = len(recent)
    joined = np.concatenate([np.asarray(recent, dtype=float), surprisal])
    padded = np.concatenate([np.full(hold, -np.inf), joined])
    before = np.lib.stride_tricks.sliding_window_view(padded[k: k + surprisal.size + hold - 1], hold).max(axis=1)
    return np.where(surprisal > before, surprisal, surprisal * damping)


@pytest.mark.parametrize(("memory", "hold", "n"), [(300, 300, 72), (300, 300, 300), (400, 300, 72), (300, 300, 1),
                                                   (60, 60, 72), (10, 60, 72), (0, 60, 5)])
def test_burst_filter_with_a_full_memory_equals_the_sliding_window(memory: int, hold: int, n: int) -> None:
    from ai_ops.detectors.calibration import BurstFilter

    rng = np.random.default_rng(memory + hold + n)
    for made in (list(np.abs(rng.standard_t(2, memory)) * 3), [5.0] * memory,
                 [float("nan"), *rng.random(max(memory - 1, 0))]):
        recent = made[:memory]
        surprisal = np.abs(rng.standard_t(2, n)) * 3
        surprisal[::7] = 5.0  # ties with the memory
        burst = BurstFilter(hold, 0.1, list(recent))
        np.testing.assert_array_equal(burst.transform(surprisal), reference_burst(recent, surprisal, hold, 0.1))
        assert burst.recent_ == [float(v) for v in np.concatenate([np.asarray(recent, dtype=float), surprisal])[-hold:]]


def reference_window_shift_z(values: np.ndarray, recent: list[float], sums: tuple[float, float, float], window: int,
                             decay: float) -> tuple[np.ndarray, list[float], tuple[float, float, float]]:
    """window_shift_z as first written: gathers everywhere, three separate decayed sums."""
    from scipy.signal import lfilter

    from ai_ops.detectors.zscore import spread_floor

    def decayed(entering: np.ndarray, start: float) -> np.ndarray:
        return np.asarray(lfilter([1.0], [1.0, -decay], entering, zi=[decay * start])[0], dtype=float)

    joined = np.concatenate([np.asarray(recent, dtype=float), values])
    idx = np.arange(len(recent), joined.size)
    csum = np.concatenate([[0.0], np.cumsum(joined)])
    lo = np.maximum(idx + 1 - window, 0)
    short = (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)
    has_leaving = idx - window >= 0
    leaving = np.where(has_leaving, joined[np.maximum(idx - window, 0)], 0.0)
    weight, total = decayed(has_leaving.astype(float), sums[0]), decayed(leaving, sums[1])
    squares = decayed(leaving * leaving, sums[2])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / weight
        var = np.maximum(squares / weight - mean * mean, 0.0)
    z = (short - mean) / (np.sqrt(var) + spread_floor(np.nan_to_num(mean))) * np.sqrt(idx + 1 - lo)
    return z, [float(v) for v in joined[-window:]], (float(weight[-1]), float(total[-1]), float(squares[-1]))


@pytest.mark.parametrize("window", [1, 3, 10])
def test_window_shift_z_equals_the_reference_in_chunks(window: int) -> None:
    from ai_ops.detectors.window_shift import window_shift_z

    rng = np.random.default_rng(window)
    values = rng.standard_t(3, 2000) * 4 + 100
    values[700:705] = 1e6
    decay = 1.0 - 2.0 / 8641.0
    mine: tuple[list[float], tuple[float, float, float]] = ([], (0.0, 0.0, 0.0))
    theirs = mine
    for chunk in np.array_split(values, [1, 2, 5, 72, 144, 1500]):
        z, _, recent, sums = window_shift_z(chunk, mine[0], mine[1], window, decay)
        expected, expected_recent, expected_sums = reference_window_shift_z(chunk, theirs[0], theirs[1], window, decay)
        np.testing.assert_array_equal(z, expected)
        assert (recent, sums) == (expected_recent, expected_sums)
        mine, theirs = (recent, sums), (expected_recent, expected_sums)


def test_a_remembered_settings_hash_follows_a_changed_setting() -> None:
    """The settings hash is remembered by the identity of the settings' objects, never by equality:
    3 == 3.0, but their JSON (so the hash a saved state carries) differs."""
    from ai_ops.config import AnomalyConfig
    from ai_ops.detectors.base import settings_hash
    from ai_ops.detectors.ensemble import EnsembleDetector

    ensemble = EnsembleDetector(AnomalyConfig())
    zscore = ensemble.members[0]
    before, member_before = ensemble.settings_hash(), zscore.settings_hash()
    assert ensemble.settings_hash() == before == EnsembleDetector(AnomalyConfig()).settings_hash()
    zscore.threshold = int(zscore.threshold)  # type: ignore[attr-defined]  # 3.0 -> 3: equal, not the same JSON
    assert zscore.settings_hash() == settings_hash({"detector": "zscore", **zscore.get_params()}) != member_before
    assert ensemble.settings_hash() == settings_hash({"detector": "ensemble", **ensemble.get_params()}) != before


def test_the_gmm_scores_with_one_blas_thread_and_gives_the_threads_back() -> None:
    from ai_ops.detectors.gmm import _blas_controller, _one_blas_thread

    libraries = _blas_controller().lib_controllers
    before = [library.num_threads for library in libraries]
    with _one_blas_thread():
        assert all(library.num_threads == 1 for library in libraries)
    assert [library.num_threads for library in libraries] == before
    with _blas_controller().limit(limits=1):  # a job holding one thread for all its series
        with _one_blas_thread():
            assert all(library.num_threads == 1 for library in libraries)
        assert all(library.num_threads == 1 for library in libraries)
    assert [library.num_threads for library in libraries] == before


def reference_rearmed(surprisal: np.ndarray, damped: np.ndarray, recent: list[float], rearm_points: int,
                      quiet_below: float) -> np.ndarray:
    """ensemble.rearmed as first written: the ranks of the memory and the new points together."""
    out = damped.copy()
    finite = np.flatnonzero(np.isfinite(surprisal))
    s = surprisal[finite]
    if rearm_points <= 0 or s.size == 0:
        return out
    joined = np.concatenate([np.asarray(recent, dtype=float), s])
    n = joined.size
    loud = np.concatenate([[0], np.cumsum(joined >= quiet_below)])
    positions = np.arange(n)
    lo = positions - rearm_points
    quiet_end = (lo >= 0) & (loud[positions] - loud[np.maximum(lo, 0)] == 0)
    since = np.maximum.accumulate(np.where(quiet_end, positions, -1))
    order = np.argsort(joined, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = positions
    event = since + 1
    best = np.maximum.accumulate(event * n + rank)
    before = np.concatenate([[-1], best[:-1]])
    same_event = (before >= 0) & (before // n == event)
    peak = np.where(same_event, joined[order[np.maximum(before, 0) % n]], -np.inf)
    k = len(recent)
    undamped = (since[k:] >= 0) & (s > peak[k:])
    out[finite[undamped]] = s[undamped]
    return out


def test_rearmed_ranks_only_the_new_points_as_the_reference_ranks_all() -> None:
    """The memory's part of the current event enters as one max; NaN in the memory blocks as a top rank did."""
    from ai_ops.detectors.ensemble import rearmed

    rng = np.random.default_rng(36)
    for case in range(400):
        k, n, rearm = int(rng.integers(0, 320)), int(rng.integers(0, 80)), int(rng.integers(0, 40))
        recent = list(rng.choice([0.0, 0.5, 2.0, 40.0], k) if case % 2 else rng.exponential(0.5, k))
        if case % 7 == 0 and k:
            recent[int(rng.integers(0, k))] = float("nan")
        s = rng.choice([0.0, 0.5, 2.0, 2.0, 30.0, 40.0], n) if case % 3 else rng.exponential(0.6, n)
        s[rng.random(n) < 0.05] = np.nan
        np.testing.assert_array_equal(rearmed(s, s * 0.1, recent, rearm, 1.0),
                                      reference_rearmed(s, s * 0.1, recent, rearm, 1.0))


def test_a_context_state_with_a_symbol_outside_its_alphabet_is_refused() -> None:
    """With every order's counts in one table, an out-of-range symbol would silently read another order's
    counts (per-order tables raised IndexError or wrapped around): such a state is refused on load."""
    from ai_ops.detectors.context import ContextDetector

    t = 1_700_000_000.0 + 300.0 * np.arange(600)
    detector = ContextDetector(levels=4, order=2)
    detector.fit(t, np.sin(np.arange(600) / 5.0))
    state = detector.get_state()
    fresh = ContextDetector(levels=4, order=2)
    fresh.set_state(state)
    assert fresh.recent_ == detector.recent_
    for bad in ([detector.alphabet, 0], [-1, 0]):
        state["detector"]["recent"] = bad
        with pytest.raises(ValueError, match="outside the alphabet"):
            ContextDetector(levels=4, order=2).set_state(state)


@pytest.mark.parametrize("members", [1, 2, 5, 6])
def test_agreed_level_of_full_rows_equals_the_masked_version(members: int) -> None:
    """Every member with an opinion everywhere: the upper-median row, as the masked sort and gather give it."""
    from ai_ops.detectors.ensemble import agreed_level

    rng = np.random.default_rng(members)
    stacked = rng.choice([0.0, -0.0, 1.5, 1.5, 30.0], (members, 72)) * rng.choice([1.0, rng.random()], (members, 72))
    usable = np.isfinite(stacked)
    ranked = -np.sort(-np.where(usable, stacked, -np.inf), axis=0)
    count = usable.sum(axis=0)
    expected = np.where(count > 0, np.take_along_axis(ranked, (np.maximum((count + 1) // 2, 1) - 1)[None, :], axis=0)[0],
                        0.0)
    got = agreed_level(stacked, usable)
    assert got.tobytes() == expected.tobytes()
