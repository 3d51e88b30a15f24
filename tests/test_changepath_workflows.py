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


# -- supply chain (issue 16)

PINNED = re.compile(r"^\s*(?:-\s*)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)\s*$")


@pytest.mark.parametrize("name", ["ai-ops.yml", "ci.yml", "constraints.yml"])
def test_every_action_is_pinned_by_commit_sha_with_its_tag_in_a_comment(name: str) -> None:
    lines = [line for line in (WORKFLOWS / name).read_text().splitlines() if re.match(r"^\s*(-\s*)?uses:", line)]
    assert lines
    for line in lines:
        assert PINNED.match(line), f"{name}: not pinned by a 40-hex commit SHA with a '# vX.Y.Z' comment: {line}"


def test_no_expression_is_expanded_inside_a_run_script() -> None:
    """Step outputs and inputs reach shell scripts through env:, never as text spliced into the script."""
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in load(path.name)["jobs"].values():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name', step.get('run'))}"


def test_production_installs_from_the_constraints_file_which_pins_every_dependency() -> None:
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    steps = load("ai-ops.yml")["jobs"]["ai-ops"]["steps"]
    install = next(s for s in steps if s.get("name") == "Install ai-ops")
    assert "-c constraints.txt" in install["run"]
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is not in constraints.txt: run python .ci/constraints.py"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name], str(req.specifier))


def test_dependabot_watches_actions_and_pip() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert {u["package-ecosystem"] for u in config["updates"]} == {"github-actions", "pip"}


def test_every_imported_package_is_declared_in_pyproject() -> None:
    """A fresh install from pyproject alone must be able to import every module of ai_ops."""
    import ast
    import sys
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # Runtime dependencies, and the extras a feature asks for by name (`ai-ops[dask]`: its import is
    # guarded by a config error naming the extra); never the dev tools.
    extras = [t for name, texts in project["optional-dependencies"].items() if name != "dev" for t in texts]
    declared = {canonicalize_name(Requirement(t).name) for t in [*project["dependencies"], *extras]}
    providers = metadata.packages_distributions()
    missing = set()
    for path in (ROOT / "ai_ops").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "ai_ops":
                    continue
                dists = {canonicalize_name(d) for d in providers.get(top, [top])}
                if not dists & declared:
                    missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, f"imported but not in [project.dependencies]: {sorted(missing)}"
