"""What the learner sees of one window: SLA attainment, cost, load, alerts. Pure numpy.

The SLA attainment is exact when the window has the SLI series (`sli_total`, `sli_good`: from a
latency histogram's objective bucket and the error counters, see docs/learner.md#the-sli), and
otherwise the p95 approximation, labelled "approximate" in `Observation.sli_method`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

SLOW_STEP_BAD_SHARE = 0.05
"""When a step's p95 latency exceeds the objective, at least 5% of its requests were slower
than the objective (that is what p95 means): we count exactly that lower bound as bad."""

ALERT_METRICS: dict[str, str] = {
    "alert_latency_p95_ms": "latency_p95_ms",
    "alert_error_rate": "error_rate",
    "alert_cpu_utilization": "cpu_utilization",
}
"""Alert threshold -> the metric it watches."""


def sla_attainment(request_rate: np.ndarray, error_rate_percent: np.ndarray, latency_p95_ms: np.ndarray,
                   latency_objective_ms: float) -> float:
    """Share of good requests in percent; steps without data are left out. NaN if nothing is known."""
    ok = np.isfinite(request_rate) & np.isfinite(error_rate_percent) & np.isfinite(latency_p95_ms)
    if not ok.any():
        return float("nan")
    requests = request_rate[ok]
    failed = requests * np.clip(error_rate_percent[ok], 0, 100) / 100.0
    slow = np.where(latency_p95_ms[ok] > latency_objective_ms, SLOW_STEP_BAD_SHARE * (requests - failed), 0.0)
    total = requests.sum()
    if total <= 0:
        return 100.0
    return float(100.0 * (1.0 - (failed.sum() + slow.sum()) / total))


def exact_attainment(total_rate: np.ndarray, good_rate: np.ndarray) -> float:
    """The request-based SLI (Sloth, Pyrra, OpenSLO): good requests / all requests, in percent.

    `total_rate` and `good_rate` are per-step request rates (req/s) from the histogram's `_count`
    and its objective bucket minus failures (or given directly). Steps without both are left out;
    NaN if nothing is known, 100 when no request was served. Good above total (counter resets,
    scrape jitter) is clipped so one step never counts more good requests than it served.
    """
    total_rate, good_rate = np.asarray(total_rate, dtype=float), np.asarray(good_rate, dtype=float)
    ok = np.isfinite(total_rate) & np.isfinite(good_rate)
    if not ok.any():
        return float("nan")
    total = np.clip(total_rate[ok], 0.0, None)
    good = np.clip(good_rate[ok], 0.0, total)
    if total.sum() <= 0:
        return 100.0
    return float(100.0 * good.sum() / total.sum())


def step_good_share(total_rate: np.ndarray, good_rate: np.ndarray) -> np.ndarray:
    """Per step: the share of good requests (0..1); NaN where unknown or no request was served."""
    total_rate, good_rate = np.asarray(total_rate, dtype=float), np.asarray(good_rate, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.clip(good_rate, 0.0, None) / total_rate
    return np.where(np.isfinite(share) & (total_rate > 0), np.clip(share, 0.0, 1.0), np.nan)


def good_shares(values: dict[str, np.ndarray], latency_objective_ms: float) -> np.ndarray:
    """Per step: the share of good requests (0..1, NaN where unknown), from the exact SLI when the
    series are there, else the p95 lower bound's rule (failed requests, plus 5% of the rest of a
    step whose p95 is above the objective)."""
    if has_exact_sli(values):
        return step_good_share(values["sli_total"], values["sli_good"])
    errors = np.clip(np.asarray(values["error_rate"], dtype=float), 0, 100) / 100.0
    latency = np.asarray(values["latency_p95_ms"], dtype=float)
    with np.errstate(invalid="ignore"):
        slow = np.where(latency > latency_objective_ms, SLOW_STEP_BAD_SHARE, 0.0)
    share = (1.0 - errors) * (1.0 - slow)
    return np.where(np.isfinite(errors) & np.isfinite(latency), share, np.nan)


def bad_steps(values: dict[str, np.ndarray], latency_objective_ms: float, sla_target: float) -> np.ndarray:
    """Per step: True when the step itself missed the SLA (its own good share below the target),
    False when it met it, and unknown steps False. Exact when the SLI series are present, else
    the approximation's rule (p95 above the objective, or errors above the error budget rate)."""
    if has_exact_sli(values):
        share = step_good_share(values["sli_total"], values["sli_good"])
        return np.isfinite(share) & (share < sla_target / 100.0 - 1e-12)
    latency, errors = values["latency_p95_ms"], values["error_rate"]
    with np.errstate(invalid="ignore"):
        return np.nan_to_num((latency > latency_objective_ms) | (errors > 100.0 - sla_target), nan=0).astype(bool)


