"""The threshold learner: a safe monotone bracketing search over the scaling target, plus
outcome-driven alert thresholds, behind guardrails. See docs/learner.md.

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
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ai_ops.config import LearnerConfig, ThresholdConfig
from ai_ops.errors import OpsError
from ai_ops.learner.observation import Observation
from ai_ops.learner.reward import Reward, RewardWeights, budget_burn, reward

STATE_VERSION = 3
SCALING = "autoscaling_cpu_target"
DAY = 86_400.0
HISTORY_KEPT = 400


class LearnerStateError(OpsError):
    """models/learner_state.json cannot be used; nothing is changed until a person decides."""

    exit_code = 2


@dataclass(frozen=True)
class Decision:
    time: float
    old: dict[str, float]
    new: dict[str, float]
    reward: Reward | None
    reasons: dict[str, str]
    status: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def changes(self) -> dict[str, tuple[float, float]]:
        return {k: (self.old[k], v) for k, v in self.new.items() if v != self.old.get(k)}

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changes"] = {k: {"old": o, "new": n} for k, (o, n) in self.changes.items()}
        return data


@dataclass(frozen=True)
class LearningStatus:
    """exploring / converging / converged, with the criterion a reviewer can check."""

    status: str
    criterion: str
    days_since_change: float | None
    ceiling: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def clamp_step(spec: ThresholdConfig, old: float, proposed: float) -> float:
    """Guardrail: at most `max_step` from the old value, always inside [min, max]."""
    moved = min(max(proposed, old - spec.max_step), old + spec.max_step)
    return round(min(max(moved, spec.min), spec.max), 6)


def probe_target(current: float, ceiling: float | None, spec: ThresholdConfig, exploration: float,
                 resolution: float) -> float:
    """Next scaling target to try above `current`: a share of the gap to the lowest known-bad
    target (bisection at 0.5), on the `resolution` grid, never reaching the known-bad value."""
    if exploration <= 0:
        return current
    top = spec.max if ceiling is None else ceiling - resolution
    gap = top - current
    if gap < resolution - 1e-9:
        return current
    step = spec.max_step if ceiling is None else max(resolution, math.floor(gap * exploration / resolution) * resolution)
    return round(min(current + step, top), 6)


class ThresholdLearner:
    """Safe monotone bracketing search (scaling target) + outcome rules (alerts), guardrailed."""

    def __init__(self, config: LearnerConfig, thresholds: dict[str, ThresholdConfig], sla_target: float,
                 monthly_budget: float, state: dict[str, Any] | None = None,
                 weights: RewardWeights | None = None) -> None:
        self.config = config
        self.specs = thresholds
        self.sla_target = sla_target
        self.monthly_budget = monthly_budget
        self.weights = weights or RewardWeights(cost_weight=config.cost_weight)
        state = state or {}
        if not isinstance(state, dict):
            raise LearnerStateError("models/learner_state.json must hold a JSON object; restore it from Git "
                                    "or delete it to start learning afresh")
        if state and state.get("version") != STATE_VERSION:
            raise LearnerStateError(f"models/learner_state.json has version {state.get('version')}, this ai-ops "
                                    f"reads version {STATE_VERSION}; delete it to start learning afresh "
                                    "(the thresholds in Terraform are kept)")
        try:
            self._load(state)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LearnerStateError(f"models/learner_state.json is damaged ({type(exc).__name__}: {exc}); restore "
                                    "it from Git or delete it to start learning afresh") from None

    def _load(self, state: dict[str, Any]) -> None:
        self.cycles: int = int(state.get("cycles", 0))
        self.last_change_cycle: int | None = state.get("last_change_cycle")
        self.last_change_time: float | None = state.get("last_change_time")
        self.before_last_change: dict[str, float] = dict(state.get("before_last_change", {}))
        self.last_change_kind: str = state.get("last_change_kind", "")
        self.windows: list[dict[str, float]] = list(state.get("windows", []))
        """Learnable windows: the scaling target in force, the error-budget burn, the time."""
        self.alert_ceilings: dict[str, float] = dict(state.get("alert_ceilings", {}))
        """Alert values at which a breach went unnoticed: the alert never climbs back to them."""
        self.alert_changed_cycle: dict[str, int] = dict(state.get("alert_changed_cycle", {}))
        self.alert_normal: dict[str, list[list[float]]] = {k: [[float(t), float(v)] for t, v in levels]
                                                           for k, levels in state.get("alert_normal", {}).items()}
        """Per alert: [time, normal level] of the last learnable windows (the anchor is their median)."""
        self.alert_offsets: dict[str, float] = {k: float(v) for k, v in state.get("alert_offsets", {}).items()}
        """Per alert: how far outcomes moved it from its anchor (threshold = anchor + offset)."""
        self.clean_streak: int = int(state.get("clean_streak", 0))
        """Consecutive learnable windows with the SLA met at the current thresholds."""
        self.history: list[dict[str, Any]] = list(state.get("history", []))
        for window in self.windows:
            float(window["target"]), float(window["time"]), float(window["burn"]), float(window.get("requests", 0))
        for key, kinds in (("cycles", (int,)), ("clean_streak", (int,)), ("last_change_cycle", (int, type(None))),
                           ("last_change_time", (int, float, type(None))), ("last_change_kind", (str,))):
            if key in state and (isinstance(state[key], bool) or not isinstance(state[key], kinds)):
                raise TypeError(f"{key} has the wrong type ({type(state[key]).__name__})")
        if self.cycles < 0 or self.clean_streak < 0:
            raise ValueError("cycles and clean_streak must be >= 0")
        if any(not math.isfinite(float(v)) for v in [*self.before_last_change.values(), *self.alert_offsets.values(),
                                                     *self.alert_ceilings.values()]):
            raise ValueError("a threshold value is not finite")

    # ------------------------------------------------------------ evidence

    def initial_thresholds(self) -> dict[str, float]:
        return {name: spec.initial for name, spec in self.specs.items()}

    def burns_at(self, target: float, now: float) -> list[float]:
        """Error-budget burns of the remembered windows run at exactly `target`."""
        return [w["burn"] for w in self._windows_at(target, now)]

    def _windows_at(self, target: float, now: float) -> list[dict[str, float]]:
        memory = self.config.evidence_memory_days * DAY
        return [w for w in self.windows if abs(w["target"] - target) < 1e-9 and now - w["time"] < memory]

    def mean_burn_at(self, target: float, now: float) -> tuple[float, int]:
        """The target's error-budget burn over its remembered windows, and how many windows.

        Weighted by each window's requests: that is the burn of all the requests served at this
        target, i.e. what the SLA itself measures. A short burst in a quiet window then weighs as
        little as the traffic it hurt, instead of as much as a whole busy day. Windows recorded
        without a request count (older state) fall back to equal weights.
        """
        windows = self._windows_at(target, now)
        if not windows:
            return 0.0, 0
        weights = [w.get("requests") for w in windows]
        numeric = [float(x) for x in weights if isinstance(x, (int, float)) and x > 0]
        if self.config.weigh_by_requests and len(numeric) == len(windows):
            total = sum(numeric)
            return sum(float(w["burn"]) * x for w, x in zip(windows, numeric, strict=True)) / total, len(windows)
        return sum(w["burn"] for w in windows) / len(windows), len(windows)

    def ceiling(self, now: float) -> float | None:
        """Lowest known-bad scaling target: its windows burned on average more than `max_budget_burn`."""
        bad = [t for t in {w["target"] for w in self.windows}
               if self.mean_burn_at(t, now)[0] > self.config.max_budget_burn]
        return min(bad) if bad else None

    def alert_anchor(self, name: str) -> tuple[float, float] | None:
        """(anchor, normal level) of an alert: the median normal level of the remembered windows times
        `alert_headroom`; None until a window has reported a normal level for it."""
        levels = sorted(v for _, v in self.alert_normal.get(name, []))
        if not levels:
            return None
        mid = len(levels) // 2
        level = levels[mid] if len(levels) % 2 else (levels[mid - 1] + levels[mid]) / 2
        return level * self.config.alert_headroom, level

    def _remember_normal(self, obs: Observation) -> None:
        for name, level in obs.normal_levels.items():
            if name in self.specs and math.isfinite(level):
                kept = self.alert_normal.setdefault(name, [])
                kept.append([obs.time, float(level)])
                del kept[:-self.config.alert_normal_windows]

    def learning_status(self, now: float | None = None) -> LearningStatus:
        now = self.history[-1]["time"] if now is None and self.history else (now or 0.0)
        since = None if self.last_change_time is None else round((now - self.last_change_time) / DAY, 2)
        ceiling = self.ceiling(now)
        current = self.history[-1].get("scaling") if self.history else None
        quiet = self.cycles - (self.last_change_cycle or 0)
        if self.cycles < 4:
            return LearningStatus("exploring", f"only {self.cycles} cycles observed (< 4)", since, ceiling)
        floor = self.specs[SCALING].min if SCALING in self.specs else None
        if ceiling is not None and floor is not None and ceiling <= floor + 1e-9:
            return LearningStatus("converged", f"at the lower bound {floor:g} and still over the error budget: "
                                  "this threshold alone cannot meet the SLA (add minimum replicas, or lower the "
                                  "bound after review)", since, ceiling)
        if ceiling is not None and current is not None and ceiling - current <= self.config.convergence_gap + 1e-9:
            return LearningStatus("converged", f"scaling target {current:g} is within {self.config.convergence_gap:g} "
                                  f"of the lowest known-bad value {ceiling:g}", since, ceiling)
        mean_burn, count = self.mean_burn_at(current, now) if current is not None else (0.0, 0)
        if count and mean_burn > self.config.probe_max_burn:
            return LearningStatus("converged", f"target {current:g} already uses {mean_burn:.0%} of the error budget "
                                  f"(> probe_max_burn {self.config.probe_max_burn:.0%}): no room for a cheaper one",
                                  since, ceiling)
        if quiet >= self.config.convergence_cycles:
            return LearningStatus("converged", f"no change for {quiet} cycles (>= {self.config.convergence_cycles})",
                                  since, ceiling)
        if ceiling is None:
            return LearningStatus("exploring", "no SLA limit found yet: probing higher (cheaper) targets",
                                  since, ceiling)
        return LearningStatus("converging", f"bracketing between {current} and known-bad {ceiling:g}", since, ceiling)

    def status(self) -> str:
        return self.learning_status().status

    # ------------------------------------------------------------ the step

    def step(self, obs: Observation, current: dict[str, float]) -> Decision:
        """Learn from the last window and decide the thresholds for the next one."""
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
        scaling_breached = scaling_reward.sla_met < 1.0
        scaling = old.get(SCALING)
        if scaling is not None:
            window = {"target": scaling, "time": obs.time, "burn": round(budget_burn(scaling_reward), 6)}
            if math.isfinite(obs.requests) and obs.requests > 0:
                window["requests"] = round(obs.requests, 3)
            self.windows.append(window)
            memory = self.config.evidence_memory_days * DAY
            self.windows = [w for w in self.windows if obs.time - w["time"] < memory]
        self.clean_streak = 0 if scaling_breached else self.clean_streak + 1
        self._remember_normal(obs)

        windows_since_change = None if self.last_change_cycle is None else self.cycles - self.last_change_cycle
        sla = f"SLA {obs.sla_attainment:.3f}% vs target {self.sla_target}%"
        if (breached and self.config.rollback_on_breach and windows_since_change == 1
                and self.last_change_kind == "probe" and SCALING in self.before_last_change):
            # Only the scaling target acts on the service; alert thresholds cannot cause a breach.
            new = dict(old)
            reasons: dict[str, str] = {}
            for name, value in self.before_last_change.items():
                if name == SCALING and not self.specs[name].pin:
                    new[name] = value
                    reasons[name] = f"rollback: {sla} breached in the first window after the last change"
            return self._commit(obs, old, new, r, reasons, "rollback")
        if windows_since_change is not None and windows_since_change < self.config.cooldown_cycles:
            return self._record(obs, old, old, r, {"*": f"no change: cooldown, {windows_since_change} of "
                                                      f"{self.config.cooldown_cycles} windows observed since the last change"})

        new = dict(old)
        reasons = {}
        kind = ""
        for name, spec in self.specs.items():
            if spec.pin:
                reasons[name] = "pinned: frozen by configuration"
                continue
            if name == SCALING:
                proposed, why, kind = self._propose_scaling(spec, old[name], obs, scaling_breached, sla)
            else:
                proposed, why = self._propose_alert(name, spec, old[name], obs, breached, sla, scaling_breached)
            new[name] = clamp_step(spec, old[name], proposed)
            if new[name] != old[name]:
                reasons[name] = why
        return self._commit(obs, old, new, r, reasons, kind)

    def _propose_scaling(self, spec: ThresholdConfig, value: float, obs: Observation, breached: bool,
                         sla: str) -> tuple[float, str, str]:
        mean_burn, count = self.mean_burn_at(value, obs.time)
        if mean_burn > self.config.max_budget_burn:
            why = (f"{sla}; the {count} windows at target {value:g} used {mean_burn:.0%} of the error budget "
                   f"on average (max {self.config.max_budget_burn:.0%})")
            if count > self.config.clean_cycles_before_probe:
                # Long-run evidence says marginal, not wrong: step just below it.
                return value - self.config.convergence_gap, why + ": step just below it", "retreat"
            return value - spec.max_step, why + ": scale earlier", "retreat"
        if breached:
            return value, "", ""
        if self.clean_streak < self.config.clean_cycles_before_probe or mean_burn > self.config.probe_max_burn:
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

    def _alert_missed(self, name: str, value: float, obs: Observation, scaling_breached: bool) -> bool:
        """Whether a lower threshold on this alert's own metric would have caught the breach.

        A CPU alert cannot catch a latency spike at normal load, so only a load-explained breach
        lowers it; the error alert is lowered only when errors alone used the error budget; the
        latency alert only when they did not and the worst p95 stayed below the alert (a brief
        spike above it was missed by the `for:` duration, not by the level).
        """
        budget_rate = 100.0 - self.sla_target
        if name == "alert_cpu_utilization":
            return scaling_breached
        if name == "alert_error_rate":
            return obs.error_rate_mean > budget_rate and obs.error_rate_mean < value
        if name == "alert_latency_p95_ms":
            return not obs.error_rate_mean > budget_rate and obs.latency_p95_max_ms < value
        return True

    def _propose_alert(self, name: str, spec: ThresholdConfig, value: float, obs: Observation, breached: bool,
                       sla: str, scaling_breached: bool = False) -> tuple[float, str]:
        fired = obs.alerts_fired.get(name)
        if fired is None:
            return value, ""
        last = self.alert_changed_cycle.get(name)
        if last is not None and self.cycles - last < self.config.alert_cooldown_cycles:
            return value, ""
        anchor = self.alert_anchor(name)
        target, why = value, ""
        ceiling = self.alert_ceilings.get(name)
        # Never climb back to a value at which a breach went unnoticed.
        top = spec.max if ceiling is None else ceiling - spec.max_step / 2
        if breached and not fired and self._alert_missed(name, value, obs, scaling_breached):
            self.alert_ceilings[name] = value
            target, why = value - spec.max_step, f"{sla} breached and this alert stayed silent: lower it to catch that"
        elif fired and not breached:
            if value >= top:
                return value, ""
            target, why = min(value + spec.max_step / 2, top), f"alert fired while {sla} held: raise it to cut noise"
        elif anchor is not None:
            # No outcome this window: follow the normal level, keeping what outcomes taught (the offset).
            offset = self.alert_offsets.get(name, 0.0)
            grid = spec.max_step / 10
            goal = min(max(round((anchor[0] + offset) / grid) * grid, spec.min), spec.max, top)
            if abs(goal - value) < spec.max_step / 2 - 1e-9:
                return value, ""
            return goal, (f"normal behaviour: p99 of the unflagged steps is {anchor[1]:.4g} (median of "
                          f"{len(self.alert_normal[name])} windows) x {self.config.alert_headroom:g} headroom"
                          f" = {anchor[0]:.4g}, outcome offset {offset:+.4g}: move toward {goal:.4g}")
        if why and anchor is not None:
            self.alert_offsets[name] = round(min(max(target, spec.min), spec.max) - anchor[0], 6)
        return target, why

    def _commit(self, obs: Observation, old: dict[str, float], new: dict[str, float], r: Reward,
                reasons: dict[str, str], kind: str) -> Decision:
        decision = self._record(obs, old, new, r, reasons)
        if decision.changed:
            self.alert_changed_cycle.update({k: self.cycles for k in decision.changes if k != SCALING})
            if SCALING in decision.changes or SCALING not in self.specs:
                # Alert thresholds do not act on the service: an alert-only change neither restarts
                # the scaling target's evidence (cooldown, clean streak) nor hides its rollback.
                self.last_change_cycle = self.cycles
                self.last_change_time = obs.time
                self.before_last_change = {k: o for k, (o, _) in decision.changes.items()}
                self.last_change_kind = kind
                self.clean_streak = 0
            decision = Decision(decision.time, decision.old, decision.new, decision.reward, decision.reasons,
                                self.status(), decision.summary, decision.evidence)
        return decision

    def _record(self, obs: Observation, old: dict[str, float], new: dict[str, float], r: Reward | None,
                reasons: dict[str, str]) -> Decision:
        changed = new != old
        self.history.append({"time": obs.time, "changed": changed, "reward": r.total if r else None,
                             "scaling": new.get(SCALING)})
        self.history = self.history[-HISTORY_KEPT:]
        if changed:
            summary = "; ".join(f"{k} {old[k]:g} -> {v:g}" for k, v in new.items() if v != old[k])
        else:
            summary = reasons.get("*", "no change: thresholds already suit the evidence")
        status = self.learning_status(obs.time)
        evidence = {"observation": obs.to_dict(), "learning": status.to_dict(), "clean_streak": self.clean_streak}
        return Decision(obs.time, old, new, r, reasons, status.status, summary, evidence)

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "cycles": self.cycles,
            "last_change_cycle": self.last_change_cycle,
            "last_change_time": self.last_change_time,
            "before_last_change": self.before_last_change,
            "last_change_kind": self.last_change_kind,
            "windows": self.windows,
            "alert_ceilings": self.alert_ceilings,
            "alert_changed_cycle": self.alert_changed_cycle,
            "alert_normal": self.alert_normal,
            "alert_offsets": self.alert_offsets,
            "clean_streak": self.clean_streak,
            "history": self.history,
        }
