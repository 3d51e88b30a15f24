"""The ops cycle (every 6 h): OBSERVE -> DETECT -> DECIDE -> ACT for one window, one learner per service."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ai_ops import monitoring
from ai_ops.actuators.git import CommitResult, check_ready, commit_owned, propose_change
from ai_ops.actuators.github import client_from_env
from ai_ops.actuators.terraform import Schedule, current_thresholds, read_schedule, write_tfvars
from ai_ops.config import OpsConfig, Secrets, ServiceConfig
from ai_ops.detectors.ensemble import SeverityLevels
from ai_ops.detectors.episodes import Episode, episodes_from_records
from ai_ops.errors import ActuatorError, SourceError
from ai_ops.jobs.fleet import effective_services
from ai_ops.jobs.learner_state import load_learner, migrate_learner_state
from ai_ops.jobs.observing import Anomaly, Sources, detect_each
from ai_ops.jobs.predictive import ServicePlan, plan_service, schedule_table, tfvars_blocks, warning_lines
from ai_ops.jobs.workspace import DAY, Paths, iso, json_safe, paths_for, read_ledger
from ai_ops.learner.decision import CPU_ALERT, SCALING
from ai_ops.learner.learner import Decision, ThresholdLearner
from ai_ops.learner.observation import Observation, good_shares, observe
from ai_ops.learner.warm_start import WarmStart
from ai_ops.metrics import ServiceMetrics
from ai_ops.sources.base import unavailable
from ai_ops.sources.quality import SeriesQuality, assess, summarize_reasons
from ai_ops.state import append_jsonl, atomic_write_json

log = logging.getLogger(__name__)


SUMMARY_MAX = 120
"""A longer summary (it is the commit subject and the PR title) is replaced by a count."""


@dataclass(frozen=True)
class FleetDecision:
    """The decisions of one cycle, one per service (each service has its own learner)."""

    decisions: dict[str, Decision]

    @property
    def changes(self) -> dict[str, dict[str, tuple[float, float]]]:
        """Per service that changed: threshold -> (old, new)."""
        return {s: d.changes for s, d in self.decisions.items() if d.changed}

    @property
    def changed(self) -> bool:
        return any(d.changed for d in self.decisions.values())

    @property
    def new(self) -> dict[str, dict[str, float]]:
        return {s: d.new for s, d in self.decisions.items()}

    @property
    def old(self) -> dict[str, dict[str, float]]:
        return {s: d.old for s, d in self.decisions.items()}

    @property
    def summary(self) -> str:
        if len(self.decisions) == 1:
            return next(iter(self.decisions.values())).summary
        if self.changed:
            text = "; ".join(f"{s}: {d.summary}" for s, d in self.decisions.items() if d.changed)
            if len(text) <= SUMMARY_MAX:
                return text
            count = sum(len(d.changes) for d in self.decisions.values())
            return f"{count} threshold changes for {', '.join(self.changes)} (table in the message)"
        return "no change (" + "; ".join(f"{s}: {d.summary.removeprefix('no change: ')}"
                                         for s, d in self.decisions.items()) + ")"

    @property
    def status(self) -> dict[str, str]:
        return {s: d.status for s, d in self.decisions.items()}


@dataclass
class CycleResult:
    time: float
    decision: FleetDecision
    quality: dict[str, dict[str, SeriesQuality]]
    anomalies: list[Anomaly]
    wrote_tfvars: bool
    commit: CommitResult | None
    observations: dict[str, Observation]
    episodes: list[Episode]
    """The window's anomalies grouped and graded (duration, magnitude, agreeing metrics)."""
    dry_run: bool = False
    fetch_errors: dict[str, str] = field(default_factory=dict)
    plans: dict[str, ServicePlan] = field(default_factory=dict)
    """learner.predictive: per service, the schedule of minimum replicas and the breach warnings."""

    @property
    def schedule_changed(self) -> bool:
        return any(p.changed for p in self.plans.values())

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON (`ai-ops cycle --json`): what was decided, written and why, per service."""
        commit = None
        if self.commit is not None:
            c = self.commit
            commit = {"mode": c.mode, "committed": c.committed, "sha": c.sha, "branch": c.branch, "pushed": c.pushed,
                      "pull_request_url": c.pull_request_url, "warning": c.warning}
        unusable = {f"{s}/{m}": q.reason for s, qs in self.quality.items() for m, q in qs.items() if not q.usable}
        return json_safe({
            "time": self.time, "time_iso": iso(self.time), "dry_run": self.dry_run,
            "changed": self.decision.changed, "summary": self.decision.summary, "status": self.decision.status,
            "old": self.decision.old, "new": self.decision.new,
            "changes": {s: {k: {"old": o, "new": n} for k, (o, n) in changes.items()}
                        for s, changes in self.decision.changes.items()},
            "reasons": {s: d.reasons for s, d in self.decision.decisions.items()},
            "sli_method": {s: o.sli_method for s, o in self.observations.items()},
            "applied": self.wrote_tfvars, "commit": commit,
            "anomaly_count": len(self.anomalies),
            "episodes": [e.to_dict() for e in self.episodes],
            "anomalies_by_severity": {s: sum(a.severity == s for a in self.anomalies)
                                      for s in sorted({a.severity for a in self.anomalies})},
            "data_quality": {s: {m: q.__dict__ for m, q in qs.items()} for s, qs in self.quality.items()},
            "unusable": summarize_reasons(unusable),
            "fetch_errors": summarize_reasons(self.fetch_errors),
            "schedule": {s: p.to_dict() for s, p in self.plans.items()},
        })


def cycle_episodes(config: OpsConfig, anomalies: list[Anomaly]) -> list[Episode]:
    levels = SeverityLevels.from_sensitivity(config.anomaly.sensitivity)
    return episodes_from_records([a.__dict__ for a in anomalies], config.step_seconds, levels.warning_surprisal,
                                 levels.critical_surprisal)


class CycleFetchError(SourceError):
    """Series could not be fetched, so nothing changed; `result` is what the cycle still decided and recorded."""

    def __init__(self, message: str, result: CycleResult) -> None:
        super().__init__(message)
        self.result = result


def decision_kind(decision: Decision, observation: Observation) -> str:
    """The self-monitoring label of one service's decision: changed, rollback, unusable_data or no_change."""
    if decision.changed:
        return "rollback" if any(r.startswith("rollback") for r in decision.reasons.values()) else "changed"
    return "unusable_data" if not observation.usable else "no_change"



