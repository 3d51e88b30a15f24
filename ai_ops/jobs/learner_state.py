"""The learner state of each service: loaded from models/learner/<service>.json, migrated from the shared file.

A damaged or unknown-version file is restored from Git history or refused, never silently reset.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ai_ops.config import OpsConfig
from ai_ops.jobs.workspace import Paths
from ai_ops.learner.learner import LearnerStateError, ThresholdLearner
from ai_ops.state import atomic_write_json, load_state, read_json

log = logging.getLogger(__name__)


def _relative(config: OpsConfig, path: Path) -> str:
    try:
        return str(path.relative_to(config.path(".")))
    except ValueError:
        return str(path)


def load_learner(config: OpsConfig, paths: Paths, service: str) -> ThresholdLearner:
    """The learner of one service, from models/learner/<service>.json (or, before the first cycle
    after an upgrade, from the shared models/learner_state.json it will be migrated from). A
    damaged file is restored from Git history or refused (exit 2), never silently reset."""
    path = paths.learner_state(service)
    if not path.exists() and paths.legacy_learner_state.exists():
        path = paths.legacy_learner_state

    def make(state: object) -> ThresholdLearner:
        if state is not None and not isinstance(state, dict):
            raise LearnerStateError(f"{_relative(config, path)} must hold a JSON object")
        try:
            return ThresholdLearner(config.learner, config.thresholds_for(service), config.sla.target,
                                    config.cost.monthly_budget, state)
        except LearnerStateError as exc:
            # The learner names the pre-per-service file; say which file is really at fault.
            raise LearnerStateError(str(exc).replace("models/learner_state.json", _relative(config, path))) from None

    return make(load_state(path, make))


def migrate_learner_state(config: OpsConfig, paths: Paths) -> None:
    """Move the one shared learner state (before per-service thresholds) to one file per service.

    Every service starts from a copy of the shared evidence: its known-bad targets were judged
    by the worst service, so they are conservative (never too high) for each. The old file is
    kept beside, renamed, so nothing is dropped; a log line says so.
    """
    legacy = paths.legacy_learner_state
    if not legacy.exists():
        return
    state = read_json(legacy)
    for service in config.service_names:
        load_learner(config, paths, service)  # refuses a damaged or unknown-version file, naming it
    for service in config.service_names:
        if not paths.learner_state(service).exists():
            atomic_write_json(paths.learner_state(service), state)
    kept = legacy.with_name("learner_state.migrated.json")
    legacy.replace(kept)
    log.warning("migrated %s (one learner shared by every service) to %s/<service>.json for %s; the old "
                "file is kept as %s", _relative(config, legacy), _relative(config, paths.learner_dir),
                ", ".join(config.service_names), _relative(config, kept))
