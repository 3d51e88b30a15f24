"""Config sections of the threshold learner: the thresholds it tunes (and their defaults) and how it learns."""

from __future__ import annotations

from pydantic import Field, model_validator

from ai_ops.config.base import Strict


class ThresholdConfig(Strict):
    initial: float = Field(description="Value before the controller has learned anything.")
    min: float = Field(description="Hard lower bound; the controller never goes below it.")
    max: float = Field(description="Hard upper bound; the controller never goes above it.")
    max_step: float = Field(gt=0, description="Largest change in one cycle.")
    unit: str = Field("", description="Unit shown in reports and commit messages.")
    pin: bool = Field(False, description="Freeze this threshold at its current value.")

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdConfig:
        if self.min > self.max:
            raise ValueError(f"bounds inverted: min ({self.min}) > max ({self.max}); swap them")
        if not self.min <= self.initial <= self.max:
            raise ValueError(f"initial ({self.initial}) is outside [min, max] = [{self.min}, {self.max}]")
        return self


def _default_thresholds() -> dict[str, ThresholdConfig]:
    return {
        "autoscaling_cpu_target": ThresholdConfig(initial=80, min=30, max=90, max_step=5, unit="%"),
        "alert_cpu_utilization": ThresholdConfig(initial=90, min=50, max=99, max_step=5, unit="%"),
        "alert_latency_p95_ms": ThresholdConfig(initial=500, min=100, max=5000, max_step=100, unit="ms"),
        "alert_error_rate": ThresholdConfig(initial=1.0, min=0.05, max=10, max_step=0.25, unit="%"),
    }


HPA_TOLERANCE = 0.10
"""Kubernetes HPA does nothing while |utilization / target - 1| <= 10% (its default
`--horizontal-pod-autoscaler-tolerance`): the autoscaler's normal operating band is the target
plus this share of it. The CPU alert never sits inside that band (docs/learner.md)."""


class PredictiveConfig(Strict):
    """Predictive scaling (docs/predictive.md): a demand forecast per service and a schedule of minimum replicas."""

    enabled: bool = Field(
        False,
        description="Fit the demand forecast in `train`, write the minimum-replica schedule "
                    "(autoscaling_min_replicas_schedule) in `cycle` and send breach warnings. Off by default: on the "
                    "measured traces the schedule did not meet its cost target (docs/predictive.md#measured).",
    )
    block_hours: int = Field(3, ge=1, le=24, description="Hours per schedule block (must divide 24).")
    history_days: int = Field(21, ge=2, le=90, description="Request-rate history the forecast is fitted on.")
    horizon_hours: int = Field(
        30, ge=12, le=72,
        description="Hours the stored forecast covers from `train` on (>= 24 + the time to the next train, so every "
                    "hour of day of the next schedule is forecast).",
    )
    min_replicas: int = Field(1, ge=1, le=10_000, description="Lowest minimum a schedule block may hold.")
    max_replicas: int = Field(
        60, ge=1, le=10_000,
        description="Highest minimum a block may hold, and the HPA maxReplicas the breach warnings assume.",
    )
    max_step_replicas: int = Field(
        4, ge=1, le=10_000, description="Largest change of one hour's minimum in one cycle (the schedule's max step).",
    )
    warn_within_hours: int = Field(
        6, ge=1, le=24, description="Warn when the forecast exceeds what max_replicas can serve within this many hours.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PredictiveConfig:
        if 24 % self.block_hours:
            raise ValueError(f"block_hours {self.block_hours} must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24)")
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) < min_replicas ({self.min_replicas}); swap them")
        return self