def warm_start(config: OpsConfig, sources: Sources, service: ServiceConfig, learner: ThresholdLearner,
               observation: Observation, current: dict[str, float], now: float) -> WarmStart | None:
    """The first cycle's (or, after a workload change, the next cycle's) estimate of the scaling
    target from the service's last `warm_start_days` of metrics; None when not wanted, or when the
    window itself is unusable (the learner changes nothing on it anyway)."""
    if not learner.wants_warm_start() or not observation.usable:
        return None
    try:
        history = sources.fetch(service, now - config.learner.warm_start_days * DAY, now)
    except SourceError as exc:  # the search still starts, from the configured value
        log.warning("%s: no warm start, history could not be fetched: %s", service.name, exc)
        return None
    needed = {"cpu_utilization", "replicas", "request_rate"}
    if not needed <= set(history.values):
        return WarmStart(None, f"no warm start: the source has no {', '.join(sorted(needed - set(history.values)))}")
    good = good_shares(history.values, config.sla.latency_objective_ms)
    return learner.warm_start_estimate(history.values, good, current)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _sla_line(observation: Observation, config: OpsConfig) -> str:
    method = observation.sli_method
    label = "exact SLI: good / all requests from the latency histogram and errors" if method == "exact" else \
        "APPROXIMATE SLI: p95 lower bound, configure services[].sli for the exact one"
    burn = observation.error_budget_burn
    burn_text = f", error budget burn {burn:.2f}x" if np.isfinite(burn) else ""
    bad = observation.bad_step_share
    bad_text = f", {bad:.1%} of steps below target" if np.isfinite(bad) else ""
    return (f"SLA attainment {observation.sla_attainment:.4f}% (target {config.sla.target}%; {label})"
            f"{burn_text}{bad_text}")


