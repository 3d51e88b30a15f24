"""The threshold learner: turns each window's reward into bounded threshold moves.

Public API (usable outside the controller loop):

    learner = ThresholdLearner(config.learner, config.thresholds, sla_target=99.95, monthly_budget=900)
    decision = learner.step(observation, current_thresholds)
    state = learner.state_dict()          # JSON-able; ThresholdLearner(..., state=state) resumes exactly
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ai_ops.config import LearnerConfig, ThresholdConfig
from ai_ops.learner.observation import Observation
from ai_ops.learner.reward import Reward, reward

STATE_VERSION = 1
SCALING = "autoscaling_cpu_target"


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


def clamp_step(spec: ThresholdConfig, old: float, proposed: float) -> float:
    """Guardrail: at most `max_step` from the old value, always inside [min, max]."""
    moved = min(max(proposed, old - spec.max_step), old + spec.max_step)
    return round(min(max(moved, spec.min), spec.max), 6)


class ThresholdLearner:
    """Bounded reward hill-climbing (the walking-skeleton learner)."""

    def __init__(self, config: LearnerConfig, thresholds: dict[str, ThresholdConfig], sla_target: float,
                 monthly_budget: float, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.specs = thresholds
        self.sla_target = sla_target
        self.monthly_budget = monthly_budget
        state = state or {}
        if state and state.get("version") != STATE_VERSION:
            raise ValueError(f"learner state version {state.get('version')} is not {STATE_VERSION}")
        self.cycles: int = state.get("cycles", 0)
        self.last_change_cycle: int | None = state.get("last_change_cycle")
        self.last_change_time: float | None = state.get("last_change_time")
        self.history: list[dict[str, Any]] = state.get("history", [])

    def initial_thresholds(self) -> dict[str, float]:
        return {name: spec.initial for name, spec in self.specs.items()}

    def status(self) -> str:
        if self.cycles < 4:
            return "exploring"
        recent = self.history[-8:]
        if len(recent) >= 8 and not any(h["changed"] for h in recent):
            return "converged"
        return "converging"

    def step(self, obs: Observation, current: dict[str, float]) -> Decision:
        old = {name: float(current.get(name, spec.initial)) for name, spec in self.specs.items()}
        self.cycles += 1
        if not obs.usable:
            return self._record(obs, old, old, None, {"*": f"no change: {obs.unusable_reason}"})
        r = reward(obs, self.sla_target, self.monthly_budget, self.config.cost_weight)
        if obs.anomaly_share > self.config.max_incident_share:
            why = f"no change: {obs.anomaly_share:.0%} of the window is anomalous (max {self.config.max_incident_share:.0%})"
            return self._record(obs, old, old, r, {"*": why})
        if self.last_change_cycle is not None and self.cycles - self.last_change_cycle <= self.config.cooldown_cycles:
            return self._record(obs, old, old, r, {"*": "no change: cooldown after the last change"})

        new = dict(old)
        reasons: dict[str, str] = {}
        breached = r.sla_met < 1.0
        for name, spec in self.specs.items():
            if spec.pin:
                reasons[name] = "pinned"
                continue
            proposed, why = self._propose(name, spec, old[name], obs, breached)
            new[name] = clamp_step(spec, old[name], proposed)
            if new[name] != old[name]:
                reasons[name] = why
        decision = self._record(obs, old, new, r, reasons)
        if decision.changed:
            self.last_change_cycle = self.cycles
            self.last_change_time = obs.time
        return decision

    def _propose(self, name: str, spec: ThresholdConfig, value: float, obs: Observation,
                 breached: bool) -> tuple[float, str]:
        sla = f"SLA {obs.sla_attainment:.3f}% vs target {self.sla_target}%"
        if name == SCALING:
            if breached:
                return value - spec.max_step, f"{sla}: scale earlier (lower CPU target)"
            headroom = value - obs.utilization_p95
            if headroom > spec.max_step:
                return value - spec.max_step * 0.5, f"{sla}; p95 CPU {obs.utilization_p95:.1f}% far below target"
            return value + spec.max_step * self.config.exploration, f"{sla}: try a cheaper (higher) target"
        fired = obs.alerts_fired.get(name, False)
        if fired and not breached:
            return value + spec.max_step, f"alert fired while {sla} held: raise to cut noise"
        if breached and not fired:
            return value - spec.max_step, f"{sla} breached with no alert: lower to catch it"
        return value, ""

    def _record(self, obs: Observation, old: dict[str, float], new: dict[str, float], r: Reward | None,
                reasons: dict[str, str]) -> Decision:
        changed = new != old
        self.history.append({"time": obs.time, "changed": changed, "reward": r.total if r else None})
        self.history = self.history[-200:]
        if changed:
            parts = [f"{k} {old[k]:g} -> {v:g}" for k, v in new.items() if v != old[k]]
            summary = "; ".join(parts)
        else:
            summary = reasons.get("*", "no change: thresholds already suit the evidence")
        return Decision(obs.time, old, new, r, reasons, self.status(), summary, {"observation": obs.to_dict()})

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "cycles": self.cycles,
            "last_change_cycle": self.last_change_cycle,
            "last_change_time": self.last_change_time,
            "history": self.history,
        }
