"""The jobs: cycle, train, report, full-cycle, demo. The CLI, the daemon and the GitHub
Actions workflow all call these functions: there is one way to run a job.

Each job takes one typed `OpsConfig`, a time `now` (epoch seconds, real or simulated)
and an `echo` callback for progress lines, and returns a result value.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ai_ops.actuators.git import CommitResult, check_ready, commit_owned, init_repo, propose_change
from ai_ops.actuators.github import client_from_env
from ai_ops.actuators.terraform import current_thresholds, render_variables_tf, write_tfvars
from ai_ops.config import OpsConfig, Secrets, ServiceConfig, embedded_default_yaml
from ai_ops.detectors.batch import SeriesHistory, train_many
from ai_ops.detectors.ensemble import EnsembleDetector
from ai_ops.errors import ConfigError, SourceError, WorkspaceError
from ai_ops.learner.learner import Decision, ThresholdLearner
from ai_ops.learner.observation import Observation, observe
from ai_ops.metrics import ServiceMetrics
from ai_ops.reporting.report import daily_series
from ai_ops.sim.service import TargetTimeline
from ai_ops.sources.base import MetricSource, unavailable
from ai_ops.sources.prometheus import source_from
from ai_ops.sources.quality import SeriesQuality, assess
from ai_ops.sources.simulated import SimulatedSource
from ai_ops.state import (
    ModelIntegrityError,
    append_jsonl,
    atomic_write_json,
    load_model,
    read_json,
    read_jsonl,
    save_model,
    workspace_lock,
)

Echo = Callable[[str], None]
DAY = 86_400
SCALING = "autoscaling_cpu_target"


def _quiet(_: str) -> None:
    pass


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- workspace files


@dataclass(frozen=True)
class Paths:
    models: Path

    @property
    def ledger(self) -> Path:
        return self.models / "decisions.jsonl"

    @property
    def anomalies(self) -> Path:
        return self.models / "anomalies.jsonl"

    @property
    def learner_state(self) -> Path:
        return self.models / "learner_state.json"

    @property
    def training_log(self) -> Path:
        return self.models / "training_log.json"

    def detector(self, service: str, metric: str) -> Path:
        return self.models / "detectors" / service / f"{metric}.json"


def _paths(config: OpsConfig) -> Paths:
    return Paths(config.models_path)


# ---------------------------------------------------------------- sources


def deployed_target_timeline(config: OpsConfig) -> TargetTimeline:
    """The scaling target in force at each moment, replayed from the decision ledger.

    The simulated service has no real autoscaler to ask, so it follows what the controller
    wrote: the initial value, then each applied change from its decision time on.
    """
    initial = config.thresholds[SCALING].initial if SCALING in config.thresholds else 70.0
    changes = [(r["time"], r["new"][SCALING]) for r in read_jsonl(_paths(config).ledger)
               if r.get("applied") and SCALING in r.get("new", {})]
    times = np.array([t for t, _ in changes], dtype=float)
    values = np.array([initial] + [v for _, v in changes], dtype=float)

    def timeline(ts: np.ndarray) -> np.ndarray:
        return values[np.searchsorted(times, ts, side="right")]

    return timeline


def source_for(config: OpsConfig, service: ServiceConfig, secrets: Secrets) -> MetricSource:
    if service.source == "simulated":
        return SimulatedSource(deployed_target_timeline(config))
    if service.source in ("prometheus", "grafana"):
        return source_from(service.source, secrets, config.sources)
    raise ConfigError(f"service '{service.name}': source '{service.source}' is not available in this build")


class Sources:
    """The metric sources of one job: one per kind, shared by every service.

    Sharing means one retry budget and one circuit breaker per server for the whole job,
    so a dead Prometheus fails the cycle fast instead of once per service.
    """

    def __init__(self, config: OpsConfig, secrets: Secrets) -> None:
        self.config = config
        self.secrets = secrets
        self._by_kind: dict[str, MetricSource] = {}

    def fetch(self, service: ServiceConfig, start: float, end: float) -> ServiceMetrics:
        source = self._by_kind.get(service.source)
        if source is None:
            source = self._by_kind[service.source] = source_for(self.config, service, self.secrets)
        return source.fetch(service, start, end, self.config.step_seconds)


def fetch(config: OpsConfig, service: ServiceConfig, secrets: Secrets, start: float, end: float) -> ServiceMetrics:
    """One fetch outside a job (the demo summary)."""
    return Sources(config, secrets).fetch(service, start, end)


# ---------------------------------------------------------------- detection


def _ensemble(config: OpsConfig, paths: Paths, service: str, metric: str, echo: Echo) -> EnsembleDetector:
    detector = EnsembleDetector(config.anomaly)
    try:
        state = load_model(paths.detector(service, metric), "ensemble")
    except ModelIntegrityError as exc:
        echo(f"warning: {exc}")
        state = None
    if state is not None:
        try:
            detector.set_state(state)
        except (KeyError, TypeError, ValueError):
            echo(f"warning: {paths.detector(service, metric)} does not match the configured detectors; retraining")
    return detector


@dataclass(frozen=True)
class Anomaly:
    service: str
    metric: str
    time: float
    score: float
    severity: str


def detect(config: OpsConfig, paths: Paths, metrics: ServiceMetrics, echo: Echo,
           save: bool = True) -> tuple[list[Anomaly], float]:
    """Score every metric of the window causally; returns anomalies and the share of anomalous steps.

    With `save`, the detectors' advanced state is stored so the next cycle continues from it.
    """
    anomalies: list[Anomaly] = []
    flagged = np.zeros(metrics.timestamps.shape, dtype=bool)
    for metric, values in metrics.values.items():
        detector = _ensemble(config, paths, metrics.service, metric, echo)
        scores = detector.score(metrics.timestamps, values)
        if save:
            save_model(paths.detector(metrics.service, metric), "ensemble", detector.get_state())
        severity = detector.levels.classify(np.nan_to_num(scores, nan=0.0))
        hit = severity != "normal"
        flagged |= hit
        for i in np.flatnonzero(hit):
            anomalies.append(Anomaly(metrics.service, metric, float(metrics.timestamps[i]), round(float(scores[i]), 6),
                                     str(severity[i])))
    share = float(flagged.mean()) if flagged.size else 0.0
    return anomalies, share


def run_detect(config: OpsConfig, input_path: Path, output_path: Path, detector: str = "ensemble") -> int:
    """Score an exported `timestamp,value` series causally, as the cycles would have; rows written."""
    from ai_ops.detectors.backtest import DETECTORS, stream_scores
    from ai_ops.series_csv import read_series, write_scores

    if detector not in DETECTORS:
        raise ConfigError(f"unknown detector '{detector}': use one of {', '.join(DETECTORS)}")
    if output_path.resolve() == input_path.resolve():
        raise ConfigError(f"--output {output_path} is the input file; choose another path")
    series = read_series(input_path)
    write_scores(output_path, series.texts, stream_scores(detector, config.anomaly, series.seconds, series.values))
    return len(series.texts)


# ---------------------------------------------------------------- the cycle


@dataclass
class CycleResult:
    time: float
    decision: Decision
    quality: dict[str, dict[str, SeriesQuality]]
    anomalies: list[Anomaly]
    wrote_tfvars: bool
    commit: CommitResult | None
    observation: Observation


def _combine(observations: list[Observation]) -> Observation:
    """Thresholds are shared by every watched service: judge them by the worst SLA and the total cost."""
    if len(observations) == 1:
        return observations[0]
    first = observations[0]
    worst = min(observations, key=lambda o: o.sla_attainment if np.isfinite(o.sla_attainment) else -1)
    return Observation(
        time=first.time, sla_attainment=worst.sla_attainment,
        cost=sum(o.cost for o in observations), cost_per_hour=sum(o.cost_per_hour for o in observations),
        utilization_mean=max(o.utilization_mean for o in observations),
        utilization_p95=max(o.utilization_p95 for o in observations),
        replicas_mean=sum(o.replicas_mean for o in observations),
        replicas_max=sum(o.replicas_max for o in observations),
        latency_p95_max_ms=max(o.latency_p95_max_ms for o in observations),
        error_rate_mean=max(o.error_rate_mean for o in observations),
        samples=min(o.samples for o in observations),
        anomaly_share=max(o.anomaly_share for o in observations),
        alerts_fired={k: any(o.alerts_fired.get(k, False) for o in observations) for k in first.alerts_fired},
        usable=all(o.usable for o in observations),
        unusable_reason="; ".join(o.unusable_reason for o in observations if o.unusable_reason),
        sla_attainment_load=min(o.sla_attainment_load for o in observations),
        requests=sum(o.requests for o in observations),
        normal_levels={k: max(o.normal_levels[k] for o in observations if k in o.normal_levels)
                       for k in {k for o in observations for k in o.normal_levels}},
    )


def _learner(config: OpsConfig, paths: Paths) -> ThresholdLearner:
    state = read_json(paths.learner_state)
    return ThresholdLearner(config.learner, config.thresholds, config.sla.target, config.cost.monthly_budget, state)


def _commit_message(decision: Decision, observation: Observation, quality: dict[str, dict[str, SeriesQuality]],
                    anomalies: list[Anomaly], config: OpsConfig) -> str:
    lines = [f"ai-ops: {decision.summary}", "", "| threshold | old | new |", "|---|---|---|"]
    for name, (old, new) in decision.changes.items():
        lines.append(f"| {name} | {old:g} | {new:g} |")
    r = decision.reward
    lines += ["", "Evidence (last window):",
              f"- SLA attainment {observation.sla_attainment:.4f}% (target {config.sla.target}%)",
              f"- cost {observation.cost:.2f} {config.cost.currency} ({observation.cost_per_hour:.3f}/h)",
              f"- CPU mean {observation.utilization_mean:.1f}%, p95 {observation.utilization_p95:.1f}%;"
              f" replicas mean {observation.replicas_mean:.1f}, max {observation.replicas_max:.0f}",
              f"- anomalies: {len(anomalies)} points ({observation.anomaly_share:.1%} of steps)"]
    if r is not None:
        lines.append(f"- reward {r.total:+.4f} = {r.sla_weight:g} x SLA met {r.sla_met:g} - cost variance "
                     f"{r.cost_variance:+.4f} (cost {r.cost_per_hour:.3f}/h vs budget {r.budget_per_hour:.3f}/h)")
    bad = [f"{svc}/{q.metric}: {q.reason}" for svc, qs in quality.items() for q in qs.values() if not q.usable]
    lines.append(f"- data quality: {'all series usable' if not bad else '; '.join(bad)}")
    lines += ["", "Why:"] + [f"- {k}: {v}" for k, v in decision.reasons.items() if v]
    lines += ["", f"Learning status: {decision.status}. Decision ledger: models/decisions.jsonl."]
    reports = sorted(p for p in config.reports_path.glob("*/report.md")) if config.reports_path.exists() else []
    if reports:
        lines.append(f"Latest daily report: {reports[-1].relative_to(config.path('.'))}")
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """NaN/inf (no data: unknown SLA, infinite staleness) as null, so the strict JSON ledger accepts them."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def run_cycle(config: OpsConfig, now: float | None = None, dry_run: bool = False, secrets: Secrets | None = None,
              echo: Echo = _quiet) -> CycleResult:
    """OBSERVE -> DETECT -> DECIDE -> ACT for one window ending at `now`.

    With `dry_run` nothing is written at all (no Terraform, state, ledger or commit): the run
    shows what it would decide and leaves the next real cycle exactly as it would have been.
    """
    now = time.time() if now is None else now
    persist = not dry_run
    secrets = secrets or Secrets()
    paths = _paths(config)
    start = now - config.cycle_window_hours * 3600
    current = current_thresholds(config)
    git_config = config.outputs.git
    if dry_run:
        git_config = git_config.model_copy(update={"mode": "dry-run"})
    check_ready(config.path("."), git_config)  # fail before writing anything if Git cannot take the change

    observations, quality, anomalies = [], {}, []
    fetch_errors: dict[str, str] = {}
    sources = Sources(config, secrets)
    for service in config.services:
        try:
            metrics = sources.fetch(service, start, now)
        except SourceError as exc:  # no data is not "normal data": mark it unusable, record why, exit non-zero
            echo(f"{service.name}: metrics could not be fetched: {exc}")
            metrics = unavailable(service.name, start, now, config.step_seconds, str(exc))
        fetch_errors.update({f"{service.name}/{m}": reason for m, reason in metrics.errors.items()})
        quality[service.name] = assess(metrics, now, start, config.data_quality)
        found, share = detect(config, paths, metrics, echo, persist) if len(metrics.errors) < len(metrics.values) else ([], 0.0)
        anomalies += found
        surges = np.isin(metrics.timestamps, [a.time for a in found if a.metric == "request_rate"])
        flagged = np.isin(metrics.timestamps, [a.time for a in found])
        obs = observe(now, metrics.step, metrics.values, current, config.sla.latency_objective_ms, share,
                      config.sla.target, surges, flagged)
        bad = [f"{service.name}/{q.metric}: {q.reason}" for q in quality[service.name].values() if not q.usable]
        if bad:
            obs = Observation(**{**obs.__dict__, "usable": False, "unusable_reason": "unusable data: " + "; ".join(bad)})
        observations.append(obs)
    observation = _combine(observations)

    learner = _learner(config, paths)
    decision = learner.step(observation, current)
    apply = decision.changed and not dry_run and config.outputs.git.mode != "dry-run"
    wrote = write_tfvars(config, decision.new) if apply else False

    if persist:
        for a in anomalies:
            append_jsonl(paths.anomalies, a.__dict__)
    ledger = {"time": now, "time_iso": iso(now), "kind": "cycle", **decision.to_dict(), "applied": wrote,
              "data_quality": {s: {m: q.__dict__ for m, q in qs.items()} for s, qs in quality.items()},
              "anomaly_count": len(anomalies)}
    if persist and (wrote or not decision.changed):
        # A change that was not applied (git mode dry-run) must not count as made: the learner
        # would otherwise wait out a cooldown for, and judge, a threshold that never went live.
        atomic_write_json(paths.learner_state, learner.state_dict())

    commit = None
    if decision.changed:
        message = _commit_message(decision, observation, quality, anomalies, config)
        # Only what a reviewer must read: the values, and the learner state/ledger that explain them.
        # Detector parameters change every cycle; the daily train and report commits carry them.
        reviewed = [config.tfvars_path, paths.learner_state, paths.ledger]
        commit = propose_change(config.path("."), reviewed, message, git_config,
                                decision.summary, now, secrets.secret_values(), client_from_env(secrets))
        ledger["commit"] = commit.sha
        echo(f"{iso(now)} cycle: {decision.summary}" + (f" (commit {commit.sha[:8]})" if commit.sha else ""))
        if commit.pull_request_url or commit.warning:
            echo(commit.warning or f"pull request: {commit.pull_request_url}")
        if commit.mode == "dry-run" and commit.diff:
            echo(commit.diff)
    else:
        echo(f"{iso(now)} cycle: {decision.summary}")
    if fetch_errors:
        ledger["fetch_errors"] = fetch_errors
    if persist:
        append_jsonl(paths.ledger, _json_safe(ledger))
    if persist and git_config.mode == "pr":  # each CI run is a fresh checkout: learned state travels on the state branch
        commit_owned(config.path("."), [paths.models], f"ai-ops state after the cycle of {iso(now)}", git_config,
                     secrets.secret_values())
    if fetch_errors:
        raise SourceError(f"{len(fetch_errors)} series could not be fetched, so no threshold changed this cycle "
                          f"(reasons in {paths.ledger}): " + "; ".join(dict.fromkeys(fetch_errors.values())))
    result = CycleResult(now, decision, quality, anomalies, wrote, commit, observation)
    if not dry_run:
        cycle_notice(config, result, secrets, echo)
    return result


