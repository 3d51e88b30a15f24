"""Git: commit the controller's own files, with the evidence in the message.

Three modes (`outputs.git.mode`):
- `dry-run`: show the diff, change nothing.
- `commit`: commit the owned paths on the current branch (the person's other work, staged
  or not, is left exactly as it was).
- `pr`: build a commit of the owned paths on top of HEAD *without checking anything out*
  (a private index file and `git commit-tree`), push it as `ai-ops/<date>-<summary>`, write
  the PR title and body files, and open the PR through the GitHub API when a token is set.
  Learned state (`models/`, `reports/`) is also pushed to a state branch, because every
  GitHub Actions run starts from a fresh checkout (docs/github_actions.md#state).

Building commits with plumbing means the work tree, the index and the current branch of
the user are never touched, whatever their state (dirty, detached HEAD).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git

from ai_ops.actuators.github import GitHubClient
from ai_ops.config import GitConfig
from ai_ops.errors import ActuatorError

MAX_SCANNED_BYTES = 5_000_000


@dataclass(frozen=True)
class CommitResult:
    mode: str
    committed: bool
    sha: str | None
    branch: str | None
    diff: str
    message: str
    pushed: bool = False
    pull_request_url: str | None = None
    pull_request_file: Path | None = None
    warning: str | None = None


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


def _identity(config: GitConfig) -> dict[str, str]:
    return {"GIT_AUTHOR_NAME": config.author_name, "GIT_AUTHOR_EMAIL": config.author_email,
            "GIT_COMMITTER_NAME": config.author_name, "GIT_COMMITTER_EMAIL": config.author_email}


def _relative(workspace: Path, paths: Sequence[Path]) -> list[str]:
    root = workspace.resolve()
    out = []
    for path in paths:
        resolved = path.resolve()
        try:
            relative = resolved.relative_to(root)
        except ValueError:
            raise ActuatorError(f"refusing to commit {path}: it is outside the workspace {root}") from None
        if resolved.exists():
            out.append(relative.as_posix())
    return out


def head_sha(repo: git.Repo) -> str | None:
    """HEAD's commit sha from the refs alone, None before the first commit.

    `repo.head.commit` / `is_valid()` read the commit object, which starts a `git cat-file`
    process per Repo object; each job opens the repo anew, so that was two processes per commit
    (some 200 in a replay) for a sha the ref files already hold.
    """
    try:
        return str(git.SymbolicReference.dereference_recursive(repo, "HEAD"))
    except (ValueError, OSError):
        return None


def check_ready(workspace: Path, config: GitConfig, repo: git.Repo | None = None) -> None:
    """Fail before anything is written when the mode cannot succeed in this repository."""
    if config.mode == "dry-run":
        return
    repo = repo or open_repo(workspace)
    if head_sha(repo) is None:
        raise ActuatorError(f"{workspace} has no commit yet; make an initial commit first")
    if config.mode == "commit" and repo.head.is_detached:
        raise ActuatorError(
            f"HEAD is detached in {workspace}; check out a branch (git switch {config.base_branch}) "
            "or use outputs.git.mode: pr, which does not need one"
        )
    if config.mode == "pr" and config.remote not in [r.name for r in repo.remotes]:
        raise ActuatorError(
            f"pr mode pushes to remote '{config.remote}', which {workspace} does not have; "
            f"add it (git remote add {config.remote} URL), set outputs.git.remote, or use mode: commit"
        )


def scan_for_secrets(workspace: Path, relative: Sequence[str], secret_values: Sequence[str]) -> None:
    """Refuse to commit a file that contains the value of any configured secret."""
    needles = [s.encode() for s in secret_values if len(s) >= 6]
    if not needles:
        return
    for rel in relative:
        base = workspace / rel
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
        for file in files:
            with file.open("rb") as handle:
                content = handle.read(MAX_SCANNED_BYTES)
            if any(n in content for n in needles):
                raise ActuatorError(
                    f"refusing to commit {file.relative_to(workspace)}: it contains the value of a secret "
                    "from the environment; remove it from the file (nothing was committed)"
                )


def _dry_run_diff(repo: git.Repo, relative: list[str]) -> str:
    diff = repo.git.diff("HEAD", "--", *relative) if relative and head_sha(repo) is not None else ""
    prefixes = [r.rstrip("/") for r in relative]
    untracked = [p for p in repo.untracked_files if any(p == r or p.startswith(r + "/") for r in prefixes)]
    return diff + "".join(f"\nnew file: {p}" for p in untracked)


def commit_owned(workspace: Path, paths: list[Path], message: str, config: GitConfig,
                 secret_values: Sequence[str] = ()) -> CommitResult:
    """Record the controller-owned `paths`: a diff (dry-run), a commit (commit) or the state branch (pr).

    In pr mode this is how models/ and reports/ travel between runs; threshold changes go
    through `propose_change`, which makes the PR branch.
    """
    repo = open_repo(workspace)
    relative = _relative(workspace, paths)
    if config.mode == "dry-run":
        return CommitResult("dry-run", False, None, None, _dry_run_diff(repo, relative), message)
    check_ready(workspace, config, repo)
    scan_for_secrets(workspace, relative, secret_values)
    if config.mode == "pr":
        return save_state(repo, relative, message, config)
    if relative:
        repo.git.add("--", *relative)
    staged = repo.git.diff("--cached", "--name-only", "--", *relative) if relative else ""
    if not staged.strip():
        return CommitResult(config.mode, False, None, _branch(repo), "", message)
    try:
        # `commit -- paths` commits only our paths even if the user has other work staged.
        repo.git.commit("-m", message, "--", *relative, env=_identity(config))
    except git.GitCommandError as exc:
        raise ActuatorError(f"git commit failed in {workspace}: {exc.stderr.strip() or exc}") from None
    return CommitResult(config.mode, True, head_sha(repo), _branch(repo), staged, message)


def _branch(repo: git.Repo) -> str | None:
    return None if repo.head.is_detached else repo.active_branch.name


# ---------------------------------------------------------------- plumbing: commits without checkout


def _build_commit(repo: git.Repo, parent: str | None, relative: list[str], message: str,
                  config: GitConfig, unchanged_if_like: str | None = None) -> str | None:
    """A commit whose tree is `parent`'s tree with `relative` paths taken from the work tree.

    Returns None when that tree equals the parent's, or `unchanged_if_like`'s (nothing changed).
    """
    with tempfile.TemporaryDirectory(prefix="ai-ops-index-") as tmp:
        env = {**_identity(config), "GIT_INDEX_FILE": os.path.join(tmp, "index")}
        if parent:
            repo.git.read_tree(parent, env=env)
        else:
            repo.git.read_tree("--empty", env=env)
        if relative:
            try:
                repo.git.add("-A", "--", *relative, env=env)
            except git.GitCommandError as exc:
                raise ActuatorError(f"cannot stage {', '.join(relative)}: {exc.stderr.strip() or exc}") from None
        tree = repo.git.write_tree(env=env)
        for same in (parent, unchanged_if_like):
            if same and tree == repo.git.rev_parse(f"{same}^{{tree}}"):
                return None
        args = [tree, "-m", message] + (["-p", parent] if parent else [])
        return str(repo.git.commit_tree(*args, env=env))


def _remote_tip(repo: git.Repo, config: GitConfig, branch: str) -> str | None:
    """Fetch `branch` from the remote; its tip sha, or None when the remote has no such branch."""
    try:
        output = str(repo.git.ls_remote("--heads", config.remote, f"refs/heads/{branch}"))
    except git.GitCommandError as exc:
        raise ActuatorError(f"cannot reach remote '{config.remote}': {exc.stderr.strip() or exc}") from None
    if not output.strip():
        return None
    try:
        repo.git.fetch(config.remote, f"refs/heads/{branch}")
    except git.GitCommandError as exc:
        raise ActuatorError(f"cannot fetch {branch} from '{config.remote}': {exc.stderr.strip() or exc}") from None
    return output.split()[0]


_REJECTED = re.compile(r"rejected|non-fast-forward|fetch first|stale info", re.IGNORECASE)


def _push(repo: git.Repo, sha: str, branch: str, config: GitConfig, expected: str | None) -> bool:
    """Push `sha` to `branch`; False when the remote moved (rejected), ActuatorError on other failures."""
    lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
    try:
        repo.git.push("--porcelain", lease, config.remote, f"{sha}:refs/heads/{branch}")
    except git.GitCommandError as exc:
        text = f"{exc.stdout or ''}\n{exc.stderr or ''}"
        if _REJECTED.search(text):
            return False
        raise ActuatorError(f"git push to '{config.remote}' failed: {(exc.stderr or '').strip() or exc}") from None
    return True


def _commit_and_push(repo: git.Repo, branch: str, base: str | None, relative: list[str], message: str,
                     config: GitConfig, on_remote_tip: bool) -> tuple[str | None, str]:
    """Commit on top of `base` (or of the remote branch tip) and push; once more if the remote moved."""
    for attempt in range(2):
        tip = _remote_tip(repo, config, branch)
        parent = tip if (on_remote_tip or attempt == 1) and tip else base
        sha = _build_commit(repo, parent, relative, message, config, unchanged_if_like=tip)
        if sha is None:
            return None, parent or ""
        if _push(repo, sha, branch, config, expected=tip):
            repo.git.update_ref(f"refs/heads/{branch}", sha)
            return sha, parent or ""
    raise ActuatorError(
        f"push of {branch} to '{config.remote}' was rejected twice: the remote branch moved while ai-ops "
        f"was writing. Nothing was lost locally; run the job again (it rebuilds on the new tip)"
    )


def save_state(repo: git.Repo, relative: list[str], message: str, config: GitConfig) -> CommitResult:
    """Push the learned state to the state branch, on top of its remote tip (history kept)."""
    sha, _ = _commit_and_push(repo, config.state_branch, None, relative, message, config, on_remote_tip=True)
    return CommitResult("pr", sha is not None, sha, config.state_branch, "", message, pushed=sha is not None)


# ---------------------------------------------------------------- pr mode: the threshold change


def branch_name(config: GitConfig, summary: str, now: float) -> str:
    date = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    slug = re.sub(r"[^a-z0-9]+", "-", summary.lower()).strip("-")[:48].rstrip("-") or "thresholds"
    return f"{config.branch_prefix}{date}-{slug}"


def write_pull_request_files(workspace: Path, config: GitConfig, title: str, body: str, branch: str,
                             sha: str) -> Path:
    """`pull_request.md` (the body) and `pull_request.json` (title, branch, base, sha) for the workflow."""
    from ai_ops.state import atomic_write_json, atomic_write_text

    folder = workspace / config.pull_request_dir
    atomic_write_text(folder / "pull_request.md", body)
    atomic_write_json(folder / "pull_request.json", {"title": title, "branch": branch, "base": config.base_branch,
                                                     "sha": sha, "body_file": "pull_request.md"})
    return folder / "pull_request.md"


def propose_change(workspace: Path, paths: list[Path], message: str, config: GitConfig, summary: str,
                   now: float, secret_values: Sequence[str] = (), github: GitHubClient | None = None) -> CommitResult:
    """pr mode: one commit of the owned files on `ai-ops/<date>-<summary>`, pushed, with its PR.

    The branch starts at HEAD; a rerun with the same summary on the same day replaces the
    branch's commit (force-with-lease), so its open PR is updated rather than duplicated.
    Other modes: `commit_owned`.
    """
    if config.mode != "pr":
        return commit_owned(workspace, paths, message, config, secret_values)
    repo = open_repo(workspace)
    check_ready(workspace, config, repo)
    relative = _relative(workspace, paths)
    scan_for_secrets(workspace, relative, secret_values)
    branch = branch_name(config, summary, now)
    base = head_sha(repo)
    assert base is not None  # check_ready refused a repository without a commit
    sha, _ = _commit_and_push(repo, branch, base, relative, message, config, on_remote_tip=False)
    if sha is None:
        return CommitResult("pr", False, None, branch, "", message)
    title, _, rest = message.partition("\n")
    body = rest.strip() + (f"\n\n---\nBranch `{branch}`, commit `{sha[:12]}`, made by ai-ops. "
                           "How to review: docs/reviewing_prs.md\n")
    pr_file = write_pull_request_files(workspace, config, title, body, branch, sha)
    diff = repo.git.diff("--stat", base, sha)
    url, warning = None, None
    if github is not None and config.open_pull_request:
        try:
            url = github.open_or_update(branch, config.base_branch, title, body).url
        except ActuatorError as exc:
            warning = f"branch {branch} pushed, but the pull request was not opened: {exc}"
    return CommitResult("pr", True, sha, branch, diff, message, pushed=True, pull_request_url=url,
                        pull_request_file=pr_file, warning=warning)
