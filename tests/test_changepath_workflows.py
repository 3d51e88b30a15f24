"""The GitHub Actions workflows: lint with actionlint, and check the cron -> job mapping."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ai_ops.config import load_config

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint not installed (.ci/run installs it)")
def test_workflows_pass_actionlint() -> None:
    result = subprocess.run(["actionlint", "-no-color", *map(str, sorted(WORKFLOWS.glob("*.yml")))],
                            capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    if shutil.which("actionlint") is None:
        pytest.skip("actionlint not installed")
    broken = tmp_path / "broken.yml"
    broken.write_text((WORKFLOWS / "ai-ops.yml").read_text().replace("runs-on: ubuntu-latest", "runs-on: [}"))
    assert subprocess.run(["actionlint", str(broken)], capture_output=True, timeout=120, check=False).returncode != 0


def test_each_cron_maps_to_the_job_of_the_same_schedule_in_the_config() -> None:
    schedule = load_config(ROOT / "config" / "ops_config.yaml").schedule
    expected = {schedule.cycle: "cycle", schedule.train: "train", schedule.report: "report"}
    workflow = load("ai-ops.yml")
    crons = [entry["cron"] for entry in workflow["on"]["schedule"]]
    assert sorted(crons) == sorted(expected)
    chooser = next(step["run"] for step in workflow["jobs"]["ai-ops"]["steps"] if step.get("id") == "choose")
    mapping = dict(re.findall(r'^\s*"([^"]+)"\) job=(\w[\w-]*) ;;', chooser, re.MULTILINE))
    assert mapping == expected


def test_manual_trigger_offers_every_job_and_the_workflow_is_least_privilege() -> None:
    workflow = load("ai-ops.yml")
    options = workflow["on"]["workflow_dispatch"]["inputs"]["job"]["options"]
    assert options == ["cycle", "train", "report", "full-cycle"]
    assert workflow["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    steps = workflow["jobs"]["ai-ops"]["steps"]
    run = next(s for s in steps if str(s.get("name", "")).startswith("Run ai-ops"))
    assert all(v.startswith("${{ secrets.") for k, v in run["env"].items() if k not in ("JOB", "DRY_RUN", "GITHUB_TOKEN"))
    assert "ai-ops --config" in run["run"]
    assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in steps)
    assert load("ci.yml")["permissions"] == {"contents": "read"}


def test_ci_runs_the_ci_script() -> None:
    steps = load("ci.yml")["jobs"]["test"]["steps"]
    assert any("bash .ci/run" in s.get("run", "") for s in steps)