def change_summary(decision: FleetDecision, plans: dict[str, ServicePlan]) -> str:
    """The commit's subject: the threshold changes, or, when only the schedule moved, whose schedule."""
    if decision.changed or not any(p.changed for p in plans.values()):
        return decision.summary
    return "minimum-replica schedule updated for " + ", ".join(s for s, p in plans.items() if p.changed)


def commit_message(decision: FleetDecision, observations: dict[str, Observation],
                   quality: dict[str, dict[str, SeriesQuality]], anomalies: list[Anomaly], config: OpsConfig,
                   effects: dict[str, str] | None = None, plans: dict[str, ServicePlan] | None = None) -> str:
    """The commit message and PR body: every service's changes in one table (and the schedule's, with
    learner.predictive), then each service's evidence, with what its previous scaling change did
    (`effects`: one line per service), then any predictive warnings."""
    plans = plans or {}
    lines = [f"ai-ops: {change_summary(decision, plans)}", ""]
    if decision.changed:  # a commit of the schedule alone has no threshold table
        lines += ["| service | threshold | old | new | why |", "|---|---|---|---|---|"]
    for service, d in decision.decisions.items():
        for name, (old, new) in d.changes.items():
            why = (d.reasons.get(name) or "").replace("|", "/")
            lines.append(f"| {service} | {name} | {_fmt(old)} | {_fmt(new)} | {why} |")
    table = schedule_table(plans)  # opens with a blank line
    lines += table if decision.changed else table[1:]
    for service, d in decision.decisions.items():
        observation = observations[service]
        found = [a for a in anomalies if a.service == service]
        explained = sum(1 for a in found if a.caused_by)
        lines += ["", f"Evidence for {service} (last window):",
                  f"- {_sla_line(observation, config)}",
                  f"- cost {observation.cost:.2f} {config.cost.currency} ({observation.cost_per_hour:.3f}/h)",
                  (f"- CPU mean {observation.utilization_mean:.1f}%, p95 {observation.utilization_p95:.1f}%;"
                   f" replicas mean {observation.replicas_mean:.1f}, max {observation.replicas_max:.0f}"),
                  f"- anomalies: {len(found)} points ({observation.anomaly_share:.1%} of steps)"
                  + (f"; {explained} of them the expected effect of the last scaling change" if explained else "")]
        if effects and service in effects:
            lines.append(f"- effect of its previous scaling change: {effects[service]}")
        r = d.reward
        if r is not None:
            lines.append(f"- reward {r.total:+.4f} = {r.sla_weight:g} x SLA met {r.sla_met:g} - cost variance "
                         f"{r.cost_variance:+.4f} (cost {r.cost_per_hour:.3f}/h vs budget {r.budget_per_hour:.3f}/h)")
        bad = {q.metric: q.reason for q in quality.get(service, {}).values() if not q.usable}
        lines.append(f"- data quality: {'all series usable' if not bad else '; '.join(summarize_reasons(bad))}")
        reasons = [f"- {k}: {v}" for k, v in d.reasons.items() if v]
        if reasons:
            lines += ["- why:"] + [f"  {r}" for r in reasons]
        lines.append(f"- learning status: {d.status}")
    lines += ["", "Decision ledger: models/decisions.jsonl (one record per service and cycle)."]
    reports = sorted(p for p in config.reports_path.glob("*/report.md")) if config.reports_path.exists() else []
    if reports:
        lines.append(f"Latest daily report: {reports[-1].relative_to(config.path('.'))}")
    warned = warning_lines(plans)
    if warned:
        lines += ["", "Predictive warnings (forecast demand beyond what max replicas can serve):", *warned]
    return "\n".join(lines)


