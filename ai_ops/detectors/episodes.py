"""Anomaly episodes and their severity: what an on-call engineer is told about, and how loudly.

A detector flags *points*; a person is paged for *episodes*. An episode is every flagged point of
one service (any metric) with less than `merge_gap_seconds` between neighbours, so one incident
(a surge moves request rate, CPU, replicas, cost and latency together) is one episode, and two
alarms a few minutes apart are one, not two.

An episode's severity comes from three pieces of evidence, never from one point alone:

- **duration**: how long the series stayed abnormal. The ensemble's burst filter keeps only the
  first point of a burst above the warning level, so each flagged point carries `sustained`: how
  many consecutive points, from it on, the undamped *evidence* stayed at or above the warning
  level (the run may start up to `average_points - 1` points after the alarm: `evidence_after`).
  The episode lasts from its first point to the end of its latest such run; alarms whose evidence
  never reached the warning level add no duration (an episode of only those lasts 1 point).
- **magnitude**: the highest evidence in the episode, in multiples of the warning level.

  The evidence of a point is the surprisal at least half of the ensemble's members reach
  (`ensemble.agreed_level`), not their mean: one member's extreme value (an EWMA at 10^2 on a
  CPU series held at its target, the others at 0) raises the alarm point but is not evidence that
  anything lasted or was large, and a step four of six members see is not averaged down by the two
  that cannot see it (a 10-point window mean that has not moved yet, a value inside the seen range).
- **agreement**: how many independent *evidence families* of the service flagged a point in the
  episode. Metrics that are functions of each other count once (EVIDENCE_FAMILIES): request
  rate, replicas and cost are *load* (cost = replicas x price; the autoscaler sets replicas from
  demand), CPU is *saturation*, then *latency* and *errors*; a metric not listed is its own family.
  Replicas and cost moving together is one fact, not two metrics agreeing.

Rules (`episode_severity`):

- critical: magnitude at or above the critical level AND a *symptom* family (saturation,
  latency or errors) is among the evidence AND (it lasted at least `critical_points` (5) points, OR
  at least two families agree over at least two points). A single point is never critical,
  however large and however many metrics it touched (a demand step moves request rate and CPU
  in the same 5 minutes, before the autoscaler acts). Load alone (demand, and the capacity the
  autoscaler added for it) is at most a warning: the service absorbed it.
- warning: anything else that lasted at least two points, or where two families agree, or whose
  magnitude reached the critical level.
- info: a single point in a single family below the critical level. It is kept in the ledger
  (with its evidence) but not counted as an incident in the report or the Slack notice.

Anomalies in replicas, cost and CPU within a day after the controller's own change of the scaling
target are that change's effect (ai_ops.reporting.explained) and never reach this module.

Everything here is pure (lists of flagged points in, episodes out), so the cycle, the report,
the demo and the benchmarks group and grade the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SEVERITY_ORDER = ("info", "warning", "critical")
DEFAULT_MERGE_GAP_SECONDS = 1800.0
"""Flagged points of a service closer than this (30 min) belong to one episode."""
DEFAULT_CRITICAL_POINTS = 5
"""An episode must stay abnormal this many points (or have two evidence families agree) to be critical.

Duration is measured on the ensemble surprisal, which averages the last `anomaly.average_points`
(3) raw surprises: one spike keeps it above the level for 3 points. 5 = three points of raw
abnormality plus the two the average adds (a 15-minute blip of CPU on the demo was "3 points")."""

EVIDENCE_FAMILIES: dict[str, str] = {
    "request_rate": "load",
    "replicas": "load",
    "cost_per_hour": "load",
    "cpu_utilization": "saturation",
    "latency_p95_ms": "latency",
    "error_rate": "errors",
}
"""Metrics that are functions of each other are one piece of evidence, not several.

