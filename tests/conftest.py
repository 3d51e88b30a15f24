from __future__ import annotations

from pathlib import Path

import pytest

from ai_ops.config import OpsConfig, load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sim_config(tmp_path: Path) -> OpsConfig:
    """The embedded default, in a fresh workspace of its own."""
    from ai_ops.jobs.workspace import prepare_workspace

    config = load_config(None).with_workspace(tmp_path / "ws")
    prepare_workspace(config, fresh=True)
    return config
