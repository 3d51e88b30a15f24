"""Training many series across processes gives exactly what training them one by one gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from ai_ops.config import AnomalyConfig, OpsConfig
from ai_ops.detectors.batch import SeriesHistory, train_many, train_one
from ai_ops.detectors.ensemble import EnsembleDetector

DAY = 86400.0


def histories(count: int, days: float = 3) -> list[SeriesHistory]:
    t = 1_700_000_000.0 + np.arange(int(days * 288)) * 300.0
    out = []
    for i in range(count):
        rng = np.random.default_rng(i)
        v = 50 + 5 * i + 10 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 1 + i % 3, t.size)
        out.append(SeriesHistory(f"svc/m{i}", t, v))
    return out


def test_one_history_trains_like_a_direct_fit() -> None:
    config = AnomalyConfig()
    history = histories(1)[0]
    direct = EnsembleDetector(config)
    report = direct.fit(history.timestamps, history.values)
    result = train_one(config, history)
    assert result.report == report and result.state == direct.get_state() and result.seconds > 0


def test_process_pool_gives_the_same_models_in_the_same_order() -> None:
    config = AnomalyConfig()
    items = histories(5)
    alone = list(train_many(config, items, workers=1))
    pooled = list(train_many(config, items, workers=2, chunk_size=2))  # 3 chunks over 2 processes
    assert [r.key for r in pooled] == [h.key for h in items]
    assert [r.report for r in pooled] == [r.report for r in alone]
    assert [json.dumps(r.state) for r in pooled] == [json.dumps(r.state) for r in alone]


def test_warm_start_state_is_used_and_short_history_keeps_the_old_state() -> None:
    config = AnomalyConfig()
    first = train_one(config, histories(1)[0])
    t, v = histories(1, days=4)[0].timestamps, histories(1, days=4)[0].values
    warm = train_one(config, SeriesHistory("svc/m0", t[288:], v[288:], first.state))
    assert warm.report.trained and warm.report.message.startswith("loss_change=")  # GMM started from yesterday
    short = train_one(config, SeriesHistory("svc/m0", t[:10], v[:10], first.state))
    assert not short.report.trained and "need 48" in short.report.message and short.state == first.state


def test_bad_worker_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="workers"):
        list(train_many(AnomalyConfig(), histories(1), workers=0))
    with pytest.raises(ValidationError, match="train_workers"):
        AnomalyConfig(train_workers=0)


def test_train_job_in_two_processes_writes_the_same_models(sim_config: OpsConfig, tmp_path: Path) -> None:
    from ai_ops.jobs import train as jobs

    now = 1_700_000_000.0
    alone = jobs.run_train(sim_config, now, dry_run=True)
    pooled_config = sim_config.model_copy(
        update={"anomaly": sim_config.anomaly.model_copy(update={"train_workers": 2})})
    pooled = jobs.run_train(pooled_config, now)
    strip = [{k: v for k, v in e.items() if k != "seconds"} for e in alone.entries]
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in pooled.entries] == strip
    assert all(e["trained"] for e in pooled.entries)
    saved = sorted(p.name for p in sim_config.models_path.rglob("*.json") if p.name != "training_log.json")
    assert len(saved) >= len(pooled.entries)
