"""The metric sources of a job, and the detection pass every job runs over what they return."""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Literal

import numpy as np

from ai_ops.config import AnomalyConfig, OpsConfig, Secrets, ServiceConfig
from ai_ops.detectors.base import SettingsChanged
from ai_ops.detectors.ensemble import EnsembleDetector
from ai_ops.detectors.episodes import evidence_after
from ai_ops.errors import ConfigError, SourceError
from ai_ops.jobs.workspace import SCALING, Paths, paths_for, read_ledger
from ai_ops.metrics import SLI_METRICS, ServiceMetrics
from ai_ops.sim.service import TargetTimeline
from ai_ops.sources.base import MetricSource
from ai_ops.sources.prometheus import PrometheusSource, source_from
from ai_ops.sources.quality import screen
from ai_ops.sources.simulated import SimulatedSource
from ai_ops.state import ModelIntegrityError, file_sha256, load_model, save_model

log = logging.getLogger(__name__)



def deployed_target_timeline(config: OpsConfig, service: str) -> TargetTimeline:
    """The scaling target in force for `service` at each moment, replayed from the decision ledger.

    The simulated service has no real autoscaler to ask, so it follows what the controller
    wrote: the service's initial value, then each applied change of that service from its
    decision time on. Ledger records without a `service` (written before per-service thresholds)
    applied to every service. The ledger is read at each fetch, not once: a source kept across
    jobs (replay, the daemon) must see the changes the jobs since then applied.
    """
    specs = config.thresholds_for(service)
    initial = specs[SCALING].initial if SCALING in specs else 70.0

    def timeline(ts: np.ndarray) -> np.ndarray:
        changes = [(r["time"], r["new"][SCALING]) for r in read_ledger(paths_for(config))
                   if r.get("applied") and r.get("service", service) == service
                   and isinstance(r.get("new"), dict) and SCALING in r["new"]]
        times = np.array([t for t, _ in changes], dtype=float)
        values = np.array([initial] + [v for _, v in changes], dtype=float)
        return values[np.searchsorted(times, ts, side="right")]

    return timeline


def simulated_source(config: OpsConfig) -> SimulatedSource:
    """The simulated fleet: each service follows its own deployed target and exposes the exact SLI."""
    timelines = {s.name: deployed_target_timeline(config, s.name) for s in config.services if s.source == "simulated"}
    return SimulatedSource(timelines, config.sla.latency_objective_ms)


def source_for(config: OpsConfig, service: ServiceConfig, secrets: Secrets) -> MetricSource:
    if service.source == "simulated":
        return simulated_source(config)
    if service.source in ("prometheus", "grafana"):
        return source_from(service.source, secrets, config.sources, config.sla.latency_objective_ms)
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

    def source(self, service: ServiceConfig) -> MetricSource:
        """The source serving `service` (one per kind, shared by every service of that kind)."""
        source = self._by_kind.get(service.source)
        if source is None:
            source = self._by_kind[service.source] = source_for(self.config, service, self.secrets)
        return source

    def _screened(self, metrics: ServiceMetrics) -> ServiceMetrics:
        """Values outside each metric's physical range (data_quality.max_value) become gaps, said once."""
        metrics = screen(metrics, self.config.data_quality)
        for metric, reason in metrics.rejected.items():
            log.warning("%s/%s: %s; those points are treated as gaps", metrics.service, metric, reason)
        return metrics

    def fetch(self, service: ServiceConfig, start: float, end: float) -> ServiceMetrics:
        return self._screened(self.source(service).fetch(service, start, end, self.config.step_seconds))

    def prometheus(self, kind: Literal["prometheus", "grafana"]) -> PrometheusSource:
        """The shared Prometheus/Grafana source of that kind (discovery and batched fetches use it)."""
        source = self.source(ServiceConfig.model_construct(name="discovery", source=kind))
        assert isinstance(source, PrometheusSource)
        return source

    def fetch_all(self, services: Sequence[ServiceConfig], start: float, end: float,
                  batched: Collection[str] = (), label: str = "service",
                  ) -> Iterator[tuple[ServiceConfig, ServiceMetrics | SourceError]]:
        """Every service's metrics, in order; a source that cannot be reached gives its SourceError in place.

        Services named in `batched` (discovered ones) are fetched together per source kind with
        fleet queries split by `label` (PrometheusSource.fetch_fleet); the others one by one.
        """
        groups: dict[Literal["prometheus", "grafana"], list[ServiceConfig]] = {}
        for service in services:
            if service.name in batched and service.source != "simulated":
                groups.setdefault(service.source, []).append(service)
        fetched: dict[str, ServiceMetrics | SourceError] = {}
        for kind, group in groups.items():
            try:
                fetched.update(self.prometheus(kind).fetch_fleet(group, label, start, end, self.config.step_seconds))
            except SourceError as exc:
                fetched.update({s.name: exc for s in group})
        for service in services:
            if service.name in fetched:
                got = fetched.pop(service.name)
                yield service, got if isinstance(got, SourceError) else self._screened(got)
                continue
            try:
                yield service, self.fetch(service, start, end)
            except SourceError as exc:
                yield service, exc

    def use(self, kind: str, source: MetricSource) -> None:
        """Serve every service of `kind` from `source` (replay: a source clamped at the job's `now`)."""
        self._by_kind[kind] = source