def has_exact_sli(values: dict[str, np.ndarray]) -> bool:
    """Whether the window carries the exact SLI series with at least one known step."""
    if "sli_total" not in values or "sli_good" not in values:
        return False
    return bool((np.isfinite(values["sli_total"]) & np.isfinite(values["sli_good"])).any())


def bad_step_share(values: dict[str, np.ndarray], latency_objective_ms: float, sla_target: float) -> float:
    """Share of the window's known steps that missed the SLA on their own (NaN if none is known)."""
    if has_exact_sli(values):
        known = np.isfinite(step_good_share(values["sli_total"], values["sli_good"]))
    else:
        known = np.isfinite(values["latency_p95_ms"]) & np.isfinite(values["error_rate"])
    if not known.any():
        return float("nan")
    return float(bad_steps(values, latency_objective_ms, sla_target)[known].mean())


def window_attainment(values: dict[str, np.ndarray], latency_objective_ms: float) -> tuple[float, str]:
    """(SLA attainment in percent, "exact" | "approximate") of a window: the exact SLI when the
    series are there, else the p95 lower bound (`sla_attainment`)."""
    if has_exact_sli(values):
        return exact_attainment(values["sli_total"], values["sli_good"]), "exact"
    return sla_attainment(values["request_rate"], values["error_rate"], values["latency_p95_ms"],
                          latency_objective_ms), "approximate"


def error_budget_burn(attainment: float, sla_target: float) -> float:
    """Burn rate of the error budget: bad share / allowed bad share (1.0 = exactly on budget)."""
    allowed = 100.0 - sla_target
    if not np.isfinite(attainment):
        return float("nan")
    if allowed <= 0:
        return 0.0 if attainment >= 100.0 else float("inf")
    return max(0.0, (100.0 - attainment) / allowed)


def _load_explained(bad: np.ndarray, cpu: np.ndarray, demand_anomalies: np.ndarray | None) -> np.ndarray:
    """Steps that count: every good step, and a bad step only when load explains it (its CPU is at
    least the 95th percentile of the good steps' CPU) and the demand itself was not flagged."""
    keep = ~bad
    if keep.any() and bad.any():
        keep |= bad & (cpu >= np.percentile(cpu[~bad], 95))
    else:
        keep[:] = True
    if demand_anomalies is not None:
        keep &= ~(demand_anomalies & bad)
    return keep


def load_explained_exact(values: dict[str, np.ndarray], latency_objective_ms: float, sla_target: float,
                         demand_anomalies: np.ndarray | None = None) -> float:
    """`load_explained_attainment` on the exact SLI: the same rule for which bad steps count (see
    there), with each step's bad requests counted from the SLI series instead of the p95 bound."""
    total, good, cpu = values["sli_total"], values["sli_good"], values["cpu_utilization"]
    ok = np.isfinite(total) & np.isfinite(good) & np.isfinite(cpu)
    if not ok.any():
        return float("nan")
    bad = bad_steps(values, latency_objective_ms, sla_target)[ok]
    keep = _load_explained(bad, cpu[ok], None if demand_anomalies is None else np.asarray(demand_anomalies, bool)[ok])
    if not keep.any():
        return float("nan")
    return exact_attainment(np.where(keep, total[ok], 0.0), np.where(keep, good[ok], 0.0))


