"""The fast paths give the same numbers as the straightforward code they replaced (bit for bit).

Each detector's hot loop was rewritten for speed (benchmarks/nab_dev.py); these tests keep the
reference implementation next to the fast one and compare them on awkward inputs (ties, short
histories, heavy tails, chunked streaming), so a later "optimisation" cannot change a score unseen.
"""

from __future__ import annotations

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
