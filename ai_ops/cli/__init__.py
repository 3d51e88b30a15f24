"""The `ai-ops` command. It parses arguments, calls one job function, prints the result.

No logic lives here: everything a command does is a function in `ai_ops.jobs`. The jobs log their
progress through `logging` (set up by `ai_ops.logs`); what a command prints itself is its result.

This module holds the group, its global options and the error handling; the commands live in
`ai_ops.cli.jobs` (the scheduled jobs, demo, replay) and `ai_ops.cli.tools` (config and sources
checks, detect, backtest), imported at the end so they register on the group.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ai_ops import __version__
from ai_ops.errors import OpsError
from ai_ops.logs import configure as configure_logging

if TYPE_CHECKING:
    from rich.console import Console

    from ai_ops.config import OpsConfig

# Heavy libraries (pydantic settings, rich, numpy, scikit-learn, Git, the SDKs) are imported inside the
# command that uses them, so `ai-ops --help` and `ai-ops config check` start fast (benchmarks/cli_startup.py).


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr)


@dataclass
class Options:
    config_path: Path | None
    dry_run: bool
    verbosity: int
    log_format: str = "text"
    json_output: bool = False
    """`--json`: the result goes to stdout as JSON, so logs go to stderr."""

    def echo(self, line: str) -> None:
        if self.verbosity >= 0 and not self.json_output:
            click.echo(line)

    def load(self) -> OpsConfig:
        from ai_ops.config import load_config

        return load_config(self.config_path)

    def configure_logging(self) -> None:
        configure_logging(self.verbosity, self.log_format, stderr=self.json_output)


def _late_option(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option given after the subcommand: it overrides the value given before it.

    These options default to "not given" (None, False, 0), so any other value was typed by the user
    (click 8.4 sets the parameter source only after the callback, so it cannot tell us).
    """
    if value is None or value is False or value == 0:
        return
    options = ctx.find_object(Options)
    if options is None:  # pragma: no cover - the group callback always sets it
        return
    if param.name == "config_path":
        options.config_path = value
    elif param.name == "dry_run":
        options.dry_run = bool(value)
    elif param.name == "verbose":
        options.verbosity = int(value)
    elif param.name == "quiet":
        options.verbosity = -1 if value else options.verbosity
    elif param.name == "log_format":
        options.log_format = str(value)
    elif param.name == "json_output":
        options.json_output = bool(value)
    options.configure_logging()


def _global_params() -> list[click.Parameter]:
    """The group's options, accepted after any subcommand too (`ai-ops config check --config FILE`)."""
    late: dict[str, Any] = {"expose_value": False, "callback": _late_option}
    return [
        click.Option(["--config", "config_path"], type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="ops_config.yaml to use (also accepted before the command).", **late),
        click.Option(["--dry-run"], is_flag=True, default=False,
                     help="Decide and show, but write nothing (also accepted before the command).", **late),
        click.Option(["-v", "--verbose"], count=True, help="More log output (repeat for debug).", **late),
        click.Option(["-q", "--quiet"], is_flag=True, default=False, help="Only errors.", **late),
        click.Option(["--log-format"], type=click.Choice(["text", "json"]), default=None,
                     help="text or json log lines (also accepted before the command).", **late),
    ]


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--json`: print the result as one JSON document on stdout; logs go to stderr."""
    return click.option("--json", "json_output", is_flag=True, default=False, expose_value=False,
                        callback=_late_option,
                        help="Print the result as JSON on stdout (logs go to stderr).")(func)


class OpsGroup(click.Group):
    """A group whose commands also accept the global options after their name (most CLIs do)."""

    group_class = type  # subgroups (`config`, `sources`) are OpsGroups too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group):
            taken = {opt for p in cmd.params for opt in getattr(p, "opts", [])}
            cmd.params.extend(p for p in _global_params() if not taken & set(p.opts))
        super().add_command(cmd, name)


def _print_json(document: dict[str, Any]) -> None:
    import json

    click.echo(json.dumps(document, indent=2, allow_nan=False))


def _fail(message: str, code: int, result: Any = None) -> None:
    """The error on stderr; with --json also a JSON document on stdout (with what the run still produced)."""
    context = click.get_current_context(silent=True)
    options = context.find_object(Options) if context else None
    if options is not None and options.json_output:
        partial = result.to_dict() if result is not None and hasattr(result, "to_dict") else {}
        _print_json({"ok": False, "error": message, "exit_code": code, **partial})
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """A user's mistake gets one clear message and a non-zero exit, never a traceback."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OpsError as exc:
            _fail(str(exc), exc.exit_code, getattr(exc, "result", None))
        except KeyboardInterrupt:
            _fail("interrupted", 130)

    return wrapper


@click.group(cls=OpsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ai-ops")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="ops_config.yaml to use. Without it: the embedded simulated service.")
@click.option("--dry-run", is_flag=True, help="Decide and show, but write no Terraform and make no commit.")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object per log line (for a daemon whose logs a collector parses).")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, dry_run: bool, verbose: int, quiet: bool,
        log_format: str) -> None:
    """Self-tuning ops controller: detect anomalies, learn thresholds, propose them as Terraform in Git."""
    ctx.obj = Options(config_path, dry_run, -1 if quiet else verbose, log_format)
    ctx.obj.configure_logging()


def _prepared(options: Options) -> OpsConfig:
    from ai_ops.config import require_workspace
    from ai_ops.jobs.workspace import prepare_workspace

    config = options.load()
    require_workspace(config)
    if config.is_simulated:
        prepare_workspace(config, fresh=False)
    return config


def _locked_run(options: Options, func: Callable[..., Any]) -> Any:
    from ai_ops.jobs.workspace import locked

    config = _prepared(options)
    with locked(config):
        return func(config, dry_run=options.dry_run)


def main() -> None:
    cli(prog_name="ai-ops")


# The commands register on `cli` when imported, so they come after it (they import it from here).
from ai_ops.cli import jobs, tools  # noqa: E402, F401
