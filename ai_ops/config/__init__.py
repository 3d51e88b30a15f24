"""Typed configuration: one `OpsConfig` object, built once and passed down.

Every field's `description` documents it next to its bounds (config/ops_config.yaml and
docs/guide.md are the user-facing reference; `ai-ops config check` validates). Secrets never live here: they come from the
environment through `Secrets` (pydantic-settings) and are never written anywhere.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ai_ops.config.base import Strict
from ai_ops.config.outputs import (
    GitConfig as GitConfig,
)
from ai_ops.config.outputs import (
    LLMConfig,
    NotifiersConfig,
    OutputsConfig,
    ScheduleConfig,
)
from ai_ops.config.outputs import (
    NotionConfig as NotionConfig,
)
from ai_ops.config.outputs import (
    SlackConfig as SlackConfig,
)
from ai_ops.config.promql_template import check_template
from ai_ops.errors import ConfigError

if TYPE_CHECKING:
    from ai_ops.config.secrets import Secrets, redact  # noqa: F401  (resolved at run time by __getattr__ below)


def __getattr__(name: str) -> Any:
    """`Secrets` and `redact` live in ai_ops.config.secrets; pydantic-settings costs 0.1-0.4 s to
    import, so commands that need no credential (`--help`, `config check`) do not pay for it."""
    if name in ("Secrets", "redact"):
        from ai_ops.config import secrets

        return getattr(secrets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SimulationConfig(Strict):
    seed: int = Field(42, description="Random seed; the same seed gives the same service, incidents and noise.")
    base_rps: float = Field(400.0, gt=0, description="Mean request rate (req/s) of the simulated service.")
    daily_amplitude: float = Field(0.45, ge=0, lt=1, description="Relative swing of the daily cycle.")
    weekly_amplitude: float = Field(0.15, ge=0, lt=1, description="Relative dip of traffic at weekends.")
    noise: float = Field(0.06, ge=0, le=1, description="Relative size of the bursty (AR(1) log-normal) noise.")
    capacity_rps_per_replica: float = Field(
        40.0, gt=0, description="Requests per second one replica serves at 100% CPU."
    )
    service_time_ms: float = Field(40.0, gt=0, description="Latency of one request on an idle replica.")
    incidents_per_day: float = Field(0.6, ge=0, le=24, description="Mean number of injected incidents a day.")
    min_replicas: int = Field(2, ge=1, description="HPA minReplicas.")
    max_replicas: int = Field(60, ge=1, description="HPA maxReplicas.")
    replica_cost_per_hour: float = Field(0.12, ge=0, description="Cost of one replica for one hour.")

    @model_validator(mode="after")
    def _replica_bounds(self) -> SimulationConfig:
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be >= min_replicas")
        return self


class QueriesConfig(Strict):
    """PromQL templates; `{label}` placeholders are filled from the service's labels, escaped."""

    request_rate: str = Field(description="Requests per second.")
    cpu_utilization: str = Field(description="CPU utilization of the service, percent (0-100).")
    latency_p95_ms: str = Field(description="95th percentile latency in milliseconds.")
    error_rate: str = Field(description="Share of requests that failed, percent (0-100).")
    replicas: str = Field(description="Number of running replicas.")
    cost_per_hour: str = Field(description="Cost of the service per hour.")

    @field_validator("*")
    @classmethod
    def _placeholders_can_be_escaped(cls, value: str) -> str:
        check_template(value)
        return value


class ThresholdOverride(Strict):
    """Per-service changes to a threshold of the top-level `thresholds` block; unset fields are shared."""

    initial: float | None = Field(None, description="This service's start value.")
    min: float | None = Field(None, description="This service's hard lower bound.")
    max: float | None = Field(None, description="This service's hard upper bound.")
    max_step: float | None = Field(None, gt=0, description="This service's largest change in one cycle.")
    pin: bool | None = Field(None, description="Freeze this threshold for this service only.")


