"""The train job on a Dask LocalCluster of 2 worker processes writes the same model files as the process pool."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ai_ops.config import ExecutorConfig, Secrets, load_config
from ai_ops.errors import ConfigError, ExecutorError

pytest.importorskip("distributed", reason="dask[distributed] is the optional extra ai-ops[dask] (in .[dev])")

NOW = 1_767_225_600.0 + 20 * 86_400  # a fixed moment: the simulated services give the same history each run


def _workspace(tmp_path: Path, executor: dict[str, object], train_workers: int = 1) -> Path:
    from ai_ops.jobs.workspace import prepare_workspace

    services = [{"name": f"svc{i}", "source": "simulated", "simulation": {"seed": 40 + i}} for i in range(3)]
    data = {"services": services,
            "anomaly": {"executor": executor, "train_workers": train_workers, "retrain": {"min_change": 0},
                         "gmm": {"training_window_days": 3}},
            "outputs": {"workspace": str(tmp_path / "ws"), "git": {"mode": "commit"}}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "ops_config.yaml").write_text(yaml.safe_dump(data))
    prepare_workspace(load_config(tmp_path / "ops_config.yaml"), fresh=True)
    return tmp_path / "ops_config.yaml"


def _model_files(tmp_path: Path) -> dict[str, bytes]:
    root = tmp_path / "ws" / "models" / "detectors"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.json"))}


def test_dask_local_cluster_writes_the_same_models_as_the_process_pool(tmp_path: Path) -> None:
    from ai_ops.jobs.train import run_train

    pool = load_config(_workspace(tmp_path / "pool", {"kind": "process", "chunk_size": 4}, train_workers=2))
    dask = load_config(_workspace(tmp_path / "dask", {"kind": "dask", "address": "local", "local_workers": 2,
                                                     "chunk_size": 4}))
    for config in (pool, dask):
        for day in range(2):  # the second day warm-starts from the first day's models
            result = run_train(config, now=NOW + day * 86_400, secrets=Secrets())
            assert all(e["trained"] for e in result.entries), result.entries
    pool_models, dask_models = _model_files(tmp_path / "pool"), _model_files(tmp_path / "dask")
    assert len(pool_models) == 3 * 6
    assert pool_models == dask_models  # bit for bit


def test_unreachable_scheduler_and_bad_settings_are_clear_errors(tmp_path: Path) -> None:
    from sources_helpers import free_port

    from ai_ops.jobs.train import run_train

    config = load_config(_workspace(tmp_path, {"kind": "dask", "address": f"tcp://127.0.0.1:{free_port()}",
                                               "timeout_seconds": 2}))
    with pytest.raises(ExecutorError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:\d+ within 2 s"):
        run_train(config, now=NOW, secrets=Secrets())
    assert not (tmp_path / "ws" / "models" / "detectors").exists()
    with pytest.raises(ValueError, match="needs an address"):
        ExecutorConfig(kind="dask")
    with pytest.raises(ValueError, match="not a Dask scheduler address"):
        ExecutorConfig(kind="dask", address="scheduler:8786")
    with pytest.raises(ValueError, match="tls:// executor address needs"):
        ExecutorConfig(kind="dask", address="tls://scheduler:8786")
    missing = ExecutorConfig(kind="dask", address="tls://127.0.0.1:1", tls_ca_file=tmp_path / "ca.pem",
                             tls_client_cert=tmp_path / "c.pem", tls_client_key=tmp_path / "k.pem")
    from ai_ops.detectors.batch import _dask_client

    with pytest.raises(ConfigError, match=r"anomaly.executor.tls_ca_file: .*ca.pem is not a file"):
        _dask_client(missing)
