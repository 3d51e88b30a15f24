"""Seasonal Gaussian mixture: how unlikely is this value at this time of day and week?

Features per point: the value (robustly scaled) and the time of day and day of week as
points on circles (sin, cos), so 23:55 is next to 00:05. A Gaussian mixture (full
covariances; EM as scikit-learn's `GaussianMixture`, written on sufficient statistics by `fit_mixture`
without its per-call overhead) models their joint density; a point's raw surprise is its conditional
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

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg.lapack import dgetrf, dgetrs, dpotrf, dtrtrs
from threadpoolctl import ThreadpoolController

from ai_ops.detectors.base import CalibratedDetector, CalibrationSettings, FitReport, insufficient
from ai_ops.detectors.zscore import spread_floor

DAY = 86400.0
WEEK = 7 * DAY
MIN_SAMPLES = 48
REG_COVAR = 1e-3
LOG_2PI = np.log(2 * np.pi)


_CONTROLLER: list[ThreadpoolController] = []


def _blas_controller() -> ThreadpoolController:
    """One controller per process: finding the BLAS libraries costs ~5 ms a time."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def time_features(timestamps: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(n, 4): time of day and day of week as points on the unit circle (written into `out` when given)."""
    day = 2 * np.pi * (timestamps % DAY) / DAY
    week = 2 * np.pi * (timestamps % WEEK) / WEEK
    if out is None:
        out = np.empty((timestamps.shape[0], 4))
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = np.sin(day), np.cos(day), np.sin(week), np.cos(week)
    return out


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """`_blas_controller().limit(limits=1)`: every BLAS library at one thread, then each back to its own number.

    Without limit()'s bookkeeping, and nothing at all when every library is at one thread already: setting
    OpenBLAS back to 2 threads costs ~15 us, paid per series per cycle unless the job holds one thread for
    all its series (then this costs ~1.5 us)."""
    libraries = _blas_controller().lib_controllers
    threads = [library.num_threads for library in libraries]
    if all(number == 1 for number in threads):  # already (a job that pins BLAS for all its series): nothing to undo
        yield
        return
    for library in libraries:
        library.set_num_threads(1)
    try:
        yield
    finally:
        for library, number in zip(libraries, threads, strict=True):
            library.set_num_threads(number)


