"""Config sections for reading metrics: how Prometheus/Grafana are reached and which values are believable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from ai_ops.config.base import Strict


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
    compression: Literal["auto", "gzip", "none"] = Field(
        "auto", description="Ask for gzip-compressed answers: 'gzip' always (a remote server: ~4x fewer bytes), "
        "'none' never (a server on this host or LAN: compressing more than doubles Prometheus's CPU per "
        "range query), 'auto' = none for a loopback URL (127.0.0.1, ::1, localhost), gzip otherwise."
    )
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
