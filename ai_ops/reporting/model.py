"""The daily report as a typed value: what `compose_report` returns and every consumer reads.

Rendering (Markdown, HTML, charts), Slack, Notion, the recommendations and the narrative all
take a `Report`, so a renamed or missing field is a type error (mypy) or a validation error,
not a KeyError at 09:00. `report.json` is `Report.model_dump(mode="json")`; the field names
are the JSON keys documented in docs/report.md (schema `REPORT_SCHEMA_VERSION`).
Numbers that can be unknown (no data in the window) are `None`, never NaN.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REPORT_SCHEMA_VERSION = 3


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Window(_Part):
    last_24h: tuple[str, str]
    baseline: tuple[str, str]


class HealthInputs(_Part):
    sla_attainment: float | None
    sla_target: float
    latency_within_objective_share: float | None
    error_rate_mean: float | None
    critical_episodes: int
    warning_episodes: int
    cost_ratio: float | None


class Health(_Part):
    score: int = Field(ge=0, le=100)
    parts: dict[str, float]
    maxima: dict[str, float]
    inputs: HealthInputs
    error_budget_burn: float | None

    @property
    def weakest_part(self) -> str:
        return min(self.parts, key=lambda k: self.parts[k] / self.maxima[k])


class SlaDay(_Part):
    date: str
    sla: float | None
    cost: float
    hours: float = 24.0
    sli_method: Literal["exact", "approximate"] | None = None
    error_budget_burn: float | None = None
    bad_step_share: float | None = None

    @property
    def partial(self) -> bool:
        return self.hours < 24.0


class ServiceSla(_Part):
    """One service's SLA over the last 24 h, with the SLI it was measured by."""

    sla_attainment: float | None
    sli_method: Literal["exact", "approximate"]
    error_budget_burn: float | None
    bad_step_share: float | None
    days: list[SlaDay]


class Trend(_Part):
    metric: str
    mean_24h: float | None
    p95_24h: float | None
    mean_7d: float | None
    p95_7d: float | None
    change_pct: float | None
    direction: str
    z: float | None
    significant: bool
    baseline_days: int


class Cost(_Part):
    month: str
    month_to_date: float | None
    projected_total: float | None
    lower: float | None
    upper: float | None
    budget: float
    hours_remaining: float | None
    method: str
    note: str = ""
    ratio_to_budget: float | None
    interval_percentiles: list[float]


class Episode(_Part):
    service: str
    metrics: list[str]
    families: list[str] = []
    """The distinct evidence families of `metrics` (replicas and cost are one: load); what agreement counts."""
    start: float
    end: float
    points: int
    """Flagged points (alarms) in the episode."""
    duration_points: int
    """Points from the start to the end of the longest sustained run (>= 1)."""
    severity: Literal["info", "warning", "critical"]
    peak_surprisal: float
    max_score: float
    evidence: str
    """Duration, magnitude and agreeing evidence families, in words (what the severity was graded on)."""
    start_iso: str
    end_iso: str


class Anomalies(_Part):
    critical_episodes: int
    warning_episodes: int
    info_episodes: int
    """Single-point episodes: listed, never counted as incidents."""
    points: int
    episodes: list[Episode]
    explained_by_changes: list[str] = Field(default_factory=list)
    """The controller's own applied scaling changes whose expected effect (replicas, cost) was flagged."""


class Change(_Part):
    old: float
    new: float


class Action(_Part):
    time_iso: str
    service: str | None = None
    summary: str
    changes: dict[str, Change]
    reasons: dict[str, str]
    applied: bool
    commit: str | None


class DetectorTraining(_Part):
    series: str | None
    samples: int | None
    trained: bool | None
    loss: float | None
    converged: bool | None
    message: str | None


class LearnerProgress(_Part):
    """One service's learner: exploring / converging / settled, with the criterion a reviewer can check
    and any bound that binds with what would fix it."""

    status: str
    criterion: str
    days_since_change: float | None
    ceiling: float | None
    binding: str = ""
    cycles: int


