"""Config section of the controller's own metrics (docs/monitoring.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from ai_ops.config.base import Strict


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
