"""The context member: it scores a broken pattern of ordinary values, and keeps the protocol inside the ensemble."""

from __future__ import annotations

import json

import numpy as np

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.context import ContextDetector, running_counts
from ai_ops.detectors.ensemble import EnsembleDetector, build_detector

STEP = 300.0


def rhythm(points: int) -> tuple[np.ndarray, np.ndarray]:
    """A load that cycles low, low, high, high (plus noise), like a batch job every 20 minutes."""
    t = 1_700_000_000.0 + np.arange(points) * STEP
    pattern = np.tile([10.0, 10.0, 20.0, 20.0], points // 4 + 1)[:points]
    return t, pattern + np.random.default_rng(0).normal(0, 0.3, points)


def test_running_counts_count_earlier_occurrences() -> None:
    assert running_counts(np.array([3, 1, 3, 3, 1, 7])).tolist() == [0, 0, 1, 2, 1, 0]


def test_a_broken_rhythm_of_ordinary_values_is_flagged_where_a_level_detector_sees_nothing() -> None:
    t, v = rhythm(3000)
    broken = v.copy()
    broken[2600:2604] = [10.0, 20.0, 10.0, 20.0]  # every value ordinary, the order never seen
    context, zscore = build_detector("context", AnomalyConfig()), build_detector("zscore", AnomalyConfig())
    for detector in (context, zscore):
        assert detector.fit(t[:2000], v[:2000]).trained
        detector.score(t[2000:2590], v[2000:2590])
    c = context.score(t[2590:], broken[2590:])
    z = zscore.score(t[2590:], broken[2590:])
    assert c[10:16].max() >= 0.99 and z[10:16].max() < 0.9
    assert (c[30:] < 0.99).all()  # the rhythm resumes: quiet again


def test_the_ensemble_with_the_context_member_is_causal_and_round_trips() -> None:
    config = AnomalyConfig.model_validate({"context": {"enabled": True}})
    t, v = rhythm(2000)
    one, two = EnsembleDetector(config), EnsembleDetector(config)
    assert [m.name for m in one.members][-1] == "context"
    for d in (one, two):
        d.fit(t[:1200], v[:1200])
    whole = one.score(t[1200:], v[1200:])
    state = json.loads(json.dumps(two.get_state()))
    restored = EnsembleDetector(config)
    restored.set_state(state)
    chunked = np.concatenate([restored.score(t[1200:1500], v[1200:1500]), restored.score(t[1500:], v[1500:])])
    np.testing.assert_allclose(whole, chunked)


def test_untrained_context_has_no_opinion() -> None:
    detector = ContextDetector()
    t, v = rhythm(100)
    assert (detector.score(t, v) == 0.0).all()