class SLIConfig(Strict):
    """How the exact request-based SLI is read (docs/learner.md#the-sli).

    Either give the queries directly (`requests_total` and `requests_good`, PromQL for req/s), or
    name a latency histogram: then `sum(rate(<h>_bucket{<selector>,le="<objective>"}[<step>]))` are
    the fast requests and `sum(rate(<h>_count{<selector>}[<step>]))` all requests. Failed requests
    come from `requests_failed` if given, else from the `error_rate` query times all requests.
    Without either, the SLI falls back to the p95 approximation (labelled "approximate").
    """

    latency_histogram: str | None = Field(
        None, pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="Base name of a Prometheus latency histogram, e.g. http_request_duration_seconds.")
    histogram_unit: Literal["seconds", "milliseconds"] = Field(
        "seconds", description="Unit of the histogram's `le` bounds (Prometheus convention: seconds).")
    selector: str = Field(
        "", description="Label matchers of the service, e.g. 'namespace=\"{namespace}\",deployment=\"{deployment}\"' "
                        "({label} placeholders are filled from the service's labels).")
    buckets: list[float] | None = Field(
        None, description="The histogram's bucket bounds (in histogram_unit), if known: the latency objective "
                          "must be one of them, or the config is refused.")
    requests_total: str | None = Field(None, description="PromQL: all requests per second (instead of the histogram).")
    requests_good: str | None = Field(
        None, description="PromQL: good requests per second (fast and not failed; instead of the histogram).")
    requests_failed: str | None = Field(
        None, description="PromQL: failed requests per second (default: error_rate / 100 x all requests).")

    @model_validator(mode="after")
    def _one_way(self) -> SLIConfig:
        direct = self.requests_total is not None or self.requests_good is not None
        if direct and (self.requests_total is None or self.requests_good is None):
            raise ValueError("give both requests_total and requests_good, or neither (and a latency_histogram)")
        if direct and self.latency_histogram:
            raise ValueError("give either latency_histogram or requests_total/requests_good, not both")
        if not direct and not self.latency_histogram:
            raise ValueError("give latency_histogram, or requests_total and requests_good")
        return self


class ServiceConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63,
                      description="Service name, used in file names (letters, digits, _ . -; at most 63).")
    source: Literal["simulated", "prometheus", "grafana"] = Field(
        "simulated", description="Where metrics come from."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Values substituted into the queries.")
    queries: QueriesConfig | None = Field(None, description="PromQL per metric (prometheus/grafana sources).")
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    sli: SLIConfig | None = Field(
        None, description="Where the exact SLI (good / all requests) comes from (prometheus/grafana sources; "
                          "the simulated source always has it). Without it: the p95 approximation.")
    thresholds: dict[str, ThresholdOverride] = Field(
        default_factory=dict, description="Per-threshold overrides of the top-level thresholds for this service.")

    @model_validator(mode="after")
    def _queries_for_real_sources(self) -> ServiceConfig:
        if self.source != "simulated" and self.queries is None:
            raise ValueError(f"service '{self.name}' uses source '{self.source}' and needs a 'queries' block")
        return self


_LABEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class DiscoveryConfig(Strict):
    """Services found in Prometheus: every value of one label becomes a service (docs/sources.md#discovery)."""

    source: Literal["prometheus", "grafana"] = Field("prometheus", description="Where the label values are read.")
    query: str = Field(
        min_length=1, description="Instant PromQL query whose series carry the label, e.g. "
        "'sum by (service) (rate(http_requests_total[5m]))'."
    )
    label: str = Field("service", pattern=_LABEL_NAME, description="The label whose values are the services.")
    include: list[str] = Field(default_factory=list, description="Regexes; when given, a value must match one.")
    exclude: list[str] = Field(default_factory=list, description="Regexes; a value matching one is dropped.")
    queries: QueriesConfig = Field(
        description="Per metric: a template with a {label} placeholder (one query per service), or a query "
        "grouped by the label, e.g. 'sum by (service) (...)' (one query for the whole fleet, split by label)."
    )
    overrides: dict[str, dict[str, ThresholdOverride]] = Field(
        default_factory=dict, description="Service -> threshold name -> fields replacing the shared threshold's."
    )
    max_services: int = Field(2000, ge=1, le=100_000, description="Refuse a discovery that finds more (a typo guard).")

    @field_validator("include", "exclude")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"'{pattern}' is not a valid regular expression: {exc}") from None
        return patterns

    @model_validator(mode="after")
    def _fleet_queries_keep_label(self) -> DiscoveryConfig:
        for metric, template in self.queries.model_dump().items():
            if "{" + self.label + "}" in template:
                continue
            if not re.search(rf"\b(by|without)\s*\([^)]*\b{re.escape(self.label)}\b", template):
                raise ValueError(
                    f"queries.{metric} has no {{{self.label}}} placeholder, so it is one query for the whole fleet "
                    f"and must keep the '{self.label}' label: write it as 'sum by ({self.label}) (...)'"
                )
        return self


