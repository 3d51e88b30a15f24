"""The daily training job (03:00 UTC): refit every series' detectors on its recent history."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ai_ops import monitoring
from ai_ops.actuators.git import CommitResult, commit_owned
from ai_ops.config import OpsConfig, Secrets
from ai_ops.detectors.batch import SeriesHistory, history_summary, summary_change, train_many
from ai_ops.errors import SourceError
from ai_ops.jobs.fleet import effective_services
from ai_ops.jobs.observing import Sources, load_ensemble
from ai_ops.jobs.workspace import DAY, iso, load_training_log, paths_for
from ai_ops.metrics import SLI_METRICS
from ai_ops.sources.quality import summarize_reasons
from ai_ops.state import atomic_write_json, read_json, save_model

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    time: float
    entries: list[dict[str, Any]]
    commit: CommitResult | None
    forecasts: list[dict[str, Any]] = field(default_factory=list)
    """learner.predictive: one entry per service (method, error vs the seasonal-naive baseline)."""


@monitoring.instrumented("train")
def run_train(config: OpsConfig, now: float | None = None, dry_run: bool = False,
              secrets: Secrets | None = None, sources: Sources | None = None) -> TrainResult:
    """Refit the detectors of every series whose history changed enough, and log the training.

    A series is skipped (model unchanged, logged as such) when its history's summary moved by
    less than `anomaly.retrain.min_change` since its last training and that training is younger
    than `anomaly.retrain.max_age_days`; new series and series without a model always train.
    """
    now = time.time() if now is None else now
    secrets = secrets or Secrets()
    paths = paths_for(config)
    start = now - config.anomaly.gmm.training_window_days * DAY
    entries: list[dict[str, Any]] = []
    sources = sources or Sources(config, secrets)
    fleet = effective_services(config, sources, now, persist=not dry_run)
    label = config.discovery.label if config.discovery else "service"
    retrain = config.anomaly.retrain
    summaries: dict[str, dict[str, Any]] = read_json(paths.train_summaries, None) or {}
    new_summaries: dict[str, dict[str, Any]] = {}
    histories: list[SeriesHistory] = []
    for service, metrics in sources.fetch_all(fleet.services, start, now, fleet.discovered_names, label):
        if isinstance(metrics, SourceError):
            raise metrics
        monitoring.record_fetch_errors(service.source, len(metrics.errors))
        for metric, values in metrics.values.items():
            if metric in SLI_METRICS:  # the SLI is the outcome, not a signal to detect on
                continue
            key = f"{service.name}/{metric}"
            summary = history_summary(values)
            skip = _unchanged(summaries.get(key), summary, now, retrain.min_change, retrain.max_age_days)
            if skip and paths.detector(service.name, metric).exists():
                entries.append({"series": key, "samples": summary["samples"] if summary else 0, "trained": False,
                                "skipped": True, "loss": None, "converged": None, "message": skip,
                                "seconds": 0.0, "time": iso(now)})
                continue
            # Start from yesterday's model so the GMM refit is warm-started (incremental training).
            model = load_ensemble(config, paths, service.name, metric)
            state = model.get_state()
            keep = unscored_cut(metrics.timestamps, model.last_time_, now)
            histories.append(SeriesHistory(key, metrics.timestamps[keep], values[keep], state))
            if summary is not None:
                new_summaries[key] = {**summary, "trained_at": now}
    untrained: dict[str, str] = {}
    for result in train_many(config.anomaly, histories, workers=config.anomaly.train_workers,
                             chunk_size=config.anomaly.executor.chunk_size):
        service_name, metric = result.key.split("/", 1)
        report = result.report
        if report.trained and result.state is not None and not dry_run:
            save_model(paths.detector(service_name, metric), "ensemble", result.state)
        if report.trained and result.key in new_summaries:
            summaries[result.key] = new_summaries[result.key]
        entries.append({"series": result.key, "samples": report.samples, "trained": report.trained,
                        "loss": report.loss, "converged": report.converged, "message": report.message,
                        "seconds": round(result.seconds, 4), "time": iso(now)})
        if not report.trained:
            untrained[result.key] = report.message
    monitoring.record_training(len(untrained))
    for line in summarize_reasons(untrained):  # one line per distinct reason, not one per series
        log.warning("%s train: model unchanged: %s", iso(now), line)
    skipped = sum(bool(e.get("skipped")) for e in entries)
    if skipped:
        log.info("%d series unchanged since their last training: not refitted (anomaly.retrain)", skipped)
    forecasts: list[dict[str, Any]] = []
    if config.learner.predictive.enabled:  # the demand forecast each cycle sizes the schedule from
        from ai_ops.jobs.predictive import fit_forecasts

        forecasts = fit_forecasts(config, paths, sources, now, persist=not dry_run)
    commit = None
    if not dry_run:
        training_log = load_training_log(paths)
        run: dict[str, Any] = {"time": iso(now), "series": entries}
        if forecasts:
            run["forecasts"] = forecasts
        training_log["runs"] = ([*training_log.get("runs", []), run])[-60:]
        atomic_write_json(paths.training_log, training_log)
        atomic_write_json(paths.train_summaries, summaries)
        trained = sum(e["trained"] for e in entries)
        monitoring.save_state(config)  # the self-monitoring counters travel with models/ (fresh CI checkouts)
        commit = commit_owned(config.path("."), [paths.models],
                              f"ai-ops: train detectors ({trained}/{len(entries)} series)\n\n"
                              f"Training log: models/training_log.json", config.outputs.git,
                              secrets.secret_values())
    log.info("%s train: %d/%d series trained%s", iso(now), sum(e["trained"] for e in entries), len(entries),
             " (dry run: nothing saved)" if dry_run else "")
    return TrainResult(now, entries, commit, forecasts)


UNSCORED_HORIZON = DAY
"""Points the cycles have not scored yet, newer than this before the training, are left to the next cycle."""


def unscored_cut(timestamps: np.ndarray, last_scored: float | None, now: float) -> np.ndarray:
    """Which history points the refit may replay: those the cycles already scored (every point is judged once).

    The refit replays its history through the detectors to warm them, and the next cycle continues from
    where the replay ended: a point replayed before any cycle scored it (03:00's training replays
    00:00-03:00; the 06:00 cycle scores 00:00-06:00) would never be judged live (the calibration has
    absorbed it and the burst filter damps it against its own replay). So the refit stops at the last
    point the model has scored. A model without that record (saved by an older version, or new), or
    whose last scored point is more than UNSCORED_HORIZON old (the cycles are not running), trains on all of it.
    """
    if last_scored is None or last_scored < now - UNSCORED_HORIZON:
        return np.ones(timestamps.shape, dtype=bool)
    return timestamps <= last_scored


def _unchanged(old: dict[str, Any] | None, new: dict[str, float] | None, now: float, min_change: float,
               max_age_days: float) -> str:
    """Why the series need not be refitted, or "" when it must be."""
    if old is None or new is None or min_change <= 0:
        return ""
    age_days = (now - float(old.get("trained_at", 0.0))) / DAY
    if age_days >= max_age_days:
        return ""
    change = summary_change(old, new)
    if change >= min_change:
        return ""
    return (f"unchanged since its training {age_days:.1f} days ago (summary moved {change:.3f} < "
            f"anomaly.retrain.min_change {min_change:g}); model kept")
