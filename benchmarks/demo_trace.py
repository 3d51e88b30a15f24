"""Trace the demo's detection member by member, and re-grade alarm rules offline (docs/anomaly_detection.md,
"Remaining misses").

Why: a demo seed takes minutes and its alarms feed back into the learner, so judging a rule by re-running the
demo is slow; what an alarm rule needs is only each series' member surprisals, which no burst, re-arm or
episode rule changes. `record` runs one seed of the demo (`run_demo`, shipped defaults) with every ensemble
scoring call recorded (each cycle's `detect` batch and each refit's replay, in order); `grade` replays the
burst filter, the re-arm, the alarm levels and the episode rules over a recording with other settings and
counts found incidents and false episodes as benchmarks/demo_detection.py does; `show` prints the members
around a time. With the recorded settings `grade` reproduces the run's scores exactly (it checks). It does
not model the learner reacting to different alarms: confirm a rule with the real benchmark.

  PYTHONPATH=. python benchmarks/demo_trace.py record --seed 42 --dir /tmp/trace42
  PYTHONPATH=. python benchmarks/demo_trace.py grade /tmp/trace42 [--rearm 24] [--sensitivity 0.93]
  PYTHONPATH=. python benchmarks/demo_trace.py show /tmp/trace42 checkout 2026-01-13T21:00 [--metrics error_rate]
"""

from __future__ import annotations

import argparse
import contextvars
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import ai_ops.detectors.batch as batch
import ai_ops.jobs.observing as observing
from ai_ops.detectors.base import no_opinion_is_zero
from ai_ops.detectors.calibration import BurstFilter, to_score
from ai_ops.detectors.ensemble import (
    QUIET_SURPRISAL,
    EnsembleDetector,
    SeverityLevels,
    calibration_settings,
    rearmed,
)
from ai_ops.detectors.episodes import episodes_from_records, evidence_after
from ai_ops.jobs.demo import DEMO_START, demo_config, run_demo
from ai_ops.jobs.observing import deployed_target_timeline
from ai_ops.jobs.workspace import paths_for, read_ledger
from ai_ops.reporting.explained import applied_scaling_changes, cause_of
from ai_ops.sources.simulated import SimulatedSource

DAY = 86_400.0
SLACK = 1800.0  # as benchmarks/demo_detection.py
_FITTING: contextvars.ContextVar[str | None] = contextvars.ContextVar("fitting", default=None)