class SLAConfig(Strict):
    target: float = Field(
        99.95, gt=0, le=100, description="Share of good requests to reach, percent (99.95 = 'three nines five')."
    )
    latency_objective_ms: float = Field(
        300.0, gt=0, description="A request slower than this counts as bad (see docs/guide.md#sla)."
    )


class CostConfig(Strict):
    monthly_budget: float = Field(500.0, ge=0, description="Budget for one calendar month, in `currency`.")
    currency: str = Field("USD", min_length=1, max_length=8)


class ZScoreConfig(Strict):
    window: int = Field(288, ge=8, description="Points in the rolling window (288 = one day at 5 minutes).")
    threshold: float = Field(3.0, gt=0, description="|z| at which a point is fully anomalous.")
    robust: bool = Field(True, description="Use median and MAD instead of mean and standard deviation.")


class EWMAConfig(Strict):
    span: int = Field(20, ge=2, description="EWMA span in points; longer = smoother, fewer alarms.")
    k_sigma: float = Field(3.0, gt=0, description="Control limits at mean +/- k * sigma.")


class GMMConfig(Strict):
    n_components: int = Field(3, ge=1, le=12, description="Mixture components (0 not allowed).")
    choose_by_bic: bool = Field(False, description="Pick 1..n_components by BIC at each training.")
    training_window_days: int = Field(14, ge=1, le=90, description="Days of history each daily refit uses.")


class WindowShiftConfig(Strict):
    window: int = Field(10, ge=1, le=288, description="Recent points whose mean is compared with the history.")
    history_span: int = Field(8640, ge=50, description="EW span in points of the history the window is judged against.")
    threshold: float = Field(5.0, gt=0, description="|z| of the window mean below which there is no surprise.")


class ForecastConfig(Strict):
    order: int = Field(0, ge=0, le=24, description="Previous points in the forecast (0 = seasonal-naive: the point a day earlier).")
    seasonal: bool = Field(True, description="Also use the point one day earlier (once two days of history are trained on).")
    threshold: float = Field(3.0, gt=0, description="|residual| / residual spread below which there is no surprise.")


class ContextConfig(Strict):
    enabled: bool = Field(True, description="Include the context (pattern) member in the ensemble "
                          "(false = the five level-based members only; see docs/anomaly_detection.md).")
    levels: int = Field(8, ge=2, le=12, description="Equal-frequency value bins learned at each refit.")
    order: int = Field(2, ge=1, le=4, description="Previous symbols that make a point's context.")
    smoothing: float = Field(0.5, gt=0, le=10, description="Add-k smoothing of the transition counts.")


HOLD_POINTS_PER_EWMA_SPAN = 15