class LearnerConfig(Strict):
    exploration: float = Field(
        0.15, ge=0, le=1,
        description="Share of the gap to the lowest known-bad scaling target tried in one probe "
                    "(0 = never probe upward, 0.5 = bisection).",
    )
    cost_weight: float = Field(1.0, ge=0, description="Weight of the cost variance in the reward.")
    cooldown_cycles: int = Field(
        1, ge=0, description="Windows to observe under a change before the next change (0 = may change every cycle)."
    )
    min_samples: int = Field(48, ge=1, description="Fewer usable samples in a window: no learning, no change.")
    max_incident_share: float = Field(
        0.25, ge=0, le=1, description="Windows with more anomalous points than this share teach nothing."
    )
    rollback_on_breach: bool = Field(
        True, description="Undo an upward probe of the scaling target when the first window after it breaches the SLA."
    )
    clean_cycles_before_probe: int = Field(
        4, ge=1, le=1000,
        description="Clean windows (SLA met) at the current scaling target before trying a higher one.",
    )
    evidence_memory_days: float = Field(
        90.0, gt=0, le=3650,
        description="Size cap on the remembered windows. Evidence is otherwise kept until a workload change is "
                    "detected (see change_*); a known-bad target is never re-probed while the workload is unchanged.",
    )
    max_budget_burn: float = Field(
        0.8, gt=0, le=100,
        description="A scaling target is known-bad when its windows used on average more than this share of the "
                    "SLA error budget (1.0 = exactly the budget).",
    )
    probe_max_burn: float = Field(
        0.4, gt=0, le=100,
        description="Probe a higher target only while the current one uses at most this share of the error budget.",
    )
    clear_breach_burn: float = Field(
        4.0, gt=0, le=1000,
        description="A target whose windows burned more than this many error budgets on average is known-bad "
                    "at once (and the retreat is a full max_step); below it, a target is judged only over "
                    "settle_windows windows, i.e. a whole daily cycle, because single windows are noisy.",
    )
    max_bad_step_share: float = Field(
        0.20, gt=0, le=1,
        description="A scaling target is also known-bad when more than this share of its steps (minutes) had a "
                    "good-request share below the SLA target, even if the averaged burn looks fine: bursty "
                    "services hide many bad minutes in a good average.",
    )
    weigh_by_requests: bool = Field(
        False, description="Average a scaling target's windows weighted by their requests (the SLA's own weighting) "
                           "instead of counting every window the same; see docs/learner.md for the measured effect.",
    )
    resolution: float = Field(1.0, gt=0, le=10, description="Smallest move of the scaling target worth making (percent).")
    convergence_gap: float = Field(
        1.0, gt=0, le=20,
        description="Settled when the current target is this close below the lowest known-bad one.",
    )
    settle_windows: int = Field(
        4, ge=1, le=1000,
        description="Windows observed at the current target (clean on average) before the learner may call "
                    "itself settled.",
    )
    warm_start: bool = Field(
        True, description="On the first cycle (and on train, while no limit is known), start from the target that "
                          "the last days of CPU against latency/errors say would have kept the SLO.",
    )
    warm_start_days: float = Field(14.0, gt=0, le=90, description="History the warm-start estimate reads.")
    warm_start_max_burn: float = Field(
        0.8, gt=0, le=10,
        description="The warm start picks the highest target whose predicted load-caused burn is at most this "
                    "share of the error budget.",
    )
    floor_headroom: float = Field(
        0.10, ge=0, le=2,
        description="With autoscaling_min_replicas learned: size the (target, minimum replicas) pair for the "
                    "history's demand raised by this share, for bursts larger than any in the history (the next "
                    "weeks' largest burst exceeds the last two weeks' largest more often than not).",
    )
    warm_start_min_steps: int = Field(
        288, ge=12, le=100_000,
        description="Fewer usable history steps than this: no warm start (288 = one day at 5 minutes).",
    )
    change_min_windows: int = Field(
        8, ge=2, le=1000, description="Windows on each side (recent, remembered) before a workload change is tested.",
    )
    change_p_value: float = Field(
        0.001, gt=0, le=0.5, description="Significance of the change-point test (Mann-Whitney U) on both signals.",
    )
    change_demand_ratio: float = Field(
        1.5, gt=1, le=100,
        description="A demand change also needs the recent median load this many times above (or below) the "
                    "remembered one: a weekend or a holiday dip is not a new workload.",
    )
    change_relation_shift: float = Field(
        0.25, gt=0, le=10,
        description="A change in the CPU-to-latency relation also needs the recent windows' latency, at the same "
                    "CPU, this much higher or lower (log scale, 0.25 = about 28%) than the remembered fit.",
    )
    pages_per_week: float = Field(
        2.0, gt=0, le=1000, description="Page budget of each alert, per service: at most this many pages a week.",
    )
    alert_budget_use: float = Field(
        0.5, gt=0, le=1,
        description="Share of the page budget an alert may spend on the remembered windows (the rest is margin "
                    "for weeks unlike the past ones).",
    )
    alert_min_windows: int = Field(
        8, ge=1, le=1000, description="Remembered windows before an alert threshold is tuned on its page budget.",
    )
    alert_band_margin: float = Field(
        2.0, ge=0, le=50,
        description="Points above the autoscaler's band (scaling target x (1 + HPA tolerance)) the CPU alert keeps.",
    )
    hpa_tolerance: float = Field(
        HPA_TOLERANCE, ge=0, le=1, description="The autoscaler's tolerance (Kubernetes default 0.10).",
    )
    alert_headroom: float = Field(
        1.25, gt=0,
        description="Before enough windows are remembered, alert thresholds are anchored at this multiple of the "
                    "metric's normal level (the 99th percentile of the steps no detector flagged).",
    )
    alert_normal_windows: int = Field(
        28, ge=1, description="Windows whose normal levels are remembered; the anchor uses their median (28 = 7 days).",
    )
    alert_cooldown_cycles: int = Field(
        4, ge=0, description="Cycles between two changes of the same alert threshold (4 = one day at 6 h)."
    )
    convergence_cycles: int = Field(
        8, ge=1, description="Kept for old configs; the settled status no longer uses a quiet-cycles shortcut.",
    )
    change_effect_hours: float = Field(
        24.0, ge=0, le=48,
        description="After an applied change of the scaling target, anomalies in replicas, cost or CPU this many "
                    "hours later are labelled as caused by it (caused_by), not reported as incidents (0 = off). "
                    "24 = one daily load cycle, over which the new target moves replicas at every load level.",
    )
    predictive: PredictiveConfig = Field(
        default_factory=PredictiveConfig, description="Predictive scaling: forecast, schedule, warnings.",
    )