def gaussian_log_density(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """log sum_k w_k N(x; mu_k, Sigma_k) for each row of x (pure numpy, full covariances)."""
    return _log_density(x, weights, means, component_factors(covariances))


Factors = list[tuple[np.ndarray, np.ndarray, float]]


def component_factors(covariances: np.ndarray) -> Factors:
    """Per component: the LU factors (LAPACK getrf) of its covariance's Cholesky factor L, and log det Sigma.

    The density solves L y = x - mu for every point. Factoring L once per model and solving with getrs
    is what `np.linalg.solve(L, ...)` (gesv = getrf + getrs) did on every call, so the numbers are the same.
    """
    factors = []
    # One call for every component: numpy factors each matrix of a stack by itself, as it does one alone.
    for chol in np.linalg.cholesky(covariances):
        lu, pivots, _ = dgetrf(chol)
        factors.append((lu, pivots, float(2.0 * np.log(np.diag(chol)).sum())))
    return factors


def _log_density(x: np.ndarray, weights: np.ndarray, means: np.ndarray, factors: Factors) -> np.ndarray:
    """`gaussian_log_density` given `component_factors` (cached by the detector per model)."""
    n, d = x.shape
    per_component = np.empty((weights.size, n))
    constant = d * LOG_2PI
    for k in range(weights.size):
        lu, pivots, log_det = factors[k]
        solved, _ = dgetrs(lu, pivots, (x - means[k]).T)
        per_component[k] = np.log(weights[k]) - 0.5 * (constant + log_det + (solved**2).sum(axis=0))
    return _logsumexp_rows(per_component)


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a), axis=0)) for finite `a` of shape (k, n): scipy's / scikit-learn's formula
    (the largest term split off and added through log1p), without their per-call dispatch overhead.
    The same operations in the same order, so the same numbers to the last bit (the steps that
    cannot change a value are skipped: s / m and + log(m) when no column has a tie for the max)."""
    top = a.max(axis=0)
    at_top = a == top
    s = np.exp(np.where(at_top, -np.inf, a) - top).sum(axis=0)
    ties = at_top.sum(axis=0)
    if ties.max() == 1:
        return np.asarray(np.log1p(s) + top)
    m = ties.astype(float)
    return np.asarray(np.log1p(s / m) + np.log(m) + top)


# ---------------------------------------------------------------------------------- EM
# scikit-learn's GaussianMixture(covariance_type="full").fit, step for step (same LAPACK calls,
# same BLAS products, same order of operations, so the same parameters bit for bit; tested against
# it in tests/test_detectors_training.py). Why not call it: on this problem (5 features, <= 3
# components, a few thousand points) its per-call input validation and array-API dispatch cost
# about three times the arithmetic, and the GMM's daily refit was most of the ensemble's training time.

def _precision_cholesky(covariances: np.ndarray) -> np.ndarray:
    """Cholesky factors of the precisions from the covariances (sklearn `_compute_precision_cholesky`)."""
    n_components, d, _ = covariances.shape
    out = np.empty((n_components, d, d))
    eye = np.eye(d)
    for k in range(n_components):
        chol, info = dpotrf(covariances[k], lower=1, clean=1)
        if info != 0:
            raise ValueError("Fitting the mixture model failed because some components have ill-defined "
                             "empirical covariance (for instance caused by singleton or collapsed samples).")
        solved, info = dtrtrs(chol, eye, lower=1)
        out[k] = solved.T
    return out


def _precision_cholesky_from_precisions(precisions: np.ndarray) -> np.ndarray:
    """sklearn `_compute_precision_cholesky_from_precisions`: flip, Cholesky, flip back."""
    out = []
    for p in precisions:
        chol, info = dpotrf(np.flip(np.flip(p, axis=1), axis=0), lower=1, clean=1)
        if info != 0:
            raise ValueError("The parameter 'precisions' should be symmetric, positive-definite")
        out.append(np.flip(np.flip(chol, axis=1), axis=0))
    return np.stack(out)


def _m_step_parameters(x: np.ndarray, resp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nk, means, covariances) from responsibilities (sklearn `_estimate_gaussian_parameters`, full)."""
    nk = resp.sum(axis=0) + 10 * np.finfo(resp.dtype).eps
    means = (resp.T @ x) / nk[:, np.newaxis]
    n_components, d = means.shape
    covariances = np.empty((n_components, d, d))
    for k in range(n_components):
        diff = x - means[k, :]
        covariances[k] = ((resp[:, k] * diff.T) @ diff) / nk[k]
        covariances[k].flat[:: d + 1] += REG_COVAR
    return nk, means, covariances