def load_explained_attainment(request_rate: np.ndarray, error_rate_percent: np.ndarray, latency_p95_ms: np.ndarray,
                              cpu_percent: np.ndarray, latency_objective_ms: float, sla_target: float,
                              demand_anomalies: np.ndarray | None = None) -> float:
    """SLA attainment counting only the bad steps that load can explain; NaN if nothing is known.

    A bad step (slow, or errors above the SLA's error budget rate) is load-explained when its CPU
    utilization is at least the 95th percentile of the good steps' utilization: other steps at
    that load were fine, so more capacity (a lower scaling target) would not have helped a bad
    step below it. That keeps a latency spike or an error burst at normal load (an incident) from
    teaching the scaling target, while overload always counts. Steps where the detectors flagged
    the request rate itself (`demand_anomalies`: a traffic surge, an incident) never count.
    """
    ok = (np.isfinite(request_rate) & np.isfinite(error_rate_percent) & np.isfinite(latency_p95_ms)
          & np.isfinite(cpu_percent))
    if not ok.any():
        return float("nan")
    rate, errors, latency, cpu = request_rate[ok], error_rate_percent[ok], latency_p95_ms[ok], cpu_percent[ok]
    bad = (latency > latency_objective_ms) | (errors > 100.0 - sla_target)
    keep = _load_explained(bad, cpu, None if demand_anomalies is None else np.asarray(demand_anomalies, bool)[ok])
    return sla_attainment(np.where(keep, rate, 0.0), errors, latency, latency_objective_ms) if keep.any() \
        else float("nan")


@dataclass(frozen=True)
class Observation:
    """One window of evidence. Every field is a number a reviewer can check in the report."""

    time: float
    sla_attainment: float
    cost: float
    cost_per_hour: float
    utilization_mean: float
    utilization_p95: float
    replicas_mean: float
    replicas_max: float
    latency_p95_max_ms: float
    error_rate_mean: float
    samples: int
    anomaly_share: float = 0.0
    alerts_fired: dict[str, bool] = field(default_factory=dict)
    usable: bool = True
    unusable_reason: str = ""
    sla_attainment_load: float = float("nan")
    """Attainment counting only load-explained bad steps (see `load_explained_attainment`); the
    scaling target learns from this, so incidents at normal load do not drag it down."""
    requests: float = float("nan")
    """Requests served in the window (rate x step, summed): weighs the window's evidence."""
    normal_levels: dict[str, float] = field(default_factory=dict)
    """Per alert threshold: a high quantile of its metric over the window's steps that no detector
    flagged, i.e. how high the metric goes in normal operation. Anchors the alert thresholds."""
    sli_method: str = "approximate"
    """"exact": attainment is good / all requests from the latency histogram and error counters;
    "approximate": the p95 lower bound (a slow step counts 5% of its requests bad)."""
    bad_step_share: float = float("nan")
    """Share of the window's steps whose own good share was below the SLA target."""
    error_budget_burn: float = float("nan")
    """Error-budget burn rate of the window from the same SLI (1.0 = spending exactly the budget)."""
    alert_fire_levels: dict[str, float] = field(default_factory=dict)
    """Per alert threshold: the highest threshold at which the alert would have fired in this window
    (its metric's highest level held for the alert's `for:` steps). The page budget is tuned on these."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; unknown numbers (NaN) become null so the ledger stays strict JSON."""
        return {k: ((round(v, 6) if np.isfinite(v) else None) if isinstance(v, float) else v)
                for k, v in asdict(self).items()}


def _stat(values: np.ndarray, fn: Any) -> float:
    finite = values[np.isfinite(values)]
    return float(fn(finite)) if finite.size else float("nan")


def alerts_fired(values: dict[str, np.ndarray], thresholds: dict[str, float], for_steps: int = 2) -> dict[str, bool]:
    """An alert fires when its metric stays above the threshold `for_steps` steps in a row (Prometheus `for:`)."""
    fired: dict[str, bool] = {}
    for name, metric in ALERT_METRICS.items():
        if name not in thresholds or metric not in values:
            continue
        above = np.nan_to_num(values[metric], nan=-np.inf) > thresholds[name]
        run = np.convolve(above.astype(int), np.ones(for_steps, dtype=int), mode="valid")
        fired[name] = bool((run >= for_steps).any())
    return fired


