"""The threshold learner: a warm-started, safe monotone bracketing search over the scaling target
that settles and remembers, alert thresholds tuned on a page budget, and (for bursty services)
minimum replicas, behind guardrails. See docs/learner.md.

Public API (usable outside the controller loop):

    learner = ThresholdLearner(config.learner, config.thresholds, sla_target=99.95, monthly_budget=900)
    decision = learner.step(observation, current_thresholds)   # Decision: old, new, reward, reasons, status
    state = learner.state_dict()          # JSON-able; ThresholdLearner(..., state=state) resumes exactly

Why this algorithm: the SLA can only get worse as the CPU target rises and cost can only fall,
so the best target is the highest one that still meets the SLA. One breach at target t is
evidence against every target >= t, and a clean window at t is evidence for every target <= t.
That structure lets a handful of windows (4 a day) locate the limit by bisection, where a
generic bandit would need many breaches to learn the same thing.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ai_ops.config import LearnerConfig, ThresholdConfig
from ai_ops.learner.alerts import pages_and_catches
from ai_ops.learner.bracketing import clamp_step as clamp_step
from ai_ops.learner.bracketing import probe_target as probe_target
from ai_ops.learner.change import ChangeTest, demand_change, relation_change
from ai_ops.learner.decision import ALERT_MEMORY_DAYS as ALERT_MEMORY_DAYS
from ai_ops.learner.decision import CPU_ALERT, DAY, HISTORY_KEPT, MIN_REPLICAS, SCALING, Decision
from ai_ops.learner.decision import READABLE_STATE_VERSIONS as READABLE_STATE_VERSIONS
from ai_ops.learner.decision import STATE_VERSION as STATE_VERSION
from ai_ops.learner.decision import LearnerStateError as LearnerStateError
from ai_ops.learner.decision import LearningStatus as LearningStatus
from ai_ops.learner.observation import Observation
from ai_ops.learner.reward import Reward, RewardWeights, budget_burn, reward
from ai_ops.learner.status import LearnerEvidence
from ai_ops.learner.warm_start import WarmStart, estimate_capacity, estimate_target


class ThresholdLearner(LearnerEvidence):
    """Warm-started bracketing search (scaling target), page-budget alerts, min replicas; guardrailed."""

    def __init__(self, config: LearnerConfig, thresholds: dict[str, ThresholdConfig], sla_target: float,
                 monthly_budget: float, state: dict[str, Any] | None = None,
                 weights: RewardWeights | None = None) -> None:
        self.config = config
        self.specs = thresholds
        self.sla_target = sla_target
        self.monthly_budget = monthly_budget
        self.weights = weights or RewardWeights(cost_weight=config.cost_weight)
        self._restore(state)

    # ------------------------------------------------------------ warm start

    def wants_warm_start(self) -> bool:
        """Whether the next `step` would use a warm-start estimate (pass one with `warm_start=`): until
        one has been applied, again after a workload change, and when minimum replicas are learned and
        the last window showed the standing capacity too small (the re-size reads the history)."""
        first = (self.config.warm_start and SCALING in self.specs and not self.specs[SCALING].pin
                 and not self.warm_started)
        return first or (self.floor_resize_pending is not None and self._learns_floor())

    def _learns_floor(self) -> bool:
        return (SCALING in self.specs and MIN_REPLICAS in self.specs and not self.specs[MIN_REPLICAS].pin
                and not self.specs[SCALING].pin)

    def warm_start_estimate(self, history: dict[str, np.ndarray], good_share: np.ndarray,
                            current: dict[str, float]) -> WarmStart:
        """The warm-start estimate from a service's recent history (per-step metrics and good share).

        With minimum replicas learned, the estimate is a (target, floor) pair (`estimate_capacity`);
        on a re-size the target may only go down from the one in force and the floor only up."""
        spec = self.specs[SCALING]
        if self._learns_floor():
            floor = self.specs[MIN_REPLICAS]
            held = float(current.get(MIN_REPLICAS, floor.initial))
            top = spec.max if self.floor_resize_pending is None else float(current.get(SCALING, spec.max))
            return estimate_capacity(history["cpu_utilization"], history["replicas"], history["request_rate"],
                                     good_share, sla_target=self.sla_target, targets=(spec.min, top),
                                     floors=(max(held, floor.min), floor.max), resolution=self.config.resolution,
                                     tolerance=self.config.hpa_tolerance, max_burn=self.config.warm_start_max_burn,
                                     min_steps=self.config.warm_start_min_steps,
                                     headroom=self.config.floor_headroom)
        return estimate_target(history["cpu_utilization"], history["replicas"], history["request_rate"], good_share,
                               sla_target=self.sla_target, lower=spec.min, upper=spec.max,
                               resolution=self.config.resolution, tolerance=self.config.hpa_tolerance,
                               max_burn=self.config.warm_start_max_burn, min_steps=self.config.warm_start_min_steps,
                               min_replicas=float(current.get(MIN_REPLICAS, 1.0)))

    # ------------------------------------------------------------ workload change

    def _test_change(self, now: float) -> ChangeTest:
        """Recent windows against the remembered ones; on a change, forget what no longer holds."""
        n = self.config.change_min_windows
        if len(self.windows) < 2 * n:
            return ChangeTest(False, "", f"{len(self.windows)} windows remembered; the change test needs {2 * n}")
        reference, recent = self.windows[:-n], self.windows[-n:]

        def col(ws: list[dict[str, float]], key: str) -> list[float]:
            return [float(w.get(key, math.nan)) for w in ws]

        test = demand_change(np.array(col(reference, "demand")), np.array(col(recent, "demand")),
                             self.config.change_p_value, self.config.change_demand_ratio)
        if not test.changed:
            relation = relation_change(np.array(col(reference, "cpu_p95")), np.array(col(reference, "latency")),
                                       np.array(col(recent, "cpu_p95")), np.array(col(recent, "latency")),
                                       self.config.change_p_value, self.config.change_relation_shift)
            test = relation if relation.changed else ChangeTest(False, "", f"{test.detail}; {relation.detail}")
        if test.changed:
            since = recent[0]["time"]
            self.workload_changes.append({"time": now, "kind": test.kind, "detail": test.detail})
            del self.workload_changes[:-20]
            self.windows = list(recent)
            self.known_bad = {}
            self.predicted_limit = None
            self.alert_windows = [w for w in self.alert_windows if w["time"] >= since]
            self.warm_started = False
        return test

    # ------------------------------------------------------------ the step

    def step(self, obs: Observation, current: dict[str, float], warm_start: WarmStart | None = None) -> Decision:
        """Learn from the last window and decide the thresholds for the next one.

        `warm_start`: an estimate from history (`ai_ops.learner.warm_start.estimate_target`), used
        while `wants_warm_start()`; its first move may exceed `max_step` and the reason says so.
        """
        old = {name: float(current.get(name, spec.initial)) for name, spec in self.specs.items()}
        self.cycles += 1
        if not obs.usable or obs.samples < self.config.min_samples or not math.isfinite(obs.sla_attainment):
            why = obs.unusable_reason or f"only {obs.samples} usable samples (< min_samples {self.config.min_samples})"
            self.clean_streak = 0
            return self._record(obs, old, old, None, {"*": f"no change: {why}"})
        r = reward(obs, self.sla_target, self.monthly_budget, self.weights)
        if obs.anomaly_share > self.config.max_incident_share:
            why = (f"no change: {obs.anomaly_share:.0%} of the window is anomalous "
                   f"(max {self.config.max_incident_share:.0%}); an incident window teaches nothing")
            self.clean_streak = 0
            return self._record(obs, old, old, r, {"*": why})

        breached = r.sla_met < 1.0
        # The scaling target learns only from bad steps that load explains (incidents at normal load
        # are not its fault); alerts and rollback use the SLA as users saw it.
        load_sla = obs.sla_attainment_load if math.isfinite(obs.sla_attainment_load) else obs.sla_attainment
        scaling_reward = reward(replace(obs, sla_attainment=load_sla), self.sla_target, self.monthly_budget,
                                self.weights)
        bad_steps = obs.bad_step_share if math.isfinite(obs.bad_step_share) else None
        scaling_breached = scaling_reward.sla_met < 1.0 or (
            bad_steps is not None and bad_steps > self.config.max_bad_step_share)
        scaling = old.get(SCALING)
        if scaling is not None:
            window: dict[str, float] = {"target": scaling, "time": obs.time,
                                        "burn": round(budget_burn(scaling_reward), 6)}
            if bad_steps is not None:
                window["bad_steps"] = round(bad_steps, 6)
            if math.isfinite(obs.requests) and obs.requests > 0:
                window["requests"] = round(obs.requests, 3)
                window["demand"] = round(obs.requests / max(obs.samples, 1), 6)
            if math.isfinite(obs.utilization_p95):
                window["cpu_p95"] = round(obs.utilization_p95, 4)
            if MIN_REPLICAS in old and math.isfinite(obs.replicas_mean) and obs.replicas_mean > 0:
                # Share of the replicas the autoscaler ran above the floor: what a higher target could save.
                window["above_floor"] = round(max(0.0, 1.0 - old[MIN_REPLICAS] / obs.replicas_mean), 6)
            latency = obs.normal_levels.get("alert_latency_p95_ms", obs.latency_p95_max_ms)
            if math.isfinite(latency):
                window["latency"] = round(latency, 4)
            self.windows.append(window)
            memory = self.config.evidence_memory_days * DAY
            self.windows = [w for w in self.windows if obs.time - w["time"] < memory]
        self.clean_streak = 0 if scaling_breached else self.clean_streak + 1
        self._remember_normal(obs)
        self._remember_alert_window(obs, breached)
        change = self._test_change(obs.time)
        self._notes = {"workload_change": change.detail, "changed": change.changed}
        sla = f"SLA {obs.sla_attainment:.3f}% vs target {self.sla_target}%"

        self._resize_tried = self.floor_resize_pending is not None and self._learns_floor()
        if warm_start is not None and self.wants_warm_start():
            decision = self._warm_start(obs, old, r, warm_start)
            if decision is not None:
                return decision
        # A re-size that found nothing to change (or got no history) falls back to the stepwise rules.
        self.floor_resize_pending = None

        windows_since_change = None if self.last_change_cycle is None else self.cycles - self.last_change_cycle
        if (breached and self.config.rollback_on_breach and windows_since_change == 1
                and self.last_change_kind == "probe" and SCALING in self.before_last_change):
            # Only the scaling target acts on the service; alert thresholds cannot cause a breach.
            new = dict(old)
            reasons: dict[str, str] = {}
            for name, value in self.before_last_change.items():
                if name == SCALING and not self.specs[name].pin:
                    self.known_bad[f"{old[SCALING]:g}"] = obs.time
                    new[name] = value
                    reasons[name] = (f"rollback: {sla} breached in the first window after the last change; "
                                     f"{old[SCALING]:g} is known-bad until the workload changes")
            self._enforce_cpu_alert_floor(old, new, reasons)
            return self._commit(obs, old, new, r, reasons, "rollback")
        if windows_since_change is not None and windows_since_change < self.config.cooldown_cycles:
            new = dict(old)
            reasons = {"*": f"no change: cooldown, {windows_since_change} of "
                            f"{self.config.cooldown_cycles} windows observed since the last change"}
            self._enforce_cpu_alert_floor(old, new, reasons)
            return self._commit(obs, old, new, r, reasons, "") if new != old else self._record(obs, old, old, r,
                                                                                                   reasons)

        new = dict(old)
        reasons = {}
        kind = ""
        for name, spec in self.specs.items():
            if spec.pin:
                reasons[name] = "pinned: frozen by configuration"
                continue
            if name == SCALING:
                proposed, why, kind = self._propose_scaling(spec, old[name], obs, scaling_breached, sla)
            elif name == MIN_REPLICAS:
                continue
            else:
                continue
            new[name] = clamp_step(spec, old[name], proposed)
            if new[name] != old[name]:
                reasons[name] = why
        if MIN_REPLICAS in self.specs and not self.specs[MIN_REPLICAS].pin and self.floor_resize_pending is None:
            spec = self.specs[MIN_REPLICAS]
            proposed, why = self._propose_min_replicas(spec, old, new, obs)
            new[MIN_REPLICAS] = clamp_step(spec, old[MIN_REPLICAS], proposed)
            if new[MIN_REPLICAS] != old[MIN_REPLICAS]:
                reasons[MIN_REPLICAS] = why
                kind = kind or "min_replicas"
        for name, spec in self.specs.items():
            if spec.pin or name in (SCALING, MIN_REPLICAS):
                continue
            proposed, why = self._propose_alert(name, spec, old[name], new.get(SCALING))
            new[name] = clamp_step(spec, old[name], proposed)
            if new[name] != old[name]:
                reasons[name] = why
        self._enforce_cpu_alert_floor(old, new, reasons)
        return self._commit(obs, old, new, r, reasons, kind)

    def _warm_start(self, obs: Observation, old: dict[str, float], r: Reward, estimate: WarmStart) -> Decision | None:
        if estimate.too_short and self.floor_resize_pending is None:
            # Too little history yet (a recorded trace, a new service): try again next cycle.
            return None
        self.warm_started = True
        self.warm_start_evidence = {"time": obs.time, **estimate.to_dict()}
        if estimate.target is None:
            return None
        if estimate.min_replicas is not None and MIN_REPLICAS in old and self._learns_floor():
            return self._size_capacity(obs, old, r, estimate)
        spec = self.specs[SCALING]
        res = self.config.resolution
        goal = round(min(max(round(estimate.target / res) * res, spec.min), spec.max), 6)
        ceiling = self.ceiling(obs.time)
        if ceiling is not None and goal >= ceiling - 1e-9:
            goal = round(max(ceiling - res, spec.min), 6)
        if estimate.limit is not None and estimate.limit > goal:
            self.predicted_limit = float(estimate.limit)
        value = old[SCALING]
        if abs(goal - value) < res - 1e-9:
            return None
        new = dict(old)
        new[SCALING] = goal
        big = abs(goal - value) > spec.max_step + 1e-9
        reasons = {SCALING: f"warm start from history: {estimate.reason}"
                            + (f"; a first move of {abs(goal - value):g} points is larger than max_step "
                               f"{spec.max_step:g}, allowed once because of this evidence" if big else "")
                            + ("" if estimate.limit is None else
                               f"; {estimate.limit:g} predicted to exceed the error budget: not probed")}
        self._enforce_cpu_alert_floor(old, new, reasons)
        # Alert fire levels seen at the old operating point say little about the new one.
        self.alert_windows = []
        return self._commit(obs, old, new, r, reasons, "warm")

    def _size_capacity(self, obs: Observation, old: dict[str, float], r: Reward, estimate: WarmStart) -> Decision | None:
        """Apply a (target, floor) estimate: the first cycle's warm start, or the re-size after the
        standing capacity proved too small. Either move may exceed max_step: the reason gives the
        evidence. The floor only rises (lowering it is a person's call); on a re-size the target only
        falls. None when the estimate changes nothing (the stepwise rules then act)."""
        resize = self.floor_resize_pending is not None
        self.floor_resize_pending = None
        assert estimate.target is not None and estimate.min_replicas is not None
        spec, floor_spec = self.specs[SCALING], self.specs[MIN_REPLICAS]
        res = self.config.resolution
        goal = round(min(max(round(estimate.target / res) * res, spec.min), spec.max), 6)
        if resize:
            goal = min(goal, old[SCALING])
        ceiling = self.ceiling(obs.time)
        if not resize and ceiling is not None and goal >= ceiling - 1e-9:
            goal = round(max(ceiling - res, spec.min), 6)
        floor = round(min(max(estimate.min_replicas, old[MIN_REPLICAS], floor_spec.min), floor_spec.max), 6)
        new = dict(old)
        new[SCALING], new[MIN_REPLICAS] = goal, floor
        if new == old:
            return None
        why = ("minimum replicas re-sized from history after the standing capacity proved too small"
               if resize else "warm start from history")
        reasons: dict[str, str] = {}
        for name, spec_ in ((SCALING, spec), (MIN_REPLICAS, floor_spec)):
            if new[name] != old[name]:
                big = abs(new[name] - old[name]) > spec_.max_step + 1e-9
                reasons[name] = (f"{why}: {estimate.reason}"
                                 + (f"; a move of {abs(new[name] - old[name]):g} is larger than max_step "
                                    f"{spec_.max_step:g}, allowed because of this evidence" if big else ""))
        self._enforce_cpu_alert_floor(old, new, reasons)
        if not resize:
            self.alert_windows = []
        return self._commit(obs, old, new, r, reasons, "resize" if resize else "warm")

    def _propose_scaling(self, spec: ThresholdConfig, value: float, obs: Observation, breached: bool,
                         sla: str) -> tuple[float, str, str]:
        mean_burn, count = self.mean_burn_at(value, obs.time)
        bad_steps = self.bad_steps_at(value, obs.time)
        if count and self.is_bad(value, obs.time):
            self.known_bad[f"{value:g}"] = obs.time
            steps_text = "" if bad_steps is None else (f", {bad_steps:.1%} of its steps bad (max "
                                                        f"{self.config.max_bad_step_share:.1%})")
            why = (f"{sla}; the {count} windows at target {value:g} used {mean_burn:.0%} of the error budget "
                   f"on average (max {self.config.max_budget_burn:.0%}){steps_text}")
            if self._learns_floor() and not self._resize_tried:
                # Bursts, not the target, may be what breaks it: size the pair from the history next
                # cycle (the caller passes it because wants_warm_start() is now true).
                self.floor_resize_pending = self.cycles
                return value, "", ""
            if value <= spec.min + 1e-9:
                return value, "", ""
            if mean_burn > self.config.clear_breach_burn:
                return value - spec.max_step, why + ": far over, scale earlier", "retreat"
            return value - self.config.resolution, why + ": marginal, step just below it", "retreat"
        if breached:
            return value, "", ""
        status = self.learning_status(obs.time)
        if status.status == "settled":
            return value, "", ""
        if self.clean_streak < self.config.clean_cycles_before_probe or mean_burn > self.config.probe_max_burn:
            return value, "", ""
        if self.floor_carries(value, obs.time):
            return value, "", ""
        ceiling = self.ceiling(obs.time)
        if ceiling is not None and ceiling - value <= self.config.convergence_gap + 1e-9:
            return value, "", ""
        target = probe_target(value, ceiling, spec, self.config.exploration, self.config.resolution)
        if target <= value:
            return value, "", ""
        limit = "no known-bad target yet" if ceiling is None else f"lowest known-bad target {ceiling:g}"
        return target, (f"{self.clean_streak} clean windows at {value:g} ({sla}); {limit}: "
                        f"probe a cheaper target"), "probe"

    def _propose_min_replicas(self, spec: ThresholdConfig, old: dict[str, float], new: dict[str, float],
                              obs: Observation) -> tuple[float, str]:
        """Raise minimum replicas when the scaling target is at its lower bound and still bad there:
        bursts outrun the autoscaler, only standing capacity helps. Lowering is not learned."""
        scaling_spec = self.specs.get(SCALING)
        value = old[MIN_REPLICAS]
        if scaling_spec is None or SCALING not in new or new[SCALING] > scaling_spec.min + 1e-9:
            return value, ""
        target = new[SCALING]
        burn, count = self.mean_burn_at(target, obs.time)
        if not count or not self.is_bad(target, obs.time) or value >= spec.max - 1e-9:
            return value, ""
        bad_steps = self.bad_steps_at(target, obs.time)
        steps_text = "" if bad_steps is None else f", {bad_steps:.1%} bad steps"
        return value + spec.max_step, (f"the scaling target is at its lower bound {scaling_spec.min:g} and its {count} "
                                       f"windows still used {burn:.0%} of the error budget{steps_text}: bursts "
                                       "outrun the autoscaler, raise the standing capacity")

    def _enforce_cpu_alert_floor(self, old: dict[str, float], new: dict[str, float], reasons: dict[str, str]) -> None:
        floor = self.cpu_alert_floor(new.get(SCALING))
        spec = self.specs.get(CPU_ALERT)
        if floor is None or spec is None or spec.pin or new[CPU_ALERT] >= floor - 1e-9:
            return
        new[CPU_ALERT] = floor
        reasons[CPU_ALERT] = (f"never inside the autoscaler's band: scaling target {new[SCALING]:g} x (1 + "
                              f"{self.config.hpa_tolerance:g} tolerance) + {self.config.alert_band_margin:g} = "
                              f"{floor:g} (this guardrail may exceed max_step)")

    def _propose_alert(self, name: str, spec: ThresholdConfig, value: float, scaling: float | None) -> tuple[float, str]:
        # One cooldown for all alerts: alerts that need to move move together, in one cycle, so a
        # service sees at most one alert change a day instead of one per alert on different days.
        last = max(self.alert_changed_cycle.values(), default=None)
        if last is not None and self.cycles - last < self.config.alert_cooldown_cycles:
            return value, ""
        choice = self.alert_choice(name, scaling)
        if choice is None:
            # Fewer windows than alert_min_windows: no page-budget evidence yet, keep the value (the
            # CPU alert's band floor still applies, see _enforce_cpu_alert_floor).
            return value, ""
        goal = choice.threshold
        if abs(goal - value) < 1e-9:
            return value, ""
        rows = [(w["levels"][name], bool(w["breached"])) for w in self.alert_windows if name in w["levels"]]
        pages, caught = pages_and_catches(np.array([x for x, _ in rows]), np.array([b for _, b in rows]), value)
        allowed = self.config.pages_per_week * self.config.alert_budget_use * choice.weeks
        floor = self.cpu_alert_floor(scaling) if name == CPU_ALERT else None
        if pages <= allowed and caught >= choice.caught and (floor is None or value >= floor - 1e-9):
            # Hysteresis: the current value keeps to the budget and catches as much: no churn.
            return value, ""
        recall = "no breached window remembered" if choice.recall is None else (
            f"catches {choice.caught} of {choice.breached} breached windows")
        return goal, (f"page budget {self.config.pages_per_week:g}/week (planning with "
                      f"{self.config.alert_budget_use:.0%} of it): at {goal:g} it would have paged in {choice.pages} of "
                      f"{choice.windows} windows ({choice.pages_per_week:.2f}/week) and {recall}")

    def _commit(self, obs: Observation, old: dict[str, float], new: dict[str, float], r: Reward,
                reasons: dict[str, str], kind: str) -> Decision:
        decision = self._record(obs, old, new, r, reasons)
        if decision.changed:
            self.alert_changed_cycle.update({k: self.cycles for k in decision.changes
                                             if k not in (SCALING, MIN_REPLICAS)})
            if MIN_REPLICAS in decision.changes:
                # Evidence was gathered under another standing capacity: it no longer holds.
                self.windows, self.known_bad = [], {}
            if SCALING in decision.changes or MIN_REPLICAS in decision.changes or SCALING not in self.specs:
                # Alert thresholds do not act on the service: an alert-only change neither restarts
                # the scaling target's evidence (cooldown, clean streak) nor hides its rollback.
                self.last_change_cycle = self.cycles
                self.last_change_time = obs.time
                self.before_last_change = {k: o for k, (o, _) in decision.changes.items()}
                self.last_change_kind = kind
                self.clean_streak = 0
            self.history[-1]["status"] = self.status()
            decision = Decision(decision.time, decision.old, decision.new, decision.reward, decision.reasons,
                                self.status(), decision.summary, {**decision.evidence,
                                                                  "learning": self.learning_status(obs.time).to_dict()})
        return decision

    def _record(self, obs: Observation, old: dict[str, float], new: dict[str, float], r: Reward | None,
                reasons: dict[str, str]) -> Decision:
        changed = new != old
        self.history.append({"time": obs.time, "changed": changed, "reward": r.total if r else None,
                             "scaling": new.get(SCALING), "min_replicas": new.get(MIN_REPLICAS)})
        self.history = self.history[-HISTORY_KEPT:]
        if changed:
            summary = "; ".join(f"{k} {old[k]:g} -> {v:g}" for k, v in new.items() if v != old[k])
        else:
            summary = reasons.get("*", "no change: thresholds already suit the evidence")
        status = self.learning_status(obs.time)
        self.history[-1]["status"] = status.status
        alerts = {}
        for name in self.specs:
            if name in (SCALING, MIN_REPLICAS):
                continue
            choice = self.alert_choice(name, new.get(SCALING))
            if choice is not None:
                rows = [(w["levels"][name], bool(w["breached"])) for w in self.alert_windows if name in w["levels"]]
                pages, caught = pages_and_catches(np.array([x for x, _ in rows]), np.array([b for _, b in rows]),
                                                  new[name])
                at_new = replace(choice, threshold=new[name], pages=pages, caught=caught)
                alerts[name] = {**at_new.to_dict(), "budget_pages_per_week": self.config.pages_per_week}
        evidence = {"observation": obs.to_dict(), "learning": status.to_dict(), "clean_streak": self.clean_streak,
                    "alerts": alerts, "workload_change": getattr(self, "_notes", {}).get("workload_change", "")}
        if self.warm_start_evidence is not None and self.warm_start_evidence.get("time") == obs.time:
            evidence["warm_start"] = self.warm_start_evidence
        return Decision(obs.time, old, new, r, reasons, status.status, summary, evidence)
