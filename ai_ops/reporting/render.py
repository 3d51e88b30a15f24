"""report.json -> report.md (docs/report_template.md's sections), report.html and PNG charts.

Writing is atomic per file and the JSON is written first, so a failure in a chart or
the HTML never loses the numbers.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from ai_ops.reporting.model import NarrativePart, Report, SlaDay
from ai_ops.state import atomic_write_json, atomic_write_text

SECTIONS = ("Summary", "Health score", "Trends (24 h vs 7 d)", "Cost projection", "Actions (last 24 h)",
            "Anomalies (last 24 h)", "Learning status", "Recommendations", "Charts", "About this report")
"""The Markdown report's `##` sections, in order; docs/report_template.md has the same (a test checks)."""

CHARTS = {"thresholds": "Threshold paths (7 days)", "sla": "SLA attainment per day",
          "cost": "Cost per day and month-end projection", "main_metric": "Main metric with anomalies"}
FORECAST_CHART = "forecast"
"""Drawn only with learner.predictive on (report.predictive): not one of the four standard charts."""
CHART_TITLES = {**CHARTS, FORECAST_CHART: "Demand forecast (next 24 h, 10-90% interval) and the replica schedule"}



def _partial(day: SlaDay) -> str:
    """' (partial: 15 h)' for a day the report window covers only in part, else ''."""
    return f" (partial: {day.hours:g} h)" if day.partial else ""


