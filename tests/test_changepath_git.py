"""Git actuator against real repositories with a local bare remote (no network)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import git
import pytest

from ai_ops.actuators.git import branch_name, check_ready, commit_owned, propose_change
from ai_ops.config import GitConfig, OpsConfig
from ai_ops.errors import ActuatorError
from ai_ops.jobs.cycle import run_cycle
from ai_ops.jobs.demo import DEMO_START
from ai_ops.jobs.full_cycle import run_full_cycle
from ai_ops.jobs.train import run_train
from ai_ops.state import read_jsonl

NOW = DEMO_START + 7 * 86_400


def sh(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def with_mode(config: OpsConfig, mode: str) -> OpsConfig:
    outputs = config.outputs.model_copy(update={"git": config.outputs.git.model_copy(update={"mode": mode})})
    return config.model_copy(update={"outputs": outputs})


@pytest.fixture
def remote(sim_config: OpsConfig, tmp_path: Path) -> Path:
    """A bare repository as `origin`, holding the workspace's main branch."""
    bare = tmp_path / "remote.git"
    git.Repo.init(bare, bare=True, initial_branch="main")
    ws = sim_config.path(".")
    sh(ws, "remote", "add", "origin", str(bare))
    sh(ws, "push", "-q", "origin", "main")
    return bare


def owned(config: OpsConfig) -> list[Path]:
    return [config.tfvars_path, config.models_path]


def write_owned(config: OpsConfig, value: int) -> None:
    config.tfvars_path.write_text(json.dumps({"autoscaling_cpu_target": value}) + "\n")
    config.models_path.mkdir(exist_ok=True)
    (config.models_path / "learner_state.json").write_text(json.dumps({"v": value}) + "\n")