# ---------------------------------------------------------------- training


@dataclass
class TrainResult:
    time: float
    entries: list[dict[str, Any]]
    commit: CommitResult | None


def run_train(config: OpsConfig, now: float | None = None, dry_run: bool = False, secrets: Secrets | None = None,
              echo: Echo = _quiet) -> TrainResult:
    """Refit every series' detectors on its recent history and log the training."""
    now = time.time() if now is None else now
    secrets = secrets or Secrets()
    paths = _paths(config)
    start = now - config.anomaly.gmm.training_window_days * DAY
    entries: list[dict[str, Any]] = []
    sources = Sources(config, secrets)
    histories: list[SeriesHistory] = []
    for service in config.services:
        metrics = sources.fetch(service, start, now)
        for metric, values in metrics.values.items():
            # Start from yesterday's model so the GMM refit is warm-started (incremental training).
            state = _ensemble(config, paths, service.name, metric, echo).get_state()
            histories.append(SeriesHistory(f"{service.name}/{metric}", metrics.timestamps, values, state))
    for result in train_many(config.anomaly, histories, workers=config.anomaly.train_workers):
        service_name, metric = result.key.split("/", 1)
        report = result.report
        if report.trained and not dry_run:
            save_model(paths.detector(service_name, metric), "ensemble", result.state)
        entries.append({"series": result.key, "samples": report.samples, "trained": report.trained,
                        "loss": report.loss, "converged": report.converged, "message": report.message,
                        "seconds": round(result.seconds, 4), "time": iso(now)})
        if not report.trained:
            echo(f"{result.key}: {report.message}; model unchanged")
    commit = None
    if not dry_run:
        log = read_json(paths.training_log, {"runs": []})
        log["runs"] = (log.get("runs", []) + [{"time": iso(now), "series": entries}])[-60:]
        atomic_write_json(paths.training_log, log)
        trained = sum(e["trained"] for e in entries)
        commit = commit_owned(config.path("."), [paths.models],
                              f"ai-ops: train detectors ({trained}/{len(entries)} series)\n\n"
                              f"Training log: models/training_log.json", config.outputs.git,
                              secrets.secret_values())
    echo(f"{iso(now)} train: {sum(e['trained'] for e in entries)}/{len(entries)} series trained")
    return TrainResult(now, entries, commit)


