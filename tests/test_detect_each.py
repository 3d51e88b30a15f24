"""`detect_each` in worker processes gives what `detect` gives in process: anomalies and model files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ai_ops.config import load_config
from ai_ops.detectors.ensemble import EnsembleDetector
from ai_ops.jobs.observing import SERVICES_PER_TASK, detect_each
from ai_ops.jobs.workspace import paths_for
from ai_ops.metrics import ServiceMetrics
from ai_ops.state import save_model

STEP = 300
METRICS = ("request_rate", "cpu_utilization", "latency_p95_ms")


def _history(service: int, metric: int, points: int) -> np.ndarray:
    rng = np.random.default_rng(100 * service + metric)
    index = np.arange(points)
    return 100 + 10 * metric + 20 * np.sin(2 * np.pi * index / 288) + rng.normal(0, 2, points)


def test_worker_processes_find_the_same_anomalies_and_save_the_same_models(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    services = SERVICES_PER_TASK + 4
    train, window = 3 * 288, 72
    t = 1.7e9 + STEP * np.arange(train + window)
    base = load_config(None)
    outputs = {}
    for workers in (1, 2):
        outputs_update = {"workspace": str(tmp_path / f"w{workers}")}
        config = base.model_copy(update={
            "anomaly": base.anomaly.model_copy(update={"train_workers": workers}),
            "outputs": base.outputs.model_copy(update=outputs_update)})
        paths = paths_for(config)
        fleet = []
        for s in range(services):
            values = {}
            for m, metric in enumerate(METRICS):
                v = _history(s, m, train + window)
                if s % 3 == 0:
                    v[train + 20:train + 26] += 200  # an incident in the cycle's window
                detector = EnsembleDetector(config.anomaly)
                detector.fit(t[:train], v[:train])
                save_model(paths.detector(f"svc-{s}", metric), "ensemble", detector.get_state())
                values[metric] = v[train:]
            errors = dict.fromkeys(METRICS, "unreachable") if s == 5 else {}
            fleet.append((config.services[0].model_copy(update={"name": f"svc-{s}"}),
                          ServiceMetrics(f"svc-{s}", t[train:], STEP, values, errors)))
        damaged = paths.detector("svc-7", "cpu_utilization")
        damaged.write_text(damaged.read_text().replace('"payload":{', '"payload":{"x":1,', 1))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ai_ops"):
            results = list(detect_each(config, paths, fleet, True, services))
        # A damaged model is said in this process's log, from a worker too (and the series starts fresh).
        assert any("svc-7" in r.getMessage() and "cpu_utilization" in r.getMessage() for r in caplog.records), \
            [r.getMessage() for r in caplog.records]
        assert [service.name for service, *_ in results] == [f"svc-{s}" for s in range(services)]
        files = {str(p.relative_to(tmp_path / f"w{workers}")): p.read_bytes()
                 for p in sorted((tmp_path / f"w{workers}").rglob("*.json"))}
        outputs[workers] = ([(found, share) for _s, _m, found, share in results], files)
    found_in_process = outputs[1][0]
    assert {a.service for found, _share in found_in_process for a in found} >= {"svc-0", "svc-3", "svc-6"}
    assert found_in_process[5] == ([], 0.0)  # nothing usable: nothing detected, in either mode
    assert outputs[1] == outputs[2]
