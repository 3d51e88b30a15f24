"""The controller's own metrics, with the official Prometheus client (docs/monitoring.md).

Every metric is defined here, in one registry; the jobs update them through the small functions
below (`instrumented`, `record_decision`, `record_fetch_errors`, `record_training`) and never touch
prometheus_client themselves. How the numbers leave the process depends on how it runs:

- the daemon (`ai-ops run`) serves them on `/metrics` (`monitoring.port`, `monitoring.bind_address`);
- a one-shot run (`ai-ops cycle` from cron or GitHub Actions) pushes them to a Pushgateway
  (`monitoring.pushgateway_url` or `AI_OPS_PUSHGATEWAY_URL`) and/or writes a textfile-collector
  file (`monitoring.textfile`) after each job.

A one-shot process lives for one job, so the values are also kept in `<models>/monitoring.json`
(plain JSON, like the rest of the controller's state): counters keep counting across runs and a
`train` run still exports when the last `cycle` succeeded. A dry run updates the in-process values
(the daemon's /metrics shows them) but writes, pushes and saves nothing.

The math and learning rooms (detectors, learner, sim) never import this module (import-linter).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Metric, disable_created_metrics
from prometheus_client.exposition import (
    basic_auth_handler,
    default_handler,
    pushadd_to_gateway,
    write_to_textfile,
)
from prometheus_client.registry import Collector

from ai_ops import __version__
from ai_ops.config import MonitoringConfig, OpsConfig, Secrets
from ai_ops.errors import ConfigError, LockedError, OpsError
from ai_ops.state import atomic_write_json, read_json

log = logging.getLogger(__name__)

disable_created_metrics()  # `_created` samples would restart with every one-shot process: noise, not news
REGISTRY = CollectorRegistry(auto_describe=True)
"""Only ai-ops' own metrics (no process/platform collectors: one-shot pushes stay small and stable)."""

JOB = "ai_ops_job"
"""The label naming the job (cycle, train, report). Not `job`: Prometheus sets `job` to the scrape job."""

JOB_LAST_SUCCESS = Gauge("ai_ops_job_last_success_timestamp_seconds",
                         "Unix time at which the job last finished without error.", [JOB], registry=REGISTRY)
JOB_LAST_RUN = Gauge("ai_ops_job_last_run_timestamp_seconds",
                     "Unix time at which the job last finished, with or without error.", [JOB], registry=REGISTRY)
JOB_LAST_DURATION = Gauge("ai_ops_job_last_duration_seconds", "Wall-clock duration of the job's last run.",
                          [JOB], registry=REGISTRY)
JOB_LAST_OK = Gauge("ai_ops_job_last_run_ok", "1 if the job's last run succeeded, 0 if it failed.", [JOB],
                    registry=REGISTRY)
JOB_INTERVAL = Gauge("ai_ops_job_schedule_interval_seconds",
                     "Longest gap between two scheduled runs of the job (from its cron in `schedule:`).", [JOB],
                     registry=REGISTRY)
JOB_RUNS = Counter("ai_ops_job_runs", "Job runs by outcome: ok, failed (a reported error), crashed (a bug), "
                   "skipped (the workspace lock was held).", [JOB, "outcome"], registry=REGISTRY)
DECISIONS = Counter("ai_ops_decisions", "Cycle decisions by kind: changed, rollback, no_change, unusable_data, "
                    "refused (Terraform or Git refused the write).", ["kind"], registry=REGISTRY)
FETCH_ERRORS = Counter("ai_ops_fetch_errors", "Series a job could not fetch, by job and source kind "
                       "(prometheus, grafana).", [JOB, "source"], registry=REGISTRY)
TRAINING_FAILURES = Counter("ai_ops_detector_training_failures",
                            "Series whose detectors a training run could not train (model kept).",
                            registry=REGISTRY)
TRAINING_LAST_FAILED = Gauge("ai_ops_detector_last_training_failed_series",
                             "Series the last training run could not train.", registry=REGISTRY)
