"""`ai-ops sources check`: run every configured query once and say what came back.

The first thing a new user runs against their own Prometheus: it shows, per query, how
many series matched, how many samples, the coverage and staleness the cycle will judge,
and the error (Prometheus's own words) when a query fails.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ai_ops.config import OpsConfig, Secrets
from ai_ops.errors import SourceError
from ai_ops.metrics import METRICS, ServiceMetrics
from ai_ops.sources.discovery import Discovered
from ai_ops.sources.prometheus import Kind, PrometheusClient, PrometheusSource, endpoint_from
from ai_ops.sources.quality import assess


@dataclass(frozen=True)
class CheckRow:
    service: str
    metric: str
    query: str
    series: int
    samples: int
    coverage: float
    staleness_minutes: float
    error: str
    """Empty when the query is fine and its data usable; otherwise what is wrong."""
    note: str = ""
    """Worth knowing but not wrong (e.g. NaN/Inf samples, which are kept as gaps)."""

    @property
    def ok(self) -> bool:
        return not self.error

    def to_dict(self) -> dict[str, Any]:
        """For `sources check --json`: every field, staleness null when there is no sample at all."""
        data = asdict(self)
        data["ok"] = self.ok
        data["staleness_minutes"] = self.staleness_minutes if np.isfinite(self.staleness_minutes) else None
        return data


@dataclass(frozen=True)
class SourceInfo:
    """Where one kind of source points: for Grafana, also which datasource and why."""

    kind: str
    url: str
    datasource: str = ""

    def line(self) -> str:
        return f"{self.kind}: {self.url}" + (f", {self.datasource}" if self.datasource else "")


@dataclass(frozen=True)
class CheckReport:
    rows: list[CheckRow]
    sources: list[SourceInfo]


def check_sources(config: OpsConfig, secrets: Secrets, now: float,
                  discovered: Discovered | None = None) -> CheckReport:
    """One row per (service, metric) over the last cycle window ending at `now`, and the endpoints used.

    Discovered services are fetched as the jobs fetch them (batched, `fetch_fleet`) and summed
    up in one row per metric: how many services returned data, and which ones have a problem.
    """
    start = now - config.cycle_window_hours * 3600
    step = config.step_seconds
    rows: list[CheckRow] = []
    clients: dict[str, PrometheusClient] = {}
    try:
        if discovered is not None and discovered.services:
            kind: Kind = "grafana" if discovered.services[0].source == "grafana" else "prometheus"
            clients[kind] = PrometheusClient(endpoint_from(kind, secrets, config.sources), config.sources)
            rows += _check_fleet(PrometheusSource(clients[kind]), discovered, start, now, step, config)
        for service in config.services:
            if service.source == "simulated":
                rows.append(CheckRow(service.name, "*", "(simulated: no queries)", 0, 0, 1.0, 0.0, ""))
                continue
            kind = service.source
            if kind not in clients:
                clients[kind] = PrometheusClient(endpoint_from(kind, secrets, config.sources), config.sources)
            source = PrometheusSource(clients[kind])
            for metric, query in source.queries(service).items():
                rows.append(_check_one(clients[kind], service.name, metric, query, start, now, step, config))
    finally:
        for client in clients.values():
            client.close()
    infos = [SourceInfo(kind, c.endpoint.shown_url, c.endpoint.datasource) for kind, c in clients.items()]
    return CheckReport(rows, infos)


def _check_fleet(source: PrometheusSource, discovered: Discovered, start: float, now: float, step: int,
                 config: OpsConfig) -> list[CheckRow]:
    where = f"(discovered: {len(discovered.services)})"
    try:
        fetched = source.fetch_fleet(discovered.services, discovered.label, start, now, step)
    except SourceError as exc:
        return [CheckRow(where, "*", discovered.query, 0, 0, 0.0, float("inf"), str(exc))]
    templates = discovered.services[0].queries
    rows = []
    for metric in METRICS:
        problems: dict[str, str] = {}
        samples, coverage, staleness, with_data = 0, 1.0, 0.0, 0
        for name, metrics in fetched.items():
            if metric in metrics.errors:
                problems[name] = metrics.errors[metric]
                continue
            quality = assess(metrics, now, start, config.data_quality)[metric]
            samples += quality.samples
            with_data += quality.samples > 0
            coverage = min(coverage, quality.coverage)
            staleness = max(staleness, quality.staleness_minutes)
            if quality.samples == 0:
                problems[name] = "no series matched"
            elif quality.reason:
                problems[name] = f"unusable: {quality.reason}"
        error = ""
        if problems:
            shown = "; ".join(f"{n}: {why}" for n, why in list(problems.items())[:5])
            more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
            error = f"{len(problems)} of {len(fetched)} services: {shown}{more}"
        query = getattr(templates, metric) if templates is not None else ""
        rows.append(CheckRow(where, metric, query, with_data, samples, coverage if fetched else 0.0,
                             staleness if np.isfinite(staleness) else float("inf"), error))
    return rows


def _check_one(client: PrometheusClient, service: str, metric: str, query: str, start: float, now: float,
               step: int, config: OpsConfig) -> CheckRow:
    try:
        block = client.query_range(query, start, now, step)
    except SourceError as exc:
        return CheckRow(service, metric, query, 0, 0, 0.0, float("inf"), str(exc))
    if not block.labels:
        return CheckRow(service, metric, query, 0, 0, 0.0, float("inf"),
                        "no series matched; check the metric name and the label values")
    per_series = ServiceMetrics(service, block.timestamps, step,
                                {f"{metric}#{i}": row for i, row in enumerate(block.values)})
    quality = assess(per_series, now, start, config.data_quality)
    samples = sum(q.samples for q in quality.values())
    coverage = min(q.coverage for q in quality.values())
    staleness = max(q.staleness_minutes for q in quality.values())
    reasons = sorted({q.reason for q in quality.values() if q.reason})
    error = ""
    if len(block.labels) > 1:
        error = f"{len(block.labels)} series, expected 1: aggregate the query (sum/max/avg)"
    elif reasons:
        error = "unusable: " + "; ".join(reasons)
    note = f"{block.nonfinite_samples} NaN/Inf samples (kept as gaps)" if block.nonfinite_samples else ""
    return CheckRow(service, metric, query, len(block.labels), samples, coverage,
                    staleness if np.isfinite(staleness) else float("inf"), error, note)
