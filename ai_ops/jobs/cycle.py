"""The ops cycle (every 6 h): OBSERVE -> DETECT -> DECIDE -> ACT for one window."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ai_ops.actuators.git import CommitResult, check_ready, commit_owned, propose_change
from ai_ops.actuators.github import client_from_env
from ai_ops.actuators.terraform import current_thresholds, write_tfvars
from ai_ops.config import OpsConfig, Secrets
from ai_ops.errors import SourceError
from ai_ops.jobs.observing import Anomaly, Sources, detect
from ai_ops.jobs.workspace import Paths, iso, json_safe, paths_for
from ai_ops.learner.learner import Decision, LearnerStateError, ThresholdLearner
from ai_ops.learner.observation import Observation, observe
from ai_ops.sources.base import unavailable
from ai_ops.sources.quality import SeriesQuality, assess
from ai_ops.state import append_jsonl, atomic_write_json, load_state

log = logging.getLogger(__name__)


@dataclass
class CycleResult:
    time: float
    decision: Decision
    quality: dict[str, dict[str, SeriesQuality]]
    anomalies: list[Anomaly]
    wrote_tfvars: bool
    commit: CommitResult | None
    observation: Observation


def combine(observations: list[Observation]) -> Observation:
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


def load_learner(config: OpsConfig, paths: Paths) -> ThresholdLearner:
    """The learner, resumed from its state file; a damaged file is restored from Git or refused (exit 2)."""
    def make(state: object) -> ThresholdLearner:
        if state is not None and not isinstance(state, dict):
            raise LearnerStateError("models/learner_state.json must hold a JSON object")
        return ThresholdLearner(config.learner, config.thresholds, config.sla.target, config.cost.monthly_budget,
                                state)

    return make(load_state(paths.learner_state, make))


def commit_message(decision: Decision, observation: Observation, quality: dict[str, dict[str, SeriesQuality]],
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


def run_cycle(config: OpsConfig, now: float | None = None, dry_run: bool = False,
              secrets: Secrets | None = None) -> CycleResult:
    """OBSERVE -> DETECT -> DECIDE -> ACT for one window ending at `now`.

    With `dry_run` nothing is written at all (no Terraform, state, ledger or commit): the run
    shows what it would decide and leaves the next real cycle exactly as it would have been.
    """
    now = time.time() if now is None else now
    persist = not dry_run
    secrets = secrets or Secrets()
    paths = paths_for(config)
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
            log.warning("%s: metrics could not be fetched: %s", service.name, exc)
            metrics = unavailable(service.name, start, now, config.step_seconds, str(exc))
        fetch_errors.update({f"{service.name}/{m}": reason for m, reason in metrics.errors.items()})
        quality[service.name] = assess(metrics, now, start, config.data_quality)
        found, share = detect(config, paths, metrics, persist) if len(metrics.errors) < len(metrics.values) else ([], 0.0)
        anomalies += found
        surges = np.isin(metrics.timestamps, [a.time for a in found if a.metric == "request_rate"])
        flagged = np.isin(metrics.timestamps, [a.time for a in found])
        obs = observe(now, metrics.step, metrics.values, current, config.sla.latency_objective_ms, share,
                      config.sla.target, surges, flagged)
        bad = [f"{service.name}/{q.metric}: {q.reason}" for q in quality[service.name].values() if not q.usable]
        if bad:
            obs = Observation(**{**obs.__dict__, "usable": False, "unusable_reason": "unusable data: " + "; ".join(bad)})
        observations.append(obs)
    observation = combine(observations)

    learner = load_learner(config, paths)
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
        message = commit_message(decision, observation, quality, anomalies, config)
        # Only what a reviewer must read: the values, and the learner state/ledger that explain them.
        # Detector parameters change every cycle; the daily train and report commits carry them.
        reviewed = [config.tfvars_path, paths.learner_state, paths.ledger]
        commit = propose_change(config.path("."), reviewed, message, git_config,
                                decision.summary, now, secrets.secret_values(), client_from_env(secrets))
        ledger["commit"] = commit.sha
        log.info("%s cycle: %s%s", iso(now), decision.summary, f" (commit {commit.sha[:8]})" if commit.sha else "")
        if commit.pull_request_url or commit.warning:
            log.info("%s", commit.warning or f"pull request: {commit.pull_request_url}")
        if commit.mode == "dry-run" and commit.diff:
            log.info("%s", commit.diff)
    else:
        log.info("%s cycle: %s", iso(now), decision.summary)
    if fetch_errors:
        ledger["fetch_errors"] = fetch_errors
    if persist:
        append_jsonl(paths.ledger, json_safe(ledger))
    if persist and git_config.mode == "pr":  # each CI run is a fresh checkout: learned state travels on the state branch
        commit_owned(config.path("."), [paths.models], f"ai-ops state after the cycle of {iso(now)}", git_config,
                     secrets.secret_values())
    if fetch_errors:
        raise SourceError(f"{len(fetch_errors)} series could not be fetched, so no threshold changed this cycle "
                          f"(reasons in {paths.ledger}): " + "; ".join(dict.fromkeys(fetch_errors.values())))
    result = CycleResult(now, decision, quality, anomalies, wrote, commit, observation)
    if not dry_run:
        cycle_notice(config, result, secrets)
    return result


def cycle_notice(config: OpsConfig, result: CycleResult, secrets: Secrets) -> None:
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
        log.info("%s cycle notice %s", iso(result.time), delivery.line())


