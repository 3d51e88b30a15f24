"""Typed configuration: one `OpsConfig` object, built once and passed down.

Every field's `description` documents it next to its bounds (config/ops_config.yaml and
docs/guide.md are the user-facing reference; `ai-ops config check` validates). Secrets never live here: they come from the
environment through `Secrets` (pydantic-settings) and are never written anywhere.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from ai_ops.config.anomaly import HOLD_POINTS_PER_EWMA_SPAN as HOLD_POINTS_PER_EWMA_SPAN
from ai_ops.config.anomaly import AnomalyConfig as AnomalyConfig
from ai_ops.config.anomaly import ContextConfig as ContextConfig
from ai_ops.config.anomaly import EWMAConfig as EWMAConfig
from ai_ops.config.anomaly import ExecutorConfig as ExecutorConfig
from ai_ops.config.anomaly import ForecastConfig as ForecastConfig
from ai_ops.config.anomaly import GMMConfig as GMMConfig
from ai_ops.config.anomaly import RetrainConfig as RetrainConfig
from ai_ops.config.anomaly import WindowShiftConfig as WindowShiftConfig
from ai_ops.config.anomaly import ZScoreConfig as ZScoreConfig
from ai_ops.config.base import Strict as Strict
from ai_ops.config.learner import HPA_TOLERANCE as HPA_TOLERANCE
from ai_ops.config.learner import LearnerConfig as LearnerConfig
from ai_ops.config.learner import PredictiveConfig as PredictiveConfig
from ai_ops.config.learner import ThresholdConfig as ThresholdConfig
from ai_ops.config.learner import _default_thresholds as _default_thresholds
from ai_ops.config.monitoring import MonitoringConfig as MonitoringConfig
from ai_ops.config.outputs import GitConfig as GitConfig
from ai_ops.config.outputs import LLMConfig as LLMConfig
from ai_ops.config.outputs import NotifiersConfig as NotifiersConfig
from ai_ops.config.outputs import NotionConfig as NotionConfig
from ai_ops.config.outputs import OutputsConfig as OutputsConfig
from ai_ops.config.outputs import ScheduleConfig as ScheduleConfig
from ai_ops.config.outputs import SlackConfig as SlackConfig
from ai_ops.config.promql_template import check_template as check_template
from ai_ops.config.services import _LABEL_NAME as _LABEL_NAME
from ai_ops.config.services import CostConfig as CostConfig
from ai_ops.config.services import DiscoveryConfig as DiscoveryConfig
from ai_ops.config.services import QueriesConfig as QueriesConfig
from ai_ops.config.services import ServiceConfig as ServiceConfig
from ai_ops.config.services import SimulationConfig as SimulationConfig
from ai_ops.config.services import SLAConfig as SLAConfig
from ai_ops.config.services import SLIConfig as SLIConfig
from ai_ops.config.services import ThresholdOverride as ThresholdOverride
from ai_ops.config.sources import DataQualityConfig as DataQualityConfig
from ai_ops.config.sources import SourcesConfig as SourcesConfig
from ai_ops.config.sources import _default_max_values as _default_max_values
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
