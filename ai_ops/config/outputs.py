"""Config sections for what the controller writes and sends: schedule, Git, outputs, Slack, Notion, LLM."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ai_ops.config.base import Strict


class ScheduleConfig(Strict):
    cycle: str = Field("0 */6 * * *", description="Cron (UTC) of the ops cycle.")
    train: str = Field("0 3 * * *", description="Cron (UTC) of detector training.")
    report: str = Field("0 9 * * *", description="Cron (UTC) of the daily report.")
    misfire_grace_seconds: int = Field(3600, ge=1, description="A run this late is still run (daemon).")
    lock_wait_seconds: float = Field(
        600, ge=0, description="Daemon: how long a job waits for a manual run holding the lock before it skips."
    )

    @field_validator("cycle", "train", "report")
    @classmethod
    def _cron(cls, value: str) -> str:
        """Checked by the parser the daemon uses (APScheduler's), so `config check` and `run` agree."""
        from datetime import UTC

        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone=UTC)
        except Exception as exc:  # noqa: BLE001 - any parser complaint is the user's input being wrong
            raise ValueError(f"'{value}' is not a valid 5-field cron expression like '0 */6 * * *' ({exc})") from None
        return value


def _check_ref_format(value: str, what: str) -> str:
    """A Git ref name is what `git check-ref-format` accepts (no `..`, no leading `-`, no spaces...)."""
    import subprocess

    if not value or len(value) > 200 or value.startswith("-") or any(ord(c) < 32 for c in value):
        raise ValueError(f"'{value[:60]}' is not a valid Git {what}")
    try:
        ok = subprocess.run(["git", "check-ref-format", f"refs/heads/{value}"], capture_output=True,
                            timeout=10, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):  # no git binary: the Git step reports it later
        return value
    if not ok:
        raise ValueError(f"'{value[:60]}' is not a valid Git {what} (`git check-ref-format` refuses it)")
    return value


class GitConfig(Strict):
    mode: Literal["dry-run", "commit", "pr"] = Field(
        "commit", description="dry-run: print the diff; commit: commit on the current branch; pr: branch + push."
    )
    branch_prefix: str = Field("ai-ops/", description="Prefix of branches made in pr mode.")
    remote: str = Field("origin", description="Remote pushed to in pr mode.")
    base_branch: str = Field("main", description="Branch pull requests target.")
    author_name: str = Field("ai-ops[bot]")
    author_email: str = Field("ai-ops-bot@users.noreply.github.com")
    state_branch: str = Field(
        "ai-ops/state", description="pr mode: branch holding models/ and reports/ between runs (fresh CI checkouts)."
    )
    pull_request_dir: Path = Field(
        Path(".ai-ops"), description="pr mode: folder (in the workspace, never committed) for the PR title/body files."
    )
    open_pull_request: bool = Field(
        True, description="pr mode: open or update the PR via the GitHub REST API when GITHUB_TOKEN is set."
    )

    @field_validator("branch_prefix")
    @classmethod
    def _prefix_ref(cls, value: str) -> str:
        _check_ref_format(value + "x", "branch prefix")
        return value

    @field_validator("base_branch", "state_branch", "remote")
    @classmethod
    def _ref(cls, value: str) -> str:
        return _check_ref_format(value, "branch or remote name")


class OutputsConfig(Strict):
    workspace: Path = Field(
        Path("."), description="Root of the repository the controller writes to; other paths are inside it."
    )
    terraform_dir: Path = Field(Path("terraform"), description="Folder holding variables.tf.")
    tfvars_file: str = Field(
        "ai_ops.auto.tfvars.json", pattern=r"\.tfvars\.json$", description="The one file the controller owns."
    )
    models_dir: Path = Field(Path("models"))
    reports_dir: Path = Field(Path("reports"))
    @field_validator("tfvars_file")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if "/" in value or "\\" in value or value.startswith(".") or len(value) > 120:
            raise ValueError(f"'{value[:60]}' must be a plain file name inside terraform_dir")
        return value

    @model_validator(mode="after")
    def _inside_workspace(self) -> OutputsConfig:
        """Every output path resolves inside the workspace: the controller never writes elsewhere."""
        root = Path(os.path.normpath(self.workspace))
        for key, value in (("terraform_dir", self.terraform_dir), ("models_dir", self.models_dir),
                           ("reports_dir", self.reports_dir), ("git.pull_request_dir", self.git.pull_request_dir)):
            if value.is_absolute() and not root.is_absolute():
                raise ValueError(f"outputs.{key} ({value}) is absolute while the workspace is relative; "
                                 "give it relative to the workspace")
            relative = os.path.relpath(os.path.normpath(root / value), root)
            if relative == ".." or relative.startswith(".." + os.sep):
                raise ValueError(f"outputs.{key} ({value}) resolves outside the workspace {self.workspace}; "
                                 "use a path inside it (relative paths are relative to the workspace)")
        return self

    on_tampered_tfvars: Literal["refuse", "restore"] = Field(
        "refuse", description="A current tfvars value that is not finite or outside its bounds is tampering: "
        "refuse (exit 4, no change) or restore the last committed good file from Git and go on."
    )
    git: GitConfig = Field(default_factory=GitConfig)


class SlackConfig(Strict):
    enabled: bool = True
    channel: str = Field("#ops-health", description="Channel for bot-token delivery (webhooks carry their own).")
    notify_on_change: bool = Field(True, description="Post a short notice when a cycle changes a threshold.")
    notify_on_critical: bool = Field(True, description="Post a short notice when a cycle finds a critical anomaly.")
    upload_charts: bool = Field(True, description="With a bot token, upload the cost chart under the card.")
    timeout_seconds: float = Field(15.0, gt=0, description="HTTP timeout of one Slack call.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries of a rate-limited (429) call, after Retry-After.")


class NotionConfig(Strict):
    enabled: bool = True
    timeout_seconds: float = Field(30.0, gt=0, description="HTTP timeout of one Notion call.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries on 429 and 5xx (the SDK backs off).")


class NotifiersConfig(Strict):
    slack: SlackConfig = Field(default_factory=SlackConfig)
    notion: NotionConfig = Field(default_factory=NotionConfig)
    report_url: str = Field("", description="Base URL where reports/ is browsable, linked from messages.")


class LLMConfig(Strict):
    enabled: bool = True
    model: str = Field("claude-sonnet-4-6", description="Anthropic model name (claude-sonnet-4-5 reaches end-of-life 2026-11-30).")
    max_tokens: int = Field(1500, ge=64, le=64000)
    daily_token_budget: int = Field(50000, ge=0, description="Tokens a day; past it, the template writes.")
    timeout_seconds: float = Field(60.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10, description="Retries on 429/5xx with exponential backoff (SDK).")
    circuit_breaker_failures: int = Field(
        3, ge=1, description="After this many failed reports in a row, stop calling the LLM for the cooldown."
    )
    circuit_breaker_cooldown_hours: float = Field(24.0, ge=0, description="How long the open breaker skips the LLM.")
    input_price_per_mtok: float = Field(3.0, ge=0, description="USD per million input tokens (cost record).")
    output_price_per_mtok: float = Field(15.0, ge=0, description="USD per million output tokens (cost record).")