class ExecutorConfig(Strict):
    """The process pool of this machine, or a Dask distributed cluster (optional extra `ai-ops[dask]`)."""

    kind: Literal["process", "dask"] = Field(
        "process", description="process: anomaly.train_workers processes on this machine; dask: a Dask cluster."
    )
    address: str | None = Field(
        None, description="dask: the scheduler, tcp://host:8786 or tls://host:8786; 'local' starts a LocalCluster "
        "of local_workers processes on this machine (tests, trying it out)."
    )
    local_workers: int = Field(2, ge=1, le=64, description="dask with address 'local': worker processes.")
    chunk_size: int = Field(32, ge=1, le=10_000, description="Series per task (one round trip per chunk).")
    timeout_seconds: float = Field(60.0, gt=0, description="dask: how long to wait for the scheduler to answer.")
    tls_ca_file: Path | None = Field(None, description="dask over tls://: CA that signed the cluster's certificates.")
    tls_client_cert: Path | None = Field(None, description="dask over tls://: this client's certificate (PEM).")
    tls_client_key: Path | None = Field(None, description="dask over tls://: this client's private key (PEM).")

    @model_validator(mode="after")
    def _address(self) -> ExecutorConfig:
        if self.kind == "dask":
            if not self.address:
                raise ValueError("executor kind 'dask' needs an address: tcp://scheduler:8786, tls://... or 'local'")
            if self.address != "local" and not re.match(r"^(tcp|tls|inproc|ucx)://\S+$", self.address):
                raise ValueError(f"executor address '{self.address}' is not a Dask scheduler address like "
                                 "tcp://scheduler:8786 (or 'local')")
            tls = [self.tls_ca_file, self.tls_client_cert, self.tls_client_key]
            if any(tls) and not all(tls):
                raise ValueError("executor TLS needs all three of tls_ca_file, tls_client_cert, tls_client_key")
            if self.address.startswith("tls://") and not all(tls):
                raise ValueError("a tls:// executor address needs tls_ca_file, tls_client_cert and tls_client_key")
        return self


class RetrainConfig(Strict):
    """Skip refitting a series whose history has not changed enough since its last training."""

    min_change: float = Field(
        0.1, ge=0, description="Refit only when the history's summary (median, spread, 1st/99th percentiles, in "
        "units of the last training's spread) moved by at least this much; 0 = refit every series every day."
    )
    max_age_days: float = Field(
        7.0, gt=0, description="Refit anyway when the last training is this old, however stable the data."
    )


class AnomalyConfig(Strict):
    zscore: ZScoreConfig = Field(default_factory=ZScoreConfig)
    window_shift: WindowShiftConfig = Field(default_factory=WindowShiftConfig)
    ewma: EWMAConfig = Field(default_factory=EWMAConfig)
    gmm: GMMConfig = Field(default_factory=GMMConfig)
    forecast: ForecastConfig = Field(default_factory=ForecastConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    sensitivity: float = Field(
        0.92, gt=0, lt=1, description="Higher = more alarms. 0.92 default; lower (0.85) for fewer false positives."
    )
    min_train_samples: int = Field(48, ge=48, description="Fewer samples than this: no training, model unchanged.")
    combine: Literal["mean", "max"] = Field(
        "mean", description="How the ensemble joins its detectors' surprisals: mean (default, fewer alarms) or max."
    )
    calibration_span: int = Field(
        1000, ge=50, description="Points of a series' own history a raw surprise is judged against (EW span)."
    )
    average_points: int = Field(3, ge=1, le=60, description="Points averaged before judging (1 = react to one point).")
    burst_hold_points: int | None = Field(
        None, ge=0, description="After an alarm, points that must beat its peak to score fully (0 = off). "
        "Default: 15 x ewma.span (300 at span 20), so a longer EWMA span means fewer repeat alarms."
    )
    train_workers: int = Field(
        1, ge=1, le=64, description="Processes the daily train job fits series in (1 = in-process). "
        "Fitting is CPU-bound: set it to the number of cores for fleets of hundreds of series."
    )
    executor: ExecutorConfig = Field(
        default_factory=ExecutorConfig, description="Where the train job fits series: this machine's "
        "process pool (default) or a Dask distributed cluster (docs/guide.md#training-on-a-dask-cluster)."
    )
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)

    @property
    def effective_burst_hold(self) -> int:
        """The ensemble's quiet period after an alarm: burst_hold_points, or 15 x the EWMA span."""
        if self.burst_hold_points is not None:
            return self.burst_hold_points
        return HOLD_POINTS_PER_EWMA_SPAN * self.ewma.span


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
        2.0, ge=0, le=48,
        description="After an applied change of the scaling target, anomalies in replicas or cost this many hours "
                    "later are labelled as caused by it (caused_by), not reported as incidents (0 = off).",
    )


