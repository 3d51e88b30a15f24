"""Slack delivery: a Block Kit card of the daily report, the cost chart with a bot token, cycle notices.

Bot token (SLACK_BOT_TOKEN + notifiers.slack.channel) is preferred: it can upload the chart
(files_upload_v2). Otherwise an incoming webhook (SLACK_WEBHOOK_URL). 429 answers are
retried after Retry-After (RateLimitErrorRetryHandler); texts are clipped to Block Kit limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ai_ops.config import NotifiersConfig, Secrets
from ai_ops.notifiers import Delivery

MAX_BLOCKS = 50
SECTION_TEXT = 3000
FIELD_TEXT = 2000
MAX_FIELDS = 10
HEADER_TEXT = 150
CONTEXT_TEXT = 3000
FALLBACK_TEXT = 3000


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text: str, limit: int = SECTION_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def report_blocks(report: dict[str, Any], report_link: str | None) -> list[dict[str, Any]]:
    """The card: score, key numbers, significant trends, actions, recommendations, link."""
    h, cost = report["health"], report["cost"]
    cur = report["currency"]
    sla = h["inputs"]["sla_attainment"]
    fields = [
        _md(f"*Health*\n{h['score']}/100", FIELD_TEXT),
        _md(f"*SLA (24 h)*\n{sla:.3f}% (target {h['inputs']['sla_target']}%)" if sla is not None else "*SLA*\nn/a",
            FIELD_TEXT),
        _md(f"*Month-end cost*\n{cost['projected_total']:.0f} {cur} of {cost['budget']:.0f}"
            if cost.get("projected_total") is not None else "*Month-end cost*\nn/a", FIELD_TEXT),
        _md(f"*Anomalies (24 h)*\n{report['anomalies']['critical_episodes']} critical, "
            f"{report['anomalies']['warning_episodes']} warning", FIELD_TEXT),
        _md(f"*Learner*\n{report['learning']['learner_status']}", FIELD_TEXT),
        _md(f"*Changes (24 h)*\n{len(report['actions'])}", FIELD_TEXT),
    ][:MAX_FIELDS]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(
            f"ai-ops health {report['date']}: {h['score']}/100", HEADER_TEXT)}},
        {"type": "section", "fields": fields},
        {"type": "section", "text": _md(report["narrative"]["summary"])},
    ]
    moved = [f"• {s}/{m}: {t['change_pct']:+.1f}% ({t['direction']})" for s, ms in report["trends"].items()
             for m, t in ms.items() if t["significant"]]
    blocks.append({"type": "section", "text": _md("*Trends*\n" + ("\n".join(moved[:8]) if moved
                                                                   else "nothing beyond normal variation"))})
    actions = [f"• {a['time_iso'][11:16]}Z " + ", ".join(f"{k} {v['old']:g}→{v['new']:g}" for k, v in a["changes"].items())
               for a in report["actions"]]
    blocks.append({"type": "section", "text": _md("*Actions*\n" + ("\n".join(actions[:10]) if actions else "none"))})
    recs = [f"{i}. *{r['title']}*: {r['action']}" for i, r in enumerate(report["narrative"]["recommendations"], 1)]
    blocks.append({"type": "section", "text": _md("*Recommendations*\n" + "\n".join(recs))})
    context = f"narrative: {report['narrative']['written_by']}"
    if report_link:
        context += f" · <{report_link}|full report>"
    blocks.append({"type": "context", "elements": [_md(context, CONTEXT_TEXT)]})
    return blocks[:MAX_BLOCKS]


def fallback_text(report: dict[str, Any]) -> str:
    return clip(f"ai-ops health {report['date']}: {report['health']['score']}/100", FALLBACK_TEXT)


def _retry_handlers(max_retries: int) -> list[Any]:
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    return [RateLimitErrorRetryHandler(max_retry_count=max_retries)]


def _web_client(secrets: Secrets, config: NotifiersConfig) -> Any:
    from slack_sdk import WebClient

    assert secrets.SLACK_BOT_TOKEN is not None
    kwargs: dict[str, Any] = {"token": secrets.SLACK_BOT_TOKEN.get_secret_value(),
                              "timeout": int(config.slack.timeout_seconds),
                              "retry_handlers": _retry_handlers(config.slack.max_retries)}
    if secrets.SLACK_BASE_URL:
        kwargs["base_url"] = secrets.SLACK_BASE_URL.rstrip("/") + "/"
    return WebClient(**kwargs)


def _post(text: str, blocks: list[dict[str, Any]] | None, secrets: Secrets, config: NotifiersConfig,
          chart: Path | None = None) -> str:
    """Send with the bot token (and upload `chart`) or the webhook; returns a detail line. Raises on failure."""
    if secrets.SLACK_BOT_TOKEN is not None:
        client = _web_client(secrets, config)
        response = client.chat_postMessage(channel=config.slack.channel, text=text, blocks=blocks)
        detail = f"posted to {config.slack.channel} with the bot token"
        if chart is not None and chart.exists() and config.slack.upload_charts:
            client.files_upload_v2(channel=response["channel"], file=str(chart), filename=chart.name,
                                   title="ai-ops cost and projection", thread_ts=response.get("ts"))
            detail += ", chart uploaded"
        return detail
    from slack_sdk.webhook import WebhookClient

    assert secrets.SLACK_WEBHOOK_URL is not None
    hook = WebhookClient(secrets.SLACK_WEBHOOK_URL.get_secret_value(), timeout=int(config.slack.timeout_seconds),
                         retry_handlers=_retry_handlers(config.slack.max_retries))
    answer = hook.send(text=text, blocks=blocks)
    if answer.status_code != 200:
        raise RuntimeError(f"webhook answered HTTP {answer.status_code}: {answer.body[:200]}")
    return "posted with the incoming webhook"


def _missing(secrets: Secrets, config: NotifiersConfig) -> str | None:
    if not config.slack.enabled:
        return "disabled in config (notifiers.slack.enabled: false)"
    if secrets.SLACK_BOT_TOKEN is None and secrets.SLACK_WEBHOOK_URL is None:
        return "no SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN set"
    return None


def _failure(exc: Exception, secrets: Secrets) -> str:
    from ai_ops.notifiers import scrub

    return scrub(f"{type(exc).__name__}: {exc}", secrets)


def send_report(report: dict[str, Any], folder: Path, secrets: Secrets, config: NotifiersConfig) -> Delivery:
    skipped = _missing(secrets, config)
    if skipped:
        return Delivery("slack", "skipped", skipped)
    link = f"{config.report_url.rstrip('/')}/{report['date']}/report.html" if config.report_url else None
    try:
        detail = _post(fallback_text(report), report_blocks(report, link), secrets, config,
                       folder / "charts" / "cost.png")
    except Exception as exc:  # noqa: BLE001 - a channel's failure is reported, never raised
        return Delivery("slack", "failed", _failure(exc, secrets))
    return Delivery("slack", "sent", detail)


def send_notice(text: str, secrets: Secrets, config: NotifiersConfig) -> Delivery:
    """A short cycle-time message (threshold changed, critical anomaly)."""
    skipped = _missing(secrets, config)
    if skipped:
        return Delivery("slack", "skipped", skipped)
    try:
        detail = _post(clip(text, FALLBACK_TEXT), [{"type": "section", "text": _md(text)}], secrets, config)
    except Exception as exc:  # noqa: BLE001 - a channel's failure is reported, never raised
        return Delivery("slack", "failed", _failure(exc, secrets))
    return Delivery("slack", "sent", detail)