class Learning(_Part):
    learner_status: str
    learner_cycles: int
    last_training: str | None
    detectors: list[DetectorTraining]
    detectors_trained: int
    detectors_not_converged: int
    loss_history: dict[str, list[float]]
    learners: dict[str, LearnerProgress] = Field(default_factory=dict)


class ServiceForecast(_Part):
    """One service's stored demand forecast (learner.predictive), its tracked error and the schedule in force."""

    method: str
    fitted_at: str
    hour_starts: list[float]
    """Epoch seconds of the forecast hours shown (the next 24 h from the report's time, as far as it reaches)."""
    mean: list[float]
    lower: list[float]
    upper: list[float]
    error_days: int
    model_mape: float | None
    """Mean over the tracked days of the MAPE of each daily forecast's first 6 hours."""
    naive_mape: float | None
    """The same for the seasonal-naive forecast (the same hours a day earlier): the baseline."""
    beats_naive: bool | None
    schedule: list[dict[str, int]] = Field(default_factory=list)
    """The blocks of autoscaling_min_replicas_schedule in force (start_hour, end_hour, min_replicas)."""


class PredictiveWarning(_Part):
    service: str
    cycle_iso: str
    hour_iso: str
    lead_hours: float
    forecast_rps: float
    servable_rps: float
    reason: str


class Predictive(_Part):
    forecasts: dict[str, ServiceForecast] = Field(default_factory=dict)
    warnings: list[PredictiveWarning] = Field(default_factory=list)
    """The cycles' predictive warnings of the last 24 h."""


class NarrativeItem(_Part):
    """One recommendation as the narrative shows it."""

    title: str
    action: str
    evidence: str
    """Dotted path of the number in report.json that motivates it, e.g. `cost.projected_total`."""
    value: float | int | str


class Recommendation(NarrativeItem):
    """A rule's recommendation, ranked (higher priority = more urgent)."""

    priority: int


class LLMUsage(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float


class NarrativePart(_Part):
    written_by: Literal["llm", "template"]
    reason: str
    summary: str
    recommendations: list[NarrativeItem]
    llm: LLMUsage | None = None


class Delivery(_Part):
    channel: str
    status: Literal["sent", "updated", "skipped", "failed"]
    detail: str


assert REPORT_SCHEMA_VERSION == 3, "update Report.schema_version's Literal with the version"


class Report(_Part):
    """Every number of one day's report; the words (narrative) and deliveries are added as they happen."""

    schema_version: Literal[3] = 3
    date: str
    generated_at: str
    window: Window
    services: list[str]
    currency: str
    health: Health
    health_score: int
    sla_days: list[SlaDay]
    sli_method: Literal["exact", "approximate"]
    service_sla: dict[str, ServiceSla]
    trends: dict[str, dict[str, Trend]]
    cost: Cost
    anomalies: Anomalies
    actions: list[Action]
    thresholds: dict[str, dict[str, float]]
    """Per service: threshold name -> value deployed now."""
    threshold_path: list[dict[str, float | str | None]]
    """One entry per ledger record of the week: `time`, `time_iso`, `service` and every threshold's new value."""
    learning: Learning
    change_effects: dict[str, list[str]] = Field(default_factory=dict)
    """Per service, what each scaling change of the last 7 days did: replicas, cost per hour and SLA
    over the day before it and the day after it (docs/report.md)."""
    recommendations: list[Recommendation] = Field(default_factory=list)
    predictive: Predictive | None = None
    """learner.predictive: the forecasts, their error against the baseline, and the warnings (absent when off)."""
    narrative: NarrativePart | None = None
    charts: list[str] = Field(default_factory=list)
    delivery: dict[str, Delivery] | None = None

    def to_json(self) -> dict[str, Any]:
        """report.json's content (the narrative and deliveries are left out until they exist)."""
        unset = {name for name in ("narrative", "delivery", "predictive") if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude=unset)
