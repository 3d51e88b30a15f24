"""Daily training: GMM warm start, loss tracking, the training log, refusing a tampered model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ai_ops.config import AnomalyConfig, OpsConfig
from ai_ops.detectors.ensemble import EnsembleDetector, SeverityLevels, build_detector
from ai_ops.detectors.gmm import SeasonalGMMDetector

DAY = 86400.0


def series(days: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = 1_700_000_000.0 + np.arange(int(days * 288)) * 300.0
    return t, 50 + 10 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 1, t.size)


def test_gmm_refit_is_warm_started_from_yesterday_and_tracks_its_loss() -> None:
    t, v = series(8)
    gmm = SeasonalGMMDetector(training_window_days=7)
    first = gmm.fit(t[: 7 * 288], v[: 7 * 288])
    assert first.trained and first.converged and first.loss is not None and np.isfinite(first.loss)
    means_before = gmm.means_.copy()
    second = gmm.fit(t, v)  # the next day: rolling window of the last 7 days
    assert second.trained and second.message.startswith("loss_change=")
    assert float(second.message.split("=")[1]) < 0.02  # same regime: a stable model
    # Warm start keeps the components where they were (a cold k-means start may relabel them).
    assert np.abs(gmm.means_ - means_before).max() < 0.5


@pytest.mark.parametrize("clusters", [1, 2, 3, 5])
def test_kmeans_plusplus_seeding_picks_scikit_learns_rows(clusters: int) -> None:
    from sklearn.cluster import kmeans_plusplus

    from ai_ops.detectors.gmm import kmeans_plusplus_indices

    rng = np.random.default_rng(clusters)
    for x in (rng.standard_t(3, (500, 5)) * [1, 10, 0.1, 1, 1], np.round(rng.normal(0, 1, (300, 5)))):
        expected = kmeans_plusplus(x, clusters, random_state=np.random.RandomState(0))[1]
        np.testing.assert_array_equal(kmeans_plusplus_indices(x, clusters, np.random.RandomState(0)), expected)


def test_training_does_not_import_scikit_learn() -> None:
    """Importing sklearn.cluster costs ~0.7 s a process: more than training a series for a day."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from ai_ops.config import AnomalyConfig\n"
            "from ai_ops.detectors.ensemble import EnsembleDetector\n"
            "t = 1.7e9 + np.arange(600) * 300.0\n"
            "EnsembleDetector(AnomalyConfig()).fit(t, np.sin(t / 3600.0))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_gmm_loss_change_is_yesterdays_model_on_todays_window() -> None:
    """loss_change comes from the warm start's first E-step; it must equal a direct evaluation."""
    from ai_ops.detectors.gmm import gaussian_log_density

    t, v = series(8, seed=5)
    gmm = SeasonalGMMDetector(training_window_days=7)
    gmm.fit(t[: 7 * 288], v[: 7 * 288])
    old = (gmm.weights_.copy(), gmm.means_.copy(), gmm.covariances_.copy(), gmm.centre_, gmm.scale_)
    report = gmm.fit(t, v)
    keep = t >= t[-1] - 7 * DAY
    means, covariances = gmm._rescaled(old[1], old[2], old[3], old[4])
    before = float(-gaussian_log_density(gmm._features(t[keep], v[keep]), old[0], means, covariances).mean())
    expected = abs(gmm.loss_ - before) / max(abs(before), 1.0)
    assert float(report.message.split("=")[1]) == pytest.approx(expected, abs=1e-4)


def test_gmm_window_keeps_old_regime_only_while_it_is_in_the_window() -> None:
    t, v = series(6)
    v[t >= t[0] + 3 * DAY] += 100.0
    gmm = SeasonalGMMDetector(training_window_days=2)
    gmm.fit(t[: 3 * 288], v[: 3 * 288])
    gmm.fit(t, v)  # the window now holds only the new regime
    assert gmm.centre_ > 120


def test_gmm_can_choose_its_number_of_components_by_bic() -> None:
    t, v = series(3)
    gmm = SeasonalGMMDetector(n_components=4, choose_by_bic=True)
    assert gmm.fit(t, v).trained
    assert 1 <= gmm.weights_.size <= 4


