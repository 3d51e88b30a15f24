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
