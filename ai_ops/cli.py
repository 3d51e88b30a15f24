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

from ai_ops import __version__
from ai_ops.detectors.registry import DETECTOR_NAMES
from ai_ops.errors import ConfigError, OpsError
from ai_ops.logs import configure as configure_logging

if TYPE_CHECKING:
    from rich.console import Console

    from ai_ops.config import OpsConfig
    from ai_ops.jobs.demo import DemoResult
    from ai_ops.jobs.fleet import Fleet

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


@cli.group()
def config() -> None:
    """Check the configuration."""


@config.command("check")
@click.pass_obj
@handle_errors
def config_check(options: Options) -> None:
    """Validate the config file (or the embedded default) and print a summary."""
    from ai_ops.config import require_workspace

    config = options.load()
    require_workspace(config)
    where = options.config_path or "the embedded default"
    options.echo(f"{where}: OK")
    options.echo(f"  services: {', '.join(f'{s.name} ({s.source})' for s in config.services) or 'none configured'}")
    if config.discovery is not None:
        _echo_discovery(options, config)
    options.echo(f"  SLA target {config.sla.target}%, budget {config.cost.monthly_budget} {config.cost.currency}/month")
    for name, spec in config.thresholds.items():
        options.echo(f"  {name}: {spec.initial:g}{spec.unit} in [{spec.min:g}, {spec.max:g}], step {spec.max_step:g}"
                     + (" (pinned)" if spec.pin else ""))
    for service in config.services:
        for name in service.thresholds:
            spec = config.thresholds_for(service.name)[name]
            options.echo(f"    {service.name}: {name} {spec.initial:g}{spec.unit} in [{spec.min:g}, {spec.max:g}], "
                         f"step {spec.max_step:g}" + (" (pinned)" if spec.pin else ""))
        sli = service.sli
        how = ("exact (simulated histogram)" if service.source == "simulated" else
               "exact (" + (f"histogram {sli.latency_histogram}" if sli.latency_histogram else "given queries") + ")"
               if sli else "APPROXIMATE (p95 lower bound; add an sli block)")
        options.echo(f"  {service.name}: SLI {how}")
    options.echo(f"  git mode {config.outputs.git.mode}, workspace {config.path('.')}")
    m = config.monitoring
    outlets = ([f"/metrics on {m.bind_address}:{m.port} (daemon)"] if m.port else []) + \
        (["Pushgateway (monitoring.pushgateway_url)"] if m.pushgateway_url else []) + \
        ([f"textfile {m.textfile}"] if m.textfile else [])
    options.echo(f"  self-monitoring: {', '.join(outlets) or 'off'} (docs/monitoring.md)")


def _discover(config: OpsConfig) -> Fleet:
    """The fleet as the jobs see it (configured + discovered), without touching models/fleet.json."""
    import time

    from ai_ops.config import Secrets
    from ai_ops.jobs.fleet import effective_services
    from ai_ops.jobs.observing import Sources

    return effective_services(config, Sources(config, Secrets()), time.time(), persist=False)


def _echo_discovery(options: Options, config: OpsConfig) -> None:
    fleet = _discover(config)
    found = fleet.discovered
    assert found is not None and config.discovery is not None
    options.echo(f"  discovery: {len(found.services)} service(s) from label '{found.label}' of {found.query}")
    if found.services:
        options.echo(f"    services: {', '.join(found.names[:50])}"
                     + (f" and {len(found.names) - 50} more" if len(found.names) > 50 else ""))
    for value, why in list(found.dropped.items())[:20]:
        options.echo(f"    dropped {value!r}: {why}")
    if len(found.dropped) > 20:
        options.echo(f"    ... and {len(found.dropped) - 20} more dropped")
    batched = [m for m, q in config.discovery.queries.model_dump().items() if "{" + found.label + "}" not in q]
    options.echo(f"    fetch: {len(batched)} fleet quer{'y' if len(batched) == 1 else 'ies'} ({', '.join(batched) or 'none'})"
                 f" + {6 - len(batched)} per-service template(s) x {len(found.services)} services")
    if fleet.new or fleet.gone:
        options.echo(f"    since the last job: {len(fleet.new)} new, {len(fleet.gone)} gone (see models/fleet.json)")
    for name, overrides in found.overrides.items():
        for threshold, override in overrides.items():
            options.echo(f"    override {name}.{threshold}: {override.model_dump(exclude_none=True)}")


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
@click.option("--output-dir", "output_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("backtest-results"), show_default=True,
              help="Folder for the full JSON result, <trace>-<policy>.json (the default is ignored by Git).")