def fetch(config: OpsConfig, service: ServiceConfig, secrets: Secrets, start: float, end: float) -> ServiceMetrics:
    """One fetch outside a job (the demo summary)."""
    return Sources(config, secrets).fetch(service, start, end)




_KEPT: ContextVar[dict[Path, tuple[str, AnomalyConfig, EnsembleDetector]] | None] = ContextVar("kept", default=None)


@contextmanager
def detectors_kept_in_memory() -> Iterator[None]:
    """Within: the detector `detect` saved is handed to the next load of its file, instead of the
    file being parsed and the detector rebuilt, as long as the file still holds exactly the bytes
    saved (SHA-256) and the settings are the same. For `replay`, which runs some thousand cycle
    loads of the same models in one process (a fifth of its time was spent re-reading them); a load
    takes the detector out, so a job that fails between load and save leaves nothing stale behind.
    """
    token = _KEPT.set({})
    try:
        yield
    finally:
        _KEPT.reset(token)


def load_ensemble(config: OpsConfig, paths: Paths, service: str, metric: str) -> EnsembleDetector:
    kept = _KEPT.get()
    if kept is not None:
        entry = kept.pop(paths.detector(service, metric), None)
        if entry is not None and entry[1] == config.anomaly and entry[0] == file_sha256(paths.detector(service, metric)):
            return entry[2]
    detector = EnsembleDetector(config.anomaly)
    try:
        state = load_model(paths.detector(service, metric), "ensemble")
    except ModelIntegrityError as exc:
        log.warning("%s", exc)
        state = None
    if state is not None:
        try:
            detector.set_state(state)
        except SettingsChanged as exc:
            log.warning("%s: %s; starting fresh with the configured settings (the train job refits it)",
                        paths.detector(service, metric), exc)
            detector = EnsembleDetector(config.anomaly)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("%s does not match the configured detectors; retraining", paths.detector(service, metric))
            detector = EnsembleDetector(config.anomaly)
    return detector


@dataclass(frozen=True)
class Anomaly:
    service: str
    metric: str
    time: float
    score: float
    severity: str
    """The point's own level (warning / critical); an episode's severity is graded in detectors.episodes."""
    surprisal: float = 0.0
    """Magnitude: the highest undamped evidence over the alarm's run (episodes.evidence_after), where evidence is the
    surprisal at least half of the ensemble's members agree on (EnsembleDetector.last_evidence_); a lone
    member's extreme value raises the alarm but is not evidence."""
    sustained: int = 1
    """Points from this one to the end of the run whose evidence stayed at or above the warning level (>= 1)."""
    caused_by: str = ""
    """Set when the controller's own change explains it (see ai_ops/reporting/explained.py)."""


