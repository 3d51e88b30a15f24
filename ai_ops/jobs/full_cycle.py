"""The manual trigger: train, cycle and report, in that order."""

from __future__ import annotations

import time
from typing import Any

from ai_ops.config import OpsConfig, Secrets
from ai_ops.jobs.cycle import run_cycle
from ai_ops.jobs.report import run_report
from ai_ops.jobs.train import run_train


def run_full_cycle(config: OpsConfig, now: float | None = None, dry_run: bool = False,
                   secrets: Secrets | None = None) -> dict[str, Any]:
    """train, cycle, report, at one `now`, so the cycle uses the models the train just wrote."""
    now = time.time() if now is None else now
    return {"train": run_train(config, now, dry_run, secrets),
            "cycle": run_cycle(config, now, dry_run, secrets),
            "report": run_report(config, now, dry_run, secrets)}
