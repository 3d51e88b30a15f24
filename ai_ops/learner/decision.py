"""What the threshold learner hands out: the Decision of a step, its LearningStatus, the error for
an unusable state file, and the names and limits shared by the learner's modules.

The learner itself is `ai_ops.learner.learner.ThresholdLearner`; see docs/learner.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ai_ops.errors import OpsError
from ai_ops.learner.reward import Reward

STATE_VERSION = 4
READABLE_STATE_VERSIONS = (3, 4)
"""Version 3 state (before the page budget) is read: its windows are kept, its alert ceilings dropped."""
SCALING = "autoscaling_cpu_target"
MIN_REPLICAS = "autoscaling_min_replicas"
"""Learned only when the configuration's thresholds list it (a Terraform variable must exist for it)."""
CPU_ALERT = "alert_cpu_utilization"
ALERT_MEMORY_DAYS = 28.0
"""Windows the page budget is tuned on (the last four weeks)."""
DAY = 86_400.0
HISTORY_KEPT = 400


class LearnerStateError(OpsError):
    """models/learner_state.json cannot be used; nothing is changed until a person decides."""

    exit_code = 2


@dataclass(frozen=True)
class Decision:
    time: float
    old: dict[str, float]
    new: dict[str, float]
    reward: Reward | None
    reasons: dict[str, str]
    status: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def changes(self) -> dict[str, tuple[float, float]]:
        return {k: (self.old[k], v) for k, v in self.new.items() if v != self.old.get(k)}

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changes"] = {k: {"old": o, "new": n} for k, (o, n) in self.changes.items()}
        return data


@dataclass(frozen=True)
class LearningStatus:
    """exploring / converging / settled, with the criterion a reviewer can check, and any bound
    that binds with what would fix it."""

    status: str
    criterion: str
    days_since_change: float | None
    ceiling: float | None
    binding: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
