"""Seasonal Gaussian mixture: how unlikely is this value at this time of day and week?

Features per point: the value (robustly scaled) and the time of day and day of week as
points on circles (sin, cos), so 23:55 is next to 00:05. A `GaussianMixture` (scikit-learn,
full covariances) models their joint density; a point's raw surprise is its conditional
negative log-likelihood  -log p(value | time) = -(log p(value, time) - log p(time)),
where p(time) is the same mixture's marginal over the time features. The raw surprise is
then calibrated against the training window's own distribution of it (calibration.py).

Training is daily and incremental: each refit uses the last `training_window_days` of
history (a rolling window) and starts EM from yesterday's parameters (mapped into today's
scaling), not from a random start. scikit-learn's `warm_start` alone would not do this.
`loss` = mean negative log-likelihood per sample (nats) on the training window; the
training log also carries `loss_change`, the relative change from yesterday's model
evaluated on today's window (|L_new - L_old| / max(|L_old|, 1)); < 0.02 = a stable model.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.special import logsumexp
from threadpoolctl import ThreadpoolController

from ai_ops.detectors.base import CalibratedDetector, CalibrationSettings, FitReport, insufficient

DAY = 86400.0
WEEK = 7 * DAY
MIN_SAMPLES = 48
REG_COVAR = 1e-3


_CONTROLLER: list[ThreadpoolController] = []


def _blas_controller() -> ThreadpoolController:
    """One controller per process: finding the BLAS libraries costs ~5 ms a time."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def time_features(timestamps: np.ndarray) -> np.ndarray:
    """(n, 4): time of day and day of week as points on the unit circle."""
    day = 2 * np.pi * (timestamps % DAY) / DAY
    week = 2 * np.pi * (timestamps % WEEK) / WEEK
    return np.column_stack([np.sin(day), np.cos(day), np.sin(week), np.cos(week)])