# ---------------------------------------------------------------- report


@dataclass
class ReportResult:
    time: float
    folder: Path | None
    report: dict[str, Any]


def build_report(config: OpsConfig, now: float, secrets: Secrets) -> dict[str, Any]:
    """Every number of the daily report (no words yet): reads metrics and the models/ files."""
    from ai_ops.reporting.forecast import month_bounds
    from ai_ops.reporting.report import ReportSettings, compose_report, learning_status

    paths = _paths(config)
    start = min(now - 7 * DAY, month_bounds(now)[0])
    sources = Sources(config, secrets)
    metrics = {s.name: sources.fetch(s, start, now) for s in config.services}
    learner_state = read_json(paths.learner_state) or {}
    learner = _learner(config, paths) if learner_state else None
    learning = learning_status(learner.status() if learner else "exploring", learner_state,
                               read_json(paths.training_log, {"runs": []}))
    settings = ReportSettings(config.sla.target, config.sla.latency_objective_ms, config.cost.monthly_budget,
                              config.cost.currency, {k: (t.min, t.max) for k, t in config.thresholds.items()})
    week = now - 7 * DAY
    week_anomalies = [a for a in read_jsonl(paths.anomalies) if week <= a.get("time", 0) < now]
    report = compose_report(now, settings, metrics, [r for r in read_jsonl(paths.ledger) if r.get("time", 0) >= week],
                            week_anomalies, current_thresholds(config), learning)
    report["_main_series"] = _main_series(metrics[config.services[0].name], week_anomalies, now)
    return report


