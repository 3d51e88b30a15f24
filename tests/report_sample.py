"""A complete, typed report for the delivery and narrative tests (tests/fixtures/report.json).

The fixture is a real report: the embedded simulated service after a day of cycles
(`run_report(..., dry_run=True).report.to_json()`, regenerated when the schema changes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ai_ops.reporting.model import Report

FIXTURE = Path(__file__).parent / "fixtures" / "report.json"


def sample_report(**changes: Any) -> Report:
    """The fixture report with top-level fields replaced (nested values as plain dicts), validated."""
    data = json.loads(FIXTURE.read_text())
    data.update(changes)
    return Report.model_validate(data)


def sample_data() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())