def detect(config: OpsConfig, paths: Paths, metrics: ServiceMetrics,
           save: bool = True) -> tuple[list[Anomaly], float]:
    """Score every metric of the window causally; returns anomalies and the share of anomalous steps.

    With `save`, the detectors' advanced state is stored so the next cycle continues from it.
    Points at or before the last one a detector has consumed (scored by an earlier cycle, or replayed
    by the train job) are not fed again: a point fed twice enters the calibration twice and, worse, is
    damped by the burst filter's memory of itself, so an incident the train job replayed before any
    cycle scored it was never reported (see docs/anomaly_detection.md, "Every point judged once").
    """
    anomalies: list[Anomaly] = []
    flagged = np.zeros(metrics.timestamps.shape, dtype=bool)
    for metric, values in metrics.values.items():
        if metric in SLI_METRICS:  # the SLI is the outcome, not a signal to detect on
            continue
        detector = load_ensemble(config, paths, metrics.service, metric)
        fresh = (np.ones(metrics.timestamps.shape, dtype=bool) if detector.last_time_ is None
                 else metrics.timestamps > detector.last_time_)
        if not fresh.any():
            continue
        scores = np.zeros(metrics.timestamps.shape)
        scores[fresh] = detector.score(metrics.timestamps[fresh], values[fresh])
        if save:
            saved = save_model(paths.detector(metrics.service, metric), "ensemble", detector.get_state())
            kept = _KEPT.get()
            if kept is not None:
                kept[paths.detector(metrics.service, metric)] = (saved, config.anomaly, detector)
        severity = detector.levels.classify(np.nan_to_num(scores, nan=0.0))
        hit = severity != "normal"
        flagged |= hit
        surprisal = np.zeros(metrics.timestamps.shape)
        surprisal[fresh] = np.nan_to_num(detector.last_evidence_, nan=0.0)
        for i in np.flatnonzero(hit):
            sustained, peak = evidence_after(surprisal, detector.levels.warning_surprisal, int(i),
                                             config.anomaly.average_points)
            anomalies.append(Anomaly(metrics.service, metric, float(metrics.timestamps[i]), round(float(scores[i]), 6),
                                     str(severity[i]), round(peak, 3), sustained))
    share = float(flagged.mean()) if flagged.size else 0.0
    return anomalies, share




SERVICES_PER_TASK = 8
"""Services one pool task detects on (one pickle round trip each, ~0.2 s of work at 5 metrics)."""


class _KeptRecords(logging.Handler):
    """In a pool worker: the package's warnings, handed back so the job logs them in its own format."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def _detect_services(config: OpsConfig, paths: Paths, batch: list[ServiceMetrics],
                     save: bool) -> tuple[list[tuple[list[Anomaly], float]], list[tuple[str, int, str]]]:
    package = logging.getLogger("ai_ops")
    kept = _KeptRecords()
    package.addHandler(kept)
    level, package.propagate = package.level, False
    package.setLevel(logging.WARNING)
    try:
        return [detect(config, paths, metrics, save) for metrics in batch], kept.records
    finally:
        package.removeHandler(kept)
        package.propagate = True
        package.setLevel(level)


def detect_each(config: OpsConfig, paths: Paths, fetched: Iterable[tuple[ServiceConfig, ServiceMetrics]],
                save: bool = True, services: int = 0,
                ) -> Iterator[tuple[ServiceConfig, ServiceMetrics, list[Anomaly], float]]:
    """`detect` on each service's window, in order (services with no usable series: nothing found).

    Each service's detectors are its own model files, so services are independent: with
    `anomaly.train_workers` > 1 and a fleet of more than SERVICES_PER_TASK `services`, they are
    detected in that many processes, in batches, at most two batches per process in flight (a
    10,000-series fleet scores in about half the time on 2 cores). Replay, which keeps models in
    this process's memory between cycles, always detects in process. Warnings raised in a worker
    (e.g. a damaged model file) are logged here, in the job's log format.
    """
    def usable(metrics: ServiceMetrics) -> bool:
        return len(metrics.errors) < len(metrics.values)

    workers = config.anomaly.train_workers
    if workers <= 1 or services <= SERVICES_PER_TASK or _KEPT.get() is not None:
        for service, metrics in fetched:
            found, share = detect(config, paths, metrics, save) if usable(metrics) else ([], 0.0)
            yield service, metrics, found, share
        return
    items = iter(fetched)
    pending: deque[tuple[list[tuple[ServiceConfig, ServiceMetrics]],
                         Future[tuple[list[tuple[list[Anomaly], float]], list[tuple[str, int, str]]]]]] = deque()
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        while True:
            while len(pending) < 2 * workers:
                batch = list(islice(items, SERVICES_PER_TASK))
                if not batch:
                    break
                pending.append((batch, pool.submit(_detect_services, config, paths,
                                                   [m for _s, m in batch if usable(m)], save)))
            if not pending:
                return
            batch, future = pending.popleft()
            detected, records = future.result()
            for name, level, message in records:
                logging.getLogger(name).log(level, "%s", message)
            results = iter(detected)
            for service, metrics in batch:
                found, share = next(results) if usable(metrics) else ([], 0.0)
                yield service, metrics, found, share
