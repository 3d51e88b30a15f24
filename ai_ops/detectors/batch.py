"""Train many series at once, spread over processes: the daily train job at fleet scale.

Fitting one series is single-threaded numpy work (gmm.py pins BLAS to one thread; ~40 ms
of CPU for 7 days at 5 minutes at load ~10, ~70 % of it the GMM's EM: benchmarks/train_speed.py),
so the cost is linear in the number of series and splits cleanly across cores. Series travel to the workers in
chunks (one pickle round trip per chunk, not per series) and at most two chunks per worker
are in flight, so memory is bounded by the chunk size and not by the fleet size.
`workers=1` trains in this process (no pool): the default, and what the tests use.

With `anomaly.executor.kind: dask`, the same chunks go to a Dask distributed cluster instead
(one task per chunk, at most two chunks per worker in flight); the workers run the same
`train_one`, so the states, and the model files written from them, are the same bit for bit.

`history_summary` / `summary_change` decide which series are worth refitting at all: a
history whose median, spread and tails have not moved gives (nearly) the same fit.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from ai_ops.config import AnomalyConfig, ExecutorConfig
from ai_ops.detectors.base import FitReport
from ai_ops.detectors.ensemble import EnsembleDetector
from ai_ops.errors import ConfigError, ExecutorError

IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True)
class SeriesHistory:
    """One series' training input. `state`: yesterday's ensemble state (warm start) or None."""

    key: str
    timestamps: np.ndarray
    values: np.ndarray
    state: dict[str, Any] | None = None


@dataclass(frozen=True)
class TrainedSeries:
    """The fit report and the new ensemble state (the old one back when not trained)."""

    key: str
    report: FitReport
    state: dict[str, Any] | None
    seconds: float


def train_one(config: AnomalyConfig, history: SeriesHistory) -> TrainedSeries:
    """`EnsembleDetector.fit` on one history, starting from its saved state when given."""
    began = time.perf_counter()
    detector = EnsembleDetector(config)
    if history.state is not None:
        detector.set_state(history.state)
    report = detector.fit(history.timestamps, history.values)
    state = detector.get_state() if report.trained else history.state
    return TrainedSeries(history.key, report, state, time.perf_counter() - began)


def _train_chunk(config: AnomalyConfig, chunk: list[SeriesHistory]) -> list[TrainedSeries]:
    return [train_one(config, history) for history in chunk]


def train_many(config: AnomalyConfig, histories: Iterable[SeriesHistory], workers: int = 1,
               chunk_size: int = 32) -> Iterator[TrainedSeries]:
    """Train every history, yielding results in input order.

    With workers > 1, chunks of `chunk_size` series run in a process pool (spawn: no
    threads or sockets of the caller are inherited), at most 2 chunks per worker queued.
    """
    if workers < 1 or chunk_size < 1:
        raise ValueError(f"workers ({workers}) and chunk_size ({chunk_size}) must be at least 1")
    items = iter(histories)
    if config.executor.kind == "dask":
        yield from _train_dask(config, items, config.executor)
        return
    if workers == 1:
        for history in items:
            yield train_one(config, history)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: list[Future[list[TrainedSeries]]] = []
        while True:
            while len(pending) < workers * IN_FLIGHT_PER_WORKER:
                chunk = list(islice(items, chunk_size))
                if not chunk:
                    break
                pending.append(pool.submit(_train_chunk, config, chunk))
            if not pending:
                return
            yield from pending.pop(0).result()


def _dask_client(settings: ExecutorConfig) -> tuple[Any, Any]:
    """(client, cluster or None) for the configured scheduler; clear errors for a missing extra or a dead one."""
    try:
        from distributed import Client, LocalCluster
        from distributed.security import Security
    except ImportError:
        raise ConfigError("anomaly.executor.kind is 'dask' but Dask is not installed; "
                          "pip install 'ai-ops[dask]' (dask[distributed]) or use kind: process") from None
    if settings.address == "local":
        cluster = LocalCluster(n_workers=settings.local_workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        return Client(cluster, timeout=settings.timeout_seconds), cluster
    security = None
    if settings.tls_ca_file is not None:
        for name in ("tls_ca_file", "tls_client_cert", "tls_client_key"):
            path = getattr(settings, name)
            if not path.is_file():
                raise ConfigError(f"anomaly.executor.{name}: {path} is not a file; give the PEM file's path")
        security = Security(tls_ca_file=str(settings.tls_ca_file), tls_client_cert=str(settings.tls_client_cert),
                            tls_client_key=str(settings.tls_client_key), require_encryption=True)
    try:
        return Client(settings.address, timeout=settings.timeout_seconds, security=security), None
    except (OSError, TimeoutError) as exc:
        raise ExecutorError(f"cannot reach the Dask scheduler at {settings.address} within "
                            f"{settings.timeout_seconds:g} s ({exc.__class__.__name__}); is `dask scheduler` running "
                            f"and the port reachable from here? (docs/guide.md#training-on-a-dask-cluster)") from None


def _train_dask(config: AnomalyConfig, items: Iterator[SeriesHistory],
                settings: ExecutorConfig) -> Iterator[TrainedSeries]:
    """One task per chunk of `settings.chunk_size` series on the cluster; results in input order."""
    client, cluster = _dask_client(settings)
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        pending: deque[Any] = deque()
        while True:
            while len(pending) < workers * IN_FLIGHT_PER_WORKER:
                chunk = list(islice(items, settings.chunk_size))
                if not chunk:
                    break
                pending.append(client.submit(_train_chunk, config, chunk, pure=False))
            if not pending:
                return
            future = pending.popleft()
            try:
                results: list[TrainedSeries] = future.result()
            except (OSError, TimeoutError) as exc:
                raise ExecutorError(f"the Dask cluster at {settings.address} failed during training "
                                    f"({exc.__class__.__name__}: {exc}); no model was written from it") from None
            yield from results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


SUMMARY_QUANTILES = (1.0, 25.0, 50.0, 75.0, 99.0)


def history_summary(values: np.ndarray) -> dict[str, float] | None:
    """Median, robust spread and 1st/99th percentiles of a history's finite values (None when empty)."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None
    p01, q25, median, q75, p99 = (float(x) for x in np.percentile(finite, SUMMARY_QUANTILES))
    scale = (q75 - q25) / 1.349 or float(np.std(finite))
    return {"samples": int(finite.size), "median": median, "scale": scale, "p01": p01, "p99": p99}


def summary_change(old: dict[str, float], new: dict[str, float]) -> float:
    """How far the history moved: the largest of the moves of the median and the 1st/99th percentiles
    in units of the old spread, |log| of the spread ratio, and |log| of the sample-count ratio (a
    history still growing towards the training window, e.g. in the first days, is new information
    about the time-of-day/week pattern even when its values look alike). inf when either summary
    is degenerate (constant series: always refit, it is cheap)."""
    scale = old["scale"]
    if not (scale > 0 and new["scale"] > 0 and old["samples"] > 0 and new["samples"] > 0):
        return math.inf
    moves = [abs(new[k] - old[k]) / scale for k in ("median", "p01", "p99")]
    return max([*moves, abs(math.log(new["scale"] / scale)), abs(math.log(new["samples"] / old["samples"]))])