def _default_max_values() -> dict[str, float]:
    return {"request_rate": 1e7, "cpu_utilization": 1000.0, "latency_p95_ms": 3.6e6, "error_rate": 100.0,
            "replicas": 1e5, "cost_per_hour": 1e6}


class DataQualityConfig(Strict):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    min_coverage: float = Field(0.8, ge=0, le=1, description="Share of expected points that must be present.")
    max_staleness_minutes: float = Field(30.0, gt=0, description="Age of the last sample beyond which data is stale.")
    max_value: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=_default_max_values,
        description="Physical range per metric kind: a value below 0 or above this is not believable and makes "
        "the series unusable this window (req/s, percent, ms, percent, count, currency per hour).",
    )

    @field_validator("max_value")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        known = set(_default_max_values())
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown metric kind(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return {**_default_max_values(), **value}


class SourcesConfig(Strict):
    """How Prometheus and Grafana are reached. URLs and credentials come from the environment (Secrets)."""

    timeout_seconds: float = Field(30.0, gt=0, le=600, description="Per-request timeout (never unbounded).")
    retries: int = Field(3, ge=0, le=10, description="Retries on timeouts, connection errors and 5xx (not 4xx).")
    backoff_seconds: float = Field(0.5, ge=0, le=60, description="First retry delay; doubles each retry, with jitter.")
    max_series: int = Field(50, ge=1, le=100_000, description="A response with more series is rejected before "
                            "its values are parsed (a forgotten `sum by (...)`).")
    max_response_bytes: int = Field(20_000_000, ge=1_000, le=1_000_000_000, description="A response body larger "
                                    "than this is rejected while it streams in, before it is parsed.")
    backoff_max_seconds: float = Field(8.0, ge=0, le=300, description="Largest delay between two retries.")
    max_parallel: int = Field(4, ge=1, le=64, description="Queries in flight at once against one server.")
    max_points_per_request: int = Field(
        10_000, ge=10, le=11_000, description="Longer ranges are split (Prometheus refuses > 11,000 points/series)."
    )
    max_samples_per_request: int = Field(
        500_000, ge=1_000, le=50_000_000, description="A fleet query's range is split so one answer holds at most "
        "this many samples (~12 MB of JSON at the default), which bounds memory and spreads the work over "
        "max_parallel requests."
    )
    breaker_failures: int = Field(
        3, ge=1, le=100, description="Consecutive failed requests (after retries) that open the circuit breaker."
    )
    breaker_reset_seconds: float = Field(60.0, ge=0, description="How long an open breaker fails requests at once.")
    verify_tls: bool = Field(True, description="Verify the server's TLS certificate (turn off only for tests).")
    ca_bundle: Path | None = Field(None, description="PEM file of the CA that signed the server's certificate.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers, e.g. X-Scope-OrgID for Mimir/Cortex/Thanos."
    )
    grafana_datasource_uid: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]+$", description="Grafana datasource uid (or set GRAFANA_DATASOURCE_UID)."
    )


