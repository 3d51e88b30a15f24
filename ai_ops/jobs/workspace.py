"""What every job shares: the workspace's files, its lock, and the workspace a simulated run creates."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ai_ops.config import OpsConfig, embedded_default_yaml
from ai_ops.errors import WorkspaceError
from ai_ops.state import load_state, read_jsonl, workspace_lock

DAY = 86_400
SCALING = "autoscaling_cpu_target"
DEMO_MARKER = ".ai-ops-demo"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Paths:
    models: Path

    @property
    def ledger(self) -> Path:
        return self.models / "decisions.jsonl"

    @property
    def anomalies(self) -> Path:
        return self.models / "anomalies.jsonl"

    @property
    def legacy_learner_state(self) -> Path:
        """The one shared learner state before per-service thresholds; migrated on the next cycle."""
        return self.models / "learner_state.json"

    @property
    def learner_dir(self) -> Path:
        return self.models / "learner"

    def learner_state(self, service: str) -> Path:
        """One learner per service: its state, evidence and history."""
        return self.learner_dir / f"{service}.json"

    @property
    def training_log(self) -> Path:
        return self.models / "training_log.json"

    @property
    def fleet(self) -> Path:
        """Discovered services: first/last seen, active or not (jobs/fleet.py)."""
        return self.models / "fleet.json"

    @property
    def train_summaries(self) -> Path:
        """Per series, a summary of the history it was last trained on (skip unchanged series)."""
        return self.models / "train_summaries.json"

    @property
    def llm_state(self) -> Path:
        return self.models / "llm_state.json"

    def forecast(self, service: str) -> Path:
        """The service's demand forecast from the last `train`, with its error history (learner.predictive)."""
        return self.models / "forecast" / f"{service}.json"

    def detector(self, service: str, metric: str) -> Path:
        return self.models / "detectors" / service / f"{metric}.json"


class TrainingEntry(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)
    series: str
    samples: int = Field(ge=0)
    trained: bool
    loss: float | None = None
    converged: bool | None = None
    message: str = ""
    seconds: float = Field(0.0, ge=0)


class TrainingRun(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    time: str = Field(min_length=1, max_length=40)
    series: list[TrainingEntry]


class TrainingLog(BaseModel):
    """Schema of models/training_log.json: what every daily training did."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    runs: list[TrainingRun]


class Change(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)
    old: float
    new: float


class LedgerRecord(BaseModel):
    """What every reader of models/decisions.jsonl relies on; other fields are free."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    time: float = Field(strict=True)
    changes: dict[str, Change] = Field(default_factory=dict)
    summary: str = ""


class AnomalyRecord(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)
    service: str
    metric: str
    time: float
    score: float
    severity: str
    # Read by the report's episodes and explanations: typed, or a `null` or string there is a traceback.
    surprisal: float = 0.0
    sustained: int = 1
    caused_by: str = ""


def read_ledger(paths: Paths) -> list[dict[str, Any]]:
    """models/decisions.jsonl, each record checked (a torn last line is set aside, see state.read_jsonl)."""
    return read_jsonl(paths.ledger, LedgerRecord.model_validate)


def read_anomalies(paths: Paths) -> list[dict[str, Any]]:
    return read_jsonl(paths.anomalies, AnomalyRecord.model_validate)


def load_training_log(paths: Paths) -> dict[str, Any]:
    """models/training_log.json, validated; restored from Git or refused (exit 2) when damaged."""
    data = load_state(paths.training_log, TrainingLog.model_validate, {"runs": []})
    return data if isinstance(data, dict) and data else {"runs": []}


def paths_for(config: OpsConfig) -> Paths:
    return Paths(config.models_path)


def json_safe(value: Any) -> Any:
    """NaN/inf (no data: unknown SLA, infinite staleness) as null, so the strict JSON ledger accepts them."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def prepare_workspace(config: OpsConfig, *, fresh: bool) -> None:
    """A self-contained workspace: Git repo, terraform/variables.tf, config copy.

    With `fresh`, the folder must be empty or a previous demo (then it is replaced).
    """
    from ai_ops.actuators.git import init_repo
    from ai_ops.actuators.terraform import render_variables_tf

    root = config.path(".")
    if fresh and root.exists():
        if not root.is_dir():
            raise WorkspaceError(f"{root} exists and is not a folder; choose another --workspace")
        if any(root.iterdir()):
            if not (root / DEMO_MARKER).exists():
                raise WorkspaceError(
                    f"{root} is not empty and is not a previous ai-ops demo; choose another --workspace or empty it"
                )
            shutil.rmtree(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise WorkspaceError(f"cannot write to workspace {root}: {exc.strerror or exc}; choose a writable --workspace") from None
    if (root / ".git").exists():
        return
    (root / DEMO_MARKER).write_text("created by `ai-ops demo`; safe to delete\n")
    (root / ".gitignore").write_text(".ai-ops.lock\n")
    terraform = config.path(config.outputs.terraform_dir)
    terraform.mkdir(parents=True, exist_ok=True)
    (terraform / "variables.tf").write_text(render_variables_tf(config))
    (root / "config").mkdir(exist_ok=True)
    # The saved copy names its own workspace: config/.. (a relative workspace is relative to the file).
    (root / "config" / "ops_config.yaml").write_text(
        embedded_default_yaml().replace("\n  workspace: ai-ops-demo\n", "\n  workspace: ..\n"))
    repo = init_repo(root, config.outputs.git)
    repo.git.add("--all")
    repo.git.commit("-m", "Initial workspace: Terraform variables and ai-ops config")


def locked(config: OpsConfig) -> Any:
    """The one lock of a workspace: the CLI, the daemon and the demo all take it."""
    return workspace_lock(config.path("."))
