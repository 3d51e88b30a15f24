"""Slack and Notion delivery through the real SDKs against local fakes that check the wire format."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from ai_ops.config import NotifiersConfig, Secrets
from ai_ops.notifiers import notion, slack
from ai_ops.reporting.model import Report
from tests.report_fakes import fake_server
from tests.report_sample import sample_data

BOT = "xoxb-1111-2222-secretbot"
NOTION_KEY = "ntn_secretintegrationtoken123456"


def report(summary: str = "All good.", actions: int = 1, score: int = 87) -> Report:
    data = sample_data()
    data["date"] = "2026-01-12"
    data["health"]["score"] = data["health_score"] = score
    data["cost"]["projected_total"] = 1462.0
    data["trends"] = {"checkout": {
        "request_rate": {**data["trends"]["checkout"]["request_rate"], "change_pct": 12.0, "direction": "up",
                         "significant": True},
        "replicas": {**data["trends"]["checkout"]["replicas"], "change_pct": 0.1, "direction": "flat",
                     "significant": False}}}
    action = {"time_iso": "2026-01-12T06:00:00Z", "summary": "", "reasons": {}, "applied": True, "commit": None,
              "changes": {"autoscaling_cpu_target": {"old": 70, "new": 72}}}
    data["actions"] = [action] * actions
    data["narrative"] = {"written_by": "template", "reason": "test", "summary": summary, "llm": None,
                         "recommendations": [{"title": f"t{i}", "action": "a" * 700, "evidence": "health.score",
                                              "value": score} for i in range(5)]}
    return Report.model_validate(data)


def test_webhook_card_is_valid_block_kit_and_within_limits(tmp_path: Path) -> None:
    with fake_server() as (url, state):
        secrets = Secrets(SLACK_WEBHOOK_URL=SecretStr(f"{url}/hooks/T0/B0/xyz"))
        big = report(summary="word " * 2000, actions=40)  # far past the 3,000-character section limit
        d = slack.send_report(big, tmp_path, secrets, NotifiersConfig(report_url="https://reports.example"))
        sent = state.to("/hooks/")[0].body
    assert d.status == "sent" and not state.violations
    header = sent["blocks"][0]["text"]["text"]
    assert header == "ai-ops health 2026-01-12: 87/100"
    text = str(sent["blocks"])
    assert "request_rate: +12.0%" in text and "replicas" not in text  # only significant trends
    assert "<https://reports.example/2026-01-12/report.html|full report>" in text


def test_bot_token_posts_and_uploads_the_chart(tmp_path: Path) -> None:
    (tmp_path / "charts").mkdir()
    (tmp_path / "charts" / "cost.png").write_bytes(b"\x89PNG fake chart")
    with fake_server() as (url, state):
        secrets = Secrets(SLACK_BOT_TOKEN=SecretStr(BOT), SLACK_BASE_URL=f"{url}/api/")
        d = slack.send_report(report(), tmp_path, secrets, NotifiersConfig())
        paths = [r.path for r in state.requests]
    assert d.status == "sent" and "chart uploaded" in d.detail, d
    assert not state.violations
    assert paths == ["/api/chat.postMessage", "/api/files.getUploadURLExternal", "/upload/F1",
                     "/api/files.completeUploadExternal"]


def test_slack_429_is_retried_after_retry_after_and_500_fails_cleanly(tmp_path: Path) -> None:
    with fake_server() as (url, state):
        secrets = Secrets(SLACK_WEBHOOK_URL=SecretStr(f"{url}/hooks/T0/B0/xyz"))
        state.fail("/hooks/", 429)
        ok = slack.send_report(report(), tmp_path, secrets, NotifiersConfig())
        assert ok.status == "sent" and len(state.to("/hooks/")) == 2
        state.fail("/hooks/", 500)
        bad = slack.send_report(report(), tmp_path, secrets, NotifiersConfig())
    assert bad.status == "failed" and "500" in bad.detail
    assert "xyz" not in bad.detail  # the webhook URL is a secret: never printed


def test_missing_credentials_and_disabled_channels_are_one_skipped_line(tmp_path: Path) -> None:
    d = slack.send_report(report(), tmp_path, Secrets(), NotifiersConfig())
    assert d.line() == "slack: skipped (no SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN set)"
    n = notion.send_report(report(), "# x", Secrets(), NotifiersConfig())
    assert n.line() == "notion: skipped (NOTION_API_KEY and NOTION_DATABASE_ID are not both set)"


def _notion_report() -> Report:
    return report(score=42)


def _markdown(lines: int) -> str:
    return "\n".join(["# title", "## Section"] + [f"- item {i} " + "x" * (4500 if i == 0 else 10)
                                                    for i in range(lines)])


def test_notion_creates_then_updates_the_same_days_page(tmp_path: Path) -> None:
    with fake_server() as (url, state):
        secrets = Secrets(NOTION_API_KEY=SecretStr(NOTION_KEY), NOTION_DATABASE_ID="db-1", NOTION_BASE_URL=url)
        first = notion.send_report(_notion_report(), _markdown(250), secrets, NotifiersConfig())
        assert first.status == "sent", first
        assert len(state.pages) == 1
        page_id = next(iter(state.pages))
        assert len(state.blocks[page_id]) == 252
        long_item = state.blocks[page_id][2]["bulleted_list_item"]["rich_text"]
        assert [len(t["text"]["content"]) for t in long_item] == [2000, 2000, 507]
        props = state.pages[page_id]["properties"]
        assert props["Health score"] == {"number": 42} and props["Status"] == {"select": {"name": "critical"}}
        assert props["Date"] == {"date": {"start": "2026-01-12"}} and props["Cost"] == {"number": 1462.0}
        second = notion.send_report(_notion_report(), _markdown(3), secrets, NotifiersConfig())
    assert second.status == "updated", second
    assert len(state.pages) == 1 and len(state.blocks[page_id]) == 5
    assert not state.violations, state.violations


def test_notion_500_and_missing_properties_fail_with_a_clear_reason() -> None:
    with fake_server() as (url, state):
        secrets = Secrets(NOTION_API_KEY=SecretStr(NOTION_KEY), NOTION_DATABASE_ID="db-1", NOTION_BASE_URL=url)
        state.fail("/v1/databases", 429)  # retried by the SDK
        ok = notion.send_report(_notion_report(), "# x", secrets, NotifiersConfig())
        assert ok.status == "sent", ok
        state.fail("/v1/databases", 500, times=10)
        bad = notion.send_report(_notion_report(), "# x", secrets, NotifiersConfig())
        assert bad.status == "failed" and NOTION_KEY not in bad.detail
        state.failures.clear()
        del state.notion_properties["Status"]
        missing = notion.send_report(_notion_report(), "# x", secrets, NotifiersConfig())
    assert missing.status == "failed" and "Status (select)" in missing.detail