class MonitoringConfig(Strict):
    """The controller's own metrics (docs/monitoring.md): served by the daemon, pushed or written by one-shot runs."""

    port: int | None = Field(
        None, ge=1, le=65535,
        description="Daemon: serve /metrics on this port (e.g. 9108). Unset: no HTTP server.",
    )
    bind_address: str = Field(
        "127.0.0.1", min_length=1,
        description="Daemon: address the /metrics server binds; 0.0.0.0 to be scraped from another host or pod.",
    )
    pushgateway_url: str | None = Field(
        None, pattern=r"^https?://",
        description="One-shot runs: push the metrics here after each job (or set AI_OPS_PUSHGATEWAY_URL).",
    )
    textfile: Path | None = Field(
        None,
        description="One-shot runs: write the metrics to this .prom file after each job (node_exporter textfile collector).",
    )
    job_label: str = Field(
        "ai-ops", min_length=1, description="The `job` grouping label of pushed metrics.",
    )

    @field_validator("textfile")
    @classmethod
    def _prom_suffix(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix != ".prom":
            raise ValueError(f"'{value}' must end in .prom (node_exporter's textfile collector reads only *.prom)")
        return value


class OpsConfig(Strict):
    version: Literal[1] = 1
    step_seconds: int = Field(300, ge=10, le=3600, description="Resolution of fetched metrics.")
    cycle_window_hours: float = Field(6.0, gt=0, le=168, description="Window each cycle observes.")
    services: list[ServiceConfig] = Field(
        default_factory=lambda: [ServiceConfig(name="checkout")],
        description="Services written out by hand; may be empty when `discovery` finds them.",
    )
    discovery: DiscoveryConfig | None = Field(None, description="Services found in Prometheus (docs/sources.md).")
    sla: SLAConfig = Field(default_factory=SLAConfig)
    cost: CostConfig = Field(default_factory=CostConfig)
    anomaly: AnomalyConfig = Field(default_factory=AnomalyConfig)
    data_quality: DataQualityConfig = Field(default_factory=DataQualityConfig)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    learner: LearnerConfig = Field(default_factory=LearnerConfig)
    thresholds: dict[
        Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=63)], ThresholdConfig
    ] = Field(default_factory=_default_thresholds)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)
    notifiers: NotifiersConfig = Field(default_factory=NotifiersConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)

    @model_validator(mode="after")
    def _unique_services(self) -> OpsConfig:
        names = [s.name for s in self.services]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"service names must be unique; repeated: {', '.join(dupes)}")
        if not self.services and self.discovery is None:
            raise ValueError("no services: list at least one under 'services' or configure 'discovery'")
        if self.discovery is not None:
            for service, overrides in self.discovery.overrides.items():
                for name, override in overrides.items():
                    if name not in self.thresholds:
                        raise ValueError(f"discovery.overrides.{service}.{name}: no such threshold "
                                         f"(known: {', '.join(sorted(self.thresholds))})")
                    merged = {**self.thresholds[name].model_dump(), **override.model_dump(exclude_none=True)}
                    try:
                        ThresholdConfig.model_validate(merged)
                    except ValidationError as exc:
                        problem = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                        raise ValueError(f"discovery.overrides.{service}.{name}: {problem}") from None
        return self

    @model_validator(mode="after")
    def _service_thresholds(self) -> OpsConfig:
        problems = []
        for service in self.services:
            for name in service.thresholds:
                if name not in self.thresholds:
                    problems.append(f"services[{service.name}].thresholds.{name}: not a threshold of the top-level "
                                    f"'thresholds' block ({', '.join(sorted(self.thresholds))}); add it there first")
            try:
                self.thresholds_for(service.name)
            except ValidationError as exc:
                for item in exc.errors():
                    problems.append(f"services[{service.name}].thresholds: {item['msg'].removeprefix('Value error, ')}")
            objective = self.sla.latency_objective_ms
            sli = service.sli
            if sli is not None and sli.latency_histogram and sli.buckets is not None:
                bound = objective / 1000.0 if sli.histogram_unit == "seconds" else objective
                if not any(abs(b - bound) <= 1e-9 * max(1.0, abs(bound)) for b in sli.buckets):
                    problems.append(f"services[{service.name}].sli: the latency objective {objective:g} ms "
                                    f"({bound:g} {sli.histogram_unit}) is not a bucket bound of "
                                    f"{sli.latency_histogram} ({', '.join(f'{b:g}' for b in sli.buckets)}); set "
                                    "sla.latency_objective_ms to one of them, or the SLI cannot be exact")
        if problems:  # one line each, like pydantic's own errors
            raise ValueError("\n  - ".join(problems))
        return self

    def thresholds_for(self, service: str) -> dict[str, ThresholdConfig]:
        """The thresholds of one service: the shared block with the service's overrides applied."""
        overrides = next((s.thresholds for s in self.services if s.name == service), {})
        out = {}
        for name, spec in self.thresholds.items():
            change = overrides.get(name)
            if change is None:
                out[name] = spec
                continue
            fields = {k: v for k, v in change.model_dump().items() if v is not None}
            merged = {**spec.model_dump(), **fields}
            if "initial" not in fields:  # a narrowed range keeps a shared initial value inside it
                merged["initial"] = min(max(spec.initial, merged["min"]), merged["max"])
            out[name] = ThresholdConfig.model_validate(merged)
        return out

    @property
    def service_names(self) -> list[str]:
        return [s.name for s in self.services]

    def path(self, relative: Path | str) -> Path:
        """Resolve a path of the outputs block inside the workspace."""
        return (self.outputs.workspace / relative).resolve()

    @property
    def tfvars_path(self) -> Path:
        return self.path(self.outputs.terraform_dir) / self.outputs.tfvars_file

    @property
    def models_path(self) -> Path:
        return self.path(self.outputs.models_dir)

    @property
    def reports_path(self) -> Path:
        return self.path(self.outputs.reports_dir)

    @property
    def is_simulated(self) -> bool:
        return self.discovery is None and all(s.source == "simulated" for s in self.services)

    def with_workspace(self, workspace: Path) -> OpsConfig:
        outputs = self.outputs.model_copy(update={"workspace": workspace})
        return self.model_copy(update={"outputs": outputs})