@pytest.mark.parametrize("components", [1, 2, 3])
def test_gmm_em_gives_scikit_learns_fit_bit_for_bit(components: int) -> None:
    """fit_mixture replaces GaussianMixture.fit for speed; it must give the same model, cold and warm."""
    import warnings

    from sklearn.mixture import GaussianMixture

    from ai_ops.detectors.gmm import REG_COVAR, bic, fit_mixture, time_features

    t, v = series(3, seed=components)
    v = v + np.random.default_rng(components).standard_t(3, t.size)
    x = np.column_stack([(v - v.mean()) / v.std(), time_features(t)])
    x_next = x + np.random.default_rng(9).normal(0, 0.05, x.shape)

    def sklearn_fit(data: np.ndarray, **init: np.ndarray) -> GaussianMixture:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return GaussianMixture(components, covariance_type="full", reg_covar=REG_COVAR, max_iter=100, tol=1e-3,
                                   random_state=0, init_params="k-means++", **init).fit(data)

    cold = sklearn_fit(x)
    ours = fit_mixture(x, components, 0, centred=True)
    warm_init = {"weights_init": cold.weights_, "means_init": cold.means_,
                 "precisions_init": np.linalg.inv(cold.covariances_)}
    warm = sklearn_fit(x_next, **warm_init)
    ours_warm = fit_mixture(x_next, components, 0, centred=True, **warm_init)
    for theirs, mine, data in ((cold, ours, x), (warm, ours_warm, x_next)):
        np.testing.assert_array_equal(theirs.weights_, mine.weights)
        np.testing.assert_array_equal(theirs.means_, mine.means)
        np.testing.assert_array_equal(theirs.covariances_, mine.covariances)
        assert theirs.converged_ == mine.converged
        assert float(theirs.score(data)) == mine.mean_log_likelihood
        assert theirs.bic(data) == bic(mine, data.shape[0])


@pytest.mark.parametrize("components", [1, 2, 3])
def test_gmm_moment_form_gives_the_centred_fit(components: int) -> None:
    """The default (moment-form) EM is the centred EM rewritten: same iterations, same model to rounding."""
    from ai_ops.detectors.gmm import fit_mixture, time_features

    t, v = series(3, seed=components)
    v = v + np.random.default_rng(components).standard_t(3, t.size)
    x = np.column_stack([(v - np.median(v)) / v.std(), time_features(t)])
    x_next = x + np.random.default_rng(9).normal(0, 0.05, x.shape)
    cold = fit_mixture(x, components, 0, centred=True)
    warm = {"weights_init": cold.weights, "means_init": cold.means, "precisions_init": np.linalg.inv(cold.covariances)}
    for data, init in ((x, {}), (x_next, warm)):
        exact = fit_mixture(data, components, 0, centred=True, **init)
        fast = fit_mixture(data, components, 0, **init)
        np.testing.assert_allclose(fast.weights, exact.weights, rtol=0, atol=1e-9)
        np.testing.assert_allclose(fast.means, exact.means, rtol=0, atol=1e-9)
        np.testing.assert_allclose(fast.covariances, exact.covariances, rtol=0, atol=1e-9)
        assert fast.converged == exact.converged
        assert fast.mean_log_likelihood == pytest.approx(exact.mean_log_likelihood, abs=1e-9)
        assert fast.initial_mean_log_likelihood == pytest.approx(exact.initial_mean_log_likelihood, abs=1e-9)


def test_gmm_far_outliers_use_the_centred_form() -> None:
    """Squares of 1e6 would cancel to noise larger than REG_COVAR in the moment form: such data take the
    centred path, so the fit is the exact one (and a far outlier still gets its own component)."""
    from ai_ops.detectors.gmm import MOMENTS_MAX_ABS, fit_mixture, time_features

    t, v = series(3, seed=4)
    x = np.column_stack([(v - np.median(v)) / v.std(), time_features(t)])
    x[100:110, 0] = 1e6
    assert np.abs(x).max() > MOMENTS_MAX_ABS
    chosen = fit_mixture(x, 3, 0)
    exact = fit_mixture(x, 3, 0, centred=True)
    np.testing.assert_array_equal(chosen.means, exact.means)
    np.testing.assert_array_equal(chosen.covariances, exact.covariances)
    assert np.all(np.linalg.eigvalsh(chosen.covariances) > 0)