def _f(v: Any, fmt: str = "{:g}", none: str = "n/a") -> str:
    return none if v is None else fmt.format(v)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    h, cost, learning = report.health, report.cost, report.learning
    narrative = report.narrative or NarrativePart(written_by="template", reason="not written yet", summary="",
                                                  recommendations=[])
    cur = report.currency
    out = [f"# ai-ops daily health report: {report.date}", "",
           f"**Health score: {h.score}/100** · services: {', '.join(report.services)} · "
           f"generated {report.generated_at}", ""]
    out += ["## Summary", "", narrative.summary, "",
            f"_Narrative written by: {narrative.written_by} ({narrative.reason})._", ""]
    out += ["## Health score", "", "| part | points | of | input |", "|---|---|---|---|"]
    inputs = h.inputs
    shown = {"sla": f"SLA {_f(inputs.sla_attainment, '{:.4f}')}% (target {inputs.sla_target}%), "
                    f"error-budget burn {_f(h.error_budget_burn, '{:.2f}')}x",
             "latency": f"{_f(inputs.latency_within_objective_share, '{:.1%}')} of steps with p95 <= objective",
             "errors": f"request-weighted error rate {_f(inputs.error_rate_mean, '{:.4f}')}%",
             "anomalies": f"{inputs.critical_episodes} critical, {inputs.warning_episodes} warning episodes",
             "cost": f"month-end projection {_f(inputs.cost_ratio, '{:.1%}')} of budget"}
    for part, points in h.parts.items():
        out.append(f"| {part} | {points:g} | {h.maxima[part]:g} | {_cell(shown.get(part, ''))} |")
    out.append(f"| **total** | **{h.score}** | 100 | formula: docs/report.md#health-score |")
    out += ["", "SLA and cost per day (a partial day of the window shows its hours):", "",
            f"| date | SLA % | cost ({cur}) |", "|---|---|---|"]
    out += [f"| {d.date}{_partial(d)} | {_f(d.sla, '{:.4f}')} | {d.cost:.2f} |" for d in report.sla_days]
    if report.service_sla:
        out += ["", "Per service, last 24 h (SLI exact = good / all requests from the latency histogram and errors; "
                "approximate = p95 lower bound):", "",
                "| service | SLA % | SLI | error-budget burn | bad steps |", "|---|---|---|---|---|"]
        out += [f"| {name} | {_f(v.sla_attainment, '{:.4f}')} | {v.sli_method} | "
                f"{_f(v.error_budget_burn, '{:.2f}')}x | {_f(v.bad_step_share, '{:.1%}')} |"
                for name, v in report.service_sla.items()]
    names = sorted({n for values in report.thresholds.values() for n in values})
    if names:
        out += ["", "Thresholds per service, as deployed now (each service learns its own):", "",
                "| service | " + " | ".join(names) + " |",
                "|---|" + "---|" * len(names)]
        out += [f"| {service} | " + " | ".join(_f(values.get(n)) for n in names) + " |"
                for service, values in report.thresholds.items()]
    out += ["", "## Trends (24 h vs 7 d)", "",
            "| metric | mean 24 h | p95 24 h | mean 7 d | p95 7 d | change % | direction | z | significant |",
            "|---|---|---|---|---|---|---|---|---|"]
    for service, metrics in report.trends.items():
        for name, t in metrics.items():
            out.append(f"| {service}/{name} | {_f(t.mean_24h, '{:.4g}')} | {_f(t.p95_24h, '{:.4g}')} | "
                       f"{_f(t.mean_7d, '{:.4g}')} | {_f(t.p95_7d, '{:.4g}')} | {_f(t.change_pct, '{:+.1f}')} | "
                       f"{t.direction} | {_f(t.z, '{:+.1f}')} | {'**yes**' if t.significant else 'no'} |")
    out += ["", "## Cost projection", ""]
    if cost.projected_total is None:
        out.append(f"No projection: {cost.note or 'no cost data'}.")
    else:
        out += [f"- month {cost.month}: month-to-date {_f(cost.month_to_date, '{:.2f}')} {cur}",
                f"- projected month-end {cost.projected_total:.2f} {cur} (80% interval {_f(cost.lower, '{:.2f}')} - "
                f"{_f(cost.upper, '{:.2f}')}), budget {cost.budget:.2f} ({_f(cost.ratio_to_budget, '{:.1%}')})",
                f"- method: {cost.method}" + (f" ({cost.note})" if cost.note else "")]
    out += ["", "## Actions (last 24 h)", ""]
    for a in report.actions:
        changes = ", ".join(f"{k} {v.old:g} -> {v.new:g}" for k, v in a.changes.items())
        who = f"{a.service}: " if a.service else ""
        out.append(f"- {a.time_iso}: {who}{changes}" + (f" (commit {a.commit[:8]})" if a.commit else "")
                   + ("" if a.applied else " [not applied]"))
        out += [f"  - why {k}: {v}" for k, v in a.reasons.items()]
    if not report.actions:
        out.append("- none: no threshold changed in the last 24 h")
    if report.change_effects:
        out += ["", "What the scaling changes of the last 7 days did (mean over the day before vs the day after):", ""]
        out += [f"- {service}: {line}" for service, lines in report.change_effects.items() for line in lines]
    an = report.anomalies
    out += ["", "## Anomalies (last 24 h)", "",
            f"{an.critical_episodes} critical and {an.warning_episodes} warning episodes ({an.points} "
            f"anomalous points; {an.info_episodes} single-point info episode(s) are listed but not counted "
            "as incidents).", ""]
    out += [f"- expected effect of the controller's change {c} (replicas/cost/CPU moved; not an incident)"
            for c in an.explained_by_changes]
    for e in an.episodes:
        out.append(f"- {e.severity}: {e.service} ({', '.join(e.metrics)}) {e.start_iso} - {e.end_iso} "
                   f"(max score {e.max_score:.4f}; evidence: {e.evidence or str(e.points) + ' points'})")
    out += ["", "## Learning status", "", f"- learner: {learning.learner_status} "
            f"({learning.learner_cycles} cycles)", f"- last detector training: {learning.last_training or 'never'}"
            f"; {learning.detectors_trained} series trained, {learning.detectors_not_converged} not converged"]
    out += [f"- {name}: {v.status} ({v.criterion})" for name, v in learning.learners.items()]
    if learning.detectors:
        out += ["", "| series | samples | trained | loss | converged |", "|---|---|---|---|---|"]
        out += [f"| {d.series} | {d.samples} | {d.trained} | {_f(d.loss, '{:.4g}')} | "
                f"{_f(d.converged, '{}')} |" for d in learning.detectors]
    out += _predictive_lines(report)
    out += ["", "## Recommendations", ""]
    for i, r in enumerate(narrative.recommendations, start=1):
        out.append(f"{i}. **{_cell(r.title)}**: {r.action} _(evidence: `{r.evidence}` = {r.value})_")
    out += ["", "## Charts", ""]
    out += [f"![{CHART_TITLES[c]}](charts/{c}.png)" for c in report.charts] or ["No charts were drawn."]
    llm = narrative.llm
    out += ["", "## About this report", "",
            f"- schema version {report.schema_version}; numbers in report.json; formulas in docs/report.md",
            f"- narrative: {narrative.written_by}" + (
                f"; {llm.model}, {llm.input_tokens} input + {llm.output_tokens} output tokens, "
                f"${llm.cost_usd:.4f}" if llm else ""),
            f"- windows: last 24 h {report.window.last_24h[0]} - {report.window.last_24h[1]}; "
            f"baseline {report.window.baseline[0]} - {report.window.baseline[1]}", ""]
    return "\n".join(out)