def embedded_default_yaml() -> str:
    """The built-in configuration: one simulated service, used when no file is given."""
    return resources.files("ai_ops.resources").joinpath("default_config.yaml").read_text(encoding="utf-8")


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling against config/ops_config.yaml)"
        lines.append(f"  - {where}: {message}")
    lines.append("Fix these keys, then run `ai-ops config check` again.")
    return "\n".join(lines)


def parse_config(text: str, source: str = "<config>") -> OpsConfig:
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping of keys (like config/ops_config.yaml), not {type(data).__name__}")
    try:
        return OpsConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None
    except (ValueError, TypeError, ArithmeticError) as exc:  # a validator that raised something unexpected
        raise ConfigError(f"invalid configuration in {source}: {exc}\nFix it, then run `ai-ops config check` "
                          "again.") from None


def load_config(path: Path | None) -> OpsConfig:
    """Load and validate a config file; with no path, the embedded simulated default.

    A relative `outputs.workspace` is relative to the config file's folder (not the current
    directory), and outside the simulated default the workspace must exist.
    """
    if path is None:
        return parse_config(embedded_default_yaml(), "the embedded default configuration")
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist; pass --config with an existing file or omit it")
    if not path.is_file():
        raise ConfigError(f"config path {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    config = parse_config(text, str(path))
    workspace = config.outputs.workspace
    if not workspace.is_absolute():
        config = config.with_workspace(path.resolve().parent / workspace)
    return config


def require_workspace(config: OpsConfig) -> None:
    """Outside the simulated default (which creates its own), the workspace must already exist."""
    if not config.is_simulated and not config.outputs.workspace.is_dir():
        raise ConfigError(f"outputs.workspace {config.outputs.workspace} does not exist; point it at your "
                          "infrastructure repository (a relative path is relative to the config file's folder)")
