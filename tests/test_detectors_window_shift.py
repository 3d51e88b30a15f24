"""The window-shift member: a run of moderately odd points is noticed, one mild point is not."""

from __future__ import annotations

import numpy as np

from ai_ops.detectors.window_shift import WindowShiftDetector, window_shift_z

NOTICED = 0.99


def test_run_of_moderate_points_is_noticed_though_no_single_point_is_extreme() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(3000) * 300.0
    v = rng.normal(0.0, 1.0, t.size)
    v[2500:2510] += 2.5  # every point under a 3-sigma limit on its own, the run is not
    scores = WindowShiftDetector().score(t, v)
    assert scores[2500:2512].max() >= NOTICED
    assert scores[2500:2512].max() > scores[2000:2500].max()  # the run stands out from the noise


def test_history_excludes_the_recent_window() -> None:
    values = np.array([0.0, 2.0, 0.0, 2.0, 0.0, 2.0, 10.0])
    z, weight, recent, _ = window_shift_z(values, [], (0.0, 0.0, 0.0), window=1, decay=1.0)
    # The last point (10) is judged against the six before it: mean 1, sd 1 -> z = 9.
    assert weight[-1] == 6.0
    assert np.isclose(z[-1], 9.0, rtol=1e-4)
    assert recent == [10.0]