def previous_effects(paths: Paths, services: Iterable[str]) -> dict[str, str]:
    """Per service, what its last applied scaling change did (replicas, cost, SLA before/after)."""
    from ai_ops.reporting.explained import change_effects, effect_line

    ledger = read_ledger(paths)
    out = {}
    for service in services:
        effects = change_effects(ledger, service)
        if effects:
            out[service] = effect_line(effects[-1])
    return out


def explain(config: OpsConfig, paths: Paths, anomalies: list[Anomaly]) -> list[Anomaly]:
    """Label replica/cost anomalies that follow an applied scaling change of their service (within its effect window)."""
    from ai_ops.reporting.explained import applied_scaling_changes, cause_of

    window = config.learner.change_effect_hours * 3600
    if not anomalies or window <= 0:
        return anomalies
    changes = applied_scaling_changes(read_ledger(paths))
    return [replace(a, caused_by=cause_of(a.service, a.metric, a.time, changes, window)) for a in anomalies]


@monitoring.instrumented("cycle")
def run_cycle(config: OpsConfig, now: float | None = None, dry_run: bool = False,
              secrets: Secrets | None = None, sources: Sources | None = None) -> CycleResult:
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
    if persist:
        migrate_learner_state(config, paths)
    learners = {s.name: load_learner(config, paths, s.name) for s in config.services}  # refuse bad state early

    observations: dict[str, Observation] = {}
    windows: dict[str, ServiceMetrics] = {}
    quality: dict[str, dict[str, SeriesQuality]] = {}
    anomalies: list[Anomaly] = []
    fetch_errors: dict[str, str] = {}
    sources = sources or Sources(config, secrets)
    fleet = effective_services(config, sources, now, persist=persist)
    label = config.discovery.label if config.discovery else "service"

    def windows_fetched() -> Iterator[tuple[ServiceConfig, ServiceMetrics]]:
        for service, fetched in sources.fetch_all(fleet.services, start, now, fleet.discovered_names, label):
            if isinstance(fetched, SourceError):  # no data is not "normal data": mark it unusable, say why, exit non-zero
                # Said once, at the end of the cycle, with every series it affected (not once per service).
                log.debug("%s: metrics could not be fetched: %s", service.name, fetched)
                yield service, unavailable(service.name, start, now, config.step_seconds, str(fetched))
            else:
                yield service, fetched

    for service, metrics, found, share in detect_each(config, paths, windows_fetched(), persist, len(fleet.services)):
        fetch_errors.update({f"{service.name}/{m}": reason for m, reason in metrics.errors.items()})
        monitoring.record_fetch_errors(service.source, len(metrics.errors))
        quality[service.name] = assess(metrics, now, start, config.data_quality)
        anomalies += explain(config, paths, found)
        if service.name not in learners:  # discovered: watched by the detectors, thresholds not learned (yet)
            continue
        surges = np.isin(metrics.timestamps, [a.time for a in found if a.metric == "request_rate"])
        flagged = np.isin(metrics.timestamps, [a.time for a in found])
        obs = observe(now, metrics.step, metrics.values, current[service.name], config.sla.latency_objective_ms,
                      share, config.sla.target, surges, flagged)
        bad = {f"{service.name}/{q.metric}": q.reason for q in quality[service.name].values() if not q.usable}
        if bad:
            obs = replace(obs, usable=False, unusable_reason="unusable data: " + "; ".join(summarize_reasons(bad)))
        observations[service.name] = obs
        windows[service.name] = metrics

    # One learner per service, on that service's own window: a breach of one never moves another.
    decision = FleetDecision({
        s.name: learners[s.name].step(observations[s.name], current[s.name],
                                      warm_start=warm_start(config, sources, s, learners[s.name], observations[s.name],
                                                            current[s.name], now))
        for s in config.services})
    written = read_schedule(config) if config.learner.predictive.enabled else {}
    plans = plan_schedules(config, paths, now, decision, observations, windows, written)
    schedule_changed = any(p.changed for p in plans.values())  # CycleResult.schedule_changed, before the result exists
    schedule = None
    if plans:
        schedule = {s: (tfvars_blocks(plans[s].blocks) if s in plans and plans[s].blocks else written[s])
                    for s in config.service_names if (s in plans and plans[s].blocks) or s in written}
    changed = decision.changed or schedule_changed
    apply = changed and not dry_run and config.outputs.git.mode != "dry-run"
    try:
        wrote = write_tfvars(config, decision.new, schedule) if apply else False
    except ActuatorError:
        monitoring.record_decision("refused")
        raise

    episodes = cycle_episodes(config, [a for a in anomalies if not a.caused_by])  # a change's own effect is no incident
    if persist:
        for a in anomalies:
            append_jsonl(paths.anomalies, a.__dict__)
        for name, learner in learners.items():
            if wrote or not decision.decisions[name].changed:
                # A change that was not applied (git mode dry-run) must not count as made: the learner
                # would otherwise wait out a cooldown for, and judge, a threshold that never went live.
                atomic_write_json(paths.learner_state(name), learner.state_dict())

    commit = None
    if changed:
        message = commit_message(decision, observations, quality, anomalies, config, previous_effects(paths, learners),
                                 plans)
        summary = change_summary(decision, plans)
        # Only what a reviewer must read: the values, and the learner state/ledger that explain them.
        # Detector parameters change every cycle; the daily train and report commits carry them.
        reviewed = [config.tfvars_path, paths.learner_dir, paths.ledger,
                    paths.legacy_learner_state.with_name("learner_state.migrated.json")]
        try:
            commit = propose_change(config.path("."), reviewed, message, git_config, summary, now,
                                    secrets.secret_values(), client_from_env(secrets))
        except ActuatorError:
            monitoring.record_decision("refused")
            raise
        log.info("%s cycle: %s%s", iso(now), summary, f" (commit {commit.sha[:8]})" if commit.sha else "")
        if commit.pull_request_url or commit.warning:
            log.info("%s", commit.warning or f"pull request: {commit.pull_request_url}")
        if commit.mode == "dry-run" and commit.diff:
            log.info("%s", commit.diff)
    elif not fetch_errors:  # with fetch errors the SourceError below says it, once
        log.info("%s cycle: %s", iso(now), decision.summary)
    if persist:
        for name in quality:  # every watched service, learned (a decision) or discovered (watched only)
            d = decision.decisions.get(name)
            record: dict[str, Any] = {
                "time": now, "time_iso": iso(now), "kind": "cycle" if d is not None else "watch", "service": name,
                **(d.to_dict() if d is not None else {}), "applied": bool(wrote and d is not None and d.changed),
                "data_quality": {m: q.__dict__ for m, q in quality[name].items()},
                "anomaly_count": sum(a.service == name for a in anomalies),
                "episodes": [e.to_dict() for e in episodes if e.service == name]}
            if name in observations:
                record["sli_method"] = observations[name].sli_method
            if name in plans:
                record["schedule"] = plans[name].to_dict()
                record["schedule_applied"] = bool(wrote and plans[name].changed)
                record["predictive_warnings"] = [w.to_dict() for w in plans[name].warnings]
            if commit is not None and ((d is not None and d.changed) or (name in plans and plans[name].changed)):
                record["commit"] = commit.sha
            errors = {k: v for k, v in fetch_errors.items() if k.startswith(f"{name}/")}
            if errors:
                record["fetch_errors"] = errors
            append_jsonl(paths.ledger, json_safe(record))
    if persist and git_config.mode == "pr":  # each CI run is a fresh checkout: learned state travels on the state branch
        monitoring.save_state(config)  # so the next fresh checkout's counters continue from this run's
        commit_owned(config.path("."), [paths.models], f"ai-ops state after the cycle of {iso(now)}", git_config,
                     secrets.secret_values())
    for name, d in decision.decisions.items():
        monitoring.record_decision(decision_kind(d, observations[name]))
    result = CycleResult(now, decision, quality, anomalies, wrote, commit, observations, episodes, dry_run,
                         fetch_errors, plans)
    if fetch_errors:
        where = f"recorded in {paths.ledger}" if persist else "dry run: nothing recorded"
        raise CycleFetchError(f"{iso(now)} cycle: no threshold changed: {len(fetch_errors)} series could not be "
                              f"fetched ({where}): " + "; ".join(summarize_reasons(fetch_errors)), result)
    if not dry_run:
        cycle_notice(config, result, secrets)
    return result


