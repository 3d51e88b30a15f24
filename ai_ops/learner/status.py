"""What the learner's remembered evidence says: each scaling target's error-budget burn and bad
steps, which targets are known-bad (the ceiling), the alerts' anchors, band floor and page-budget
choice, and the learning status (exploring / converging / settled) with what binds.

Read-only queries over `LearnerMemory`; the learner's decisions (`ai_ops.learner.learner`) act on them.
"""

from __future__ import annotations

import numpy as np

from ai_ops.learner.alerts import AlertChoice, budget_threshold
from ai_ops.learner.decision import CPU_ALERT, DAY, MIN_REPLICAS, SCALING, LearningStatus
from ai_ops.learner.state import LearnerMemory

FLOOR_SAVING = 0.02
"""Below this share of replicas above the floor, a higher scaling target is not worth probing."""


class LearnerEvidence(LearnerMemory):
    """Evidence queries and the learning status (a mixin of ThresholdLearner)."""

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

    def floor_carries(self, target: float, now: float) -> bool:
        """With minimum replicas learned: the target's windows ran on average less than `FLOOR_SAVING` of
        their replicas above the floor, so a higher target would save next to nothing (and would let a
        burst the floor does not cover run longer before the autoscaler reacts): no probe."""
        shares = [w["above_floor"] for w in self._windows_at(target, now) if "above_floor" in w]
        return len(shares) >= self.config.settle_windows and sum(shares) / len(shares) < FLOOR_SAVING

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

    def cpu_alert_floor(self, scaling: float | None) -> float | None:
        """The lowest CPU alert allowed: above the autoscaler's normal band (target x (1 + tolerance))
        by `alert_band_margin`; None without a scaling target or a CPU alert."""
        spec = self.specs.get(CPU_ALERT)
        if spec is None or scaling is None:
            return None
        band = scaling * (1.0 + self.config.hpa_tolerance)
        return round(min(max(band + self.config.alert_band_margin, spec.min), spec.max), 6)

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
        if self.floor_resize_pending is not None and MIN_REPLICAS in self.specs:
            return LearningStatus("converging", f"{evidence}: the standing capacity proved too small; the target "
                                  "and minimum replicas are re-sized from the history next cycle", since, ceiling)
        if not count and self.last_change_kind in ("resize", "warm") and self.history \
                and self.history[-1].get("min_replicas") is not None:
            return LearningStatus("converging", f"target and minimum replicas were just sized from the history; "
                                  f"{evidence}", since, ceiling)
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
            if self.floor_carries(current, now):
                return LearningStatus("settled", f"{evidence}: minimum replicas carry the load (less than "
                                      f"{FLOOR_SAVING:.0%} of the replicas ran above the floor): a higher target "
                                      "would save next to nothing", since, ceiling)
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
