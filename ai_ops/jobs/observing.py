"""The metric sources of a job, and the detection pass every job runs over what they return."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ai_ops.config import OpsConfig, Secrets, ServiceConfig
from ai_ops.detectors.ensemble import EnsembleDetector
from ai_ops.errors import ConfigError
from ai_ops.jobs.workspace import SCALING, Paths, paths_for, read_ledger
from ai_ops.metrics import ServiceMetrics
from ai_ops.sim.service import TargetTimeline
from ai_ops.sources.base import MetricSource
from ai_ops.sources.prometheus import source_from
from ai_ops.sources.quality import screen
from ai_ops.sources.simulated import SimulatedSource
from ai_ops.state import ModelIntegrityError, load_model, save_model

log = logging.getLogger(__name__)



def deployed_target_timeline(config: OpsConfig) -> TargetTimeline:
    """The scaling target in force at each moment, replayed from the decision ledger.

    The simulated service has no real autoscaler to ask, so it follows what the controller
    wrote: the initial value, then each applied change from its decision time on.
    """
    initial = config.thresholds[SCALING].initial if SCALING in config.thresholds else 70.0
    changes = [(r["time"], r["new"][SCALING]) for r in read_ledger(paths_for(config))
               if r.get("applied") and SCALING in r.get("new", {})]
    times = np.array([t for t, _ in changes], dtype=float)
    values = np.array([initial] + [v for _, v in changes], dtype=float)

    def timeline(ts: np.ndarray) -> np.ndarray:
        return values[np.searchsorted(times, ts, side="right")]

    return timeline


def source_for(config: OpsConfig, service: ServiceConfig, secrets: Secrets) -> MetricSource:
    if service.source == "simulated":
        return SimulatedSource(deployed_target_timeline(config))
    if service.source in ("prometheus", "grafana"):
        return source_from(service.source, secrets, config.sources)
    raise ConfigError(f"service '{service.name}': source '{service.source}' is not available in this build")


class Sources:
    """The metric sources of one job: one per kind, shared by every service.

    Sharing means one retry budget and one circuit breaker per server for the whole job,
    so a dead Prometheus fails the cycle fast instead of once per service.
    """

    def __init__(self, config: OpsConfig, secrets: Secrets) -> None:
        self.config = config
        self.secrets = secrets
        self._by_kind: dict[str, MetricSource] = {}

    def fetch(self, service: ServiceConfig, start: float, end: float) -> ServiceMetrics:
        source = self._by_kind.get(service.source)
        if source is None:
            source = self._by_kind[service.source] = source_for(self.config, service, self.secrets)
        metrics = screen(source.fetch(service, start, end, self.config.step_seconds), self.config.data_quality)
        for metric, reason in metrics.rejected.items():
            log.warning("%s/%s: %s; those points are treated as gaps", service.name, metric, reason)
        return metrics


def fetch(config: OpsConfig, service: ServiceConfig, secrets: Secrets, start: float, end: float) -> ServiceMetrics:
    """One fetch outside a job (the demo summary)."""
    return Sources(config, secrets).fetch(service, start, end)




def load_ensemble(config: OpsConfig, paths: Paths, service: str, metric: str) -> EnsembleDetector:
    detector = EnsembleDetector(config.anomaly)
    try:
        state = load_model(paths.detector(service, metric), "ensemble")
    except ModelIntegrityError as exc:
        log.warning("%s", exc)
        state = None
    if state is not None:
        try:
            detector.set_state(state)
        except (KeyError, TypeError, ValueError):
            log.warning("%s does not match the configured detectors; retraining", paths.detector(service, metric))
    return detector


@dataclass(frozen=True)
class Anomaly:
    service: str
    metric: str
    time: float
    score: float
    severity: str


def detect(config: OpsConfig, paths: Paths, metrics: ServiceMetrics,
           save: bool = True) -> tuple[list[Anomaly], float]:
    """Score every metric of the window causally; returns anomalies and the share of anomalous steps.

    With `save`, the detectors' advanced state is stored so the next cycle continues from it.
    """
    anomalies: list[Anomaly] = []
    flagged = np.zeros(metrics.timestamps.shape, dtype=bool)
    for metric, values in metrics.values.items():
        detector = load_ensemble(config, paths, metrics.service, metric)
        scores = detector.score(metrics.timestamps, values)
        if save:
            save_model(paths.detector(metrics.service, metric), "ensemble", detector.get_state())
        severity = detector.levels.classify(np.nan_to_num(scores, nan=0.0))
        hit = severity != "normal"
        flagged |= hit
        for i in np.flatnonzero(hit):
            anomalies.append(Anomaly(metrics.service, metric, float(metrics.timestamps[i]), round(float(scores[i]), 6),
                                     str(severity[i])))
    share = float(flagged.mean()) if flagged.size else 0.0
    return anomalies, share