BUILD_INFO = Gauge("ai_ops_build_info", "Always 1; the ai-ops version as a label.", ["version"], registry=REGISTRY)
BUILD_INFO.labels(__version__).set(1)

DECISION_KINDS = ("changed", "rollback", "no_change", "unusable_data", "refused")
JOB_OUTCOMES = ("ok", "failed", "crashed", "skipped")

_COUNTERS: dict[str, Counter] = {"ai_ops_job_runs": JOB_RUNS, "ai_ops_decisions": DECISIONS,
                                 "ai_ops_fetch_errors": FETCH_ERRORS,
                                 "ai_ops_detector_training_failures": TRAINING_FAILURES}
_GAUGES: dict[str, Gauge] = {"ai_ops_job_last_success_timestamp_seconds": JOB_LAST_SUCCESS,
                             "ai_ops_job_schedule_interval_seconds": JOB_INTERVAL,
                             "ai_ops_job_last_run_timestamp_seconds": JOB_LAST_RUN,
                             "ai_ops_job_last_duration_seconds": JOB_LAST_DURATION,
                             "ai_ops_job_last_run_ok": JOB_LAST_OK,
                             "ai_ops_detector_last_training_failed_series": TRAINING_LAST_FAILED}
STATE_FILE = "monitoring.json"
_loaded: set[Path] = set()
_last_outcome: dict[str, str] = {}
"""Outcome of each job's last run in this process."""
_current_job: ContextVar[str] = ContextVar("ai_ops_current_job", default="")
_suppressed: list[bool] = []
"""Non-empty inside `suppressed()` (a stack, so nested uses restore correctly)."""

P = ParamSpec("P")
R = TypeVar("R")


# ---------------------------------------------------------------- what the jobs call


def record_decision(kind: str) -> None:
    """One cycle decision of `kind` (one of DECISION_KINDS)."""
    if kind not in DECISION_KINDS:
        raise ValueError(f"unknown decision kind {kind!r}; expected one of {DECISION_KINDS}")
    DECISIONS.labels(kind).inc()


def record_fetch_errors(source: str, series: int) -> None:
    """`series` series of a `source` kind could not be fetched in the running job."""
    if series > 0:
        FETCH_ERRORS.labels(_current_job.get() or "other", source).inc(series)


def record_training(failed: int) -> None:
    """A training run ended with `failed` series not trained."""
    TRAINING_FAILURES.inc(failed)
    TRAINING_LAST_FAILED.set(failed)


def record_skipped(job: str) -> None:
    """The daemon skipped a run because the workspace lock was held."""
    JOB_RUNS.labels(job, "skipped").inc()


@contextmanager
def job_run(job: str) -> Iterator[None]:
    """Time one run of `job` and record its outcome (the error, if any, propagates unchanged)."""
    began = time.monotonic()
    outcome = "crashed"
    token = _current_job.set(job)
    try:
        yield
        outcome = "ok"
    except LockedError:
        outcome = "skipped"
        raise
    except OpsError:
        outcome = "failed"
        raise
    finally:
        _current_job.reset(token)
        _last_outcome[job] = outcome
        now = time.time()
        JOB_RUNS.labels(job, outcome).inc()
        if outcome != "skipped":
            JOB_LAST_DURATION.labels(job).set(round(time.monotonic() - began, 3))
            JOB_LAST_RUN.labels(job).set(now)
            JOB_LAST_OK.labels(job).set(1 if outcome == "ok" else 0)
            if outcome == "ok":
                JOB_LAST_SUCCESS.labels(job).set(now)


