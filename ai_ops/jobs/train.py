"""The daily training job (03:00 UTC): refit every series' detectors on its recent history."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ai_ops.actuators.git import CommitResult, commit_owned
from ai_ops.config import OpsConfig, Secrets
from ai_ops.detectors.batch import SeriesHistory, train_many
from ai_ops.jobs.observing import Sources, load_ensemble
from ai_ops.jobs.workspace import DAY, iso, load_training_log, paths_for
from ai_ops.state import atomic_write_json, save_model

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    time: float
    entries: list[dict[str, Any]]
    commit: CommitResult | None


def run_train(config: OpsConfig, now: float | None = None, dry_run: bool = False,
              secrets: Secrets | None = None) -> TrainResult:
    """Refit every series' detectors on its recent history and log the training."""
    now = time.time() if now is None else now
    secrets = secrets or Secrets()
    paths = paths_for(config)
    start = now - config.anomaly.gmm.training_window_days * DAY
    entries: list[dict[str, Any]] = []
    sources = Sources(config, secrets)
    histories: list[SeriesHistory] = []
    for service in config.services:
        metrics = sources.fetch(service, start, now)
        for metric, values in metrics.values.items():
            # Start from yesterday's model so the GMM refit is warm-started (incremental training).
            state = load_ensemble(config, paths, service.name, metric).get_state()
            histories.append(SeriesHistory(f"{service.name}/{metric}", metrics.timestamps, values, state))
    for result in train_many(config.anomaly, histories, workers=config.anomaly.train_workers):
        service_name, metric = result.key.split("/", 1)
        report = result.report
        if report.trained and result.state is not None and not dry_run:
            save_model(paths.detector(service_name, metric), "ensemble", result.state)
        entries.append({"series": result.key, "samples": report.samples, "trained": report.trained,
                        "loss": report.loss, "converged": report.converged, "message": report.message,
                        "seconds": round(result.seconds, 4), "time": iso(now)})
        if not report.trained:
            log.warning("%s: %s; model unchanged", result.key, report.message)
    commit = None
    if not dry_run:
        training_log = load_training_log(paths)
        training_log["runs"] = ([*training_log.get("runs", []), {"time": iso(now), "series": entries}])[-60:]
        atomic_write_json(paths.training_log, training_log)
        trained = sum(e["trained"] for e in entries)
        commit = commit_owned(config.path("."), [paths.models],
                              f"ai-ops: train detectors ({trained}/{len(entries)} series)\n\n"
                              f"Training log: models/training_log.json", config.outputs.git,
                              secrets.secret_values())
    log.info("%s train: %d/%d series trained", iso(now), sum(e["trained"] for e in entries), len(entries))
    return TrainResult(now, entries, commit)


