"""Config sections for the services the controller watches: how their metrics are read (or simulated),
how a fleet is discovered, per-service threshold overrides, and the SLA and budget they must meet."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ai_ops.config.base import Strict
from ai_ops.config.promql_template import check_template


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