cost_per_hour is replicas x the replica price; the autoscaler sets replicas from demand
(request_rate), so a demand move and the capacity that follows it are one fact: *load*.
CPU utilization is what the autoscaler holds at its target, so a CPU anomaly says the change
was not absorbed (*saturation*); latency and errors are what users feel. A metric not listed
is a family of its own."""
SYMPTOM_FAMILIES = frozenset({"saturation", "latency", "errors"})
"""Families that say users are (or are about to be) affected. Load alone is demand the service absorbed."""


def evidence_family(metric: str) -> str:
    """The evidence family of a metric (EVIDENCE_FAMILIES; an unknown metric is its own family)."""
    return EVIDENCE_FAMILIES.get(metric, metric)


def families_of(metrics: Iterable[str]) -> list[str]:
    """The distinct evidence families of `metrics`, in first-seen order."""
    out: list[str] = []
    for m in metrics:
        if (f := evidence_family(m)) not in out:
            out.append(f)
    return out


@dataclass(frozen=True)
class FlaggedPoint:
    """One point a detector flagged: its score and the evidence behind it."""

    service: str
    metric: str
    time: float
    score: float
    surprisal: float
    """The undamped evidence (-log10 tail probability the members agree on, see the module doc) at this point."""
    sustained: int = 1
    """Consecutive points from this one on whose undamped evidence stayed at or above the warning level."""

    @classmethod
    def from_record(cls, record: Mapping[str, Any], warning_surprisal: float) -> FlaggedPoint:
        """From an anomalies.jsonl record; older records without evidence count as one point at the warning level."""
        return cls(str(record["service"]), str(record["metric"]), float(record["time"]),
                   float(record.get("score", 0.0)), float(record.get("surprisal", warning_surprisal)),
                   max(int(record.get("sustained", 1)), 1))


@dataclass
class Episode:
    service: str
    start: float
    end: float
    severity: str = "info"
    points: int = 0
    """Flagged points (alarms) in the episode."""
    duration_points: int = 1
    """Points from the start to the end of the longest sustained run (>= 1)."""
    peak_surprisal: float = 0.0
    max_score: float = 0.0
    metrics: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    """The distinct evidence families (EVIDENCE_FAMILIES) of `metrics`: what counts as agreement."""
    evidence: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "start": self.start, "end": self.end, "severity": self.severity,
                "points": self.points, "duration_points": self.duration_points,
                "peak_surprisal": round(self.peak_surprisal, 3), "max_score": self.max_score,
                "metrics": list(self.metrics), "families": list(self.families), "evidence": self.evidence}


def episode_severity(duration_points: int, peak_surprisal: float, families: Sequence[str],
                     critical_surprisal: float, critical_points: int = DEFAULT_CRITICAL_POINTS) -> str:
    """info / warning / critical from duration, magnitude and agreeing evidence families (rules in the module doc)."""
    strong = peak_surprisal >= critical_surprisal
    lasting = duration_points >= critical_points
    agreed = len(set(families)) >= 2
    symptom = bool(SYMPTOM_FAMILIES.intersection(families))
    if strong and symptom and (lasting or (agreed and duration_points >= 2)):
        return "critical"
    if duration_points >= 2 or agreed or strong:
        return "warning"
    return "info"


def build_episodes(points: Iterable[FlaggedPoint], step_seconds: float, warning_surprisal: float,
                   critical_surprisal: float, merge_gap_seconds: float = DEFAULT_MERGE_GAP_SECONDS,
                   critical_points: int = DEFAULT_CRITICAL_POINTS) -> list[Episode]:
    """Group flagged points into episodes per service and grade each; sorted by start time."""
    by_service: dict[str, list[FlaggedPoint]] = {}
    for p in sorted(points, key=lambda p: (p.service, p.time)):
        by_service.setdefault(p.service, []).append(p)
    episodes: list[Episode] = []
    evidenced_end: dict[int, float] = {}  # per episode: the end of its latest run of evidence at the warning level
    for service, flagged in by_service.items():
        current: Episode | None = None
        for p in flagged:
            run_end = p.time + (p.sustained - 1) * step_seconds
            if current is None or p.time - current.end > merge_gap_seconds:
                current = Episode(service, p.time, run_end)
                episodes.append(current)
            current.end = max(current.end, run_end)
            if p.surprisal >= warning_surprisal:
                evidenced_end[id(current)] = max(evidenced_end.get(id(current), run_end), run_end)
            current.points += 1
            current.peak_surprisal = max(current.peak_surprisal, p.surprisal)
            current.max_score = max(current.max_score, p.score)
            if p.metric not in current.metrics:
                current.metrics.append(p.metric)
    for e in episodes:
        # Abnormal for as long as the evidence held: alarms whose evidence never reached the warning level (one
        # member alone, e.g. two rising points of an EWMA on a CPU series held at its target) add no duration.
        last = evidenced_end.get(id(e))
        e.duration_points = (1 if last is None else round((last - e.start) / step_seconds) + 1) if step_seconds > 0 \
            else e.points
        e.families = families_of(e.metrics)
        e.severity = episode_severity(e.duration_points, e.peak_surprisal, e.families, critical_surprisal,
                                      critical_points)
        groups = "; ".join(f"{f} ({', '.join(m for m in e.metrics if evidence_family(m) == f)})" for f in e.families)
        e.evidence = (f"{e.duration_points} point(s) abnormal ({e.points} alarm(s)), peak surprisal "
                      f"{e.peak_surprisal:.3g} = {e.peak_surprisal / warning_surprisal:.1f}x the warning level, "
                      f"{len(e.metrics)} metric(s) in {len(e.families)} independent evidence famil"
                      f"{'y' if len(e.families) == 1 else 'ies'} agree: {groups}")
    return sorted(episodes, key=lambda e: (e.start, e.service))


def episodes_from_records(records: Iterable[Mapping[str, Any]], step_seconds: float, warning_surprisal: float,
                          critical_surprisal: float,
                          merge_gap_seconds: float = DEFAULT_MERGE_GAP_SECONDS) -> list[Episode]:
    """Episodes of anomalies.jsonl-style records (service, metric, time, score[, surprisal, sustained])."""
    points = [FlaggedPoint.from_record(r, warning_surprisal) for r in records]
    return build_episodes(points, step_seconds, warning_surprisal, critical_surprisal, merge_gap_seconds)


def sustained_runs(above: np.ndarray) -> np.ndarray:
    """For each position of a boolean array, the length of the run of True starting there (0 where False)."""
    flags = np.asarray(above, dtype=bool)
    positions = np.arange(flags.size)
    false_at = np.append(np.flatnonzero(~flags), flags.size)
    next_false = false_at[np.searchsorted(false_at, positions, side="left")]
    return np.where(flags, next_false - positions, 0).astype(np.int64)


def evidence_after(evidence: np.ndarray, warning_surprisal: float, index: int, lag: int) -> tuple[int, float]:
    """(sustained, peak) of the alarm at `index`: how long the evidence stayed at or above the warning level, and
    its highest value over that run.

    The run may begin up to `lag - 1` points after the alarm (`lag` = `anomaly.average_points`): each member
    averages its last few raw surprises, so when one member raises the alarm at an incident's first point
    (the GMM at 10^5 on a flat error rate jumping to 9 %), the others agree one or two points later. Measured
    from the alarm to the end of that run; no run within the lag: (1, the evidence at the alarm).
    """
    n = evidence.size
    above = evidence >= warning_surprisal
    for start in range(index, min(index + max(lag, 1), n)):
        if above[start]:
            end = start
            while end + 1 < n and above[end + 1]:
                end += 1
            return end - index + 1, float(np.max(evidence[index:end + 1]))
    return 1, float(evidence[index])
