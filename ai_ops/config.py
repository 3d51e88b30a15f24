"""Typed configuration: one `OpsConfig` object, built once and passed down.

Every field's `description` is both its validation message and its help text
(`ai-ops config show` prints them). Secrets never live here: they come from the
environment through `Secrets` (pydantic-settings) and are never written anywhere.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from ai_ops.errors import ConfigError

_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?]+$")


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


class ServiceConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63,
                      description="Service name, used in file names (letters, digits, _ . -; at most 63).")
    source: Literal["simulated", "prometheus", "grafana"] = Field(
        "simulated", description="Where metrics come from."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Values substituted into the queries.")
    queries: QueriesConfig | None = Field(None, description="PromQL per metric (prometheus/grafana sources).")
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)

    @model_validator(mode="after")
    def _queries_for_real_sources(self) -> ServiceConfig:
        if self.source != "simulated" and self.queries is None:
            raise ValueError(f"service '{self.name}' uses source '{self.source}' and needs a 'queries' block")
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


HOLD_POINTS_PER_EWMA_SPAN = 15


class AnomalyConfig(Strict):
    zscore: ZScoreConfig = Field(default_factory=ZScoreConfig)
    window_shift: WindowShiftConfig = Field(default_factory=WindowShiftConfig)
    ewma: EWMAConfig = Field(default_factory=EWMAConfig)
    gmm: GMMConfig = Field(default_factory=GMMConfig)
    forecast: ForecastConfig = Field(default_factory=ForecastConfig)
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


class LearnerConfig(Strict):
    exploration: float = Field(
        0.5, ge=0, le=1,
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
        4, ge=1, description="Clean windows (SLA met) at the current scaling target before trying a higher one."
    )
    evidence_memory_days: float = Field(
        14.0, gt=0,
        description="Windows observed at a target are remembered this long; a known-bad target may be re-probed after.",
    )
    max_budget_burn: float = Field(
        0.8, gt=0,
        description="A scaling target is known-bad when its windows used on average more than this share of the "
                    "SLA error budget (1.0 = exactly the budget).",
    )
    probe_max_burn: float = Field(
        0.4, gt=0,
        description="Probe a higher target only while the current one uses at most this share of the error budget.",
    )
    weigh_by_requests: bool = Field(
        False, description="Average a scaling target's windows weighted by their requests (the SLA's own weighting) "
                           "instead of counting every window the same; see docs/learner.md for the measured effect.",
    )
    resolution: float = Field(1.0, gt=0, description="Smallest move of the scaling target worth making (percent).")
    convergence_gap: float = Field(
        2.0, gt=0, description="Converged when the current target is this close below the lowest known-bad one."
    )
    alert_headroom: float = Field(
        1.25, gt=0,
        description="Alert thresholds are anchored at this multiple of the metric's normal level (the 99th "
                    "percentile of the steps no detector flagged), then shifted by outcomes.",
    )
    alert_normal_windows: int = Field(
        28, ge=1, description="Windows whose normal levels are remembered; the anchor uses their median (28 = 7 days).",
    )
    alert_cooldown_cycles: int = Field(
        4, ge=0, description="Cycles between two changes of the same alert threshold (4 = one day at 6 h)."
    )
    convergence_cycles: int = Field(
        8, ge=1, description="Also converged after this many cycles without a change (8 = two days at 6 h)."
    )


class ScheduleConfig(Strict):
    cycle: str = Field("0 */6 * * *", description="Cron (UTC) of the ops cycle.")
    train: str = Field("0 3 * * *", description="Cron (UTC) of detector training.")
    report: str = Field("0 9 * * *", description="Cron (UTC) of the daily report.")
    misfire_grace_seconds: int = Field(3600, ge=1, description="A run this late is still run (daemon).")
    lock_wait_seconds: float = Field(
        600, ge=0, description="Daemon: how long a job waits for a manual run holding the lock before it skips."
    )

    @field_validator("cycle", "train", "report")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(f"'{value}' is not a 5-field cron expression like '0 */6 * * *'")
        return value


def _check_ref_format(value: str, what: str) -> str:
    """A Git ref name is what `git check-ref-format` accepts (no `..`, no leading `-`, no spaces...)."""
    import subprocess

    if not value or len(value) > 200 or value.startswith("-") or any(ord(c) < 32 for c in value):
        raise ValueError(f"'{value[:60]}' is not a valid Git {what}")
    try:
        ok = subprocess.run(["git", "check-ref-format", f"refs/heads/{value}"], capture_output=True,
                            timeout=10, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):  # no git binary: the Git step reports it later
        return value
    if not ok:
        raise ValueError(f"'{value[:60]}' is not a valid Git {what} (`git check-ref-format` refuses it)")
    return value


class GitConfig(Strict):
    mode: Literal["dry-run", "commit", "pr"] = Field(
        "commit", description="dry-run: print the diff; commit: commit on the current branch; pr: branch + push."
    )
    branch_prefix: str = Field("ai-ops/", description="Prefix of branches made in pr mode.")
    remote: str = Field("origin", description="Remote pushed to in pr mode.")
    base_branch: str = Field("main", description="Branch pull requests target.")
    author_name: str = Field("ai-ops[bot]")
    author_email: str = Field("ai-ops-bot@users.noreply.github.com")
    state_branch: str = Field(
        "ai-ops/state", description="pr mode: branch holding models/ and reports/ between runs (fresh CI checkouts)."
    )
    pull_request_dir: Path = Field(
        Path(".ai-ops"), description="pr mode: folder (in the workspace, never committed) for the PR title/body files."
    )
    open_pull_request: bool = Field(
        True, description="pr mode: open or update the PR via the GitHub REST API when GITHUB_TOKEN is set."
    )

    @field_validator("branch_prefix")
    @classmethod
    def _prefix_ref(cls, value: str) -> str:
        _check_ref_format(value + "x", "branch prefix")
        return value

    @field_validator("base_branch", "state_branch", "remote")
    @classmethod
    def _ref(cls, value: str) -> str:
        return _check_ref_format(value, "branch or remote name")


class OutputsConfig(Strict):
    workspace: Path = Field(
        Path("."), description="Root of the repository the controller writes to; other paths are inside it."
    )
    terraform_dir: Path = Field(Path("terraform"), description="Folder holding variables.tf.")
    tfvars_file: str = Field(
        "ai_ops.auto.tfvars.json", pattern=r"\.tfvars\.json$", description="The one file the controller owns."
    )
    models_dir: Path = Field(Path("models"))
    reports_dir: Path = Field(Path("reports"))
    @field_validator("tfvars_file")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if "/" in value or "\\" in value or value.startswith(".") or len(value) > 120:
            raise ValueError(f"'{value[:60]}' must be a plain file name inside terraform_dir")
        return value

    @model_validator(mode="after")
    def _inside_workspace(self) -> OutputsConfig:
        """Every output path resolves inside the workspace: the controller never writes elsewhere."""
        root = Path(os.path.normpath(self.workspace))
        for key, value in (("terraform_dir", self.terraform_dir), ("models_dir", self.models_dir),
                           ("reports_dir", self.reports_dir), ("git.pull_request_dir", self.git.pull_request_dir)):
            if value.is_absolute() and not root.is_absolute():
                raise ValueError(f"outputs.{key} ({value}) is absolute while the workspace is relative; "
                                 "give it relative to the workspace")
            relative = os.path.relpath(os.path.normpath(root / value), root)
            if relative == ".." or relative.startswith(".." + os.sep):
                raise ValueError(f"outputs.{key} ({value}) resolves outside the workspace {self.workspace}; "
                                 "use a path inside it (relative paths are relative to the workspace)")
        return self

    on_tampered_tfvars: Literal["refuse", "restore"] = Field(
        "refuse", description="A current tfvars value that is not finite or outside its bounds is tampering: "
        "refuse (exit 4, no change) or restore the last committed good file from Git and go on."
    )
    git: GitConfig = Field(default_factory=GitConfig)


class SlackConfig(Strict):
    enabled: bool = True
    channel: str = Field("#ops-health", description="Channel for bot-token delivery (webhooks carry their own).")
    notify_on_change: bool = Field(True, description="Post a short notice when a cycle changes a threshold.")
    notify_on_critical: bool = Field(True, description="Post a short notice when a cycle finds a critical anomaly.")
    upload_charts: bool = Field(True, description="With a bot token, upload the cost chart under the card.")
    timeout_seconds: float = Field(15.0, gt=0, description="HTTP timeout of one Slack call.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries of a rate-limited (429) call, after Retry-After.")


class NotionConfig(Strict):
    enabled: bool = True
    timeout_seconds: float = Field(30.0, gt=0, description="HTTP timeout of one Notion call.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries on 429 and 5xx (the SDK backs off).")


class NotifiersConfig(Strict):
    slack: SlackConfig = Field(default_factory=SlackConfig)
    notion: NotionConfig = Field(default_factory=NotionConfig)
    report_url: str = Field("", description="Base URL where reports/ is browsable, linked from messages.")


class LLMConfig(Strict):
    enabled: bool = True
    model: str = Field("claude-sonnet-4-6", description="Anthropic model name (claude-sonnet-4-5 reaches end-of-life 2026-11-30).")
    max_tokens: int = Field(1500, ge=64, le=64000)
    daily_token_budget: int = Field(50000, ge=0, description="Tokens a day; past it, the template writes.")
    timeout_seconds: float = Field(60.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10, description="Retries on 429/5xx with exponential backoff (SDK).")
    circuit_breaker_failures: int = Field(
        3, ge=1, description="After this many failed reports in a row, stop calling the LLM for the cooldown."
    )
    circuit_breaker_cooldown_hours: float = Field(24.0, ge=0, description="How long the open breaker skips the LLM.")
    input_price_per_mtok: float = Field(3.0, ge=0, description="USD per million input tokens (cost record).")
    output_price_per_mtok: float = Field(15.0, ge=0, description="USD per million output tokens (cost record).")


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


class OpsConfig(Strict):
    version: Literal[1] = 1
    step_seconds: int = Field(300, ge=10, le=3600, description="Resolution of fetched metrics.")
    cycle_window_hours: float = Field(6.0, gt=0, le=168, description="Window each cycle observes.")
    services: list[ServiceConfig] = Field(
        default_factory=lambda: [ServiceConfig(name="checkout")], min_length=1
    )
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

    @model_validator(mode="after")
    def _unique_services(self) -> OpsConfig:
        names = [s.name for s in self.services]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"service names must be unique; repeated: {', '.join(dupes)}")
        return self

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
        return all(s.source == "simulated" for s in self.services)

    def with_workspace(self, workspace: Path) -> OpsConfig:
        outputs = self.outputs.model_copy(update={"workspace": workspace})
        return self.model_copy(update={"outputs": outputs})


class Secrets(BaseSettings):
    """Credentials, read from the environment only. Never logged, committed or sent to an LLM."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=True)

    PROMETHEUS_URL: str | None = None
    PROMETHEUS_TOKEN: SecretStr | None = None
    PROMETHEUS_USERNAME: str | None = None
    PROMETHEUS_PASSWORD: SecretStr | None = None
    GRAFANA_URL: str | None = None
    GRAFANA_API_KEY: SecretStr | None = None
    GRAFANA_DATASOURCE_UID: str | None = None
    SLACK_WEBHOOK_URL: SecretStr | None = None
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_BASE_URL: str | None = None
    NOTION_API_KEY: SecretStr | None = None
    NOTION_DATABASE_ID: str | None = None
    NOTION_BASE_URL: str | None = None
    ANTHROPIC_API_KEY: SecretStr | None = None
    ANTHROPIC_BASE_URL: str | None = None
    GITHUB_TOKEN: SecretStr | None = None
    GITHUB_REPOSITORY: str | None = None
    GITHUB_API_URL: str = "https://api.github.com"

    def secret_values(self) -> list[str]:
        """Every secret's plain value, for redaction."""
        out: list[str] = []
        for value in self.__dict__.values():
            if isinstance(value, SecretStr) and value.get_secret_value():
                out.append(value.get_secret_value())
        return out


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
