"""The `ai-ops` command. It parses arguments, calls one job function, prints the result.

No logic lives here: everything a command does is a function in `ai_ops.jobs`. The jobs log their
progress through `logging` (set up by `ai_ops.logs`); what a command prints itself is its result.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ai_ops import __version__
from ai_ops.config import OpsConfig, load_config, require_workspace
from ai_ops.errors import ConfigError, OpsError
from ai_ops.logs import configure as configure_logging

if TYPE_CHECKING:
    from ai_ops.jobs.demo import DemoResult

console = Console()
errors = Console(stderr=True)


@dataclass
class Options:
    config_path: Path | None
    dry_run: bool
    verbosity: int

    def echo(self, line: str) -> None:
        if self.verbosity >= 0:
            click.echo(line)

    def load(self) -> OpsConfig:
        return load_config(self.config_path)


def _fail(message: str, code: int) -> None:
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
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    verbosity = -1 if quiet else verbose
    configure_logging(verbosity, log_format)
    ctx.obj = Options(config_path, dry_run, verbosity)


def _prepared(options: Options) -> OpsConfig:
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


@cli.command()
@click.pass_obj
@handle_errors
def cycle(options: Options) -> None:
    """Run one ops cycle: observe, detect, decide, act (every 6 h)."""
    from ai_ops.jobs.cycle import run_cycle

    _locked_run(options, run_cycle)


@cli.command()
@click.pass_obj
@handle_errors
def train(options: Options) -> None:
    """Retrain the anomaly detectors on recent history (daily, 03:00 UTC)."""
    from ai_ops.jobs.train import run_train

    _locked_run(options, run_train)


@cli.command()
@click.pass_obj
@handle_errors
def report(options: Options) -> None:
    """Write and send the daily health report (09:00 UTC). With --dry-run: print it, write and send nothing."""
    from ai_ops.jobs.report import run_report
    from ai_ops.reporting.render import render_markdown

    result = _locked_run(options, run_report)
    if options.dry_run and options.verbosity >= 0:
        click.echo(render_markdown(result.report))


@cli.command("full-cycle")
@click.pass_obj
@handle_errors
def full_cycle(options: Options) -> None:
    """train, then cycle, then report (the manual trigger)."""
    from ai_ops.jobs.full_cycle import run_full_cycle

    _locked_run(options, run_full_cycle)


@cli.command()
@click.pass_obj
@handle_errors
def run(options: Options) -> None:
    """Run as a daemon: the three jobs on their cron schedules (UTC)."""
    from ai_ops.scheduler import run_daemon

    run_daemon(_prepared(options), options.dry_run)


@cli.command()
@click.option("--workspace", type=click.Path(path_type=Path, file_okay=False), default=Path("ai-ops-demo"),
              show_default=True, help="Folder for the demo's Git repo, Terraform, models and reports.")
@click.option("--days", type=click.IntRange(1, 365), default=14, show_default=True, help="Simulated days.")
@click.option("--seed", type=int, default=None, help="Simulation seed (default: the config's, 42).")
@click.pass_obj
@handle_errors
def demo(options: Options, workspace: Path, days: int, seed: int | None) -> None:
    """Run many simulated days end to end in a fresh workspace and show what the controller learned."""
    from ai_ops.jobs.demo import run_demo

    if options.verbosity < 1:  # a progress bar instead of some 80 job lines; -v shows them
        logging.getLogger("ai_ops").setLevel(logging.WARNING)
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=errors, disable=options.verbosity < 0) as bar:
        task = bar.add_task("demo", total=days * 6)
        result = run_demo(workspace, days, seed, progress=lambda done, total: bar.update(task, completed=done))
    if options.verbosity >= 0:
        _print_demo(result)


def _short(name: str) -> str:
    """Column label for a threshold: `alert_latency_p95_ms` -> `alert latency p95 ms`."""
    return name.replace("autoscaling_", "scale ").replace("_", " ")


def _print_demo(result: DemoResult) -> None:
    table = Table(title=f"ai-ops demo: {len(result.days)} simulated day(s), seed {result.seed}")
    names = [k for k in result.threshold_path[0] if k != "time_iso"] if result.threshold_path else []
    for column in ["day", "SLA %", "cost"] + [_short(n) for n in names]:
        if column == "day":
            table.add_column(column, no_wrap=True, min_width=10)
        else:
            table.add_column(column, justify="right", overflow="fold")
    for day in result.days:
        ends = [p for p in result.threshold_path if p["time_iso"].startswith(day["date"])]
        row = [day["date"], f"{day['sla']:.3f}", f"{day['cost']:.2f}"]
        row += [f"{ends[-1][n]:g}" if ends else "" for n in names]
        table.add_row(*row)
    console.print(table)
    console.print("thresholds shown as at the end of each day; SLA is the share of good requests")
    console.print(f"incidents injected: {result.incidents}, detected: {result.incidents_detected}")
    console.print(f"commits made: {result.commits}  (see: git -C {result.workspace} log)")
    console.print(f"reports: {result.reports}")
    if result.learning:
        console.print(f"learner: {result.learning['status']} ({result.learning['criterion']})")


@cli.group()
def config() -> None:
    """Check the configuration."""


@config.command("check")
@click.pass_obj
@handle_errors
def config_check(options: Options) -> None:
    """Validate the config file (or the embedded default) and print a summary."""
    config = options.load()
    require_workspace(config)
    where = options.config_path or "the embedded default"
    options.echo(f"{where}: OK")
    options.echo(f"  services: {', '.join(f'{s.name} ({s.source})' for s in config.services)}")
    options.echo(f"  SLA target {config.sla.target}%, budget {config.cost.monthly_budget} {config.cost.currency}/month")
    for name, spec in config.thresholds.items():
        options.echo(f"  {name}: {spec.initial:g}{spec.unit} in [{spec.min:g}, {spec.max:g}], step {spec.max_step:g}"
                     + (" (pinned)" if spec.pin else ""))
    options.echo(f"  git mode {config.outputs.git.mode}, workspace {config.path('.')}")


@cli.command()
@click.option("--trace", "trace_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="CSV `timestamp,value` read as request rate. Without it: --simulated-days of the simulator's demand.")
@click.option("--simulated-days", type=click.IntRange(1, 365), default=14, show_default=True,
              help="Days of simulated demand when no --trace is given.")
@click.option("--policy", type=click.Choice(["learned", "static", "target-tracking"]), default="learned",
              show_default=True, help="Who sets the CPU scaling target each cycle.")
@click.option("--target", "static_target", type=float, default=None,
              help="The static policy's CPU target (default: the threshold's initial value).")
@click.option("--peak-replicas", type=float, default=40.0, show_default=True,
              help="The trace is rescaled so its peak needs this many replicas at 100% CPU.")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=Path("backtest.json"),
              show_default=True, help="Where to write the full JSON result.")
@click.pass_obj
@handle_errors
def backtest(options: Options, trace_path: Path | None, simulated_days: int, policy: str,
             static_target: float | None, peak_replicas: float, output: Path) -> None:
    """Replay a demand trace through the simulated service under a scaling policy (see docs/learner.md)."""
    import json

    from ai_ops.backtest import load_trace, run_backtest, simulated_trace
    from ai_ops.jobs.demo import DEMO_START

    config = options.load()
    trace = load_trace(trace_path) if trace_path else simulated_trace(config, simulated_days, start=DEMO_START)
    result = run_backtest(config, trace, policy, peak_replicas, static_target)
    try:
        output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write --output {output}: {exc.strerror or exc}") from None
    best = result["best_fixed_in_hindsight"]
    options.echo(f"{result['trace']}: policy {policy}, {result['settings']['days']:g} days")
    options.echo(f"  SLA {result['sla_overall']:.4f}% overall, {result['sla_after_day3']}% after day 3 "
                 f"(target {config.sla.target}%)")
    options.echo(f"  cost {result['cost']:.2f}; final target {result['final_target']:g}; "
                 f"{result['changes']} changes; converged by day {result['convergence_day']:g}")
    if best:
        options.echo(f"  best fixed target in hindsight meeting the SLA: {best['target']:g} "
                     f"(cost {best['cost']:.2f}, SLA {best['sla']:.4f}%); this run costs "
                     f"{result['cost_vs_best_fixed']:.3f}x")
    else:
        top = result["highest_sla_fixed"]
        options.echo(f"  no fixed target in the bounds meets the SLA on this trace; the best, {top['target']:g}, "
                     f"reaches {top['sla']:.4f}% (cost {top['cost']:.2f})")
    options.echo(f"  static 80%: SLA {result['static_80']['sla']:.4f}%, this run costs {result['cost_vs_static_80']:.3f}x"
                 if result["static_80"] else "  static 80% is outside the bounds")
    options.echo(f"  written to {output}")


@cli.command()
@click.option("--input", "input_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="CSV with a 'timestamp,value' header (epoch seconds or ISO 8601; empty value = gap).")
@click.option("--output", "output_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="CSV to write: 'timestamp,anomaly_score', one row per input row.")
@click.option("--detector", type=click.Choice(["ensemble", "zscore", "ewma", "window_shift", "gmm", "forecast"]), default="ensemble",
              show_default=True, help="Which detector scores the series.")
@click.pass_obj
@handle_errors
def detect(options: Options, input_path: Path, output_path: Path, detector: str) -> None:
    """Backtest: score a metric export causally (daily retraining), as the cycle would have."""
    from ai_ops.jobs.detect import run_detect

    rows = run_detect(options.load(), input_path, output_path, detector)
    options.echo(f"{input_path}: {rows} rows scored by {detector} -> {output_path}")


@cli.group()
def sources() -> None:
    """Check the metrics sources (Prometheus, Grafana)."""


@sources.command("check")
@click.pass_obj
@handle_errors
def sources_check(options: Options) -> None:
    """Run each configured query once over the last cycle window and print what came back.

    Exit status: 0 when every query returned one usable series, 3 otherwise (see docs/sources.md).
    """
    import time

    from ai_ops.config import Secrets
    from ai_ops.errors import SourceError
    from ai_ops.sources.check import check_sources

    rows = check_sources(options.load(), Secrets(), time.time())
    table = Table(title="ai-ops sources check (last cycle window)")
    for name in ("service", "metric", "query", "series", "samples", "coverage", "staleness", "error"):
        table.add_column(name, justify="right" if name in ("series", "samples", "coverage", "staleness") else "left",
                         overflow="fold")
    for row in rows:
        staleness = "-" if row.staleness_minutes == float("inf") else f"{row.staleness_minutes:g} min"
        table.add_row(row.service, row.metric, row.query, str(row.series), str(row.samples), f"{row.coverage:.0%}",
                      staleness, row.error or row.note)
    if options.verbosity >= 0:
        Console(width=max(console.width, 160)).print(table)
    failed = [r for r in rows if not r.ok]
    if failed:
        raise SourceError(f"{len(failed)} of {len(rows)} queries have a problem (see the error column)")


def main() -> None:
    cli(prog_name="ai-ops")


if __name__ == "__main__":
    main()
