"""`--dry-run` decides and shows, and leaves every file exactly as it was."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import git
import pytest

from ai_ops.config import OpsConfig
from ai_ops.jobs.cycle import run_cycle
from ai_ops.jobs.demo import DEMO_START
from ai_ops.jobs.train import run_train


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


def test_dry_run_cycle_writes_nothing_and_does_not_shift_the_next_cycle(
        sim_config: OpsConfig, caplog: pytest.LogCaptureFixture) -> None:
    root = sim_config.path(".")
    run_train(sim_config, DEMO_START)
    before = _snapshot(root)
    head = git.Repo(root).head.commit.hexsha
    with caplog.at_level(logging.INFO, logger="ai_ops"):
        shown = run_cycle(sim_config, DEMO_START + 6 * 3600, dry_run=True)
    assert "cycle:" in caplog.text, "a dry run must show what it decided"
    assert _snapshot(root) == before
    assert git.Repo(root).head.commit.hexsha == head
    # The real cycle afterwards decides exactly what the dry run showed.
    real = run_cycle(sim_config, DEMO_START + 6 * 3600)
    assert real.decision.new == shown.decision.new
    assert real.decision.summary == shown.decision.summary