def plan_schedules(config: OpsConfig, paths: Paths, now: float, decision: FleetDecision,
                   observations: dict[str, Observation], windows: dict[str, ServiceMetrics],
                   written: Schedule) -> dict[str, ServicePlan]:
    """learner.predictive: each learned service's guarded schedule and warnings ({} when switched off),
    from the schedule the tfvars hold now (`written`).

    Never on bad data: a service whose window is unusable keeps its schedule (the plan says why)."""
    if not config.learner.predictive.enabled:
        return {}
    plans: dict[str, ServicePlan] = {}
    for service, d in decision.decisions.items():
        observation, window = observations.get(service), windows.get(service)
        if observation is None or window is None or not observation.usable:
            plans[service] = ServicePlan(service, [], [], note="unusable window: schedule kept")
            continue
        target = d.new.get(SCALING)
        if target is None:
            plans[service] = ServicePlan(service, [], [], note=f"no {SCALING} threshold to size the schedule at")
            continue
        good = good_shares(window.values, config.sla.latency_objective_ms)
        plans[service] = plan_service(config, paths, service, now, written.get(service), window, good, target,
                                      d.new.get(CPU_ALERT))
    for service, plan in plans.items():
        if plan.note:
            log.info("%s: schedule: %s", service, plan.note)
        for w in plan.warnings:
            log.warning("%s: predictive warning: in %g h: %s", service, w.lead_hours, w.reason)
    return plans