def _main_series(metrics: ServiceMetrics, anomalies: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """The chart's main metric over 7 days with every anomalous point of it (not only the last 24 h)."""
    from ai_ops.reporting.report import MAIN_METRIC, week_metrics_for_charts

    series = week_metrics_for_charts(metrics, now)
    series["anomalies"] = [{"time": a["time"], "severity": a["severity"]} for a in anomalies
                           if a.get("service") == metrics.service and a.get("metric") == MAIN_METRIC]
    return series


def run_report(config: OpsConfig, now: float | None = None, dry_run: bool = False, secrets: Secrets | None = None,
               echo: Echo = _quiet, charts: bool = True) -> ReportResult:
    """Numbers, words, local files (first), then Slack and Notion; a channel's failure never stops the rest."""
    from ai_ops.notifiers import notion, slack
    from ai_ops.reporting.narrative import write_narrative
    from ai_ops.reporting.recommend import evidence_values, recommend
    from ai_ops.reporting.render import render_markdown, write_local

    now = time.time() if now is None else now
    secrets = secrets or Secrets()
    report = build_report(config, now, secrets)
    main_series = report.pop("_main_series")
    recommendations = [r.to_dict() for r in recommend(report, {k: (t.min, t.max) for k, t in config.thresholds.items()},
                                                      config.cost.currency)]
    report["recommendations"] = recommendations
    state_path = _paths(config).models / "llm_state.json"
    narrative = write_narrative(report, recommendations, evidence_values(report), config.llm, secrets,
                                state_path, now, config.cost.currency)
    report["narrative"] = narrative.to_dict()
    report["charts"] = []
    echo(f"{iso(now)} report narrative: {narrative.written_by} ({narrative.reason})")
    if dry_run:
        echo(render_markdown(report))
        echo(f"{iso(now)} report: health {report['health_score']}/100 (dry run: nothing written or sent)")
        return ReportResult(now, None, report)
    folder = config.reports_path / report["date"]
    for problem in write_local(folder, report, main_series, charts=charts):
        echo(f"warning: {problem}")
    markdown_text = (folder / "report.md").read_text(encoding="utf-8")
    deliveries = [slack.send_report(report, folder, secrets, config.notifiers),
                  notion.send_report(report, markdown_text, secrets, config.notifiers)]
    report["delivery"] = {d.channel: d.to_dict() for d in deliveries}
    atomic_write_json(folder / "report.json", report)
    for d in deliveries:
        echo(f"{iso(now)} report {d.line()}")
    commit_owned(config.path("."), [folder, _paths(config).models],
                 f"ai-ops: daily report {report['date']} (health {report['health_score']}/100)\n\n"
                 f"Report: {folder.relative_to(config.path('.'))}/report.md", config.outputs.git,
                 secrets.secret_values())
    echo(f"{iso(now)} report: health {report['health_score']}/100, written to {folder}")
    return ReportResult(now, folder, report)


def cycle_notice(config: OpsConfig, result: CycleResult, secrets: Secrets, echo: Echo) -> None:
    """Real-time Slack notice when a cycle changed a threshold or found a critical anomaly; never raises."""
    from ai_ops.notifiers.slack import send_notice

    slack_config = config.notifiers.slack
    critical = [a for a in result.anomalies if a.severity == "critical"]
    lines = []
    if slack_config.notify_on_change and result.decision.changed:
        lines.append(f":gear: ai-ops {iso(result.time)}: {result.decision.summary}"
                     + (f" (commit {result.commit.sha[:8]})" if result.commit and result.commit.sha else ""))
    if slack_config.notify_on_critical and critical:
        series = sorted({f"{a.service}/{a.metric}" for a in critical})
        lines.append(f":rotating_light: {len(critical)} critical anomaly point(s) on {', '.join(series)}")
    if not lines:
        return
    delivery = send_notice("\n".join(lines), secrets, config.notifiers)
    if delivery.status != "skipped":
        echo(f"{iso(result.time)} cycle notice {delivery.line()}")


def run_full_cycle(config: OpsConfig, now: float | None = None, dry_run: bool = False,
                   secrets: Secrets | None = None, echo: Echo = _quiet) -> dict[str, Any]:
    """train, cycle, report, in that order (the manual trigger)."""
    now = time.time() if now is None else now
    return {"train": run_train(config, now, dry_run, secrets, echo),
            "cycle": run_cycle(config, now, dry_run, secrets, echo),
            "report": run_report(config, now, dry_run, secrets, echo)}


# ---------------------------------------------------------------- workspace and demo

DEMO_MARKER = ".ai-ops-demo"


def prepare_workspace(config: OpsConfig, *, fresh: bool) -> None:
    """A self-contained workspace: Git repo, terraform/variables.tf, config copy.

    With `fresh`, the folder must be empty or a previous demo (then it is replaced).
    """
    root = config.path(".")
    if fresh and root.exists():
        if not root.is_dir():
            raise WorkspaceError(f"{root} exists and is not a folder; choose another --workspace")
        if any(root.iterdir()):
            if not (root / DEMO_MARKER).exists():
                raise WorkspaceError(
                    f"{root} is not empty and is not a previous ai-ops demo; choose another --workspace or empty it"
                )
            shutil.rmtree(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise WorkspaceError(f"cannot write to workspace {root}: {exc.strerror or exc}; choose a writable --workspace") from None
    if (root / ".git").exists():
        return
    (root / DEMO_MARKER).write_text("created by `ai-ops demo`; safe to delete\n")
    (root / ".gitignore").write_text(".ai-ops.lock\n")
    terraform = config.path(config.outputs.terraform_dir)
    terraform.mkdir(parents=True, exist_ok=True)
    (terraform / "variables.tf").write_text(render_variables_tf(config.thresholds))
    (root / "config").mkdir(exist_ok=True)
    (root / "config" / "ops_config.yaml").write_text(embedded_default_yaml())
    repo = init_repo(root, config.outputs.git)
    repo.git.add("--all")
    repo.git.commit("-m", "Initial workspace: Terraform variables and ai-ops config")


def locked(config: OpsConfig) -> Any:
    return workspace_lock(config.path("."))


@dataclass
class DemoResult:
    workspace: Path
    days: list[dict[str, Any]]
    threshold_path: list[dict[str, Any]]
    incidents: int
    incidents_detected: int
    commits: int
    reports: Path
    seed: int
    learning: dict[str, Any] = field(default_factory=dict)
    """The learner's last status: exploring / converging / converged, criterion, days since change."""


DEMO_START = datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp()  # a Monday, 00:00 UTC
"""Simulated time starts at a fixed date so the same seed gives the same demo."""


def demo_config(workspace: Path, seed: int | None = None) -> OpsConfig:
    from ai_ops.config import load_config

    config = load_config(None).with_workspace(workspace.resolve())
    if seed is not None:
        services = [s.model_copy(update={"simulation": s.simulation.model_copy(update={"seed": seed})})
                    for s in config.services]
        config = config.model_copy(update={"services": services})
    return config


def run_demo(workspace: Path, days: int = 14, seed: int | None = None, echo: Echo = _quiet,
             progress: Callable[[int, int], None] | None = None) -> DemoResult:
    """Many simulated days of the real jobs, in the order the schedule runs them."""
    if days < 1:
        raise ConfigError(f"--days must be at least 1, got {days}")
    config = demo_config(workspace, seed)
    prepare_workspace(config, fresh=True)
    secrets = Secrets()
    schedule = [(0, "cycle"), (3, "train"), (6, "cycle"), (9, "report"), (12, "cycle"), (18, "cycle")]
    total = days * len(schedule)
    all_anomalies: list[Anomaly] = []
    threshold_path: list[dict[str, Any]] = []
    with locked(config):
        # Day 0: train on the week before the demo starts, as a new install would.
        run_train(config, DEMO_START, secrets=secrets, echo=echo)
        done = 0
        for day in range(days):
            for hour, job in schedule:
                now = DEMO_START + day * DAY + hour * 3600
                if job == "cycle":
                    result = run_cycle(config, now, secrets=secrets, echo=echo)
                    all_anomalies += result.anomalies
                    threshold_path.append({"time_iso": iso(now), **result.decision.new})
                elif job == "train":
                    run_train(config, now, secrets=secrets, echo=echo)
                else:
                    run_report(config, now, secrets=secrets, echo=echo)
                done += 1
                if progress:
                    progress(done, total)
    end = DEMO_START + days * DAY
    per_day = daily_series(fetch(config, config.services[0], secrets, DEMO_START, end), config.sla.latency_objective_ms)
    incidents = [i for s in config.services for i in SimulatedSource(deployed_target_timeline(config)).incidents(s, DEMO_START, end)]
    detected = sum(any(i.start <= a.time < i.end + 1800 and a.severity in ("warning", "critical")
                       for a in all_anomalies) for i in incidents)
    from ai_ops.actuators.git import open_repo

    commits = sum(1 for _ in open_repo(config.path(".")).iter_commits()) - 1
    learning = _learner(config, _paths(config)).learning_status(end).to_dict()
    return DemoResult(config.path("."), per_day, threshold_path, len(incidents), detected, commits,
                      config.reports_path, config.services[0].simulation.seed, learning)