def fire_levels(values: dict[str, np.ndarray], for_steps: int = 2) -> dict[str, float]:
    """Per alert threshold: the highest level its metric held for `for_steps` steps in a row, i.e.
    the alert fires in this window exactly when its threshold is below this value."""
    levels: dict[str, float] = {}
    for name, metric in ALERT_METRICS.items():
        if metric not in values:
            continue
        series = np.nan_to_num(np.asarray(values[metric], dtype=float), nan=-np.inf)
        if series.size < for_steps:
            continue
        held = np.min(np.lib.stride_tricks.sliding_window_view(series, for_steps), axis=1)
        top = float(held.max())
        if np.isfinite(top):
            levels[name] = round(top, 6)
    return levels


NORMAL_QUANTILE = 99.0
"""The alert anchor is this percentile of the metric's normal (unflagged) steps."""
MIN_NORMAL_STEPS = 12
"""Fewer normal steps than this (one hour at 5 minutes): the window says nothing about normal."""


def normal_levels(values: dict[str, np.ndarray], anomalous_steps: np.ndarray | None = None,
                  quantile: float = NORMAL_QUANTILE) -> dict[str, float]:
    """Per alert threshold, the `quantile` percentile of its metric over the steps not flagged anomalous.

    Steps the detectors flagged are left out, so an incident does not teach the alert that its
    own symptoms are normal.
    """
    levels: dict[str, float] = {}
    for name, metric in ALERT_METRICS.items():
        if metric not in values:
            continue
        series = np.asarray(values[metric], dtype=float)
        keep = np.isfinite(series)
        if anomalous_steps is not None:
            keep &= ~np.asarray(anomalous_steps, dtype=bool)
        if keep.sum() >= MIN_NORMAL_STEPS:
            levels[name] = round(float(np.percentile(series[keep], quantile)), 6)
    return levels


def observe(time: float, step: int, values: dict[str, np.ndarray], thresholds: dict[str, float],
            latency_objective_ms: float, anomaly_share: float = 0.0, sla_target: float = 99.95,
            demand_anomalies: np.ndarray | None = None, anomalous_steps: np.ndarray | None = None) -> Observation:
    """Summarise a window of metrics (arrays aligned on one grid) into an Observation; `demand_anomalies`
    marks the steps whose request rate a detector flagged (surges), `anomalous_steps` the steps where
    any metric was flagged (left out of the normal levels)."""
    cost_rate = values["cost_per_hour"]
    attainment, method = window_attainment(values, latency_objective_ms)
    if method == "exact":
        load_sla = load_explained_exact(values, latency_objective_ms, sla_target, demand_anomalies)
    else:
        load_sla = load_explained_attainment(values["request_rate"], values["error_rate"], values["latency_p95_ms"],
                                             values["cpu_utilization"], latency_objective_ms, sla_target,
                                             demand_anomalies)
    return Observation(
        time=time,
        sla_attainment=attainment,
        cost=_stat(cost_rate, np.sum) * step / 3600.0,
        cost_per_hour=_stat(cost_rate, np.mean),
        utilization_mean=_stat(values["cpu_utilization"], np.mean),
        utilization_p95=_stat(values["cpu_utilization"], lambda v: np.percentile(v, 95)),
        replicas_mean=_stat(values["replicas"], np.mean),
        replicas_max=_stat(values["replicas"], np.max),
        latency_p95_max_ms=_stat(values["latency_p95_ms"], np.max),
        error_rate_mean=_stat(values["error_rate"], np.mean),
        samples=int(np.isfinite(values["request_rate"]).sum()),
        requests=_stat(values["request_rate"], np.sum) * step,
        normal_levels=normal_levels(values, anomalous_steps),
        anomaly_share=anomaly_share,
        alerts_fired=alerts_fired(values, thresholds),
        sla_attainment_load=load_sla,
        sli_method=method,
        bad_step_share=bad_step_share(values, latency_objective_ms, sla_target),
        error_budget_burn=error_budget_burn(attainment, sla_target),
        alert_fire_levels=fire_levels(values),
    )
