"""The detector protocol: the same verbs for every detector, scikit-learn style.

- `fit(timestamps, values)` learns from history (replaces the state, or for the GMM
  refits warm-started from the previous parameters);
- `score(timestamps, values)` scores new points causally and advances the state:
  each point's score uses only the points before it (and itself);
- `get_state()` / `set_state()` give and take plain JSON-able dicts (no pickle).

Settings come from the config, learned state from the file (scikit-learn's split of
parameters and fitted attributes): `get_params()` reads the constructor's arguments back
from the attributes of the same name, a state holds only what was learned plus
`settings_hash`, the hash of the parameters it was learned with, and `set_state` refuses a
state learned with other settings (`SettingsChanged`): the caller starts fresh and says so.
Scores are in [0, 1): `calibration.to_score` of a surprisal (-log10 of a tail probability)
measured against the series' own history, so one threshold means the same on every series.
A NaN value gets a NaN score and leaves the state unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from ai_ops.detectors.calibration import BurstFilter, Calibrator, to_score


@dataclass(frozen=True)
class FitReport:
    samples: int
    trained: bool
    loss: float | None = None
    converged: bool | None = None
    message: str = ""


class SettingsChanged(ValueError):
    """A saved state was learned with other settings than the configured ones."""


_HASHES: dict[str, str] = {}


def settings_hash(params: dict[str, Any]) -> str:
    """A short, stable hash of JSON-able settings.

    Every model load and save checks every member's hash (some 20,000 times in a replay), so hashes
    are remembered by the settings' repr: it determines their JSON, and is cheaper to make.
    """
    key = repr(params)
    found = _HASHES.get(key)
    if found is None:
        if len(_HASHES) > 1024:
            _HASHES.clear()
        found = _HASHES[key] = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return found


class Detector(Protocol):
    """What the jobs, the backtest and the conformance tests use: every member and the ensemble."""

    name: str

    def get_params(self) -> dict[str, Any]: ...

    def fit(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport: ...

    def score(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray: ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


MIN_TRAIN_SAMPLES = 48


@dataclass(frozen=True)
class CalibrationSettings:
    """How raw surprise becomes a score (shared by every detector; see calibration.py)."""

    long_span: int = 1000
    short_window: int = 3
    min_history: int = 48
    burst_hold: int = 60
    burst_damping: float = 0.1


_IMMUTABLE = frozenset({str, int, float, bool, type(None), type, CalibrationSettings})
_KNOWN_SETTINGS: dict[tuple[int, ...], tuple[tuple[Any, ...], str]] = {}


def remembered_hash(values: tuple[Any, ...], params: Callable[[], dict[str, Any]]) -> str:
    """`settings_hash(params())`, remembered for settings made of the very same (immutable) objects.

    A cycle checks every member's hash on load and writes it on save (some 20 hashes a series, each
    a get_params and a repr: a twentieth of the cycle's CPU). `values` are the objects `params()` is
    made of (`settings_values`), looked up by identity, not equality: the same objects have the same
    repr, so the same hash (3 == 3.0 but their JSON differs). The memo holds on to the objects, so no
    other object can take their ids while they are remembered; settings of a mutable type are not.
    """
    key = tuple(map(id, values))
    known = _KNOWN_SETTINGS.get(key)
    if known is not None:
        return known[1]
    found = settings_hash(params())
    if all(type(v) in _IMMUTABLE for v in values):
        if len(_KNOWN_SETTINGS) > 1024:
            _KNOWN_SETTINGS.clear()
        _KNOWN_SETTINGS[key] = (values, found)
    return found


def excess(z: np.ndarray, threshold: float) -> np.ndarray:
    """|z| beyond the threshold, log-compressed: 0 inside the band, heavy tails stay finite, NaN stays NaN."""
    return np.log1p(np.maximum(np.abs(z) - threshold, 0.0))


class CalibratedDetector:
    """Base of the detectors: subclasses give `_raw` (raw surprise >= 0, causal, advances state)."""

    name = "base"

    def __init__(self, calibration: CalibrationSettings | None = None) -> None:
        self.calibration = calibration or CalibrationSettings()
        self._reset_calibration()

    def _reset_calibration(self) -> None:
        c = self.calibration
        self.calibrator_ = Calibrator(c.long_span, c.short_window, c.min_history)
        self.burst_ = BurstFilter(c.burst_hold, c.burst_damping)

    # -- subclass hooks
    def _learn(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        """Learn model parameters from history (no streaming state). Default: nothing to learn."""
        return FitReport(int(np.isfinite(values).sum()), True)

    def _reset_stream(self) -> None:
        """Forget the streaming state (buffers, running mean) before a replay."""

    def _raw_points(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Raw surprise (>= 0; NaN = no opinion yet) of finite points in time order; advances the state."""
        raise NotImplementedError

    def _raw(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Gaps (NaN values) get no opinion and leave the streaming state as it was."""
        finite = np.isfinite(values)
        return self._raw_at(finite, timestamps[finite], values[finite])

    def _raw_at(self, finite: np.ndarray, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """`_raw` given the mask of finite values and the finite points (the ensemble selects them once for
        all its members: they only read them)."""
        out = np.full(finite.shape, np.nan)
        if values.size:
            out[finite] = self._raw_points(timestamps, values)
        return out

    def _own_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_own_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- settings (scikit-learn's get_params)
    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments, read back from the attributes of the same name."""
        params: dict[str, Any] = {}
        for name in _init_parameters(type(self)):
            value = getattr(self, name)
            params[name] = dict(_calibration_items(value)) if name == "calibration" else value
        return params

    def settings_values(self) -> tuple[Any, ...]:
        """What the settings hash is made of: the class, the name and the constructor's arguments as they are now."""
        cls = type(self)
        return (cls, self.name, *_parameter_getter(cls)(self))

    def settings_hash(self) -> str:
        return remembered_hash(self.settings_values(), lambda: {"detector": self.name, **self.get_params()})

    # -- shared verbs
    def fit(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        """Learn from history, then replay it so the streaming state and calibration are warm.

        Fewer than MIN_TRAIN_SAMPLES finite points: nothing changes and the report says why.
        """
        timestamps, values = _as_arrays(timestamps, values)
        finite = int(np.isfinite(values).sum())
        if finite < MIN_TRAIN_SAMPLES:
            return insufficient(finite, MIN_TRAIN_SAMPLES)
        report = self._learn(timestamps, values)
        if report.trained:
            self.restart_stream()
            self.score(timestamps, values)
        return report

    def restart_stream(self) -> None:
        self._reset_stream()
        self._reset_calibration()

    def surprisal(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Calibrated surprisal before the burst filter (what the ensemble combines)."""
        timestamps, values = _as_arrays(timestamps, values)
        return self.calibrator_.transform(self._raw(timestamps, values))

    def score(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Scores in [0, 1); 0 while warming up or untrained, NaN only for NaN values."""
        timestamps, values = _as_arrays(timestamps, values)
        return no_opinion_is_zero(to_score(self.burst_.transform(self.surprisal(timestamps, values))), values)

    def get_state(self) -> dict[str, Any]:
        """What was learned (no settings) and the hash of the settings it was learned with."""
        return {"settings_hash": self.settings_hash(), "detector": self._own_state(),
                "calibration": {"calibrator": self.calibrator_.learned_state(), "burst": self.burst_.learned_state()}}

    def set_state(self, state: dict[str, Any]) -> None:
        """Take a learned state; SettingsChanged (nothing changed here) if it was learned with other settings."""
        check_settings(self.name, state, self.settings_hash())
        self._set_checked_state(state)

    def _set_checked_state(self, state: dict[str, Any]) -> None:
        """`set_state` once the settings hash has been checked (the ensemble checks every member first)."""
        cal = state["calibration"]
        self._set_own_state(state["detector"])
        c = self.calibration
        self.calibrator_ = Calibrator.from_state(c.long_span, c.short_window, c.min_history, cal["calibrator"])
        self.burst_ = BurstFilter.from_state(c.burst_hold, c.burst_damping, cal["burst"])


_PARAMETERS: dict[type, tuple[str, ...]] = {}


def _init_parameters(cls: type) -> tuple[str, ...]:
    """The constructor's parameter names (inspect.signature is slow: once per class, not per call)."""
    names = _PARAMETERS.get(cls)
    if names is None:
        names = _PARAMETERS[cls] = tuple(n for n in inspect.signature(cls.__init__).parameters if n != "self")  # type: ignore[misc]
    return names


_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _parameter_getter(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving the tuple of an instance's constructor arguments (one attrgetter per class)."""
    getter = _GETTERS.get(cls)
    if getter is None:
        names = _init_parameters(cls)
        if len(names) == 1:
            one = operator.attrgetter(names[0])
            getter = _GETTERS[cls] = lambda obj: (one(obj),)
        else:
            getter = _GETTERS[cls] = operator.attrgetter(*names) if names else (lambda obj: ())
    return getter


@functools.lru_cache(maxsize=64)
def _calibration_items(settings: CalibrationSettings) -> tuple[tuple[str, Any], ...]:
    """asdict of the (frozen, hashable) calibration settings, once per distinct value."""
    return tuple(asdict(settings).items())


def check_settings(name: str, state: dict[str, Any], expected: str) -> None:
    found = state.get("settings_hash") if isinstance(state, dict) else None
    if found != expected:
        raise SettingsChanged(f"{name}: the saved state was learned with other settings (settings hash {found}, "
                              f"configured {expected})")


def no_opinion_is_zero(scores: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A finite value the detector cannot judge yet scores 0 (normal), a NaN value stays NaN."""
    return np.where(np.isfinite(values) & ~np.isfinite(scores), 0.0, scores)


def _as_arrays(timestamps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(timestamps, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if t.shape != v.shape:
        raise ValueError(f"timestamps ({t.size}) and values ({v.size}) differ in length")
    return t, v


def insufficient(finite: int, need: int) -> FitReport:
    return FitReport(finite, False, message=f"insufficient samples: have {finite}, need {need}")