def _predictive_lines(report: Report) -> list[str]:
    """Learning status, predictive part: each forecast's error against the baseline, the schedule, the warnings."""
    p = report.predictive
    if p is None:
        return []
    out = ["", "Predictive scaling (demand forecast and schedule of minimum replicas, docs/predictive.md):", ""]
    if not p.forecasts:
        out.append("- no forecast yet: the next train fits one per service")
    for service, f in p.forecasts.items():
        if f.error_days:
            verdict = "better than" if f.beats_naive else "NOT better than"
            error = (f"first-6-h MAPE {_f(f.model_mape, '{:.2f}')}% vs seasonal naive {_f(f.naive_mape, '{:.2f}')}% "
                     f"over {f.error_days} day(s): {verdict} the baseline")
        else:
            error = "error not tracked yet (needs a forecast from a previous day)"
        peak = f"; next 24 h peak {max(f.mean):.1f} rps (upper {max(f.upper):.1f})" if f.mean else ""
        blocks = ", ".join(f"{b['start_hour']:02d}-{b['end_hour']:02d}h: {b['min_replicas']}" for b in f.schedule)
        out.append(f"- {service}: {f.method} fitted {f.fitted_at}; {error}{peak}")
        out.append(f"  - schedule in force (UTC, min replicas): {blocks or 'none written yet'}")
    if p.warnings:
        out += ["", f"Predictive warnings of the last 24 h ({len(p.warnings)}):", ""]
        out += [f"- {w.service}: at {w.hour_iso} (warned {w.cycle_iso}, {w.lead_hours:g} h ahead): {w.reason}"
                for w in p.warnings]
    else:
        out.append("- predictive warnings in the last 24 h: none")
    return out


