"""replay.json -> replay.md, replay.html and PNG charts (one threshold-path and one SLA/cost chart per service)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ai_ops.reporting.render import _cell, _f
from ai_ops.state import atomic_write_json, atomic_write_text


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def render_markdown(summary: dict[str, Any], charts: dict[str, list[str]] | None = None) -> str:
    cur = summary["currency"]
    out = [f"# ai-ops replay: {summary['from']} to {summary['to']}", "",
           "What the controller would have done over this period: every scheduled job ran at its time on the "
           "data available then, in a scratch workspace (no notifier, no LLM, commits only in "
           f"`{summary['workspace']}`). Jobs run: " + ", ".join(f"{v} {k}" for k, v in summary["jobs"].items())
           + f"; {summary['seconds']:g} s.", "",
           ("Real history does not react to the thresholds the replay proposes: the SLA and cost below are what "
           "happened under the thresholds actually deployed; the alert pages are counted at the thresholds the "
           "replay had in force."), ""]
    for s in summary["services"]:
        out += [f"## {s['service']}", ""]
        if s.get("fetch_errors"):
            out += ["Fetch errors: " + "; ".join(f"{k}: {v}" for k, v in s["fetch_errors"].items()), ""]
        out += ["### Thresholds", "", "| threshold | initial | final | changes | pages (alert held 2 steps) |",
                "|---|---|---|---|---|"]
        for name, initial in s["initial"].items():
            moves = sum(name in c["changes"] for c in s["changes"])
            pages = s["alerts"].get(name, {}).get("pages")
            out.append(f"| {name} | {initial:g} | {s['final'].get(name, initial):g} | {moves} | "
                       f"{'' if pages is None else pages} |")
        out += ["", "### SLA and cost per day", "", f"| date | SLA % | cost ({cur}) |", "|---|---|---|"]
        out += [f"| {d['date']}{'' if d['hours'] >= 24 else ' (partial: {:g} h)'.format(d['hours'])} | "
                f"{_f(d['sla'], '{:.4f}')} | {d['cost']:.2f} |" for d in s["days"]]
        out += ["", f"### Anomaly episodes ({s['critical_episodes']} critical, {s['warning_episodes']} warning)", ""]
        out += [f"- {e['severity']}: {_iso(e['start'])} - {_iso(e['end'])} ({', '.join(e['metrics'])}; "
                f"{e['points']} points, max score {e['max_score']:.3f})" for e in s["episodes"]] or ["- none"]
        out += ["", "### Threshold changes it would have proposed", ""]
        for c in s["changes"]:
            moved = ", ".join(f"{k} {v['old']:g} -> {v['new']:g}" for k, v in c["changes"].items())
            out.append(f"- {c['time_iso']}: {moved}")
            out += [f"  - why {k}: {_cell(v)}" for k, v in c["reasons"].items()]
        if not s["changes"]:
            out.append("- none")
        for chart in (charts or {}).get(s["service"], []):
            out += ["", f"![{chart}](charts/{chart})"]
        out.append("")
    return "\n".join(out)


def draw_charts(summary: dict[str, Any], folder: Path) -> dict[str, list[str]]:
    """Per service: thresholds over time, SLA and cost per day; returns the PNG names drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = folder / "charts"
    charts.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, list[str]] = {}

    def save(fig: Any, name: str, service: str) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        plt.close(fig)
        tmp = charts / f".{name}.tmp"
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(charts / name)
        drawn.setdefault(service, []).append(name)

    for s in summary["services"]:
        names = list(s["initial"])
        fig, axes = plt.subplots(len(names) or 1, 1, figsize=(8, 1.5 * max(len(names), 1)), sharex=True,
                                 squeeze=False)
        for ax, name in zip(axes[:, 0], names, strict=False):
            points = [(p["time"], p[name]) for p in s["threshold_path"] if name in p]
            if points:
                t, v = zip(*points, strict=True)
                ax.step(np.asarray(t, dtype=np.int64).astype("datetime64[s]"), v, where="post")
                for when in s["alerts"].get(name, {}).get("times", []):
                    ax.axvline(np.datetime64(int(when), "s"), color="red", alpha=0.3, linewidth=0.8)
            ax.set_ylabel(name, fontsize=7)
        fig.suptitle(f"{s['service']}: thresholds (red: alert pages)")
        save(fig, f"{_safe(s['service'])}-thresholds.png", s["service"])
        days = s["days"]
        # Fixed margins, not tight_layout: that lays every tick label out once more (a fifth of the
        # charts' time) for the same picture at this size.
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3), gridspec_kw={"left": 0.06, "right": 0.98,
                                                                                "bottom": 0.2, "top": 0.9,
                                                                                "wspace": 0.18})
        left.bar([d["date"][5:] for d in days], [d["sla"] if d["sla"] is not None else np.nan for d in days])
        left.axhline(summary["sla_target"], color="red", linestyle="--")
        finite = [d["sla"] for d in days if d["sla"] is not None]
        if finite:
            left.set_ylim(min(*finite, summary["sla_target"]) - 0.05, 100.0)
        left.set_title("SLA % per day", fontsize=9)
        left.tick_params(axis="x", labelrotation=45, labelsize=7)
        right.bar([d["date"][5:] for d in days], [d["cost"] for d in days])
        right.set_title(f"cost per day ({summary['currency']})", fontsize=9)
        right.tick_params(axis="x", labelrotation=45, labelsize=7)
        save(fig, f"{_safe(s['service'])}-sla-cost.png", s["service"])
    return drawn


def write_replay(folder: Path, summary: dict[str, Any], charts: bool = True) -> list[str]:
    """replay.json, charts, replay.md, replay.html; returns problems (a chart failure never loses the numbers)."""
    from ai_ops.reporting.render import render_html

    problems: list[str] = []
    atomic_write_json(folder / "replay.json", summary)
    drawn: dict[str, list[str]] = {}
    if charts:
        try:
            drawn = draw_charts(summary, folder)
        except Exception as exc:  # noqa: BLE001 - a chart must never lose the summary
            problems.append(f"charts not drawn: {type(exc).__name__}: {exc}")
    text = render_markdown(summary, drawn)
    atomic_write_text(folder / "replay.md", text)
    atomic_write_text(folder / "replay.html", render_html(f"ai-ops replay {summary['from']} - {summary['to']}", text))
    return problems
