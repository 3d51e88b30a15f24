"""One score in [0, 1) from the member detectors (MEMBERS; the context member can be turned off),
and severity levels from the sensitivity.

Each member gives a calibrated surprisal S = -log10(tail probability) of a point against
its own series' history; the ensemble averages them (or takes the max, or `agreed_level` if higher), keeps only the
start of a burst (BurstFilter, re-armed once the series has been quiet: `rearmed`) and maps S
to a score with calibration.to_score (S = 4 -> 0.99). `last_evidence_` (the level at least half of the
members agree on) is what an episode's duration and magnitude are measured on (detectors.episodes).

Severity: with sensitivity s (default 0.92), a point is a *warning* when its surprisal is
at least 187.5 (1 - s) (= 15 at 0.92) and *critical* at twice that. The surprisal is nominal
(it assumes Gaussian raw surprise and overstates rarity); the factor was set from measured
rates on NAB-dev: S >= 15 fires on ~0.09 % of normal points, S >= 30 on ~0.02 %.
Lower s -> higher bar -> fewer alarms (0.85 -> 28 and 56).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ai_ops.config import AnomalyConfig
from ai_ops.detectors.base import (
    CalibratedDetector,
    CalibrationSettings,
    Detector,
    FitReport,
    _as_arrays,
    check_settings,
    insufficient,
    no_opinion_is_zero,
    remembered_hash,
)
from ai_ops.detectors.calibration import BurstFilter, to_score, transform_rows
from ai_ops.detectors.registry import DETECTOR_NAMES, MEMBERS

SURPRISAL_PER_SENSITIVITY = 187.5
QUIET_SURPRISAL = 1.0
"""Below this surprisal (nominal tail probability 0.1) a point is unremarkable: `rearmed` counts it as quiet."""


def rearmed(surprisal: np.ndarray, damped: np.ndarray, recent: list[float], rearm_points: int,
            quiet_below: float) -> np.ndarray:
    """Undo the burst filter's damping on the points of a *new* event.

    The burst filter damps every point that does not beat the highest surprisal of the last
    `hold` points, so one event alarms once. But its memory spans separate events: after an
    error burst with a huge surprisal, a second burst the next morning stays damped for the whole
    hold (300 points = 25 h at 5-minute steps). An event is over once the surprisal has stayed
    below `quiet_below` (QUIET_SURPRISAL: back to unremarkable, not merely under the warning
    level, so a noisy series that hovers near its level does not re-arm) for `rearm_points`
    points. From there the filter's rule applies to the new event alone: a point scores undamped
    if it beats every point since the quiet spell (so a rising onset alarms once it crosses the
    level, and a plateau still alarms once). `recent` is the filter's memory *before* this batch
    (its last values, oldest first). Pure; NaN points stay as they are.
    """
    out = damped.copy()
    finite = np.flatnonzero(np.isfinite(surprisal))
    s = surprisal[finite]
    if rearm_points <= 0 or s.size == 0:
        return out
    memory = np.asarray(recent, dtype=float)
    k, m = memory.size, s.size
    joined = np.concatenate([memory, s])
    n = joined.size
    loud = np.empty(n + 1, dtype=np.int64)
    loud[0] = 0
    np.cumsum(joined >= quiet_below, out=loud[1:])
    quiet_end = np.zeros(n, dtype=bool)  # rearm_points quiet points before
    quiet_end[rearm_points:] = loud[rearm_points:n] == loud[:max(n - rearm_points, 0)]
    since = np.maximum.accumulate(np.where(quiet_end, np.arange(n), -1))[k:]  # where each new point's event began
    # The peak of the current event before each new point: a running max that restarts where an event
    # begins. As integers (event number x m + the value's rank) one running max does all events at
    # once: a later event's keys are above every earlier one's, so its max never sees them.
    order = np.argsort(s, kind="stable")
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    event = since + 1
    best = np.maximum.accumulate(event * m + rank)
    before = np.concatenate([[-1], best[:-1]])  # the best key strictly before each point
    same_event = (before >= 0) & (before // m == event)
    peak = np.where(same_event, s[order[np.maximum(before, 0) % m]], -np.inf)
    # The first event may have begun in the memory: its peak also holds the memory from there on (NaN
    # wins a max here as it wins the ranks of a sort: either way no point beats it).
    if 0 <= since[0] < k:
        peak = np.where(since == since[0], np.maximum(peak, np.max(memory[since[0]:])), peak)
    undamped = (since >= 0) & (s > peak)
    out[finite[undamped]] = s[undamped]
    return out


def agreed_level(stacked: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Per point (column), the surprisal at least half of the members with an opinion reach (the upper median).

    Why (issue 11, traced on the demo): the mean lets members that are blind to a kind of anomaly dilute the
    ones that see it (a 10x latency step: z-score 30, forecast 27, EWMA 15, GMM 11, while the window shift,
    whose 10-point mean has not moved yet, and the context member, the value being in a seen range, said 0:
    mean 13.9), and lets one member alone carry it (an EWMA at 239 on a CPU series held at its target, the
    rest at 0: mean 40). The agreed level is what an episode's duration and magnitude are measured on
    (`last_evidence_`); with `combine: agreement` the score is max(mean, agreed level). Members without an
    opinion (NaN) are left out; 0 where no member has one.
    """
    if stacked.shape[0] and usable.all():  # every member everywhere: the (upper) median row of each column
        return -np.sort(-stacked, axis=0)[(stacked.shape[0] + 1) // 2 - 1]
    ranked = -np.sort(-np.where(usable, stacked, -np.inf), axis=0)  # descending per column, NaN last
    count = usable.sum(axis=0)
    half = np.maximum((count + 1) // 2, 1)  # 3 of 6, 3 of 5, 1 of 1
    level = ranked[half - 1, np.arange(ranked.shape[1])]
    return np.where(count > 0, level, 0.0)


@dataclass(frozen=True)
class SeverityLevels:
    """A score at or above `warning` is an anomaly; at or above `critical` pages someone."""

    warning: float
    critical: float
    warning_surprisal: float = 15.0
    critical_surprisal: float = 30.0

    @classmethod
    @functools.lru_cache(maxsize=16)
    def from_sensitivity(cls, sensitivity: float) -> SeverityLevels:
        """The levels of a sensitivity (one frozen value per sensitivity: every detector's construction asks)."""
        warn_surprisal = SURPRISAL_PER_SENSITIVITY * (1.0 - sensitivity)
        crit_surprisal = 2.0 * warn_surprisal
        return cls(warning=float(to_score(np.array(warn_surprisal))), critical=float(to_score(np.array(crit_surprisal))),
                   warning_surprisal=warn_surprisal, critical_surprisal=crit_surprisal)

    def classify(self, scores: np.ndarray) -> np.ndarray:
        """"normal" below warning (an info-level point is just logged), else "warning" / "critical"."""
        scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
        out = np.full(scores.shape, "normal", dtype=object)
        out[scores >= self.warning] = "warning"
        out[scores >= self.critical] = "critical"
        return out


_CALIBRATIONS: dict[int, tuple[AnomalyConfig, CalibrationSettings]] = {}


def calibration_settings(config: AnomalyConfig) -> CalibrationSettings:
    """One (frozen) value per config object, so every detector built from it holds the same settings object
    (base.remembered_hash knows settings by identity)."""
    known = _CALIBRATIONS.get(id(config))
    if known is not None and known[0] is config:
        return known[1]
    made = CalibrationSettings(long_span=config.calibration_span, short_window=config.average_points,
                               min_history=config.min_train_samples, burst_hold=config.effective_burst_hold)
    if len(_CALIBRATIONS) > 64:
        _CALIBRATIONS.clear()
    _CALIBRATIONS[id(config)] = (config, made)
    return made


def build_detector(name: str, config: AnomalyConfig) -> Detector:
    """The detector `name` (one of DETECTOR_NAMES) configured from `config`."""
    if name == "ensemble":
        return EnsembleDetector(config)
    if name in MEMBERS:
        return MEMBERS[name](config, calibration_settings(config))
    raise ValueError(f"unknown detector '{name}': use one of {', '.join(DETECTOR_NAMES)}")


class EnsembleDetector:
    name = "ensemble"

    def __init__(self, config: AnomalyConfig) -> None:
        self.config = config
        cal = calibration_settings(config)
        self.members: list[CalibratedDetector] = [factory(config, cal) for name, factory in MEMBERS.items()
                                                  if name != "context" or config.context.enabled]
        self.burst_ = BurstFilter(cal.burst_hold, cal.burst_damping)
        self.levels = SeverityLevels.from_sensitivity(config.sensitivity)
        self.last_fit_: FitReport | None = None
        self.last_surprisal_ = np.zeros(0)
        """The combined surprisal of the last `score` call before the burst filter (evidence of duration)."""
        self.last_members_ = np.zeros((0, 0))
        """Of the last `score` call, each member's calibrated surprisal (a row per member, in `members` order):
        what each member's own `surprisal` would have given, for traces (benchmarks/demo_trace.py)."""
        self.last_evidence_ = np.zeros(0)
        """Of the last `score` call, undamped: per point, the surprisal at least half of the members reach
        (`agreed_level`). What an episode's duration and magnitude are measured on (docs/anomaly_detection.md)."""
        self.last_time_: float | None = None
        """The latest timestamp this detector has consumed (fit or score): the jobs never feed a point twice."""

    def get_params(self) -> dict[str, Any]:
        """Every member's settings and how they are combined (the severity levels are not learned)."""
        # burst_rearm_points is left out on purpose: it changes no learned state, so a saved model stays
        # valid when it changes (and models saved before it existed are not reset on upgrade).
        return {"combine": self.config.combine, "min_train_samples": self.config.min_train_samples,
                "members": {m.name: m.get_params() for m in self.members}}

    def settings_values(self) -> tuple[Any, ...]:
        """What the settings hash is made of (see base.remembered_hash), flat: each member's class gives
        how many of its values follow."""
        values: list[Any] = [type(self), self.name, self.config.combine, self.config.min_train_samples]
        for member in self.members:
            values += member.settings_values()
        return tuple(values)

    def settings_hash(self) -> str:
        return remembered_hash(self.settings_values(), lambda: {"detector": self.name, **self.get_params()})

    def fit(self, timestamps: np.ndarray, values: np.ndarray) -> FitReport:
        """Learn every member's parameters (GMM warm-started), then replay the history once."""
        timestamps, values = _as_arrays(timestamps, values)
        finite = int(np.isfinite(values).sum())
        if finite < self.config.min_train_samples:
            return insufficient(finite, self.config.min_train_samples)
        reports = [member._learn(timestamps, values) for member in self.members]
        for member in self.members:
            member.restart_stream()
        cal = calibration_settings(self.config)
        self.burst_ = BurstFilter(cal.burst_hold, cal.burst_damping)
        self.score(timestamps, values)
        self.last_time_ = float(np.max(timestamps)) if timestamps.size else None
        gmm = reports[list(MEMBERS).index("gmm")]
        self.last_fit_ = FitReport(finite, True, loss=gmm.loss, converged=gmm.converged, message=gmm.message)
        return self.last_fit_

    def surprisal(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        timestamps, values = _as_arrays(timestamps, values)
        finite = np.isfinite(values)
        points, finite_values = timestamps[finite], values[finite]
        points.flags.writeable = finite_values.flags.writeable = False  # shared by every member: read only
        raw = np.empty((len(self.members), values.size))
        gapless = finite_values.size == values.size > 0  # each member's raw surprise is its row as it is
        for row, member in zip(raw, self.members, strict=True):
            row[:] = member._raw_points(points, finite_values) if gapless else member._raw_at(finite, points,
                                                                                            finite_values)
        stacked = self.last_members_ = transform_rows([m.calibrator_ for m in self.members], raw)
        usable = np.isfinite(stacked)
        # Every member has an opinion on every point (the usual cycle; so no value is NaN either): the masks
        # below select everything, and the same sums of the same values are taken without them.
        everywhere = bool(usable.all())
        if self.config.combine == "max":
            combined = np.max(stacked if everywhere else np.where(usable, stacked, -np.inf), axis=0)
        else:
            combined = np.sum(stacked if everywhere else np.where(usable, stacked, 0.0), axis=0) / (
                len(stacked) if everywhere else np.maximum(usable.sum(axis=0), 1))
            if self.config.combine == "agreement":
                combined = np.maximum(combined, agreed_level(stacked, usable))
        if not everywhere:
            combined[~usable.any(axis=0)] = np.nan
            combined[~np.isfinite(values)] = np.nan
        self.last_evidence_ = np.where(np.isfinite(combined), agreed_level(stacked, usable), np.nan)
        return combined

    def score(self, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        timestamps, values = _as_arrays(timestamps, values)
        self.last_surprisal_ = self.surprisal(timestamps, values)
        if timestamps.size:
            latest = float(np.max(timestamps))
            self.last_time_ = latest if self.last_time_ is None else max(self.last_time_, latest)
        recent = list(self.burst_.recent_)
        damped = self.burst_.transform(self.last_surprisal_)
        damped = rearmed(self.last_surprisal_, damped, recent, self.config.burst_rearm_points, QUIET_SURPRISAL)
        return no_opinion_is_zero(to_score(damped), values)

    def get_state(self) -> dict[str, Any]:
        return {"settings_hash": self.settings_hash(), "members": {m.name: m.get_state() for m in self.members},
                "burst": self.burst_.learned_state(), "last_time": self.last_time_}

    def set_state(self, state: dict[str, Any]) -> None:
        """Take a saved state; SettingsChanged (nothing changed here) if any setting differs from the config."""
        members = state.get("members") if isinstance(state, dict) else None
        for member in self.members:
            check_settings(member.name, (members or {}).get(member.name, {}), member.settings_hash())
        check_settings(self.name, state, self.settings_hash())
        for member in self.members:
            member._set_checked_state(state["members"][member.name])
        self.burst_ = BurstFilter.from_state(self.burst_.hold, self.burst_.damping, state["burst"])
        last_time = state.get("last_time")  # absent in models saved before it existed: unknown
        self.last_time_ = None if last_time is None else float(last_time)
