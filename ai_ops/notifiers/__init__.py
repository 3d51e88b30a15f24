"""Delivery channels (Slack, Notion). Each returns a `Delivery` value and never raises for channel trouble:
one channel failing never blocks the others, and the local report is always written first."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ai_ops.config import Secrets, redact


@dataclass(frozen=True)
class Delivery:
    channel: str
    status: str
    """'sent', 'updated', 'skipped' or 'failed'."""
    detail: str

    def line(self) -> str:
        return f"{self.channel}: {self.status} ({self.detail})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scrub(message: str, secrets: Secrets, limit: int = 300) -> str:
    """An error message safe to print (an SDK may echo a URL or token): `redact`, shortened."""
    return redact(message, secrets.secret_values())[:limit]