def gaussian_log_density(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """log sum_k w_k N(x; mu_k, Sigma_k) for each row of x (pure numpy, full covariances)."""
    n, d = x.shape
    per_component = np.empty((n, weights.size))
    for k in range(weights.size):
        chol = np.linalg.cholesky(covariances[k])
        solved = np.linalg.solve(chol, (x - means[k]).T)
        log_det = 2.0 * np.log(np.diag(chol)).sum()
        per_component[:, k] = np.log(weights[k]) - 0.5 * (d * np.log(2 * np.pi) + log_det + (solved**2).sum(axis=0))
    return np.asarray(logsumexp(per_component, axis=1))


class SeasonalGMMDetector(CalibratedDetector):
    name = "gmm"

    def __init__(self, n_components: int = 3, choose_by_bic: bool = False, training_window_days: int = 14,
                 calibration: CalibrationSettings | None = None, seed: int = 0) -> None:
        super().__init__(calibration)
        self.n_components = n_components
        self.choose_by_bic = choose_by_bic
        self.training_window_days = training_window_days
        self.seed = seed
        self.centre_: float = 0.0
        self.scale_: float = 1.0
        self.weights_: np.ndarray | None = None
        self.means_: np.ndarray | None = None
        self.covariances_: np.ndarray | None = None
        self.loss_: float | None = None

    # ------------------------------------------------------------------ training
    def _features(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.column_stack([(values - self.centre_) / self.scale_, time_features(timestamps)])

    def _learn(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        """Refit on the last `training_window_days`, warm-started from the current model."""
        from sklearn.mixture import GaussianMixture

        t = np.asarray(timestamps, dtype=float)
        v = np.asarray(values, dtype=float)
        keep = np.isfinite(v) & np.isfinite(t)
        if keep.sum() >= MIN_SAMPLES:
            keep &= t >= t[keep].max() - self.training_window_days * DAY
        t, v = t[keep], v[keep]
        if v.size < MIN_SAMPLES:
            return insufficient(int(v.size), MIN_SAMPLES)
        old = (self.weights_, self.means_, self.covariances_, self.centre_, self.scale_)
        centre = float(np.median(v))
        q75, q25 = np.percentile(v, [75, 25])
        scale = float(q75 - q25) / 1.349 or float(np.std(v)) or 1e-6 * (abs(centre) + 1.0)
        self.centre_, self.scale_ = centre, scale
        x = self._features(t, v)
        init: dict[str, Any] = {}
        loss_before: float | None = None
        if old[0] is not None and old[0].size:
            means, covariances = self._rescaled(old[1], old[2], old[3], old[4])  # type: ignore[arg-type]
            loss_before = float(-gaussian_log_density(x, old[0], means, covariances).mean())
            init = {"weights_init": old[0], "means_init": means,
                    "precisions_init": np.linalg.inv(covariances), "n_components": old[0].size}
        candidates = [init["n_components"]] if init else (
            list(range(1, self.n_components + 1)) if self.choose_by_bic else [self.n_components])
        best: Any = None
        best_bic = np.inf
        for candidate in candidates:
            n = min(candidate, v.size // 8) or 1
            kwargs = {k: val for k, val in init.items() if k != "n_components"} if n == init.get("n_components") else {}
            model = GaussianMixture(n_components=n, covariance_type="full", reg_covar=REG_COVAR, max_iter=100,
                                    tol=1e-3, random_state=self.seed, init_params="k-means++", **kwargs)
            # Tiny matrices: BLAS threads only add overhead (10x slower on a busy 2-core box).
            with warnings.catch_warnings(), _blas_controller().limit(limits=1):
                warnings.simplefilter("ignore")
                model.fit(x)
            bic = model.bic(x) if len(candidates) > 1 else 0.0
            if bic < best_bic or best is None:
                best, best_bic = model, bic
        self.weights_ = np.asarray(best.weights_, dtype=float)
        self.means_ = np.asarray(best.means_, dtype=float)
        self.covariances_ = np.asarray(best.covariances_, dtype=float)
        self.loss_ = float(-best.score(x))
        message = ""
        if loss_before is not None:
            change = abs(self.loss_ - loss_before) / max(abs(loss_before), 1.0)
            message = f"loss_change={change:.4f}"
        return FitReport(int(v.size), True, loss=round(self.loss_, 6), converged=bool(best.converged_),
                         message=message)

    def _rescaled(self, means: np.ndarray, covariances: np.ndarray, centre: float,
                  scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Yesterday's parameters expressed in today's value scaling (an affine map of feature 0)."""
        a = np.ones(means.shape[1])
        a[0] = scale / self.scale_
        shift = np.zeros(means.shape[1])
        shift[0] = (centre - self.centre_) / self.scale_
        new_means = means * a + shift
        new_cov = covariances * np.outer(a, a)[None, :, :]
        return new_means, new_cov

    # ------------------------------------------------------------------ scoring
    def _raw_points(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        if self.weights_ is None or self.means_ is None or self.covariances_ is None:
            return np.full(values.shape, np.nan)  # untrained: no opinion
        x = self._features(timestamps, values)
        joint = gaussian_log_density(x, self.weights_, self.means_, self.covariances_)
        marginal = gaussian_log_density(x[:, 1:], self.weights_, self.means_[:, 1:], self.covariances_[:, 1:, 1:])
        return marginal - joint

    def _own_state(self) -> dict[str, Any]:
        def listed(a: np.ndarray | None) -> Any:
            return None if a is None else a.tolist()

        return {"n_components": self.n_components, "choose_by_bic": self.choose_by_bic,
                "training_window_days": self.training_window_days, "seed": self.seed,
                "centre": self.centre_, "scale": self.scale_, "weights": listed(self.weights_),
                "means": listed(self.means_), "covariances": listed(self.covariances_), "loss": self.loss_}

    def _set_own_state(self, state: dict[str, Any]) -> None:
        def array(a: Any) -> np.ndarray | None:
            return None if a is None else np.asarray(a, dtype=float)

        self.n_components, self.choose_by_bic = int(state["n_components"]), bool(state["choose_by_bic"])
        self.training_window_days, self.seed = int(state["training_window_days"]), int(state["seed"])
        self.centre_, self.scale_ = float(state["centre"]), float(state["scale"])
        self.weights_, self.means_ = array(state["weights"]), array(state["means"])
        self.covariances_, self.loss_ = array(state["covariances"]), state["loss"]