def cycle_notice(config: OpsConfig, result: CycleResult, secrets: Secrets) -> None:
    """Real-time Slack notice when a cycle changed a threshold or found a critical anomaly; never raises."""
    from ai_ops.notifiers.slack import send_notice

    slack_config = config.notifiers.slack
    critical = [e for e in result.episodes if e.severity == "critical"]
    lines = []
    if slack_config.notify_on_change and result.decision.changed:
        lines.append(f":gear: ai-ops {iso(result.time)}: thresholds changed"
                     + (f" (commit {result.commit.sha[:8]})" if result.commit and result.commit.sha else ""))
        for service, changes in result.decision.changes.items():
            moved = ", ".join(f"{name} {old:g} -> {new:g}" for name, (old, new) in changes.items())
            lines.append(f"- {service}: {moved}")
    if slack_config.notify_on_critical and critical:
        lines.append(f":rotating_light: {len(critical)} critical anomaly episode(s):")
        lines += [f"- {e.service} {iso(e.start)} - {iso(e.end)}: {e.evidence}" for e in critical]
    warned = warning_lines(result.plans)
    if warned:
        lines.append(":crystal_ball: predictive warning: forecast demand beyond what max replicas can serve "
                     "(raise max replicas or shed load before then):")
        lines += warned
    if slack_config.notify_on_change and result.schedule_changed:
        lines.append(":calendar: minimum-replica schedule updated for "
                     + ", ".join(s for s, p in result.plans.items() if p.changed))
    if not lines:
        return
    delivery = send_notice("\n".join(lines), secrets, config.notifiers)
    if delivery.status != "skipped":
        log.info("%s cycle notice %s", iso(result.time), delivery.line())


