"""What the threshold learner remembers between runs, and its JSON form (models/learner/<service>.json).

`LearnerMemory` holds the remembered windows, known-bad targets, alert evidence and history;
`_restore` reads and checks a state dict (a damaged or unknown one raises LearnerStateError and
changes nothing), `state_dict` writes it. The key order of `state_dict` is the file's: a restored
learner writes byte-identical state and decides exactly like one that never stopped (tested).
"""

from __future__ import annotations

import math
from typing import Any

from ai_ops.config import LearnerConfig, ThresholdConfig
from ai_ops.learner.decision import (
    ALERT_MEMORY_DAYS,
    DAY,
    READABLE_STATE_VERSIONS,
    STATE_VERSION,
    LearnerStateError,
)
from ai_ops.learner.observation import Observation


def _number(value: Any, where: str, *, integer: bool = False, optional: bool = False) -> None:
    """A JSON number (not a string, not a bool), finite; an int when `integer`."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise TypeError(f"{where} must be {'an integer' if integer else 'a number'}, not {value!r:.40}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        finite = False
    if not finite:
        raise ValueError(f"{where} is not finite")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{where} must be a JSON object, not {type(value).__name__}")
    return value


def _sequence(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{where} must be a JSON list, not {type(value).__name__}")
    return value


def _finite_numbers(values: list[Any]) -> bool:
    """All finite ints/floats (no bools): the common case, checked in bulk; False sends the caller
    to its per-value pass, which says what is wrong (each cycle loads every service's state)."""
    try:
        return {type(v) for v in values} <= {int, float} and all(map(math.isfinite, values))
    except OverflowError:  # an int beyond a float
        return False


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
    _check_windows(_sequence(state.get("windows", []), "windows"))
    _check_alert_windows(_sequence(state.get("alert_windows", []), "alert_windows"))
    for key in ("workload_changes", "history"):
        _check_records(_sequence(state.get(key, []), key), key)


OPTIONAL_NUMBERS = ("reward", "scaling", "min_replicas")


def _check_windows(windows: list[Any]) -> None:
    if all(type(w) is dict and "target" in w and "time" in w and "burn" in w for w in windows) and _finite_numbers(
            [v for w in windows for v in w.values()]):
        return
    for i, window in enumerate(windows):  # say which value is wrong
        for key in ("target", "time", "burn"):
            if key not in _mapping(window, f"windows[{i}]"):
                raise KeyError(f"windows[{i}] has no {key}")
        for key, value in window.items():
            _number(value, f"windows[{i}].{key}")


def _check_alert_windows(windows: list[Any]) -> None:
    if all(type(w) is dict and type(w.get("breached")) is bool and type(w.get("levels")) is dict
           for w in windows) and _finite_numbers([w["time"] if "time" in w else None for w in windows]
                                                 + [v for w in windows for v in w["levels"].values()]):
        return
    for i, window in enumerate(windows):
        _number(_mapping(window, f"alert_windows[{i}]").get("time"), f"alert_windows[{i}].time")
        if not isinstance(window.get("breached"), bool):
            raise TypeError(f"alert_windows[{i}].breached must be true or false")
        for name, value in _mapping(window.get("levels"), f"alert_windows[{i}].levels").items():
            _number(value, f"alert_windows[{i}].levels.{name}")


def _check_records(records: list[Any], key: str) -> None:
    if all(type(r) is dict for r in records) and _finite_numbers(
            [r.get("time") for r in records] + [r[n] for r in records for n in OPTIONAL_NUMBERS if r.get(n) is not None]):
        return
    for i, record in enumerate(records):
        _number(_mapping(record, f"{key}[{i}]").get("time"), f"{key}[{i}].time")
        for name in OPTIONAL_NUMBERS:
            _number(record.get(name), f"{key}[{i}].{name}", optional=True)


class LearnerMemory:
    """The learner's remembered evidence (a mixin of ThresholdLearner, which sets `config` and `specs`)."""

    config: LearnerConfig
    specs: dict[str, ThresholdConfig]

    def _restore(self, state: dict[str, Any] | None) -> None:
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