def render_html(title: str, markdown_text: str) -> str:
    """A self-contained page: the Markdown's content as simple HTML, charts as <img> beside it."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)
    title = html.escape(title)
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}"
            f"</style></head><body>\n{body}</body></html>\n")


def draw_charts(report: Report, main_series: dict[str, Any] | None, folder: Path) -> list[str]:
    """The four PNGs under folder/charts; returns the names drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.dates import DateFormatter

    charts = folder / "charts"
    charts.mkdir(parents=True, exist_ok=True)
    drawn: list[str] = []

    def save(fig: Any, name: str) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        plt.close(fig)
        tmp = charts / f".{name}.png.tmp"
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(charts / f"{name}.png")
        drawn.append(name)

    def dates(ts: Any) -> Any:
        return np.asarray(ts, dtype=float).astype(np.int64).astype("datetime64[s]")

    path = report.threshold_path
    names = sorted({n for values in report.thresholds.values() for n in values})
    services = list(report.thresholds)
    fig, axes = plt.subplots(len(names) or 1, 1, figsize=(8, 1.6 * max(len(names), 1)), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=False):
        for service in services:
            points = [(p["time"], p[name]) for p in path if name in p and p.get("service") in (service, None)]
            if points:
                t, v = zip(*points, strict=True)
                ax.step(dates(t), v, where="post", label=service)
        ax.set_ylabel(name, fontsize=7)
    if len(services) > 1 and names and axes[0, 0].get_legend_handles_labels()[0]:
        axes[0, 0].legend(fontsize=6, loc="upper right")
    axes[-1, 0].xaxis.set_major_formatter(DateFormatter("%m-%d"))
    fig.suptitle(CHARTS["thresholds"])
    save(fig, "thresholds")

    days = report.sla_days
    target = report.health.inputs.sla_target
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar([d.date[5:] for d in days], [d.sla if d.sla is not None else np.nan for d in days])
    ax.axhline(target, color="red", linestyle="--", label="target")
    finite = [d.sla for d in days if d.sla is not None]
    if finite:
        ax.set_ylim(min(*finite, target) - 0.05, 100.0)
    ax.set_ylabel("SLA %")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.legend(loc="lower left")
    ax.set_title(CHARTS["sla"])
    save(fig, "sla")

    cost = report.cost
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3))
    left.bar([d.date[5:] for d in days], [d.cost for d in days],
             color=["#9bc" if _partial(d) else "C0" for d in days])
    if any(_partial(d) for d in days):
        left.set_xlabel("light bars: partial days of the window", fontsize=7)
    left.set_ylabel(f"cost per day ({report.currency})")
    left.tick_params(axis="x", labelrotation=45, labelsize=7)
    right.set_title("month-end projection", fontsize=9)
    if cost.projected_total is not None and cost.lower is not None and cost.upper is not None:
        right.bar(["to date", "projected"], [cost.month_to_date or 0.0, cost.projected_total],
                  yerr=[[0, cost.projected_total - cost.lower], [0, cost.upper - cost.projected_total]],
                  color=["#888", "#4a7"])
    right.axhline(cost.budget, color="red", linestyle="--", label="budget")
    right.legend(loc="lower right")
    fig.suptitle(CHARTS["cost"])
    fig.tight_layout()
    save(fig, "cost")

    if main_series is not None:
        fig, ax = plt.subplots(figsize=(8, 3))
        ts, values = main_series["timestamps"], main_series["values"]
        ax.plot(dates(ts), values, linewidth=0.8)
        marks = list(main_series.get("anomalies", []))
        if marks:
            index = np.searchsorted(ts, [a["time"] for a in marks]).clip(0, max(len(ts) - 1, 0))
            colors = ["red" if a["severity"] == "critical" else "orange" for a in marks]
            ax.scatter(dates([a["time"] for a in marks]), values[index], c=colors, s=12, zorder=3,
                       label="anomaly (red: critical)")
            ax.legend(loc="upper left")
        ax.xaxis.set_major_formatter(DateFormatter("%m-%d"))
        ax.set_ylabel(f"{main_series['service']}/{main_series['metric']}")
        ax.set_title(CHARTS["main_metric"])
        save(fig, "main_metric")
    if report.predictive is not None and any(f.mean for f in report.predictive.forecasts.values()):
        shown = {k: f for k, f in report.predictive.forecasts.items() if f.mean}
        fig, axes = plt.subplots(len(shown), 1, figsize=(8, 2.2 * len(shown)), squeeze=False)
        for ax, (service, f) in zip(axes[:, 0], shown.items(), strict=True):
            t = dates(f.hour_starts)
            ax.plot(t, f.mean, label="forecast (rps)")
            ax.fill_between(t, f.lower, f.upper, alpha=0.25, label="10-90%")
            ax.set_ylabel(service, fontsize=8)
            error = (f"MAPE {f.model_mape:.1f}% vs naive {f.naive_mape:.1f}% ({f.error_days} d)"
                     if f.error_days and f.model_mape is not None and f.naive_mape is not None else "error not tracked yet")
            ax.set_title(f"{service}: {f.method}, {error}", fontsize=8)
            if f.schedule:
                hours = (np.asarray(f.hour_starts) % 86_400 // 3600).astype(int)
                per_hour = np.zeros(24)
                for b in f.schedule:
                    per_hour[b["start_hour"]:b["end_hour"]] = b["min_replicas"]
                twin = ax.twinx()
                twin.step(t, per_hour[hours], where="post", color="C3", label="min replicas")
                twin.set_ylabel("min replicas", fontsize=7, color="C3")
            ax.xaxis.set_major_formatter(DateFormatter("%d %H:%M"))
            ax.legend(fontsize=6, loc="upper left")
        fig.suptitle(CHART_TITLES[FORECAST_CHART], fontsize=9)
        fig.tight_layout()
        save(fig, FORECAST_CHART)
    return drawn


def write_local(folder: Path, report: Report, main_series: dict[str, Any] | None,
                charts: bool = True) -> tuple[Report, list[str]]:
    """report.json first, then charts, report.md and report.html; the report with its chart
    names, and the problems (empty when all fine)."""
    problems: list[str] = []
    atomic_write_json(folder / "report.json", report.to_json())
    if charts:
        try:
            drawn = draw_charts(report, main_series, folder)
        except Exception as exc:  # noqa: BLE001 - a chart must never lose the report
            drawn = []
            problems.append(f"charts not drawn: {type(exc).__name__}: {exc}")
        report = report.model_copy(update={"charts": drawn})
        atomic_write_json(folder / "report.json", report.to_json())
    markdown_text = render_markdown(report)
    atomic_write_text(folder / "report.md", markdown_text)
    atomic_write_text(folder / "report.html", render_html(f"ai-ops daily health report {report.date}", markdown_text))
    return report, problems