def instrumented(job: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a job function `f(config, ..., dry_run=...)`: time it, record its outcome, then
    (unless dry run) keep the values in the workspace and push/write them as configured."""

    def wrap(func: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            arguments = signature.bind(*args, **kwargs).arguments
            config, secrets = arguments.get("config"), arguments.get("secrets")
            dry_run = bool(arguments.get("dry_run", False))
            if not isinstance(config, OpsConfig):
                raise TypeError(f"{func.__name__}: the first argument must be the OpsConfig")
            load_state(config)
            set_schedule(config, [job])
            try:
                with job_run(job):
                    return func(*args, **kwargs)
            finally:
                if not dry_run:
                    save_state(config)
                    export(config, job, secrets if isinstance(secrets, Secrets) else None)

        return run

    return wrap


@contextmanager
def suppressed() -> Iterator[None]:
    """Jobs run inside keep, write and push nothing (a replay over history must not look like live runs)."""
    _suppressed.append(True)
    try:
        yield
    finally:
        _suppressed.pop()


def set_schedule(config: OpsConfig, jobs: list[str]) -> None:
    """Publish each job's schedule interval, so one alert rule fits any `schedule:` (docs/monitoring.md)."""
    for job in jobs:
        expression = getattr(config.schedule, job, None)
        if isinstance(expression, str):
            JOB_INTERVAL.labels(job).set(schedule_interval(expression))


def schedule_interval(expression: str) -> float:
    """The longest gap, in seconds, between consecutive fire times of a 5-field cron (UTC) over two weeks."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(expression, timezone=UTC)
    start = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: two full weeks cover weekly patterns
    fires: list[datetime] = []
    previous: datetime | None = None
    moment = start
    while moment < start + timedelta(days=14) and len(fires) < 5000:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        fires.append(fire)
        previous, moment = fire, fire + timedelta(seconds=1)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fires)]
    return max(gaps) if gaps else 14 * 86400.0


# ---------------------------------------------------------------- state kept between one-shot runs


def state_path(config: OpsConfig) -> Path:
    return config.models_path / STATE_FILE


def snapshot() -> dict[str, Any]:
    """Every counter and gauge sample of the registry, as plain JSON."""
    out: dict[str, Any] = {"format_version": 1, "counters": {}, "gauges": {}}
    for family in REGISTRY.collect():
        if family.name in _COUNTERS:
            out["counters"][family.name] = [{"labels": s.labels, "value": s.value} for s in family.samples
                                            if s.name == family.name + "_total"]
        elif family.name in _GAUGES:
            out["gauges"][family.name] = [{"labels": s.labels, "value": s.value} for s in family.samples]
    return out


def load_state(config: OpsConfig) -> None:
    """Restore the values a previous process kept (once per workspace and process; counters never go down)."""
    path = state_path(config)
    if path in _loaded:
        return
    _loaded.add(path)
    saved = read_json(path, {})
    if not isinstance(saved, dict):
        return
    current = snapshot()
    for name, samples in (saved.get("counters") or {}).items():
        counter = _COUNTERS.get(name)
        if counter is None:
            continue
        have = {_key(s["labels"]): s["value"] for s in current["counters"].get(name, [])}
        for sample in samples:
            labels, value = _sample(sample)
            if labels is None:
                continue
            missing = value - have.get(_key(labels), 0.0)
            if missing > 0:
                (counter.labels(**labels) if labels else counter).inc(missing)
    for name, samples in (saved.get("gauges") or {}).items():
        gauge = _GAUGES.get(name)
        if gauge is None:
            continue
        present = {_key(s["labels"]) for s in current["gauges"].get(name, [])}
        for sample in samples:
            labels, value = _sample(sample)
            if labels is None or (_key(labels) in present and labels):
                continue  # this process already has a fresher value
            (gauge.labels(**labels) if labels else gauge).set(value)


def save_state(config: OpsConfig) -> None:
    """Keep the values in `<models>/monitoring.json`; never creates the models folder (a job that failed
    before writing anything leaves the workspace as it was; its failure is still exported)."""
    path = state_path(config)
    if _suppressed or not path.parent.is_dir():
        return
    try:
        atomic_write_json(path, snapshot())
    except OSError as exc:  # monitoring must never fail a job
        log.warning("monitoring: cannot keep the metrics in %s (%s)", path, exc.strerror or exc)


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _sample(sample: Any) -> tuple[dict[str, str] | None, float]:
    try:
        labels = {str(k): str(v) for k, v in sample["labels"].items()}
        return labels, float(sample["value"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, 0.0


# ---------------------------------------------------------------- getting the numbers out


def export(config: OpsConfig, job: str, secrets: Secrets | None = None) -> None:
    """After a job: write the textfile and push to the Pushgateway, as configured. Never raises."""
    if _suppressed:
        return
    settings = config.monitoring
    if settings.textfile is not None:
        path = config.path(settings.textfile) if not settings.textfile.is_absolute() else settings.textfile
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_to_textfile(str(path), REGISTRY)
        except OSError as exc:
            log.warning("monitoring: cannot write %s (%s); fix monitoring.textfile", path, exc.strerror or exc)
    url = (secrets or Secrets()).AI_OPS_PUSHGATEWAY_URL or settings.pushgateway_url
    if url:
        push(url, settings, job)


class _JobView(Collector):
    """What one job's push carries: its own series (its last success only if this run succeeded), the
    counters it owns, and the build info. Other jobs' series stay as their own last push left them."""

    OWNED: ClassVar[dict[str, set[str]]] = {
        "cycle": {"ai_ops_decisions"},
        "train": {"ai_ops_detector_training_failures", "ai_ops_detector_last_training_failed_series"},
    }

    def __init__(self, job: str) -> None:
        self.job = job

    def collect(self) -> Iterator[Metric]:
        succeeded = _last_outcome.get(self.job) == "ok"
        for family in REGISTRY.collect():
            if family.name == "ai_ops_job_last_success_timestamp_seconds" and not succeeded:
                continue
            if family.name in self.OWNED.get(self.job, set()) or family.name == "ai_ops_build_info":
                yield family
                continue
            samples = [s for s in family.samples if s.labels.get(JOB) == self.job]
            if samples:
                kept = Metric(family.name, family.documentation, family.type, family.unit)
                kept.samples = samples
                yield kept


def push(url: str, settings: MonitoringConfig, job: str) -> None:
    """Update this job's group on the Pushgateway (job=`job_label`, ai_ops_job=<job>); a failure is one warning.

    One group per job, updated with POST (only the pushed metric names are replaced): a failed run
    leaves the group's last-success time as the last successful run pushed it.
    """
    parts = urlsplit(url)
    shown = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
    handler: Callable[..., Callable[[], None]] = default_handler
    if parts.username is not None:
        user, password = parts.username, parts.password or ""

        def handler(url: str, method: str, timeout: float | None, headers: list[tuple[str, str]],
                    data: bytes) -> Callable[[], None]:
            return basic_auth_handler(url, method, timeout, headers, data, user, password)

    view = CollectorRegistry(auto_describe=False)
    view.register(_JobView(job))
    try:
        pushadd_to_gateway(shown, job=settings.job_label, registry=view, grouping_key={JOB: job}, timeout=10,
                           handler=handler)
    except OSError as exc:  # URLError, HTTPError, timeouts: all OSError
        log.warning("monitoring: cannot push to the Pushgateway at %s (%s); the job itself is unaffected",
                    shown, exc)


class MetricsServer:
    """The daemon's /metrics endpoint (prometheus_client's WSGI server in a thread)."""

    def __init__(self, settings: MonitoringConfig) -> None:
        from prometheus_client import start_http_server

        if settings.port is None:
            raise ValueError("monitoring.port is not set")
        try:
            self._server, self._thread = start_http_server(settings.port, settings.bind_address, registry=REGISTRY)
        except OSError as exc:
            raise ConfigError(f"monitoring.port: cannot serve /metrics on {settings.bind_address}:{settings.port} "
                              f"({exc.strerror or exc}); choose a free port or unset monitoring.port") from None
        self.port = int(self._server.server_port)
        self.url = f"http://{settings.bind_address}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
