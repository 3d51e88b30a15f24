"""Git: commit the controller's own files, with the evidence in the message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import git

from ai_ops.config import GitConfig
from ai_ops.errors import ActuatorError


@dataclass(frozen=True)
class CommitResult:
    mode: str
    committed: bool
    sha: str | None
    branch: str | None
    diff: str
    message: str


def open_repo(workspace: Path) -> git.Repo:
    try:
        return git.Repo(workspace, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ActuatorError(
            f"{workspace} is not a Git repository; run `git init` there or set outputs.git.mode: dry-run"
        ) from None


def init_repo(workspace: Path, config: GitConfig) -> git.Repo:
    repo = git.Repo.init(workspace, initial_branch=config.base_branch)
    with repo.config_writer() as writer:
        writer.set_value("user", "name", config.author_name)
        writer.set_value("user", "email", config.author_email)
    return repo


def commit_owned(workspace: Path, paths: list[Path], message: str, config: GitConfig) -> CommitResult:
    """Stage only `paths` (controller-owned), commit if anything changed, never touch the rest."""
    repo = open_repo(workspace)
    relative = [str(p.resolve().relative_to(workspace.resolve())) for p in paths if p.exists()]
    if config.mode == "dry-run":
        diff = repo.git.diff("--", *relative) if relative else ""
        untracked = [p for p in repo.untracked_files if any(p == r or p.startswith(r.rstrip("/") + "/") for r in relative)]
        if untracked:
            diff += "".join(f"\nnew file: {p}" for p in untracked)
        return CommitResult("dry-run", False, None, None, diff, message)
    if relative:
        repo.git.add("--", *relative)
    staged = repo.git.diff("--cached", "--name-only", "--", *relative) if relative else ""
    if not staged.strip():
        return CommitResult(config.mode, False, None, _branch(repo), "", message)
    actor = git.Actor(config.author_name, config.author_email)
    try:
        # Commit only our paths even if the user has other work staged.
        repo.git.commit("-m", message, "--author", f"{actor.name} <{actor.email}>", "--", *relative,
                        env={"GIT_COMMITTER_NAME": actor.name, "GIT_COMMITTER_EMAIL": actor.email})
    except git.GitCommandError as exc:
        raise ActuatorError(f"git commit failed in {workspace}: {exc.stderr.strip() or exc}") from None
    return CommitResult(config.mode, True, repo.head.commit.hexsha, _branch(repo), staged, message)


def _branch(repo: git.Repo) -> str | None:
    return None if repo.head.is_detached else repo.active_branch.name