def test_gmm_state_is_plain_json_and_rebuilds_exactly() -> None:
    t, v = series(3)
    gmm = SeasonalGMMDetector()
    gmm.fit(t, v)
    state = json.loads(json.dumps(gmm.get_state()))
    assert set(state["detector"]) >= {"weights", "means", "covariances", "centre", "scale"}
    clone = SeasonalGMMDetector()
    clone.set_state(state)
    t2, v2 = series(1, seed=1)
    np.testing.assert_array_equal(gmm.score(t2 + 3 * DAY, v2), clone.score(t2 + 3 * DAY, v2))


def test_ensemble_fit_reports_gmm_loss_and_convergence() -> None:
    t, v = series(3)
    report = EnsembleDetector(AnomalyConfig()).fit(t, v)
    assert report.trained and report.samples == t.size and report.converged is True and report.loss is not None


def test_lower_sensitivity_means_fewer_alarms() -> None:
    """The tuning advice in the docs must work as written (see also the EWMA-span test below)."""
    t, v = series(6, seed=3)
    v += np.random.default_rng(4).standard_t(3, t.size)  # heavy tails: some false alarms to cut
    config = AnomalyConfig()
    from ai_ops.detectors.backtest import stream_scores

    scores = stream_scores("ensemble", config, t, v)
    default = (scores >= SeverityLevels.from_sensitivity(0.92).warning).sum()
    lower = (scores >= SeverityLevels.from_sensitivity(0.85).warning).sum()
    assert SeverityLevels.from_sensitivity(0.85).warning > SeverityLevels.from_sensitivity(0.92).warning
    assert 0 < default and lower <= default


def _alarms_on_recurring_spikes(overrides: dict) -> int:
    """Warning-level points on four seeded series with a +15 sigma spike every 400 points."""
    from ai_ops.detectors.backtest import stream_scores

    config = AnomalyConfig.model_validate(overrides)
    warning = SeverityLevels.from_sensitivity(config.sensitivity).warning
    total = 0
    for seed in range(4):
        rng = np.random.default_rng(seed)
        t = 1_700_000_000.0 + np.arange(8 * 288) * 300.0
        v = 50 + 10 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 1, t.size)
        v[np.arange(600, t.size, 400)] += 15.0
        total += int((stream_scores("ensemble", config, t, v) >= warning).sum())
    return total


def test_brief_tuning_advice_gives_fewer_alarms() -> None:
    """Sensitivity 0.92 -> 0.85 and EWMA span 20 -> 30 must each cut alarms (the docs' advice).

    The span works through the ensemble's quiet period after an alarm (15 x span points):
    the last assertion shows that without that link the longer span would not help. The spikes
    here are 400 points apart on a calm series, i.e. separate events: the hold re-arms after a
    quiet spell (burst_rearm_points), so the span's effect shows with re-arming off.
    """
    default = _alarms_on_recurring_spikes({})
    assert default > 0
    assert _alarms_on_recurring_spikes({"sensitivity": 0.85}) < default
    hold_only = _alarms_on_recurring_spikes({"burst_rearm_points": 0})
    assert hold_only < default  # re-arming: each isolated spike after quiet hours is its own event
    assert _alarms_on_recurring_spikes({"ewma": {"span": 30}, "burst_rearm_points": 0}) < hold_only
    assert _alarms_on_recurring_spikes({"ewma": {"span": 30}, "burst_hold_points": 300,
                                        "burst_rearm_points": 0}) >= hold_only


@pytest.mark.parametrize("noise", ["gaussian", "heavy_tailed_counts"])
def test_false_alarm_rate_is_low_on_any_kind_of_normal_series(noise: str) -> None:
    """Calibration: the same threshold means the same rarity on a flat and on a bursty series."""
    from ai_ops.detectors.backtest import stream_scores

    rng = np.random.default_rng(5)
    t = 1_700_000_000.0 + np.arange(5 * 288) * 300.0
    v = rng.normal(40, 2, t.size) if noise == "gaussian" else rng.lognormal(5, 0.8, t.size).round()
    scores = stream_scores("ensemble", AnomalyConfig(), t, v)
    warn = SeverityLevels.from_sensitivity(0.92).warning
    assert (scores >= warn).mean() < 0.01