def record(seed: int, days: int, out: Path) -> None:
    """Run the demo with every ensemble scoring call recorded: out/calls.npz (+ index.json) and out/demo."""
    calls: list[dict[str, Any]] = []
    ensemble_score = EnsembleDetector.score
    load = observing.load_ensemble
    train_one = batch.train_one

    def score(self: EnsembleDetector, timestamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        scores = ensemble_score(self, timestamps, values)
        tag, fitting = getattr(self, "_series", None), _FITTING.get()
        key = tag or fitting
        if key is not None:
            calls.append({"series": key, "kind": "detect" if tag else "fit", "t": np.asarray(timestamps, float),
                          "v": np.asarray(values, float), "combined": self.last_surprisal_,
                          "evidence": self.last_evidence_, "score": scores,
                          "members": self.last_members_.copy()})
        return scores

    def load_tagged(config: Any, paths: Any, service: str, metric: str) -> EnsembleDetector:
        detector = load(config, paths, service, metric)
        detector._series = f"{service}/{metric}"  # type: ignore[attr-defined]
        return detector

    def train_tagged(config: Any, history: batch.SeriesHistory) -> batch.TrainedSeries:
        token = _FITTING.set(history.key)
        try:
            return train_one(config, history)
        finally:
            _FITTING.reset(token)

    EnsembleDetector.score = score  # type: ignore[method-assign]
    observing.load_ensemble = load_tagged
    batch.train_one = train_tagged
    try:
        run_demo(out / "demo", days, seed)
    finally:
        EnsembleDetector.score = ensemble_score  # type: ignore[method-assign]
        observing.load_ensemble = load
        batch.train_one = train_one
    arrays = {f"{i}_{name}": np.asarray(c[name]) for i, c in enumerate(calls)
              for name in ("t", "v", "combined", "evidence", "score", "members")}
    np.savez_compressed(out / "calls.npz", **arrays)  # type: ignore[arg-type]
    members = [m.name for m in EnsembleDetector(demo_config(out / "demo", seed).anomaly).members]
    (out / "index.json").write_text(json.dumps({"seed": seed, "days": days, "members": members,
                                                "calls": [{"series": c["series"], "kind": c["kind"]} for c in calls]}))


def calls_of(trace: Path) -> Iterator[dict[str, Any]]:
    index = json.loads((trace / "index.json").read_text())
    with np.load(trace / "calls.npz") as arrays:
        for i, call in enumerate(index["calls"]):
            yield {**call, **{name: arrays[f"{i}_{name}"] for name in ("t", "v", "combined", "evidence", "score",
                                                                         "members")}}


def evidence_onsets(gap: int = 6, run: int = 2) -> Callable[[dict[str, Any], SeverityLevels], list[int]]:
    """A rule tried and not adopted (docs, "Remaining misses"), kept to reproduce its numbers: an extra alarm
    where at least half of the members reach the warning level for `run` points after `gap` points below it."""
    history: dict[str, np.ndarray] = {}

    def onsets(call: dict[str, Any], levels: SeverityLevels) -> list[int]:
        evidence = np.nan_to_num(call["evidence"], nan=0.0)
        joined = np.concatenate([history.get(call["series"], np.zeros(0)), evidence])
        k = joined.size - evidence.size
        above = joined >= levels.warning_surprisal
        history[call["series"]] = joined[-gap:]
        return [i - k for i in range(max(k, gap), joined.size - run + 1)
                if above[i:i + run].all() and not above[i - gap:i].any()]

    return onsets


def grade(trace: Path, rearm: int | None = None, sensitivity: float | None = None,
          extra_alarms: Callable[[dict[str, Any], SeverityLevels], list[int]] | None = None) -> dict[str, Any]:
    """Found incidents and false episodes of a recording under other re-arm / sensitivity settings."""
    index = json.loads((trace / "index.json").read_text())
    seed, days = int(index["seed"]), int(index["days"])
    config = demo_config(trace / "demo", seed)
    anomaly = config.anomaly
    levels = SeverityLevels.from_sensitivity(anomaly.sensitivity if sensitivity is None else sensitivity)
    rearm_points = anomaly.burst_rearm_points if rearm is None else rearm
    unchanged = rearm is None and sensitivity is None and extra_alarms is None
    changes = applied_scaling_changes(read_ledger(paths_for(config)))
    window = config.learner.change_effect_hours * 3600
    bursts: dict[str, BurstFilter] = {}
    records: list[dict[str, Any]] = []
    for call in calls_of(trace):
        key = call["series"]
        if call["kind"] == "fit" or key not in bursts:  # a refit starts its replay with a fresh burst filter
            bursts[key] = BurstFilter(anomaly.effective_burst_hold, calibration_settings(anomaly).burst_damping)
        burst = bursts[key]
        recent = list(burst.recent_)
        damped = rearmed(call["combined"], burst.transform(call["combined"]), recent, rearm_points, QUIET_SURPRISAL)
        scores = no_opinion_is_zero(to_score(damped), call["v"])
        if unchanged and not np.array_equal(scores, call["score"], equal_nan=True):
            raise AssertionError(f"{key}: the replay does not reproduce the recorded scores")
        if call["kind"] != "detect":
            continue
        evidence = np.nan_to_num(call["evidence"], nan=0.0)
        hits = set(np.flatnonzero(levels.classify(scores) != "normal").tolist())
        if extra_alarms is not None:
            hits |= set(extra_alarms(call, levels))
        service, metric = key.split("/", 1)
        for i in sorted(hits):
            sustained, peak = evidence_after(evidence, levels.warning_surprisal, i, anomaly.average_points)
            time = float(call["t"][i])
            if not cause_of(service, metric, time, changes, window):  # the controller's own change: no incident
                records.append({"service": service, "metric": metric, "time": time, "score": float(scores[i]),
                                "surprisal": peak, "sustained": sustained})
    end = DEMO_START + days * DAY
    episodes = episodes_from_records([r for r in records if DEMO_START <= r["time"] < end], config.step_seconds,
                                     levels.warning_surprisal, levels.critical_surprisal)
    incidents = [(s.name, i) for s in config.services
                 for i in SimulatedSource(deployed_target_timeline(config, s.name)).incidents(s, DEMO_START, end)]

    def overlaps(e: Any, i: Any) -> bool:
        return bool(e.start <= i.end + SLACK and e.end >= i.start - SLACK)

    false = [e for e in episodes if e.severity != "info"
             and not any(e.service == s and overlaps(e, i) for s, i in incidents)]
    found = [(s, i) for s, i in incidents
             if any(e.service == s and e.severity != "info" and overlaps(e, i) for e in episodes)]
    return {"seed": seed, "incidents": len(incidents), "found": len(found), "false_episodes": len(false),
            "false_critical": sum(e.severity == "critical" for e in false),
            "missed": [{"service": s, "kind": i.kind, "start": datetime.fromtimestamp(i.start, UTC).isoformat()}
                       for s, i in incidents if (s, i) not in found],
            "false_examples": [e.evidence for e in false[:5]]}


def show(trace: Path, service: str, around: str, before_minutes: float, after_minutes: float,
         metrics: list[str] | None) -> None:
    """Each member's surprisal, the mean, the evidence and the score of a service's metrics around a time (UTC)."""
    centre = datetime.fromisoformat(around).replace(tzinfo=UTC).timestamp()
    names = json.loads((trace / "index.json").read_text())["members"]
    rows: dict[str, list[str]] = {}
    for call in calls_of(trace):
        s, metric = call["series"].split("/", 1)
        if call["kind"] != "detect" or s != service or (metrics and metric not in metrics):
            continue
        for i in np.flatnonzero((call["t"] >= centre - before_minutes * 60) & (call["t"] <= centre + after_minutes * 60)):
            rows.setdefault(metric, []).append(
                f"{datetime.fromtimestamp(call['t'][i], UTC):%m-%d %H:%M} {call['v'][i]:10.2f} "
                + " ".join(f"{x:9.1f}" for x in call["members"][:, i])
                + f" | {call['combined'][i]:9.1f} {call['evidence'][i]:9.1f} {call['score'][i]:.5f}")
    for metric, lines in rows.items():
        print(f"== {service}/{metric}: time value {' '.join(names)} | mean evidence score")
        print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--seed", type=int, required=True)
    rec.add_argument("--days", type=int, default=14)
    rec.add_argument("--dir", type=Path, required=True)
    gr = sub.add_parser("grade")
    gr.add_argument("trace", type=Path)
    gr.add_argument("--rearm", type=int)
    gr.add_argument("--sensitivity", type=float)
    gr.add_argument("--onset", action="store_true", help="add the evidence-onset alarms (tried, not adopted)")
    sh = sub.add_parser("show")
    sh.add_argument("trace", type=Path)
    sh.add_argument("service")
    sh.add_argument("time", help="UTC, e.g. 2026-01-13T21:00")
    sh.add_argument("--before", type=float, default=60.0, help="minutes")
    sh.add_argument("--after", type=float, default=60.0, help="minutes")
    sh.add_argument("--metrics", nargs="+")
    args = parser.parse_args()
    if args.command == "record":
        args.dir.mkdir(parents=True, exist_ok=True)
        record(args.seed, args.days, args.dir)
        print(json.dumps(grade(args.dir)))
    elif args.command == "grade":
        print(json.dumps(grade(args.trace, args.rearm, args.sensitivity, evidence_onsets() if args.onset else None),
                         indent=2))
    else:
        show(args.trace, args.service, args.time, args.before, args.after, args.metrics)


if __name__ == "__main__":
    main()
