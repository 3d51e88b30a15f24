"""End to end on the simulated service: the whole loop, determinism, commits with reasoning."""

from __future__ import annotations

import json
from pathlib import Path

import git

from ai_ops.jobs.demo import run_demo


def test_demo_runs_the_loop_and_is_deterministic(tmp_path: Path) -> None:
    first = run_demo(tmp_path / "a", days=3, seed=7)
    second = run_demo(tmp_path / "b", days=3, seed=7)
    assert first.days == second.days
    assert first.threshold_path == second.threshold_path
    # Thresholds moved in response to reward, each change committed with its reasoning.
    targets = {p["autoscaling_cpu_target"] for p in first.threshold_path}
    assert len(targets) > 1
    repo = git.Repo(first.workspace)
    messages = [c.message for c in repo.iter_commits()]
    changes = [m for m in messages if "| service | threshold | old | new | why |" in m]
    assert changes and all("SLA attainment" in m and "- why:" in m and "exact SLI" in m for m in changes)
    # Changes made after the first daily report point to where it is.
    assert any("Latest daily report: reports/" in m for m in changes)
    # A later change says what the service's previous one did (replicas, cost, SLA before/after) ...
    assert any("- effect of its previous scaling change: " in m and "replicas " in m for m in changes)
    # Reports and state on disk.
    reports = sorted((first.workspace / "reports").glob("*/report.json"))
    assert len(reports) == 3
    assert json.loads(reports[-1].read_text())["health_score"] in range(101)
    # ... and so does the daily report, for each change of the week.
    assert json.loads(reports[-1].read_text())["change_effects"]
    assert "What the scaling changes of the last 7 days did" in (reports[-1].parent / "report.md").read_text()
    ledger = (first.workspace / "models" / "decisions.jsonl").read_text().splitlines()
    assert len(ledger) == 3 * 4 * len(first.services)  # one decision per service and cycle
    # Each service followed its own path (different load shapes, its own learner).
    final = {p["service"]: p["autoscaling_cpu_target"] for p in first.threshold_path[-len(first.services):]}
    assert set(final) == set(first.services) == {"checkout", "search", "recommendations"}
    # Predictive scaling is on in the demo: the schedule in its commits, the forecast in its reports.
    assert any("autoscaling_min_replicas_schedule" in m and "| checkout | " in m for m in messages)
    latest = json.loads(reports[-1].read_text())
    assert set(latest["predictive"]["forecasts"]) == {"checkout", "search", "recommendations"}
    assert "forecast" in latest["charts"]
    # Only controller-owned state may be left uncommitted (the cycles after the last report).
    dirty = {item.a_path for item in repo.index.diff(None)}
    assert dirty and all(p.startswith("models/") for p in dirty)


def test_demo_rerun_replaces_a_previous_demo(tmp_path: Path) -> None:
    run_demo(tmp_path / "d", days=1)
    result = run_demo(tmp_path / "d", days=1)
    assert result.commits >= 1