@click.pass_obj
@handle_errors
def backtest(options: Options, trace_path: Path | None, simulated_days: int, policy: str,
             static_target: float | None, peak_replicas: float, output_dir: Path) -> None:
    """Replay a demand trace through the simulated service under a scaling policy (see docs/learner.md)."""
    import json

    from ai_ops.backtest import load_trace, run_backtest, simulated_trace
    from ai_ops.jobs.demo import DEMO_START

    config = options.load()
    # A simulated service comes with 14 days of history at the initial target (what the warm start reads).
    trace = load_trace(trace_path) if trace_path else simulated_trace(config, simulated_days, start=DEMO_START,
                                                                      prior_days=14)
    result = run_backtest(config, trace, policy, peak_replicas, static_target)
    output = output_dir / f"{Path(str(result['trace'])).stem}-{policy}.json"
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2, default=float) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write --output-dir {output_dir}: {exc.strerror or exc}") from None
    best = result["best_fixed_in_hindsight"]
    options.echo(f"{result['trace']}: policy {policy}, {result['settings']['days']:g} days")
    options.echo(f"  SLA {result['sla_overall']:.4f}% overall, {result['sla_after_day3']}% after day 3 "
                 f"(target {config.sla.target}%)")
    options.echo(f"  cost {result['cost']:.2f}; final target {result['final_target']:g}; "
                 f"{result['changes']} changes; settled by day {result['settle_day']:g}")
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
@click.option("--detector", type=click.Choice(DETECTOR_NAMES), default="ensemble",
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
@json_option
@click.pass_obj
@handle_errors
def sources_check(options: Options) -> None:
    """Run each configured query once over the last cycle window and print what came back.

    Exit status: 0 when every query returned one usable series, 3 otherwise (see docs/sources.md).
    With --json: one JSON document on stdout ({"ok", "rows": [...]}), the same exit status.
    """
    import time
    from dataclasses import asdict

    from rich.console import Console
    from rich.table import Table

    from ai_ops.config import Secrets
    from ai_ops.errors import SourceError
    from ai_ops.sources.check import check_sources

    config = options.load()
    discovered = None
    if config.discovery is not None:
        fleet = _discover(config)
        discovered = fleet.discovered
        if discovered is not None:
            click.echo(f"discovery: {len(discovered.services)} service(s) from label '{discovered.label}'"
                       f" ({len(discovered.dropped)} dropped)", err=options.json_output)
    checked = check_sources(config, Secrets(), time.time(), discovered)
    rows = checked.rows
    failed = [r for r in rows if not r.ok]
    if options.json_output:
        _print_json({"ok": not failed, "problems": len(failed), "queries": len(rows),
                     "rows": [r.to_dict() for r in rows], "sources": [asdict(s) for s in checked.sources]})
        if failed:
            click.echo(f"error: {len(failed)} of {len(rows)} queries have a problem (see \"error\" in the rows)",
                       err=True)
            sys.exit(SourceError.exit_code)
        return
    table = Table(title="ai-ops sources check (last cycle window)")
    for name in ("service", "metric", "query", "series", "samples", "coverage", "staleness", "error"):
        table.add_column(name, justify="right" if name in ("series", "samples", "coverage", "staleness") else "left",
                         overflow="fold")
    for row in rows:
        staleness = "-" if row.staleness_minutes == float("inf") else f"{row.staleness_minutes:g} min"
        table.add_row(row.service, row.metric, row.query, str(row.series), str(row.samples), f"{row.coverage:.0%}",
                      staleness, row.error or row.note)
    if options.verbosity >= 0:
        wide = Console(width=max(_console().width, 160))
        for source in checked.sources:
            wide.print(source.line(), markup=False, highlight=False)
        wide.print(table)
    if failed:
        raise SourceError(f"{len(failed)} of {len(rows)} queries have a problem (see the error column)")


def main() -> None:
    cli(prog_name="ai-ops")


if __name__ == "__main__":
    main()
