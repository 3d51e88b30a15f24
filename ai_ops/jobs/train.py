"""The daily training job (03:00 UTC): refit every series' detectors on its recent history."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ai_ops import monitoring
from ai_ops.actuators.git import CommitResult, commit_owned
from ai_ops.config import OpsConfig, Secrets
from ai_ops.detectors.batch import SeriesHistory, train_many
from ai_ops.jobs.observing import Sources, load_ensemble
from ai_ops.jobs.workspace import DAY, iso, paths_for
from ai_ops.metrics import SLI_METRICS
from ai_ops.sources.quality import summarize_reasons
from ai_ops.state import atomic_write_json, read_json, save_model

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    time: float
    entries: list[dict[str, Any]]
    commit: CommitResult | None


@monitoring.instrumented("train")
def run_train(config: OpsConfig, now: float | None = None, dry_run: bool = False,
              secrets: Secrets | None = None, sources: Sources | None = None) -> TrainResult:
    """Refit every series' detectors on its recent history and log the training."""
    now = time.time() if now is None else now
    secrets = secrets or Secrets()
    paths = paths_for(config)
    start = now - config.anomaly.gmm.training_window_days * DAY
    entries: list[dict[str, Any]] = []
    sources = sources or Sources(config, secrets)
    histories: list[SeriesHistory] = []
    for service in config.services:
        metrics = sources.fetch(service, start, now)
        monitoring.record_fetch_errors(service.source, len(metrics.errors))
        for metric, values in metrics.values.items():
            if metric in SLI_METRICS:  # the SLI is the outcome, not a signal to detect on
                continue
            # Start from yesterday's model so the GMM refit is warm-started (incremental training).
            state = load_ensemble(config, paths, service.name, metric).get_state()
            histories.append(SeriesHistory(f"{service.name}/{metric}", metrics.timestamps, values, state))
    untrained: dict[str, str] = {}
    for result in train_many(config.anomaly, histories, workers=config.anomaly.train_workers):
        service_name, metric = result.key.split("/", 1)
        report = result.report
        if report.trained and result.state is not None and not dry_run:
            save_model(paths.detector(service_name, metric), "ensemble", result.state)
        entries.append({"series": result.key, "samples": report.samples, "trained": report.trained,
                        "loss": report.loss, "converged": report.converged, "message": report.message,
                        "seconds": round(result.seconds, 4), "time": iso(now)})
        if not report.trained:
            untrained[result.key] = report.message
    monitoring.record_training(len(untrained))
    for line in summarize_reasons(untrained):  # one line per distinct reason, not one per series
        log.warning("%s train: model unchanged: %s", iso(now), line)
    commit = None
    if not dry_run:
        training_log = read_json(paths.training_log, {"runs": []})
        training_log["runs"] = ([*training_log.get("runs", []), {"time": iso(now), "series": entries}])[-60:]
        atomic_write_json(paths.training_log, training_log)
        trained = sum(e["trained"] for e in entries)
        monitoring.save_state(config)  # the self-monitoring counters travel with models/ (fresh CI checkouts)
        commit = commit_owned(config.path("."), [paths.models],
                              f"ai-ops: train detectors ({trained}/{len(entries)} series)\n\n"
                              f"Training log: models/training_log.json", config.outputs.git,
                              secrets.secret_values())
    log.info("%s train: %d/%d series trained%s", iso(now), sum(e["trained"] for e in entries), len(entries),
             " (dry run: nothing saved)" if dry_run else "")
    return TrainResult(now, entries, commit)


