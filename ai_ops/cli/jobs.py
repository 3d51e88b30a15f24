"""The job commands: cycle, train, report, full-cycle, run (the daemon), demo and replay, and what they print."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ai_ops.cli import Options, _console, _locked_run, _prepared, _print_json, cli, handle_errors, json_option
from ai_ops.errors import ConfigError

if TYPE_CHECKING:
    from ai_ops.jobs.demo import DemoResult


@cli.command()
@json_option
@click.pass_obj
@handle_errors
def cycle(options: Options) -> None:
    """Run one ops cycle: observe, detect, decide, act (every 6 h).

    With --json: the decision, what was written and the data quality as JSON on stdout
    (also when the cycle fails: then with "ok": false, the error and the exit status).
    """
    from ai_ops.jobs.cycle import run_cycle

    result = _locked_run(options, run_cycle)
    if options.json_output:
        _print_json({"ok": True, **result.to_dict()})


@cli.command()
@click.pass_obj
@handle_errors
def train(options: Options) -> None:
    """Retrain the anomaly detectors on recent history (daily, 03:00 UTC)."""
    from ai_ops.jobs.train import run_train

    _locked_run(options, run_train)


@cli.command()
@click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: print the report (report.json's content, schema in docs/report.md) on stdout.")
@click.pass_obj
@handle_errors
def report(options: Options, output_format: str) -> None:
    """Write and send the daily health report (09:00 UTC). With --dry-run: print it, write and send nothing."""
    import json

    from ai_ops.jobs.report import run_report
    from ai_ops.reporting.render import render_markdown

    if output_format == "json":
        _logs_to_stderr()  # stdout carries the JSON alone, so it can be piped to jq
    result = _locked_run(options, run_report)
    if output_format == "json":
        click.echo(json.dumps(result.report.to_json(), indent=2, sort_keys=True, allow_nan=False))
    elif options.dry_run and options.verbosity >= 0:
        click.echo(render_markdown(result.report))


def _logs_to_stderr() -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
        elif hasattr(handler, "console"):  # rich
            handler.console = _console(stderr=True)


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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ai_ops.jobs.demo import run_demo

    if options.verbosity < 1:  # a progress bar instead of some 80 job lines; -v shows them
        logging.getLogger("ai_ops").setLevel(logging.WARNING)
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_console(stderr=True), disable=options.verbosity < 0) as bar:
        task = bar.add_task("demo", total=days * 6)
        result = run_demo(workspace, days, seed, progress=lambda done, total: bar.update(task, completed=done))
    if options.verbosity >= 0:
        _print_demo(result)


SCALING = "autoscaling_cpu_target"


def _short(name: str) -> str:
    """Column label for a threshold: `alert_latency_p95_ms` -> `alert latency p95 ms`."""
    return name.replace("autoscaling_", "scale ").replace("_", " ")


def _print_demo(result: DemoResult) -> None:
    from rich.table import Table

    console = _console()
    services = result.services or sorted({p["service"] for p in result.threshold_path})
    table = Table(title=f"ai-ops demo: {len(result.days)} simulated day(s), seed {result.seed}, "
                        f"{len(services)} service(s)")
    table.add_column("day", no_wrap=True, min_width=10)
    table.add_column("fleet cost", justify="right")
    for service in services:
        table.add_column(f"{service}\nSLA %", justify="right", overflow="fold")
        table.add_column(f"{service}\ntarget", justify="right", overflow="fold")
    for day in result.days:
        row = [day["date"], f"{day['cost']:.2f}"]
        for service in services:
            ends = [p for p in result.threshold_path if p["time_iso"].startswith(day["date"]) and p["service"] == service]
            sla = day["services"].get(service, {}).get("sla")
            row += [f"{sla:.3f}" if sla is not None else "", f"{ends[-1].get(SCALING, float('nan')):g}" if ends else ""]
        table.add_row(*row)
    console.print(table)
    console.print("scale target as at the end of each day; SLA is the share of good requests (exact SLI: from the "
                  "simulated latency histogram and errors)")
    last = {p["service"]: p for p in result.threshold_path}
    names = [k for k in next(iter(last.values()), {}) if k not in ("time_iso", "service")]
    if last:
        final = Table(title="thresholds at the end, per service")
        final.add_column("service", no_wrap=True)
        for name in names:
            final.add_column(_short(name), justify="right", overflow="fold")
        for service in services:
            final.add_row(service, *[f"{last[service][n]:g}" if service in last else "" for n in names])
        console.print(final)
    console.print(f"incidents injected: {result.incidents}, detected: {result.incidents_detected}")
    console.print(f"commits made: {result.commits}  (see: git -C {result.workspace} log)")
    console.print(f"reports: {result.reports}")
    for service, learning in result.learning.items():
        console.print(f"learner {service}: {learning['status']} ({learning['criterion']})")


def _instant(value: str | None, option: str) -> float | None:
    """ISO 8601 (UTC unless it names an offset) -> epoch seconds; ConfigError naming the option."""
    if value is None:
        return None
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not an ISO 8601 time; write e.g. 2026-11-01 or "
                          "2026-11-01T06:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@cli.command()
@click.option("--days", type=int, default=None, help="Replay the last N days (default 14).")
@click.option("--from", "from_", default=None, help="Start of the period, ISO 8601 UTC (e.g. 2026-11-01).")
@click.option("--to", "to", default=None, help="End of the period, ISO 8601 UTC (default: now).")
@click.option("--workspace", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Empty folder for the scratch Git repo, models and reports (default: a new temp folder).")
@click.option("--output", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for replay.json/md/html and charts (default: WORKSPACE/replay).")
@json_option
@click.pass_obj
@handle_errors
def replay(options: Options, days: int | None, from_: str | None, to: str | None, workspace: Path | None,
           output: Path | None) -> None:
    """Run the scheduled jobs over the past N days of the configured sources, in a scratch workspace."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ai_ops.jobs.replay import resolve_period, run_replay

    config = options.load()
    start, end = resolve_period(days, _instant(from_, "--from"), _instant(to, "--to"), time.time(),
                                config.step_seconds)
    if options.verbosity < 1:
        logging.getLogger("ai_ops").setLevel(logging.WARNING)
    with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_console(stderr=True), disable=options.verbosity < 0 or options.json_output) as bar:
        task = bar.add_task("replay", total=None)
        result = run_replay(config, start, end, workspace, output,
                            progress=lambda done, total: bar.update(task, completed=done, total=total))
    if options.json_output:
        _print_json(result.summary)
    elif options.verbosity >= 0:
        _print_replay(result.summary, result.output)


