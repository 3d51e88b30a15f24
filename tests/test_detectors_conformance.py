"""One conformance suite every detector (and the ensemble) must pass."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.backtest import stream_scores
from ai_ops.detectors.base import SettingsChanged
from ai_ops.detectors.ensemble import EnsembleDetector, SeverityLevels, build_detector
from ai_ops.detectors.registry import DETECTOR_NAMES, MEMBERS

NAMES = list(DETECTOR_NAMES)
STEP = 300.0
DAY = 86400.0
WARNING = SeverityLevels.from_sensitivity(0.92).warning
NOTICED = 0.99  # surprisal 4: clearly flagged (the default warning level is stricter, see docs)


def seasonal(days: float, seed: int = 0, start: float = 1_700_000_000.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = start + np.arange(int(days * DAY / STEP)) * STEP
    v = 50 + 10 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 1.0, t.size)
    return t, v


def trained(name: str, days: float = 3.0, seed: int = 0) -> Any:
    detector = build_detector(name, AnomalyConfig())
    t, v = seasonal(days, seed)
    report = detector.fit(t, v)
    assert report.trained, report.message
    return detector


def roundtrip(detector: Any, name: str) -> Any:
    clone = build_detector(name, AnomalyConfig())
    clone.set_state(json.loads(json.dumps(detector.get_state())))
    return clone


@pytest.mark.parametrize("name", NAMES)
def test_causal_prefix_scores_do_not_change_when_points_are_added(name: str) -> None:
    detector = trained(name)
    t, v = seasonal(1.0, seed=1, start=1_700_000_000.0 + 3 * DAY)
    prefix = roundtrip(detector, name).score(t[:100], v[:100])
    full = roundtrip(detector, name).score(t, v)
    np.testing.assert_array_equal(prefix, full[:100])


@pytest.mark.parametrize("name", NAMES)
def test_scoring_in_chunks_equals_scoring_at_once(name: str) -> None:
    detector = trained(name)
    t, v = seasonal(1.0, seed=1, start=1_700_000_000.0 + 3 * DAY)
    whole = roundtrip(detector, name).score(t, v)
    chunked = roundtrip(detector, name)
    parts = np.concatenate([chunked.score(t[a:b], v[a:b]) for a, b in ((0, 37), (37, 38), (38, 200), (200, t.size))])
    np.testing.assert_allclose(parts, whole, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_gives_identical_scores(name: str) -> None:
    detector = trained(name)
    clone = roundtrip(detector, name)
    t, v = seasonal(1.0, seed=2, start=1_700_000_000.0 + 3 * DAY)
    v[150] += 30
    np.testing.assert_array_equal(detector.score(t, v), clone.score(t, v))


@pytest.mark.parametrize("name", NAMES)
def test_nan_gaps_give_nan_scores_and_do_not_break_the_stream(name: str) -> None:
    detector = trained(name)
    t, v = seasonal(1.0, seed=3, start=1_700_000_000.0 + 3 * DAY)
    v[50:80] = np.nan
    v[120] = np.inf
    scores = detector.score(t, v)
    assert np.isnan(scores[50:80]).all() and np.isnan(scores[120])
    rest = np.delete(scores, [*list(range(50, 80)), 120])
    assert np.isfinite(rest).all() and (rest >= 0).all() and (rest < 1).all()
    # A gap is not an incident: no alarm at the points after it.
    assert (scores[80:90] < WARNING).all()


@pytest.mark.parametrize("name", NAMES)
def test_constant_series_is_quiet_and_a_jump_off_it_is_flagged(name: str) -> None:
    detector = build_detector(name, AnomalyConfig())
    t = 1_700_000_000.0 + np.arange(600) * STEP
    v = np.full(t.size, 42.0)
    assert detector.fit(t[:400], v[:400]).trained
    quiet = detector.score(t[400:500], v[400:500])
    assert np.isfinite(quiet).all() and quiet.max() < 0.01
    jump = v[500:].copy()
    jump[10] = 60.0
    scores = detector.score(t[500:], jump)
    assert scores[10] >= WARNING and scores[10] < 1.0
    assert np.isfinite(scores).all()


# window_shift judges the mean of the last few points, not single points: one spike moves
# that mean too little by design (the point detectors and the ensemble catch it).
@pytest.mark.parametrize("name", [n for n in NAMES if n != "window_shift"])
def test_known_spike_is_a_short_burst_not_hours_of_alarms(name: str) -> None:
    detector = trained(name)
    t, v = seasonal(1.0, seed=4, start=1_700_000_000.0 + 3 * DAY)
    v[100] += 25.0
    scores = detector.score(t, v)
    assert scores[100] >= NOTICED and int(np.argmax(scores)) in (100, 101, 102)
    alarms = np.flatnonzero(scores >= WARNING)
    assert alarms.size <= 6, alarms  # one incident, a handful of points at most, not hours
    assert not (scores == 1.0).any()


@pytest.mark.parametrize("name", NAMES)
def test_level_shift_is_adapted_to_instead_of_alarming_forever(name: str) -> None:
    t, v = seasonal(6.0, seed=5)
    v[t >= t[0] + 3 * DAY] += 40.0
    scores = stream_scores(name, AnomalyConfig(), t, v)
    shift = int(np.searchsorted(t, t[0] + 3 * DAY))
    assert scores[shift: shift + 12].max() >= NOTICED  # the shift itself is noticed
    last_day = scores[t >= t[-1] - DAY]
    assert (last_day >= WARNING).mean() < 0.01


@pytest.mark.parametrize("name", NAMES)
def test_too_few_samples_train_nothing_and_say_why(name: str) -> None:
    detector = trained(name)
    before = json.dumps(detector.get_state())
    t, v = seasonal(1.0, seed=6)
    v[47:] = np.nan
    report = detector.fit(t, v)
    assert not report.trained
    assert report.message == "insufficient samples: have 47, need 48"
    assert json.dumps(detector.get_state()) == before


@pytest.mark.parametrize("name", NAMES)
def test_scores_do_not_depend_on_the_unit_of_the_metric(name: str) -> None:
    t, v = seasonal(4.0, seed=7)
    v[900] += 20
    a = stream_scores(name, AnomalyConfig(), t, v)
    b = stream_scores(name, AnomalyConfig(), t, v * 1000.0 + 5.0)
    assert np.argmax(a) == np.argmax(b)
    np.testing.assert_allclose(a, b, atol=2e-3)


# -- settings from the config, learned state from the file (scikit-learn's params vs fitted attributes)

CHANGED = {"zscore": {"window": 100}, "ewma": {"span": 30}, "gmm": {"n_components": 2},
           "window_shift": {"window": 20}, "forecast": {"threshold": 4.0}, "context": {"order": 3}}


def changed_config() -> AnomalyConfig:
    base = AnomalyConfig()
    return base.model_copy(update={name: getattr(base, name).model_copy(update=change)
                                   for name, change in CHANGED.items()})


def test_every_member_has_a_settings_change_to_test() -> None:
    assert set(CHANGED) == set(MEMBERS)


@pytest.mark.parametrize("name", NAMES)
def test_state_holds_no_setting(name: str) -> None:
    detector = trained(name)
    state = detector.get_state()
    members = state["members"] if name == "ensemble" else {name: state}
    for member_name, member_state in members.items():
        params = set(build_detector(member_name, AnomalyConfig()).get_params())
        assert not params & set(member_state["detector"]), member_name
        assert "settings_hash" in member_state


@pytest.mark.parametrize("name", NAMES)
def test_a_config_change_takes_effect_after_load(name: str) -> None:
    state = json.loads(json.dumps(trained(name).get_state()))
    changed = build_detector(name, changed_config())
    with pytest.raises(SettingsChanged):
        changed.set_state(state)
    members = changed.members if isinstance(changed, EnsembleDetector) else [changed]
    for member in members:
        for key, value in CHANGED[member.name].items():
            assert getattr(member, key) == value, (member.name, key)
    same = build_detector(name, AnomalyConfig())
    same.set_state(state)  # unchanged settings load as before


def test_ewma_span_and_zscore_window_from_the_config_are_used_after_train_and_load(tmp_path: Any,
                                                                                    caplog: Any) -> None:
    """The issue's reproduction: span 20 -> 30 and window 288 -> 100, then the model file is loaded."""
    from ai_ops.config import OpsConfig
    from ai_ops.jobs import observing, workspace
    from ai_ops.state import save_model

    paths = workspace.Paths(tmp_path)
    config = OpsConfig()
    save_model(paths.detector("svc", "cpu"), "ensemble", trained("ensemble").get_state())
    base = config.anomaly
    tuned = config.model_copy(update={"anomaly": base.model_copy(update={
        "ewma": base.ewma.model_copy(update={"span": 30}), "zscore": base.zscore.model_copy(update={"window": 100})})})
    with caplog.at_level("WARNING"):
        detector = observing.load_ensemble(tuned, paths, "svc", "cpu")
    members = {m.name: m for m in detector.members}
    assert members["ewma"].span == 30 and members["zscore"].window == 100
    assert "learned with other settings" in caplog.text and "zscore" in caplog.text
    caplog.clear()
    loaded = observing.load_ensemble(config, paths, "svc", "cpu")
    assert not caplog.text and {m.name: m for m in loaded.members}["ewma"].count_ > 0


@pytest.mark.parametrize(("n", "window"), [(0, 8), (5, 8), (40, 8), (120, 30), (700, 288)])
def test_robust_rolling_zscore_is_its_definition(n: int, window: int) -> None:
    """Each point against the `window` points before it: centre = their median (from 8 of them),
    spread = 1.4826 x the median of the previous deviations from the running median."""
    from ai_ops.detectors.zscore import MAD_TO_SIGMA, MIN_POINTS, rolling_zscore, spread_floor

    values = np.round(np.random.default_rng(n).normal(100, 5, n), 1)  # ties on purpose
    centre_incl = np.array([np.median(values[max(0, j - window + 1):j + 1]) for j in range(n)])
    deviation = np.abs(values - centre_incl)
    expected = np.full(n, np.nan)
    for i in range(n):
        before = values[max(0, i - window):i]
        deviations = deviation[max(0, i - window):i]
        if before.size >= MIN_POINTS and deviations.size >= MIN_POINTS:
            centre = np.median(before)
            expected[i] = (values[i] - centre) / (MAD_TO_SIGMA * np.median(deviations) + spread_floor(centre))
    np.testing.assert_allclose(rolling_zscore(values, window, robust=True), expected, rtol=1e-12, equal_nan=True)
