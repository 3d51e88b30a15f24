"""`ai-ops report` end to end on a simulated workspace: all three formats, charts, delivery, no credentials."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from ai_ops.config import OpsConfig, Secrets
from ai_ops.jobs.cycle import run_cycle
from ai_ops.jobs.demo import DEMO_START
from ai_ops.jobs.report import run_report
from ai_ops.jobs.train import run_train
from ai_ops.reporting.render import CHARTS, SECTIONS
from tests.report_fakes import fake_server

ROOT = Path(__file__).resolve().parents[1]
DAY = 86_400
NOW = DEMO_START + 8 * DAY + 9 * 3600


@pytest.fixture
def workspace(sim_config: OpsConfig) -> OpsConfig:
    """A workspace with trained detectors and a day of cycles before the report."""
    run_train(sim_config, NOW - 6 * 3600)
    for hours in (24, 18, 12, 6, 0):
        run_cycle(sim_config, NOW - hours * 3600)
    return sim_config


def test_report_writes_json_md_html_and_charts_and_skips_missing_channels(
        workspace: OpsConfig, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ai_ops"):
        result = run_report(workspace, NOW, secrets=Secrets())
    lines = caplog.messages
    folder = result.folder
    assert folder is not None and folder.name == "2026-01-13"
    report = json.loads((folder / "report.json").read_text())
    assert report["schema_version"] == 2 and 0 <= report["health"]["score"] <= 100
    assert report["health"]["score"] == round(sum(report["health"]["parts"].values()))
    assert report["cost"]["method"].startswith("ets") and report["cost"]["lower"] <= report["cost"]["upper"]
    assert len(report["recommendations"]) == 5 and len(report["narrative"]["recommendations"]) == 5
    assert report["narrative"]["written_by"] == "template"
    assert report["delivery"]["slack"]["status"] == "skipped" and report["delivery"]["notion"]["status"] == "skipped"
    assert sum("skipped" in line for line in lines) == 2
    assert "report narrative: template (no ANTHROPIC_API_KEY set)" in "\n".join(lines)
    # Charts: four PNGs, each shown in the HTML and the Markdown.
    assert sorted(report["charts"]) == sorted(CHARTS)
    html = (folder / "report.html").read_text()
    for name in CHARTS:
        png = folder / "charts" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000
        assert f'src="charts/{name}.png"' in html
    markdown = (folder / "report.md").read_text()
    assert re.findall(r"^## (.+)$", markdown, re.MULTILINE) == list(SECTIONS)
    assert "<table>" in html and "Health score" in html


def test_markdown_sections_match_the_documented_template() -> None:
    template = (ROOT / "docs" / "report_template.md").read_text()
    assert re.findall(r"^## (.+)$", template, re.MULTILINE) == list(SECTIONS)
    guide = (ROOT / "docs" / "report.md").read_text()
    for heading in ("Health score", "Trends", "Cost projection", "Recommendations", "LLM narrative", "Slack",
                    "Notion", "Debugging"):
        assert re.search(rf"^##+ .*{heading}", guide, re.MULTILINE), heading


def test_report_delivers_to_slack_and_notion_and_a_failing_channel_blocks_nothing(workspace: OpsConfig) -> None:
    with fake_server() as (url, state):
        secrets = Secrets(SLACK_BOT_TOKEN=SecretStr("xoxb-1-2-e2e"), SLACK_BASE_URL=f"{url}/api/",
                          NOTION_API_KEY=SecretStr("ntn_e2etokenxxxxxxxxxxxxxxxxx"), NOTION_DATABASE_ID="db-1",
                          NOTION_BASE_URL=url)
        report = run_report(workspace, NOW, secrets=secrets).report
        assert report["delivery"]["slack"]["status"] == "sent" and "chart uploaded" in report["delivery"]["slack"]["detail"]
        assert report["delivery"]["notion"]["status"] == "sent"
        assert not state.violations, state.violations
        # Slack down: the local report and Notion still go; Notion updates the same page.
        state.fail("/api/chat.postMessage", 500, times=5)
        again = run_report(workspace, NOW, secrets=secrets)
        assert again.report["delivery"]["slack"]["status"] == "failed"
        assert again.report["delivery"]["notion"]["status"] == "updated"
        assert len(state.pages) == 1
        saved = json.loads((again.folder / "report.json").read_text())
        assert saved["delivery"]["slack"]["status"] == "failed"
        assert "xoxb-1-2-e2e" not in (again.folder / "report.json").read_text()


def test_cycle_sends_a_notice_when_a_threshold_changes(sim_config: OpsConfig) -> None:
    with fake_server() as (url, state):
        secrets = Secrets(SLACK_WEBHOOK_URL=SecretStr(f"{url}/hooks/T/B/cycle"))
        changed = False
        for hours in range(0, 72, 6):
            result = run_cycle(sim_config, DEMO_START + hours * 3600, secrets=secrets)
            changed |= result.decision.changed
        notices = [r.body["text"] for r in state.to("/hooks/")]
    assert changed and notices
    assert any(("ai-ops" in n and "->" in n) or "critical" in n for n in notices)
    assert not state.violations


def test_cli_report_without_credentials(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NOTION_", "ANTHROPIC_"))}
    env["PYTHONPATH"] = str(ROOT)
    run = subprocess.run([sys.executable, "-m", "ai_ops", "report"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stderr
    assert "slack: skipped" in run.stdout and "notion: skipped" in run.stdout
    folders = list((tmp_path / "ai-ops-demo" / "reports").iterdir())
    assert len(folders) == 1
    assert {p.name for p in folders[0].iterdir()} >= {"report.json", "report.md", "report.html", "charts"}


def test_dry_run_shows_the_report_and_writes_nothing(workspace: OpsConfig) -> None:
    from ai_ops.reporting.render import render_markdown

    result = run_report(workspace, NOW, dry_run=True, secrets=Secrets())
    assert result.folder is None and not (workspace.reports_path / "2026-01-13").exists()
    assert render_markdown(result.report).startswith("# ai-ops daily health report: 2026-01-13")