def _e_step(x: np.ndarray, weights: np.ndarray, means: np.ndarray,
            precisions_chol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log p(x_i) per point, log responsibilities (n, k)) (sklearn `_estimate_log_prob_resp`).

    Computed per component in rows (k, n) so every reduction runs over contiguous memory; the
    sums of squares add the columns in numpy's order for a row of 5 ((((a + b) + c) + d) + e).
    """
    n, d = x.shape
    n_components = means.shape[0]
    log_det = np.log(precisions_chol.reshape(n_components, -1)[:, :: d + 1]).sum(axis=1)
    # One product for all components (each column block is what x @ prec_chol gives alone).
    y = x @ np.concatenate(list(precisions_chol), axis=1)
    y -= np.concatenate([means[k] @ precisions_chol[k] for k in range(n_components)])
    y *= y
    log_prob = np.empty((n_components, n))
    for k in range(n_components):
        row = log_prob[k]
        row[:] = y[:, k * d]
        for j in range(1, d):
            row += y[:, k * d + j]
    # -0.5 (d log 2 pi + log_prob) + log_det + log weights, in that order, in place.
    log_prob += d * math.log(2 * math.pi)
    log_prob *= -0.5
    log_prob += log_det[:, np.newaxis]
    log_prob += np.log(weights)[:, np.newaxis]
    weighted = log_prob
    log_norm = _logsumexp_rows(weighted)
    with np.errstate(under="ignore"):
        log_resp = np.ascontiguousarray((weighted - log_norm).T)
    return log_norm, log_resp


def kmeans_plusplus_indices(x: np.ndarray, n_clusters: int, random_state: np.random.RandomState) -> np.ndarray:
    """The rows k-means++ seeding picks (sklearn `kmeans_plusplus` with unit weights, its greedy local trials
    and the same random draws, so the same rows). Here so that training never imports scikit-learn
    (importing sklearn.cluster takes ~0.7 s a process, more than a day's training of a series)."""
    n_samples = x.shape[0]
    weights = np.ones(n_samples)
    norms = np.einsum("ij,ij->i", x, x)
    n_local_trials = 2 + int(np.log(n_clusters))

    def squared_distances(rows: np.ndarray) -> np.ndarray:
        distances = -2 * (rows @ x.T)
        distances += np.einsum("ij,ij->i", rows, rows)[:, np.newaxis]
        distances += norms.reshape(1, -1)
        np.maximum(distances, 0, out=distances)
        return distances

    center_id = random_state.choice(n_samples, p=weights / weights.sum())
    indices = np.full(n_clusters, -1, dtype=int)
    indices[0] = center_id
    closest_dist_sq = squared_distances(x[center_id, np.newaxis])
    current_pot = closest_dist_sq @ weights
    for c in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        candidate_ids = np.searchsorted(np.cumsum(weights * closest_dist_sq), rand_vals)
        np.clip(candidate_ids, None, closest_dist_sq.size - 1, out=candidate_ids)
        distance_to_candidates = squared_distances(x[candidate_ids])
        np.minimum(closest_dist_sq, distance_to_candidates, out=distance_to_candidates)
        candidates_pot = distance_to_candidates @ weights.reshape(-1, 1)
        best = int(np.argmin(candidates_pot))
        current_pot = candidates_pot[best]
        closest_dist_sq = distance_to_candidates[best]
        indices[c] = candidate_ids[best]
    return indices


@dataclass
class MixtureFit:
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    converged: bool
    mean_log_likelihood: float
    """Mean log-likelihood per sample of the final parameters (sklearn's `score(x)`)."""
    initial_mean_log_likelihood: float
    """The same for the initial parameters (the first E-step): for a warm start, yesterday's model on today's data."""


MOMENTS_MAX_ABS = 1e4
"""`fit_mixture` uses the moment form while every feature is within this (in scaled units). Its
cancellation error (eps x the largest second moment, ~2e-8 here) then stays far below REG_COVAR;
beyond it (a far outlier, or a near-constant series' tiny scale) the centred form is used."""


def fit_mixture(x: np.ndarray, n_components: int, seed: int, weights_init: np.ndarray | None = None,
                means_init: np.ndarray | None = None, precisions_init: np.ndarray | None = None,
                max_iter: int = 100, tol: float = 1e-3, centred: bool | None = None) -> MixtureFit:
    """EM for a full-covariance Gaussian mixture: sklearn's `GaussianMixture(n_components, covariance_type="full",
    reg_covar=REG_COVAR, max_iter, tol, random_state=seed, init_params="k-means++", weights_init, means_init,
    precisions_init).fit(x)`.

    `centred=True` reproduces it bit for bit; the default (None) uses the moment form (`_moment_steps`,
    about twice as fast, the same model to ~1e-11) unless the data are too far out for it."""
    if not np.isfinite(x).all():
        raise ValueError("Input contains NaN or infinity.")
    if centred is None:
        centred = bool(np.abs(x).max() > MOMENTS_MAX_ABS)
    if weights_init is not None and means_init is not None and precisions_init is not None:
        weights, means = np.asarray(weights_init, dtype=float), np.asarray(means_init, dtype=float)
        precisions_chol = _precision_cholesky_from_precisions(np.asarray(precisions_init, dtype=float))
        covariances = np.linalg.inv(precisions_init)  # replaced by the first M-step (max_iter >= 1)
    else:
        resp = np.zeros((x.shape[0], n_components))
        indices = kmeans_plusplus_indices(x, n_components, np.random.RandomState(seed))
        resp[indices, np.arange(n_components)] = 1
        weights, means, covariances = _m_step_parameters(x, resp)
        weights /= x.shape[0]
        precisions_chol = _precision_cholesky(covariances)
    steps = _centred_steps(x) if centred else _moment_steps(x)
    return _run_em(steps, weights, means, covariances, precisions_chol, max_iter, tol)


EStep = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(weights, means, precision Choleskys) -> (log p(x_i) per point, responsibilities)."""
MStep = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""responsibilities -> (weights summing to 1, means, covariances)."""


def _run_em(steps: tuple[EStep, MStep], weights: np.ndarray, means: np.ndarray, covariances: np.ndarray,
            precisions_chol: np.ndarray, max_iter: int, tol: float) -> MixtureFit:
    """sklearn's loop: alternate the steps until the mean log-likelihood moves by less than `tol`."""
    e_step, m_step = steps
    lower_bound = -np.inf
    initial = np.nan
    converged = False
    for iteration in range(max_iter):
        previous = lower_bound
        log_norm, resp = e_step(weights, means, precisions_chol)
        weights, means, covariances = m_step(resp)
        precisions_chol = _precision_cholesky(covariances)
        lower_bound = float(log_norm.mean())
        if iteration == 0:
            initial = lower_bound
        if abs(lower_bound - previous) < tol:
            converged = True
            break
    log_norm, _ = e_step(weights, means, precisions_chol)
    return MixtureFit(weights, means, covariances, converged, float(log_norm.mean()), initial)


def _centred_steps(x: np.ndarray) -> tuple[EStep, MStep]:
    """scikit-learn's steps, op for op (`_e_step`, `_m_step_parameters`)."""
    def e_step(weights: np.ndarray, means: np.ndarray, precisions_chol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_norm, log_resp = _e_step(x, weights, means, precisions_chol)
        return log_norm, np.exp(log_resp)

    def m_step(resp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        weights, means, covariances = _m_step_parameters(x, resp)
        weights /= weights.sum()
        return weights, means, covariances

    return e_step, m_step


def _moment_steps(x: np.ndarray) -> tuple[EStep, MStep]:
    """The same steps written on the design matrix [1, x, x_i x_j (i <= j)], built once.

    Each component's log density is linear in that row (log w - (d log 2pi - log|P| + m'Pm)/2, then Pm,
    then -P_ij/2 on the squares, -P_ij on the cross terms), so the E-step is one (k x 21) @ (21 x n)
    product, and the M-step's sufficient statistics (counts, sums, second moments) another. The
    centred form's per-component passes over (n x d) arrays cost about twice as much.
    """
    n, d = x.shape
    upper_i, upper_j = np.triu_indices(d)
    design_t = np.empty((1 + d + upper_i.size, n))
    design_t[0] = 1.0
    design_t[1:1 + d] = x.T
    np.multiply(x.T[upper_i], x.T[upper_j], out=design_t[1 + d:])
    quadratic_weight = np.where(upper_i == upper_j, -0.5, -1.0)
    constant = d * math.log(2 * math.pi)
    diagonal = np.arange(d)

    def e_step(weights: np.ndarray, means: np.ndarray, precisions_chol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = means.shape[0]
        precisions = precisions_chol @ np.swapaxes(precisions_chol, 1, 2)
        log_det = 2 * np.log(np.diagonal(precisions_chol, axis1=1, axis2=2)).sum(axis=1)
        pm = (precisions @ means[:, :, np.newaxis])[:, :, 0]
        a = np.empty((k, design_t.shape[0]))
        a[:, 0] = np.log(weights) - 0.5 * (constant - log_det + (means * pm).sum(axis=1))
        a[:, 1:1 + d] = pm
        a[:, 1 + d:] = precisions[:, upper_i, upper_j] * quadratic_weight
        log_prob = a @ design_t
        top = log_prob.max(axis=0)
        log_prob -= top
        resp = np.exp(log_prob, out=log_prob)
        total = resp.sum(axis=0)
        resp /= total
        return np.log(total) + top, resp.T

    def m_step(resp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        stats = resp.T @ design_t.T
        k = stats.shape[0]
        nk = stats[:, 0] + 10 * np.finfo(float).eps
        stats /= nk[:, np.newaxis]
        means = stats[:, 1:1 + d].copy()
        covariances = np.empty((k, d, d))
        covariances[:, upper_i, upper_j] = stats[:, 1 + d:]
        covariances[:, upper_j, upper_i] = stats[:, 1 + d:]
        covariances -= means[:, :, np.newaxis] * means[:, np.newaxis, :]
        covariances[:, diagonal, diagonal] += REG_COVAR
        return nk / nk.sum(), means, covariances

    return e_step, m_step


def bic(fit: MixtureFit, n_samples: int) -> float:
    """Bayesian information criterion (sklearn `GaussianMixture.bic`, full covariances)."""
    n_components, d = fit.means.shape
    n_parameters = int(n_components * d * (d + 1) / 2.0 + d * n_components + n_components - 1)
    return float(-2 * fit.mean_log_likelihood * n_samples + n_parameters * np.log(n_samples))


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
        self._factor_cache: tuple[np.ndarray, Factors, Factors] | None = None

    # ------------------------------------------------------------------ training
    def _features(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        x = np.empty((values.shape[0], 5))
        x[:, 0] = (values - self.centre_) / self.scale_
        time_features(timestamps, x[:, 1:])
        return x

    def _learn(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        """Refit on the last `training_window_days`, warm-started from the current model."""
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
        # A constant window has no spread: scale it so the mixture's own resolution (sd sqrt(REG_COVAR) in
        # scaled units) is the other members' spread floor. 1e-6 (|centre| + 1) put it 30x finer, so a flat
        # 0.01 % error rate jittering by 1e-8 (float noise) scored 10^11; a real change still scores that.
        scale = float(q75 - q25) / 1.349 or float(np.std(v)) or float(spread_floor(np.array(centre))) / math.sqrt(
            REG_COVAR)
        self.centre_, self.scale_ = centre, scale
        x = self._features(t, v)
        init: dict[str, Any] = {}
        if old[0] is not None and old[0].size:
            means, covariances = self._rescaled(old[1], old[2], old[3], old[4])  # type: ignore[arg-type]
            init = {"weights_init": old[0], "means_init": means,
                    "precisions_init": np.linalg.inv(covariances), "n_components": old[0].size}
        candidates = [init["n_components"]] if init else (
            list(range(1, self.n_components + 1)) if self.choose_by_bic else [self.n_components])
        best: MixtureFit | None = None
        best_bic = np.inf
        for candidate in candidates:
            n = min(candidate, v.size // 8) or 1
            kwargs = {k: val for k, val in init.items() if k != "n_components"} if n == init.get("n_components") else {}
            # Tiny matrices: BLAS threads only add overhead (10x slower on a busy 2-core box).
            with _blas_controller().limit(limits=1):
                model = fit_mixture(x, n, self.seed, **kwargs)
            score = bic(model, x.shape[0]) if len(candidates) > 1 else 0.0
            if score < best_bic or best is None:
                best, best_bic = model, score
        assert best is not None
        self.weights_, self.means_, self.covariances_ = best.weights, best.means, best.covariances
        self.loss_ = -best.mean_log_likelihood
        message = ""
        if init:
            # Yesterday's model on today's window: the warm start's first E-step evaluated exactly that.
            loss_before = -best.initial_mean_log_likelihood if best.means.shape[0] == init["n_components"] else \
                float(-gaussian_log_density(x, init["weights_init"], init["means_init"], covariances).mean())
            change = abs(self.loss_ - loss_before) / max(abs(loss_before), 1.0)
            message = f"loss_change={change:.4f}"
        return FitReport(int(v.size), True, loss=round(self.loss_, 6), converged=best.converged, message=message)

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
        joint_factors, marginal_factors = self._factors()
        with _one_blas_thread():  # a 5 x 5 solve: BLAS threads only spin (5x the CPU time)
            joint = _log_density(x, self.weights_, self.means_, joint_factors)
            marginal = _log_density(x[:, 1:], self.weights_, self.means_[:, 1:], marginal_factors)
        return marginal - joint

    def _factors(self) -> tuple[Factors, Factors]:
        """`component_factors` of the joint and the time-marginal covariances, computed once per model."""
        covariances = self.covariances_
        assert covariances is not None
        if self._factor_cache is None or self._factor_cache[0] is not covariances:
            self._factor_cache = (covariances, component_factors(covariances),
                                  component_factors(covariances[:, 1:, 1:]))
        return self._factor_cache[1], self._factor_cache[2]

    def _own_state(self) -> dict[str, Any]:
        def listed(a: np.ndarray | None) -> Any:
            return None if a is None else a.tolist()

        return {"centre": self.centre_, "scale": self.scale_, "weights": listed(self.weights_),
                "means": listed(self.means_), "covariances": listed(self.covariances_), "loss": self.loss_}

    def _set_own_state(self, state: dict[str, Any]) -> None:
        def array(a: Any) -> np.ndarray | None:
            return None if a is None else np.asarray(a, dtype=float)

        self.centre_, self.scale_ = float(state["centre"]), float(state["scale"])
        self.weights_, self.means_ = array(state["weights"]), array(state["means"])
        self.covariances_, self.loss_ = array(state["covariances"]), state["loss"]