def test_train_job_logs_loss_and_warm_starts_the_next_day(sim_config: OpsConfig) -> None:
    from ai_ops.jobs import train

    # Refit every series every day (anomaly.retrain would skip a stable series; tests/test_train_retrain.py).
    anomaly = sim_config.anomaly.model_copy(update={"retrain": sim_config.anomaly.retrain.model_copy(
        update={"min_change": 0.0})})
    sim_config = sim_config.model_copy(update={"anomaly": anomaly})
    now = 1_700_000_000.0
    first = train.run_train(sim_config, now)
    assert first.entries and all(e["trained"] and e["loss"] is not None and e["converged"] is not None
                                 for e in first.entries)
    second = train.run_train(sim_config, now + DAY)
    assert all(e["message"].startswith("loss_change=") for e in second.entries)
    log = json.loads((sim_config.models_path / "training_log.json").read_text())
    assert len(log["runs"]) == 2 and {"samples", "loss", "converged", "seconds"} <= set(log["runs"][-1]["series"][0])


def test_tampered_model_is_refused_and_restored_from_git(sim_config: OpsConfig, caplog: pytest.LogCaptureFixture) -> None:
    from ai_ops.jobs import observing, train, workspace

    now = 1_700_000_000.0
    train.run_train(sim_config, now)
    paths = workspace.Paths(sim_config.models_path)
    service = sim_config.services[0].name
    model_file = next((sim_config.models_path / "detectors" / service).glob("*.json"))
    data = json.loads(model_file.read_text())
    data["payload"]["burst"]["recent"] = [99.0]  # edited by hand: the checksum no longer matches
    model_file.write_text(json.dumps(data))
    detector = observing.load_ensemble(sim_config, paths, service, model_file.stem)
    assert "checksum mismatch" in caplog.text
    # Not the tampered state: the train job committed the model, so the last good version is restored.
    assert "restored the version of commit" in caplog.text and detector.burst_.recent_ != [99.0]
    assert build_detector("ensemble", AnomalyConfig()).get_state().keys() == detector.get_state().keys()


def test_replay_keeps_saved_detectors_in_memory_only_while_the_file_is_unchanged(sim_config: OpsConfig) -> None:
    """detectors_kept_in_memory (replay): the detector a cycle saved is reused by the next load, not when
    the file changed since (train, a person), not after a load took it, and never outside the block."""
    from ai_ops.jobs import observing, train, workspace
    from ai_ops.metrics import ServiceMetrics
    from ai_ops.state import save_model

    now = 1_700_000_000.0
    train.run_train(sim_config, now)
    paths = workspace.Paths(sim_config.models_path)
    service = sim_config.services[0].name
    metric = next((sim_config.models_path / "detectors" / service).glob("*.json")).stem
    t = now + 300.0 * np.arange(1, 13)
    window = ServiceMetrics(service, t, 300, {metric: np.linspace(10.0, 12.0, t.size)})
    with observing.detectors_kept_in_memory():
        observing.detect(sim_config, paths, window)
        first = observing.load_ensemble(sim_config, paths, service, metric)
        # Taken out by that load: a second load rebuilds from the file, with the same state.
        second = observing.load_ensemble(sim_config, paths, service, metric)
        assert second is not first and second.get_state() == first.get_state()
        observing.detect(sim_config, paths, window)
        rewritten = {**second.get_state(), "burst": {"recent": [5.0]}}  # as the train job rewrites a model
        save_model(paths.detector(service, metric), "ensemble", rewritten)
        assert observing.load_ensemble(sim_config, paths, service, metric).burst_.recent_ == [5.0]
        observing.detect(sim_config, paths, window)
        kept = observing.load_ensemble(sim_config, paths, service, metric)
        observing.detect(sim_config, paths, window)
        assert observing.load_ensemble(sim_config, paths, service, metric) is not kept
    observing.detect(sim_config, paths, window)
    assert observing.load_ensemble(sim_config, paths, service, metric) is not observing.load_ensemble(
        sim_config, paths, service, metric)
