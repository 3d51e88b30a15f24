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
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ai_ops.config import LearnerConfig, ThresholdConfig
from ai_ops.errors import OpsError
from ai_ops.learner.alerts import AlertChoice, budget_threshold, pages_and_catches
from ai_ops.learner.change import ChangeTest, demand_change, relation_change
from ai_ops.learner.observation import Observation
from ai_ops.learner.reward import Reward, RewardWeights, budget_burn, reward
from ai_ops.learner.warm_start import WarmStart, estimate_target

STATE_VERSION = 4
READABLE_STATE_VERSIONS = (3, 4)
"""Version 3 state (before the page budget) is read: its windows are kept, its alert ceilings dropped."""
SCALING = "autoscaling_cpu_target"
MIN_REPLICAS = "autoscaling_min_replicas"
"""Learned only when the configuration's thresholds list it (a Terraform variable must exist for it)."""
CPU_ALERT = "alert_cpu_utilization"
ALERT_MEMORY_DAYS = 28.0
"""Windows the page budget is tuned on (the last four weeks)."""
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
    """exploring / converging / settled, with the criterion a reviewer can check, and any bound
    that binds with what would fix it."""

    status: str
    criterion: str
    days_since_change: float | None
    ceiling: float | None
    binding: str = ""

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


def _number(value: Any, where: str, *, integer: bool = False, optional: bool = False) -> None:
    """A JSON number (not a string, not a bool), finite; an int when `integer`."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise TypeError(f"{where} must be {'an integer' if integer else 'a number'}, not {value!r:.40}")
    if not math.isfinite(value):
        raise ValueError(f"{where} is not finite")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{where} must be a JSON object, not {type(value).__name__}")
    return value


def _sequence(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{where} must be a JSON list, not {type(value).__name__}")
    return value


def _check_state(state: dict[str, Any]) -> None:
    """Types and finiteness of every field the learner computes with: a value of the wrong type
    (a string where a number belongs) must stop the load, not a later step with a TypeError."""
    for key in ("cycles", "clean_streak"):
        _number(state.get(key, 0), key, integer=True)
        if state.get(key, 0) < 0:
            raise ValueError(f"{key} must be >= 0")
    _number(state.get("last_change_cycle"), "last_change_cycle", integer=True, optional=True)
    _number(state.get("last_change_time"), "last_change_time", optional=True)
    _number(state.get("predicted_limit"), "predicted_limit", optional=True)
    if not isinstance(state.get("last_change_kind", ""), str):
        raise TypeError("last_change_kind must be a string")
    if not isinstance(state.get("warm_started", False), bool):
        raise TypeError("warm_started must be true or false")
    evidence = state.get("warm_start_evidence")
    if evidence is not None:
        _mapping(evidence, "warm_start_evidence")
    for key in ("before_last_change", "known_bad"):
        for name, value in _mapping(state.get(key, {}), key).items():
            _number(value, f"{key}.{name}")
    for name, value in _mapping(state.get("alert_changed_cycle", {}), "alert_changed_cycle").items():
        _number(value, f"alert_changed_cycle.{name}", integer=True)
    for name, levels in _mapping(state.get("alert_normal", {}), "alert_normal").items():
        for i, pair in enumerate(_sequence(levels, f"alert_normal.{name}")):
            if not isinstance(pair, list) or len(pair) != 2:
                raise TypeError(f"alert_normal.{name}[{i}] must be [time, level]")
            for value in pair:
                _number(value, f"alert_normal.{name}[{i}]")
    for i, window in enumerate(_sequence(state.get("windows", []), "windows")):
        for key in ("target", "time", "burn"):
            if key not in _mapping(window, f"windows[{i}]"):
                raise KeyError(f"windows[{i}] has no {key}")
        for key, value in window.items():
            _number(value, f"windows[{i}].{key}")
    for i, window in enumerate(_sequence(state.get("alert_windows", []), "alert_windows")):
        _number(_mapping(window, f"alert_windows[{i}]").get("time"), f"alert_windows[{i}].time")
        if not isinstance(window.get("breached"), bool):
            raise TypeError(f"alert_windows[{i}].breached must be true or false")
        for name, value in _mapping(window.get("levels"), f"alert_windows[{i}].levels").items():
            _number(value, f"alert_windows[{i}].levels.{name}")
    for key in ("workload_changes", "history"):
        for i, record in enumerate(_sequence(state.get(key, []), key)):
            _number(_mapping(record, f"{key}[{i}]").get("time"), f"{key}[{i}].time")
            for name in ("reward", "scaling", "min_replicas"):
                _number(record.get(name), f"{key}[{i}].{name}", optional=True)


class ThresholdLearner:
    """Warm-started bracketing search (scaling target), page-budget alerts, min replicas; guardrailed."""

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
        if state and state.get("version") not in READABLE_STATE_VERSIONS:
            raise LearnerStateError(f"models/learner_state.json has version {state.get('version')}, this ai-ops "
                                    f"reads versions {', '.join(map(str, READABLE_STATE_VERSIONS))}; delete it to "
                                    "start learning afresh (the thresholds in Terraform are kept)")
        try:
            self._load(state)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LearnerStateError(f"models/learner_state.json is damaged ({type(exc).__name__}: {exc}); restore "
                                    "it from Git or delete it to start learning afresh") from None

    def _load(self, state: dict[str, Any]) -> None:
        _check_state(state)
        self.cycles: int = int(state.get("cycles", 0))
        self.last_change_cycle: int | None = state.get("last_change_cycle")
        self.last_change_time: float | None = state.get("last_change_time")
        self.before_last_change: dict[str, float] = dict(state.get("before_last_change", {}))
        self.last_change_kind: str = state.get("last_change_kind", "")
        self.windows: list[dict[str, float]] = list(state.get("windows", []))
        """Learnable windows since the last workload change: the scaling target in force, the
        error-budget burn, the share of bad steps, the demand and CPU/latency levels, the time."""
        self.known_bad: dict[str, float] = {str(k): float(v) for k, v in state.get("known_bad", {}).items()}
        """Scaling targets (as '%g' text) shown bad since the last workload change -> when. Never re-probed."""
        self.predicted_limit: float | None = state.get("predicted_limit")
        """The warm start's lowest predicted-bad target: treated as known-bad until a workload change."""
        self.alert_changed_cycle: dict[str, int] = dict(state.get("alert_changed_cycle", {}))
        self.alert_normal: dict[str, list[list[float]]] = {k: [[float(t), float(v)] for t, v in levels]
                                                           for k, levels in state.get("alert_normal", {}).items()}
        """Per alert: [time, normal level] of the last learnable windows (the anchor is their median)."""
        self.alert_windows: list[dict[str, Any]] = list(state.get("alert_windows", []))
        """Per window: time, whether the SLA was breached, each alert's fire level (the page budget's data)."""
        self.clean_streak: int = int(state.get("clean_streak", 0))
        """Consecutive learnable windows with the SLA met at the current thresholds."""
        self.warm_started: bool = bool(state.get("warm_started", False))
        self.warm_start_evidence: dict[str, Any] | None = state.get("warm_start_evidence")
        self.workload_changes: list[dict[str, Any]] = list(state.get("workload_changes", []))
        self.history: list[dict[str, Any]] = list(state.get("history", []))

    # ------------------------------------------------------------ evidence

    def _windows_at(self, target: float, now: float) -> list[dict[str, float]]:
        return [w for w in self.windows if abs(w["target"] - target) < 1e-9]

    def mean_burn_at(self, target: float, now: float) -> tuple[float, int]:
        """The target's error-budget burn over its remembered windows, and how many windows.

        With `weigh_by_requests`, weighted by each window's requests (the SLA's own weighting);
        windows recorded without a request count fall back to equal weights.
        """
        windows = self._windows_at(target, now)
        if not windows:
            return 0.0, 0
        weights = [float(w.get("requests", 0.0) or 0.0) for w in windows]
        if self.config.weigh_by_requests and all(x > 0 for x in weights):
            total = sum(weights)
            return sum(w["burn"] * x for w, x in zip(windows, weights, strict=True)) / total, len(windows)
        return sum(w["burn"] for w in windows) / len(windows), len(windows)

    def bad_steps_at(self, target: float, now: float) -> float | None:
        """Mean share of bad steps (minutes) over the target's windows that reported it."""
        shares = [w["bad_steps"] for w in self._windows_at(target, now) if "bad_steps" in w]
        return sum(shares) / len(shares) if shares else None

    def is_bad(self, target: float, now: float) -> bool:
        """Known-bad: shown bad since the last workload change, predicted bad by the warm start, or its
        windows burned more than `max_budget_burn` on average (or had too many bad steps) over at least
        `settle_windows` windows (a whole daily cycle), or more than `clear_breach_burn` over any number."""
        if f"{target:g}" in self.known_bad or (self.predicted_limit is not None
                                               and target >= self.predicted_limit - 1e-9):
            return True
        burn, count = self.mean_burn_at(target, now)
        if not count:
            return False
        if burn > self.config.clear_breach_burn:
            return True
        bad_steps = self.bad_steps_at(target, now)
        return count >= self.config.settle_windows and (
            burn > self.config.max_budget_burn
            or (bad_steps is not None and bad_steps > self.config.max_bad_step_share))

    def ceiling(self, now: float) -> float | None:
        """Lowest known-bad scaling target (observed or predicted by the warm start)."""
        bad = [float(k) for k in self.known_bad]
        bad += [t for t in {w["target"] for w in self.windows} if self.is_bad(t, now)]
        if self.predicted_limit is not None:
            bad.append(self.predicted_limit)
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

    def _remember_alert_window(self, obs: Observation, breached: bool) -> None:
        levels = {k: float(v) for k, v in obs.alert_fire_levels.items() if k in self.specs and math.isfinite(v)}
        if levels:
            self.alert_windows.append({"time": obs.time, "breached": breached, "levels": levels})
        self.alert_windows = [w for w in self.alert_windows if obs.time - w["time"] < ALERT_MEMORY_DAYS * DAY]

    def wants_warm_start(self) -> bool:
        """Whether the next `step` would use a warm-start estimate (pass one with `warm_start=`): until
        one has been applied, and again after a workload change."""
        return (self.config.warm_start and SCALING in self.specs and not self.specs[SCALING].pin
                and not self.warm_started)

    def warm_start_estimate(self, history: dict[str, np.ndarray], good_share: np.ndarray,
                            current: dict[str, float]) -> WarmStart:
        """The warm-start estimate from a service's recent history (per-step metrics and good share)."""
        spec = self.specs[SCALING]
        return estimate_target(history["cpu_utilization"], history["replicas"], history["request_rate"], good_share,
                               sla_target=self.sla_target, lower=spec.min, upper=spec.max,
                               resolution=self.config.resolution, tolerance=self.config.hpa_tolerance,
                               max_burn=self.config.warm_start_max_burn, min_steps=self.config.warm_start_min_steps,
                               min_replicas=float(current.get(MIN_REPLICAS, 1.0)))

    # ------------------------------------------------------------ status

    def learning_status(self, now: float | None = None) -> LearningStatus:
        now = self.history[-1]["time"] if now is None and self.history else (now or 0.0)
        since = None if self.last_change_time is None else round((now - self.last_change_time) / DAY, 2)
        ceiling = self.ceiling(now)
        current = self.history[-1].get("scaling") if self.history else None
        spec = self.specs.get(SCALING)
        if spec is None or current is None:
            settled = self.cycles >= self.config.settle_windows
            return LearningStatus("settled" if settled else "exploring",
                                  f"no scaling target is learned; {self.cycles} cycles observed", since, ceiling)
        if spec.pin:
            return LearningStatus("settled", "the scaling target is pinned by configuration", since, ceiling)
        burn, count = self.mean_burn_at(current, now)
        bad_steps = self.bad_steps_at(current, now)
        steps_text = "" if bad_steps is None else f", {bad_steps:.1%} bad steps"
        evidence = f"{count} windows at {current:g} (burn {burn:.0%} of the error budget{steps_text})"
        if current <= spec.min + 1e-9 and not count and self.last_change_kind == "min_replicas":
            return LearningStatus("converging", f"minimum replicas were just raised; {evidence}", since, ceiling,
                                  f"{SCALING} lower bound {spec.min:g} binds: headroom now comes from minimum "
                                  "replicas")
        if self.is_bad(current, now) and count and current <= spec.min + 1e-9:
            replicas = self.specs.get(MIN_REPLICAS)
            held = self.history[-1].get("min_replicas")
            if replicas is not None and not replicas.pin and (held is None or held < replicas.max - 1e-9):
                return LearningStatus("converging", f"{evidence}: the target is at its lower bound; raising "
                                      "minimum replicas", since, ceiling,
                                      f"{SCALING} lower bound {spec.min:g} binds")
            fix = (f"{MIN_REPLICAS} is at its upper bound {replicas.max:g}: raise that bound after review"
                   if replicas is not None else
                   f"add {MIN_REPLICAS} to the thresholds (a Terraform variable) so minimum replicas are learned, "
                   "or lower this bound after review")
            return LearningStatus("settled", f"{evidence}: the target alone cannot meet the SLA", since, ceiling,
                                  f"{SCALING} lower bound {spec.min:g} binds; {fix}")
        if count >= self.config.settle_windows and not self.is_bad(current, now):
            if ceiling is not None and ceiling - current <= self.config.convergence_gap + 1e-9:
                return LearningStatus("settled", f"{evidence}; {ceiling:g} is known-bad, within "
                                      f"{self.config.convergence_gap:g}: no cheaper safe target left to try",
                                      since, ceiling)
            if current >= spec.max - 1e-9:
                return LearningStatus("settled", f"{evidence} at the upper bound", since, ceiling,
                                      f"{SCALING} upper bound {spec.max:g} binds; raise it after review to save more")
            if burn > self.config.probe_max_burn:
                return LearningStatus("settled", f"{evidence}: more than probe_max_burn "
                                      f"{self.config.probe_max_burn:.0%}, no room for a cheaper target",
                                      since, ceiling)
        if ceiling is None:
            return LearningStatus("exploring", f"{evidence}; no SLA limit found yet: probing cheaper targets",
                                  since, ceiling)
        return LearningStatus("converging", f"{evidence}; bracketing below known-bad {ceiling:g} (settled after "
                              f"{self.config.settle_windows} clean windows within {self.config.convergence_gap:g})",
                              since, ceiling)

    def status(self) -> str:
        return self.learning_status().status

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

        if warm_start is not None and self.wants_warm_start():
            decision = self._warm_start(obs, old, r, warm_start)
            if decision is not None:
                return decision

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
        if MIN_REPLICAS in self.specs and not self.specs[MIN_REPLICAS].pin:
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
        self.warm_started = True
        self.warm_start_evidence = {"time": obs.time, **estimate.to_dict()}
        if estimate.target is None:
            return None
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

    def cpu_alert_floor(self, scaling: float | None) -> float | None:
        """The lowest CPU alert allowed: above the autoscaler's normal band (target x (1 + tolerance))
        by `alert_band_margin`; None without a scaling target or a CPU alert."""
        spec = self.specs.get(CPU_ALERT)
        if spec is None or scaling is None:
            return None
        band = scaling * (1.0 + self.config.hpa_tolerance)
        return round(min(max(band + self.config.alert_band_margin, spec.min), spec.max), 6)

    def _enforce_cpu_alert_floor(self, old: dict[str, float], new: dict[str, float], reasons: dict[str, str]) -> None:
        floor = self.cpu_alert_floor(new.get(SCALING))
        spec = self.specs.get(CPU_ALERT)
        if floor is None or spec is None or spec.pin or new[CPU_ALERT] >= floor - 1e-9:
            return
        new[CPU_ALERT] = floor
        reasons[CPU_ALERT] = (f"never inside the autoscaler's band: scaling target {new[SCALING]:g} x (1 + "
                              f"{self.config.hpa_tolerance:g} tolerance) + {self.config.alert_band_margin:g} = "
                              f"{floor:g} (this guardrail may exceed max_step)")

    def alert_choice(self, name: str, scaling: float | None) -> AlertChoice | None:
        """The page-budget choice for an alert over the remembered windows; None until enough windows."""
        spec = self.specs[name]
        rows = [(w["levels"][name], bool(w["breached"]), w["time"]) for w in self.alert_windows if name in w["levels"]]
        if len(rows) < self.config.alert_min_windows:
            return None
        times = sorted(t for _, _, t in rows)
        gaps = np.diff(times)
        window_hours = float(np.median(gaps)) / 3600.0 if gaps.size else 6.0
        weeks = len(rows) * window_hours / 168.0
        allowed = self.config.pages_per_week * self.config.alert_budget_use * weeks
        floor = self.cpu_alert_floor(scaling) if name == CPU_ALERT else None
        lower = spec.min if floor is None else floor
        grid = min(spec.max_step / 10, (spec.max - spec.min) / 200) if spec.max > spec.min else spec.max_step
        return budget_threshold(np.array([x for x, _, _ in rows]), np.array([b for _, b, _ in rows]), lower,
                                spec.max, grid, allowed, weeks)

    def _propose_alert(self, name: str, spec: ThresholdConfig, value: float, scaling: float | None) -> tuple[float, str]:
        last = self.alert_changed_cycle.get(name)
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

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "cycles": self.cycles,
            "last_change_cycle": self.last_change_cycle,
            "last_change_time": self.last_change_time,
            "before_last_change": self.before_last_change,
            "last_change_kind": self.last_change_kind,
            "windows": self.windows,
            "known_bad": self.known_bad,
            "predicted_limit": self.predicted_limit,
            "alert_changed_cycle": self.alert_changed_cycle,
            "alert_normal": self.alert_normal,
            "alert_windows": self.alert_windows,
            "clean_streak": self.clean_streak,
            "warm_started": self.warm_started,
            "warm_start_evidence": self.warm_start_evidence,
            "workload_changes": self.workload_changes,
            "history": self.history,
        }
