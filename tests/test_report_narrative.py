"""The LLM narrative through the real anthropic SDK against a local fake: redaction, schema, fallbacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from ai_ops.config import LLMConfig, Secrets, redact
from ai_ops.reporting.model import NarrativeItem, Report
from ai_ops.reporting.narrative import build_prompt, write_narrative
from tests.report_fakes import fake_server
from tests.report_sample import sample_data

KEY = "sk-ant-test-0123456789abcdef"
WEBHOOK = "https://hooks.slack.com/services/T000/B000/supersecretpath"
NOW = 1_768_208_400.0

def _report() -> Report:
    data = sample_data()
    data["date"] = "2026-01-12"
    data["health"]["score"] = data["health_score"] = 88
    data["cost"].update({"projected_total": 1800.0, "lower": 1700.0, "upper": 1900.0, "budget": 1500.0})
    # A careless note with credentials in it: the prompt must not carry them.
    data["actions"] = [{"time_iso": "2026-01-12T06:00:00Z", "changes": {}, "reasons": {}, "applied": True,
                        "commit": None,
                        "summary": f"see {WEBHOOK} and https://admin:hunter2@prom.example/api?token=abc"}]
    return Report.model_validate(data)


REPORT = _report()
RECS = [{"title": f"rec {i}", "action": f"do {i}", "evidence": "health.score", "value": 88} for i in range(5)]
ITEMS = [NarrativeItem.model_validate(r) for r in RECS]
ALLOWED = {"health.score": 88}


def answer(recs: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"summary": "The system is healthy; cost runs 20% over budget.",
                       "recommendations": recs if recs is not None else RECS})


def secrets(base_url: str | None, **extra: Any) -> Secrets:
    return Secrets(ANTHROPIC_API_KEY=SecretStr(KEY), ANTHROPIC_BASE_URL=base_url,
                   SLACK_WEBHOOK_URL=SecretStr(WEBHOOK), **extra)


def config(**kw: Any) -> LLMConfig:
    return LLMConfig(**{"timeout_seconds": 5, "max_retries": 2, **kw})


def test_redaction_removes_secrets_and_credentialed_urls() -> None:
    text = (f"key {KEY} hook {WEBHOOK} url https://admin:hunter2@prom.example/q?x=1&token=abc "
            "bot xoxb-1234-5678-abcdef notion ntn_abcdefghijklmnopqrstuvwxyz")
    out = redact(text, [KEY])
    for leaked in (KEY, "supersecretpath", "hunter2", "token=abc", "xoxb-1234", "ntn_abcdef"):
        assert leaked not in out
    assert "prom.example" in out and "[REDACTED]" in out


def test_prompt_holds_the_report_only_and_no_secret() -> None:
    s = secrets(None)
    system, user = build_prompt(REPORT, ITEMS, s.secret_values())
    prompt = system + user
    assert '"score": 88' in user and "health.score" in user
    for leaked in (KEY, WEBHOOK, "supersecretpath", "hunter2", "token=abc"):
        assert leaked not in prompt


def test_llm_narrative_through_the_sdk_records_tokens_and_cost(tmp_path: Path) -> None:
    with fake_server() as (url, state):
        state.llm_answer = answer()
        n = write_narrative(REPORT, ITEMS, ALLOWED, config(), secrets(url), tmp_path / "llm.json", NOW, "USD")
        sent = state.to("/v1/messages")[0]
    assert not state.violations
    assert n.written_by == "llm" and n.summary.startswith("The system is healthy")
    assert n.llm is not None and n.llm.model_dump() == {
        "model": "claude-sonnet-4-6", "input_tokens": 1200, "output_tokens": 400,
        "cost_usd": pytest.approx(1200 * 3 / 1e6 + 400 * 15 / 1e6), "stop_reason": "end_turn"}
    body = json.dumps(sent.body)
    assert KEY not in body and "supersecretpath" not in body and "hunter2" not in body
    assert sent.body["max_tokens"] == 1500 and sent.body["model"] == "claude-sonnet-4-6"
    assert json.loads((tmp_path / "llm.json").read_text())["tokens_used"] == 1600


def test_429_and_500_are_retried_by_the_sdk(tmp_path: Path) -> None:
    with fake_server() as (url, state):
        state.llm_answer = answer()
        state.fail("/v1/messages", 429)
        state.fail("/v1/messages", 500)
        n = write_narrative(REPORT, ITEMS, ALLOWED, config(), secrets(url), tmp_path / "llm.json", NOW, "USD")
        calls = len(state.to("/v1/messages"))
    assert n.written_by == "llm" and calls == 3


@pytest.mark.parametrize(("reply", "why"), [
    ("not json at all", "no JSON object"),
    (json.dumps({"summary": "too few recommendations here", "recommendations": RECS[:2]}), "schema"),
    (answer([{**r, "value": 99} for r in RECS]), "changed the value"),
    (answer([{**r, "evidence": "made.up"} for r in RECS]), "not in the report"),
])
def test_invalid_answers_fall_back_to_the_template(tmp_path: Path, reply: str, why: str) -> None:
    with fake_server() as (url, state):
        state.llm_answer = reply
        n = write_narrative(REPORT, ITEMS, ALLOWED, config(), secrets(url), tmp_path / "llm.json", NOW, "USD")
    assert n.written_by == "template" and why in n.reason
    assert "Health score 88/100" in n.summary and len(n.recommendations) == 5
    assert n.llm is not None and n.llm.input_tokens == 1200  # the spent tokens are still recorded


def test_circuit_breaker_opens_after_repeated_failures(tmp_path: Path) -> None:
    state_file = tmp_path / "llm.json"
    with fake_server() as (url, state):
        state.fail("/v1/messages", 500, times=100)
        for i in range(3):
            n = write_narrative(REPORT, ITEMS, ALLOWED, config(max_retries=0, circuit_breaker_failures=3),
                                secrets(url), state_file, NOW + i, "USD")
            assert n.written_by == "template" and "LLM call failed" in n.reason
        before = len(state.to("/v1/messages"))
        n = write_narrative(REPORT, ITEMS, ALLOWED, config(circuit_breaker_failures=3), secrets(url), state_file,
                            NOW + 10, "USD")
        assert len(state.to("/v1/messages")) == before  # no call while open
    assert "circuit breaker open" in n.reason
    assert KEY not in state_file.read_text()


def test_no_key_disabled_and_budget_exhausted_use_the_template(tmp_path: Path) -> None:
    n = write_narrative(REPORT, ITEMS, ALLOWED, config(), Secrets(), tmp_path / "llm.json", NOW, "USD")
    assert (n.written_by, n.reason) == ("template", "no ANTHROPIC_API_KEY set")
    n = write_narrative(REPORT, ITEMS, ALLOWED, config(enabled=False), secrets(None), tmp_path / "llm.json", NOW, "USD")
    assert "disabled" in n.reason
    n = write_narrative(REPORT, ITEMS, ALLOWED, config(daily_token_budget=100), secrets("http://127.0.0.1:9"),
                        tmp_path / "llm.json", NOW, "USD")
    assert "daily token budget" in n.reason
    again = write_narrative(REPORT, ITEMS, ALLOWED, config(), Secrets(), tmp_path / "x.json", NOW, "USD")
    assert again.summary == n.summary  # the template is deterministic


def test_a_dry_run_calls_the_llm_but_writes_no_budget_state(tmp_path: Path) -> None:
    """docs/daemon.md: with --dry-run nothing is written, the LLM's token budget file included."""
    with fake_server() as (url, state):
        state.llm_answer = answer()
        n = write_narrative(REPORT, ITEMS, ALLOWED, config(), secrets(url), tmp_path / "llm.json", NOW, "USD",
                            save_state=False)
    assert n.written_by == "llm"
    assert not (tmp_path / "llm.json").exists()


def test_channel_errors_go_through_the_same_redaction_as_the_prompt() -> None:
    """One redaction (ai_ops.config.redact): Slack/Notion error lines also lose credentialed URLs and tokens."""
    from ai_ops.notifiers import scrub

    line = scrub("HTTPError: https://admin:hunter2@hooks.example/x?token=abc xoxb-1234-5678-abcdef " + KEY,
                 secrets(None))
    for leaked in ("hunter2", "token=abc", "xoxb-1234", KEY):
        assert leaked not in line
    assert "hooks.example" in line