def _print_replay(summary: dict[str, Any], output: Path) -> None:
    from rich.table import Table

    console = _console()
    cur = summary["currency"]
    console.print(f"ai-ops replay {summary['from']} -> {summary['to']}: "
                  + ", ".join(f"{v} {k}" for k, v in summary["jobs"].items()) + f" in {summary['seconds']:g} s")
    for s in summary["services"]:
        table = Table(title=f"{s['service']}: thresholds")
        for column in ("threshold", "initial", "final", "changes", "alert pages"):
            table.add_column(column, justify="left" if column == "threshold" else "right")
        for name, initial in s["initial"].items():
            pages = s["alerts"].get(name, {}).get("pages")
            table.add_row(name, f"{initial:g}", f"{s['final'].get(name, initial):g}",
                          str(sum(name in c["changes"] for c in s["changes"])), "" if pages is None else str(pages))
        console.print(table)
        days = Table(title=f"{s['service']}: per day ({s['critical_episodes']} critical, "
                           f"{s['warning_episodes']} warning anomaly episodes)")
        for column in ("date", "SLA %", f"cost ({cur})", "episodes"):
            days.add_column(column, justify="left" if column == "date" else "right")
        for d in s["days"]:
            count = sum(1 for e in s["episodes"] if _day_of(e["start"]) == d["date"])
            days.add_row(d["date"] + ("" if d["hours"] >= 24 else f" ({d['hours']:g} h)"),
                         "n/a" if d["sla"] is None else f"{d['sla']:.4f}", f"{d['cost']:.2f}", str(count))
        console.print(days)
        for c in s["changes"]:
            moved = ", ".join(f"{k} {v['old']:g} -> {v['new']:g}" for k, v in c["changes"].items())
            console.print(f"  {c['time_iso']}: {moved}")
    console.print(f"summary with charts: {output}/replay.html (and replay.md, replay.json)")
    console.print(f"scratch workspace (git log shows each proposed commit): {summary['workspace']}")


def _day_of(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).date().isoformat()
