"""The tool commands: config check, sources check, detect and backtest."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ai_ops.cli import Options, _console, _print_json, cli, handle_errors, json_option
from ai_ops.detectors.registry import DETECTOR_NAMES
from ai_ops.errors import ConfigError

if TYPE_CHECKING:
    from ai_ops.backtest_trace import Trace
    from ai_ops.config import OpsConfig
    from ai_ops.jobs.fleet import Fleet


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


def _write_result(output: Path, result: dict[str, object]) -> None:
    import json

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2, default=float) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write --output-dir {output.parent}: {exc.strerror or exc}") from None


def _compare(options: Options, config: OpsConfig, trace: Trace, peak_replicas: float, output_dir: Path) -> None:
    from ai_ops.backtest import compare_policies

    result = compare_policies(config, trace, peak_replicas)
    _write_result(output_dir / f"{Path(str(result['trace'])).stem}-compare.json", result)
    best = result["best_fixed_after_day3"]
    options.echo(f"{result['trace']}: after day 3 (SLA target {config.sla.target}%)")
    options.echo(f"  {'policy':<34} {'SLA %':>9} {'cost':>10} {'vs best fixed':>13}")
    names = {"scheduled": "learner + schedule", "learned": "learner alone"}
    for policy, row in result["policies"].items():
        ratio = row["cost_after_day3_vs_best_fixed"]
        options.echo(f"  {names[policy]:<34} {row['sla_after_day3']:>9.4f} {row['cost_after_day3']:>10.2f} "
                     f"{'-' if ratio is None else f'{ratio:.3f}x':>13}")
    if best:
        options.echo(f"  {'best fixed target (' + format(best['target'], 'g') + '%, hindsight)':<34} "
                     f"{best['sla_after_day3']:>9.4f} {best['cost_after_day3']:>10.2f} {'1.000x':>13}")
    else:
        options.echo("  no fixed target meets the SLA after day 3 on this trace")
    goal = result["cost_target"]
    options.echo(f"  cost target (learner + schedule <= 0.95x the best fixed, SLA met): "
                 f"{'MET' if goal['met'] else 'NOT MET'}")
    options.echo(f"  written to {output_dir / (Path(str(result['trace'])).stem + '-compare.json')}")


@cli.command()
@click.option("--trace", "trace_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="CSV `timestamp,value` read as request rate. Without it: --simulated-days of the simulator's demand.")
@click.option("--simulated-days", type=click.IntRange(1, 365), default=14, show_default=True,
              help="Days of simulated demand when no --trace is given.")
@click.option("--policy", type=click.Choice(["learned", "scheduled", "static", "target-tracking", "compare"]),
              default="learned", show_default=True,
              help="Who sets the CPU scaling target each cycle (scheduled: the learner plus the predictive schedule "
                   "of minimum replicas; compare: scheduled vs learned vs the best fixed target in hindsight).")
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

    from ai_ops.backtest import load_trace, run_backtest, simulated_trace
    from ai_ops.jobs.demo import DEMO_START

    config = options.load()
    # A simulated service comes with 14 days of history at the initial target (what the warm start reads).
    trace = load_trace(trace_path) if trace_path else simulated_trace(config, simulated_days, start=DEMO_START,
                                                                      prior_days=14)
    if policy == "compare":
        _compare(options, config, trace, peak_replicas, output_dir)
        return
    result = run_backtest(config, trace, policy, peak_replicas, static_target)
    output = output_dir / f"{Path(str(result['trace'])).stem}-{policy}.json"
    _write_result(output, result)
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