def test_commit_mode_commits_only_owned_files_and_leaves_unrelated_work(sim_config: OpsConfig) -> None:
    ws = sim_config.path(".")
    (ws / "notes.txt").write_text("mine, unstaged\n")
    (ws / "staged.txt").write_text("mine, staged\n")
    sh(ws, "add", "staged.txt")
    write_owned(sim_config, 75)
    result = commit_owned(ws, owned(sim_config), "ai-ops: test\n\nbody", sim_config.outputs.git)
    assert result.committed and result.sha == sh(ws, "rev-parse", "HEAD")
    files = sh(ws, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(files) == ["models/learner_state.json", "terraform/ai_ops.auto.tfvars.json"]
    assert sh(ws, "log", "-1", "--format=%an <%ae>") == "ai-ops[bot] <ai-ops-bot@users.noreply.github.com>"
    # The person's work is exactly as it was: staged stays staged, unstaged stays unstaged.
    status = sh(ws, "status", "--porcelain")
    assert "A  staged.txt" in status and "?? notes.txt" in status


def test_nothing_committed_when_nothing_changed(sim_config: OpsConfig) -> None:
    ws = sim_config.path(".")
    write_owned(sim_config, 75)
    assert commit_owned(ws, owned(sim_config), "first", sim_config.outputs.git).committed
    head = sh(ws, "rev-parse", "HEAD")
    again = commit_owned(ws, owned(sim_config), "second", sim_config.outputs.git)
    assert not again.committed and again.sha is None and sh(ws, "rev-parse", "HEAD") == head


def test_dry_run_shows_the_diff_and_changes_nothing(sim_config: OpsConfig) -> None:
    ws = sim_config.path(".")
    write_owned(sim_config, 70)
    head = sh(ws, "rev-parse", "HEAD")
    result = commit_owned(ws, owned(sim_config), "m", GitConfig(mode="dry-run"))
    assert not result.committed and "new file: terraform/ai_ops.auto.tfvars.json" in result.diff
    assert sh(ws, "rev-parse", "HEAD") == head and "??" in sh(ws, "status", "--porcelain")


def test_commit_mode_refuses_detached_head_before_writing(sim_config: OpsConfig) -> None:
    ws = sim_config.path(".")
    sh(ws, "checkout", "-q", "--detach")
    with pytest.raises(ActuatorError, match="HEAD is detached"):
        run_cycle(sim_config, NOW)
    assert not sim_config.tfvars_path.exists()


def test_pr_mode_without_remote_is_a_clear_error(sim_config: OpsConfig) -> None:
    with pytest.raises(ActuatorError, match="does not have"):
        check_ready(sim_config.path("."), GitConfig(mode="pr"))


def test_never_commits_a_secret(sim_config: OpsConfig) -> None:
    ws = sim_config.path(".")
    write_owned(sim_config, 75)
    (sim_config.models_path / "leak.json").write_text('{"token": "ghp_supersecretvalue"}\n')
    head = sh(ws, "rev-parse", "HEAD")
    with pytest.raises(ActuatorError, match=r"leak\.json.*secret"):
        commit_owned(ws, owned(sim_config), "m", sim_config.outputs.git, ["ghp_supersecretvalue"])
    assert sh(ws, "rev-parse", "HEAD") == head


def test_pr_mode_pushes_one_commit_on_a_dated_branch_from_a_dirty_detached_tree(
        sim_config: OpsConfig, remote: Path) -> None:
    ws = sim_config.path(".")
    config = GitConfig(mode="pr")
    sh(ws, "checkout", "-q", "--detach")
    (ws / "notes.txt").write_text("unrelated\n")
    write_owned(sim_config, 75)
    base = sh(ws, "rev-parse", "HEAD")
    result = propose_change(ws, owned(sim_config), "ai-ops: lower CPU target\n\n| t | 80 | 75 |", config,
                            "lower CPU target", NOW)
    assert result.pushed and result.branch == branch_name(config, "lower CPU target", NOW)
    assert result.branch.startswith("ai-ops/2026-01-12-lower-cpu-target")
    remote_repo = git.Repo(remote)
    pushed = remote_repo.commit(result.branch)
    assert pushed.hexsha == result.sha and [p.hexsha for p in pushed.parents] == [base]
    assert sorted(pushed.stats.files) == ["models/learner_state.json", "terraform/ai_ops.auto.tfvars.json"]
    # The work tree, index and HEAD are untouched; the PR body file is written, outside Git.
    assert sh(ws, "rev-parse", "HEAD") == base and (ws / "notes.txt").exists()
    assert result.pull_request_file is not None and "| t | 80 | 75 |" in result.pull_request_file.read_text()
    meta = json.loads((result.pull_request_file.parent / "pull_request.json").read_text())
    assert meta["title"] == "ai-ops: lower CPU target" and meta["branch"] == result.branch
    # A rerun with nothing new changes nothing on the remote.
    again = propose_change(ws, owned(sim_config), "ai-ops: lower CPU target\n\nx", config, "lower CPU target", NOW)
    assert not again.committed and git.Repo(remote).commit(result.branch).hexsha == result.sha


def _install_moving_hook(bare: Path, times: int) -> None:
    """A pre-receive hook that, `times` times, moves the state branch (another run) and rejects the push."""
    hook = bare / "hooks" / "pre-receive"
    counter = bare / "moves"
    counter.write_text(str(times))
    hook.write_text(f"""#!/bin/sh
n=$(cat {counter})
if [ "$n" -gt 0 ]; then
  echo $((n - 1)) > {counter}
  unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
  export GIT_AUTHOR_NAME=other GIT_AUTHOR_EMAIL=other@example.com GIT_COMMITTER_NAME=other GIT_COMMITTER_EMAIL=other@example.com
  tip=$(git rev-parse -q --verify refs/heads/ai-ops/state)
  tree=$(git hash-object -t tree -w /dev/null)
  if [ -n "$tip" ]; then c=$(echo other run | git commit-tree $tree -p $tip); else c=$(echo other run | git commit-tree $tree); fi
  git update-ref refs/heads/ai-ops/state $c
  echo "simulated: the remote moved" >&2
  exit 1
fi
""")
    hook.chmod(0o755)


def test_state_push_rejected_because_remote_moved_is_rebuilt_once(sim_config: OpsConfig, remote: Path) -> None:
    ws = sim_config.path(".")
    write_owned(sim_config, 75)
    _install_moving_hook(remote, times=1)
    result = commit_owned(ws, [sim_config.models_path], "state", GitConfig(mode="pr"))
    assert result.pushed
    tip = git.Repo(remote).commit("ai-ops/state")
    assert tip.hexsha == result.sha and tip.parents[0].message.strip() == "other run"
    assert "models/learner_state.json" in [b.path for b in tip.tree.traverse()]


def test_state_push_rejected_twice_is_a_clear_error(sim_config: OpsConfig, remote: Path) -> None:
    ws = sim_config.path(".")
    write_owned(sim_config, 75)
    _install_moving_hook(remote, times=2)
    with pytest.raises(ActuatorError, match="rejected twice"):
        commit_owned(ws, [sim_config.models_path], "state", GitConfig(mode="pr"))


def test_full_cycle_in_pr_mode_against_a_bare_remote(sim_config: OpsConfig, remote: Path) -> None:
    """The issue's acceptance test: one pushed commit touching only owned files, and a PR body file."""
    config = with_mode(sim_config, "pr")
    ws = config.path(".")
    base = sh(ws, "rev-parse", "HEAD")
    run_train(config, NOW - 86_400)
    result = run_full_cycle(config, NOW)
    cycle = result["cycle"]
    assert cycle.decision.changed, "the first cycle from the initial thresholds is expected to propose a change"
    commit = cycle.commit
    assert commit is not None and commit.pushed and commit.branch.startswith("ai-ops/2026-01-12-")
    remote_repo = git.Repo(remote)
    pushed = remote_repo.commit(commit.branch)
    assert [p.hexsha for p in pushed.parents] == [base]
    files = set(pushed.stats.files)
    assert "terraform/ai_ops.auto.tfvars.json" in files
    assert all(f == "terraform/ai_ops.auto.tfvars.json" or f.startswith("models/") for f in files), files
    # A reviewer reads values and their explanation, not detector parameter churn.
    assert not any(f.startswith("models/detectors/") for f in files), files
    assert pushed.author.name == "ai-ops[bot]"
    assert commit.pull_request_file is not None and commit.pull_request_file.exists()
    assert "Evidence" in commit.pull_request_file.read_text()
    # main is untouched on the remote; learned state and reports went to the state branch.
    assert remote_repo.commit("main").hexsha == base
    state_files = [b.path for b in remote_repo.commit("ai-ops/state").tree.traverse() if b.type == "blob"]
    assert "models/decisions.jsonl" in state_files and any(p.startswith("reports/") for p in state_files)
    # The ledger records the PR commit's sha.
    ledger = [r for r in read_jsonl(config.models_path / "decisions.jsonl") if r.get("changes")]
    assert ledger[-1]["commit"] == pushed.hexsha


def test_cli_pr_mode_without_remote_exits_4_and_writes_nothing(tmp_path: Path) -> None:
    import sys

    config = tmp_path / "ops.yaml"
    config.write_text(f"outputs:\n  workspace: {tmp_path / 'ws'}\n  git: {{mode: pr}}\n")
    result = subprocess.run([sys.executable, "-m", "ai_ops", "--config", str(config), "cycle"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 4, result.stderr
    assert "remote 'origin'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "ws" / "terraform" / "ai_ops.auto.tfvars.json").exists()
    assert not (tmp_path / "ws" / "models").exists()


def test_cycle_refuses_an_undeclared_terraform_variable_and_writes_nothing(sim_config: OpsConfig) -> None:
    variables = sim_config.path("terraform") / "variables.tf"
    variables.write_text(variables.read_text().replace('variable "autoscaling_cpu_target"', 'variable "renamed"')
                         .replace("var.autoscaling_cpu_target", "var.renamed"))
    head = sh(sim_config.path("."), "rev-parse", "HEAD")
    with pytest.raises(ActuatorError, match='autoscaling_cpu_target: no `variable "autoscaling_cpu_target"`'):
        run_cycle(sim_config, NOW)
    assert not sim_config.tfvars_path.exists() and sh(sim_config.path("."), "rev-parse", "HEAD") == head
