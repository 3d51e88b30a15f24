"""Train many series at once, spread over processes: the daily train job at fleet scale.

Fitting one series is single-threaded numpy / scikit-learn work (gmm.py pins BLAS to one
thread; ~15-40 ms for 7 days at 5 minutes, 80 % of it the GMM's EM), so the cost is linear
in the number of series and splits cleanly across cores. Series travel to the workers in
chunks (one pickle round trip per chunk, not per series) and at most two chunks per worker
are in flight, so memory is bounded by the chunk size and not by the fleet size.
`workers=1` trains in this process (no pool): the default, and what the tests use.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.base import FitReport
from ai_ops.detectors.ensemble import EnsembleDetector

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
