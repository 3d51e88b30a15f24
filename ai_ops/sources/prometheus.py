"""Prometheus and Grafana (datasource proxy) sources: a service's metrics and exact SLI.

One HTTP path serves both: Grafana's `/api/datasources/proxy/uid/<uid>` forwards the
Prometheus HTTP API unchanged, so `GrafanaSource` is a `PrometheusSource` with another
base URL and a service-account token.

The pieces live next door: `endpoint` (URL, auth, Grafana datasource discovery),
`http_client` (retries, circuit breaker, response caps, chunked parallel range queries),
`series` (grid alignment, counter math). Their public names are re-exported here, so
`from ai_ops.sources.prometheus import PrometheusClient` keeps working.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ai_ops.config import Secrets, ServiceConfig, SourcesConfig
from ai_ops.errors import ConfigError
from ai_ops.metrics import METRICS, ServiceMetrics, grid
from ai_ops.sources.endpoint import (
    Datasource,
    Endpoint,
    Kind,
    choose_datasource,
    discover_datasource,
    endpoint_from,
)
from ai_ops.sources.http_client import (
    FLEET_SERIES,
    BreakerOpen,
    CircuitBreaker,
    PrometheusClient,
    QueryError,
    ResponseTooLarge,
    cap_response,
)
from ai_ops.sources.promql import render_query
from ai_ops.sources.series import SeriesBlock, align, chunk_ranges, counter_increase, counter_rate

__all__ = [
    "FLEET_SERIES",
    "BreakerOpen",
    "CircuitBreaker",
    "Datasource",
    "Endpoint",
    "GrafanaSource",
    "Kind",
    "PrometheusClient",
    "PrometheusSource",
    "QueryError",
    "ResponseTooLarge",
    "SeriesBlock",
    "align",
    "cap_response",
    "choose_datasource",
    "chunk_ranges",
    "counter_increase",
    "counter_rate",
    "discover_datasource",
    "endpoint_from",
    "le_pattern",
    "sli_queries",
    "source_from",
]


def le_pattern(bound: float) -> str:
    """A regex matching the `le` label value client libraries write for `bound` ("0.3"; "1" or "1.0"),
    escaped for a PromQL double-quoted string."""
    text = format(bound, ".15g")
    options = [text] + ([f"{text}.0"] if re.fullmatch(r"-?\d+", text) else [])
    return "|".join(re.escape(o).replace("\\", "\\\\") for o in options)


def sli_queries(service: ServiceConfig, latency_objective_ms: float, step: int) -> dict[str, str]:
    """PromQL of the exact SLI: `sli_total`, and `sli_good` (direct) or `sli_fast` (the objective's
    histogram bucket), plus `sli_failed` when given. Empty without an `sli` block."""
    sli = service.sli
    if sli is None:
        return {}
    labels = {"service": service.name, **service.labels}
    where = f"services.{service.name}.sli"
    out: dict[str, str] = {}
    if sli.requests_total is not None and sli.requests_good is not None:
        out["sli_total"] = render_query(sli.requests_total, labels, where=f"{where}.requests_total")
        out["sli_good"] = render_query(sli.requests_good, labels, where=f"{where}.requests_good")
    elif sli.latency_histogram:
        selector = render_query(sli.selector, labels, where=f"{where}.selector").strip().strip(",")
        bound = latency_objective_ms / 1000.0 if sli.histogram_unit == "seconds" else latency_objective_ms
        le = f'le=~"{le_pattern(bound)}"'
        name = sli.latency_histogram
        out["sli_total"] = f"sum(rate({name}_count{{{selector}}}[{step}s]))"
        out["sli_fast"] = f"sum(rate({name}_bucket{{{selector + ',' if selector else ''}{le}}}[{step}s]))"
    if sli.requests_failed is not None:
        out["sli_failed"] = render_query(sli.requests_failed, labels, where=f"{where}.requests_failed")
    return out


class PrometheusSource:
    """Fetches a service's six metrics with its query templates, in parallel, and the exact SLI
    series (`sli_total`, `sli_good`) when the service has an `sli` block."""

    def __init__(self, client: PrometheusClient, latency_objective_ms: float | None = None) -> None:
        self.client = client
        self.latency_objective_ms = latency_objective_ms

    def queries(self, service: ServiceConfig) -> dict[str, str]:
        """Metric -> PromQL with the service's labels substituted (escaped); `service` defaults to its name."""
        if service.queries is None:
            raise ConfigError(f"service '{service.name}' has no 'queries' block")
        labels = {"service": service.name, **service.labels}
        templates = service.queries.model_dump()
        return {m: render_query(templates[m], labels, where=f"services.{service.name}.queries.{m}") for m in METRICS}

    def fetch(self, service: ServiceConfig, start: float, end: float, step: int) -> ServiceMetrics:
        queries = self.queries(service)
        if self.latency_objective_ms is not None:
            queries.update(sli_queries(service, self.latency_objective_ms, step))
        timestamps = grid(start, end, step)
        results = self.client.query_many(list(queries.values()), start, end, step)
        values: dict[str, np.ndarray] = {}
        errors: dict[str, str] = {}
        for metric, result in zip(queries, results, strict=True):
            values[metric] = np.full(timestamps.shape, np.nan)
            if isinstance(result, QueryError):
                errors[metric] = str(result)
            elif len(result.labels) > 1:
                errors[metric] = (f"query returned {len(result.labels)} series, expected 1; aggregate it "
                                  f"(e.g. sum(...) or max(...)); query: {result.query}")
            elif len(result.labels) == 1:
                values[metric] = result.values[0]
        if "sli_fast" in values:
            self._good_from_buckets(service, values, errors)
        return ServiceMetrics(service.name, timestamps, step, values, errors)

    def _good_from_buckets(self, service: ServiceConfig, values: dict[str, np.ndarray], errors: dict[str, str]) -> None:
        """sli_good = requests at or under the objective bucket - failed requests (from `sli_failed`,
        else error_rate / 100 x all requests), clipped to [0, all]."""
        fast, total = values.pop("sli_fast"), values["sli_total"]
        error = errors.pop("sli_fast", None)
        if error is None and np.isfinite(total).any() and not np.isfinite(fast).any():
            sli = service.sli
            unit = sli.histogram_unit if sli else "seconds"
            error = (f"no {sli.latency_histogram if sli else ''}_bucket series has le = the latency objective "
                     f"({self.latency_objective_ms:g} ms in {unit}): the objective must be one of the histogram's "
                     "bucket bounds; set sla.latency_objective_ms to one (or give sli.requests_good)")
        if "sli_failed" in values:
            failed = values.pop("sli_failed")
            if "sli_failed" in errors:
                error = error or errors.pop("sli_failed")
        else:
            failed = total * values["error_rate"] / 100.0
        good = np.clip(fast - failed, 0.0, None)
        values["sli_good"] = np.minimum(good, total)
        if error is not None:
            errors["sli_good"] = error

    def fetch_fleet(self, services: Sequence[ServiceConfig], label: str, start: float, end: float,
                    step: int) -> dict[str, ServiceMetrics]:
        """Every service's metrics with as few queries as the templates allow (discovered services).

        A template without a `{label}` placeholder is a fleet query (`sum by (service) (...)`): it
        runs once and its series are split by `label`. A template with the placeholder runs once
        per service, as in `fetch`. All queries share the client's bounded parallelism and chunking.
        """
        timestamps = grid(start, end, step)
        placeholder = "{" + label + "}"
        plan: list[tuple[str, str | None, str]] = []  # (metric, service or None = fleet query, query)
        rendered: dict[str, dict[str, str]] = {}
        for metric in METRICS:
            templates = {s.name: getattr(s.queries, metric) for s in services if s.queries is not None}
            shared = set(templates.values())
            if len(shared) == 1 and placeholder not in next(iter(shared)):
                plan.append((metric, None, next(iter(shared))))
                continue
            for service in services:
                if service.name not in rendered:
                    rendered[service.name] = self.queries(service)
                plan.append((metric, service.name, rendered[service.name][metric]))
        results = self.client.query_many([q for _, _, q in plan], start, end, step,
                                         [len(services) if name is None else 1 for _, name, _ in plan])
        values = {s.name: {m: np.full(timestamps.shape, np.nan) for m in METRICS} for s in services}
        errors: dict[str, dict[str, str]] = {s.name: {} for s in services}
        for (metric, name, query), result in zip(plan, results, strict=True):
            targets = [name] if name is not None else list(values)
            if isinstance(result, QueryError):
                for target in targets:
                    errors[target][metric] = str(result)
                continue
            if name is not None:
                if len(result.labels) > 1:
                    errors[name][metric] = (f"query returned {len(result.labels)} series, expected 1; aggregate "
                                            f"it (e.g. sum(...) or max(...)); query: {query}")
                elif len(result.labels) == 1:
                    values[name][metric] = result.values[0]
                continue
            seen: dict[str, int] = {}
            for row, labels in zip(result.values, result.labels, strict=True):
                value = labels.get(label)
                if value is None or value not in values:
                    continue  # a service not (or no longer) in the fleet, or a series without the label
                seen[value] = seen.get(value, 0) + 1
                values[value][metric] = row
            for value, count in seen.items():
                if count > 1:
                    values[value][metric] = np.full(timestamps.shape, np.nan)
                    errors[value][metric] = (f"fleet query returned {count} series with {label}=\"{value}\"; "
                                             f"aggregate by ({label}) only; query: {query}")
        return {s.name: ServiceMetrics(s.name, timestamps, step, values[s.name], errors[s.name]) for s in services}


class GrafanaSource(PrometheusSource):
    """Grafana's datasource proxy speaks the Prometheus API: the same source, another endpoint."""

    def __init__(self, client: PrometheusClient, latency_objective_ms: float | None = None) -> None:
        if client.endpoint.kind != "grafana":
            raise ValueError("GrafanaSource needs a client built for the grafana endpoint (endpoint_from('grafana', ...))")
        super().__init__(client, latency_objective_ms)


def source_from(kind: Kind, secrets: Secrets, settings: SourcesConfig,
                latency_objective_ms: float | None = None) -> PrometheusSource:
    """The source for a service's `source:` setting, built from the environment and `sources:`;
    with the SLA's latency objective it also reads the exact SLI of services with an `sli` block."""
    client = PrometheusClient(endpoint_from(kind, secrets, settings), settings)
    if kind == "grafana":
        return GrafanaSource(client, latency_objective_ms)
    return PrometheusSource(client, latency_objective_ms)
