"""Notion delivery: one page per day in the configured database (API 2025-09-03, data sources).

The database's first data source is resolved with databases.retrieve; that day's page is
found by its Date property, so re-running the same day updates the page (properties
replaced, old blocks removed, new blocks appended) instead of adding a second one.
Blocks go at most 100 per request and rich text at most 2,000 characters per item.
"""

from __future__ import annotations

from typing import Any

from ai_ops.config import NotifiersConfig, Secrets
from ai_ops.notifiers import Delivery, scrub

MAX_BLOCKS_PER_REQUEST = 100
MAX_RICH_TEXT = 2000
MAX_RICH_TEXT_ITEMS = 100
REQUIRED = {"Date": "date", "Health score": "number", "SLA": "number", "Cost": "number", "Status": "select"}


def rich_text(text: str) -> list[dict[str, Any]]:
    """Text split into items of at most 2,000 characters (and at most 100 items)."""
    chunks = [text[i:i + MAX_RICH_TEXT] for i in range(0, len(text), MAX_RICH_TEXT)] or [""]
    return [{"type": "text", "text": {"content": c}} for c in chunks[:MAX_RICH_TEXT_ITEMS]]


def _block(kind: str, text: str) -> dict[str, Any]:
    return {"object": "block", "type": kind, kind: {"rich_text": rich_text(text)}}


def status_of(score: int) -> str:
    return "healthy" if score >= 80 else "degraded" if score >= 50 else "critical"


def report_blocks(markdown_text: str) -> list[dict[str, Any]]:
    """The Markdown report as Notion blocks: headings, bullets, numbered items, paragraphs (tables as text)."""
    blocks: list[dict[str, Any]] = []
    for line in markdown_text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("|---", "![")):
            continue
        if line.startswith("# "):
            blocks.append(_block("heading_1", line[2:]))
        elif line.startswith("## "):
            blocks.append(_block("heading_2", line[3:]))
        elif line.startswith("- "):
            blocks.append(_block("bulleted_list_item", line[2:]))
        elif line[:1].isdigit() and ". " in line[:4]:
            blocks.append(_block("numbered_list_item", line.split(". ", 1)[1]))
        else:
            blocks.append(_block("paragraph", stripped))
    return blocks


def properties(report: dict[str, Any], title_property: str) -> dict[str, Any]:
    sla = report["health"]["inputs"]["sla_attainment"]
    cost = report["cost"].get("projected_total")
    return {
        title_property: {"title": rich_text(f"ai-ops health report {report['date']}")},
        "Date": {"date": {"start": report["date"]}},
        "Health score": {"number": report["health"]["score"]},
        "SLA": {"number": sla},
        "Cost": {"number": cost},
        "Status": {"select": {"name": status_of(report["health"]["score"])}},
    }


def _client(secrets: Secrets, config: NotifiersConfig) -> Any:
    from notion_client import Client
    from notion_client.client import RetryOptions

    assert secrets.NOTION_API_KEY is not None
    options: dict[str, Any] = {"auth": secrets.NOTION_API_KEY.get_secret_value(),
                               "timeout_ms": int(config.notion.timeout_seconds * 1000),
                               "retry": RetryOptions(max_retries=config.notion.max_retries,
                                                     initial_retry_delay_ms=200, max_retry_delay_ms=5000)}
    if secrets.NOTION_BASE_URL:
        options["base_url"] = secrets.NOTION_BASE_URL.rstrip("/")
    return Client(**options)


def _schema(client: Any, database_id: str) -> tuple[str, str]:
    """(data_source_id, title property name); raises ValueError naming missing properties."""
    database = client.databases.retrieve(database_id=database_id)
    sources = database.get("data_sources") or []
    if not sources:
        raise ValueError(f"database {database_id} has no data source; share the database with the integration")
    source_id = sources[0]["id"]
    schema = client.data_sources.retrieve(data_source_id=source_id).get("properties", {})
    title = next((name for name, p in schema.items() if p.get("type") == "title"), "Name")
    missing = [f"{name} ({kind})" for name, kind in REQUIRED.items() if schema.get(name, {}).get("type") != kind]
    if missing:
        raise ValueError("the Notion database lacks properties " + ", ".join(missing) + "; add them (docs/report.md)")
    return source_id, title


def _clear_children(client: Any, page_id: str) -> int:
    """Remove the page's blocks: list them all first, then delete (deleting while paging skips blocks)."""
    ids, cursor = [], None
    while True:
        kwargs: dict[str, Any] = {"block_id": page_id, "page_size": 100}
        if cursor:
            kwargs["start_cursor"] = cursor
        page = client.blocks.children.list(**kwargs)
        ids += [child["id"] for child in page.get("results", [])]
        if not page.get("has_more"):
            break
        cursor = page.get("next_cursor")
    for block_id in ids:
        client.blocks.delete(block_id=block_id)
    return len(ids)


def _append(client: Any, page_id: str, blocks: list[dict[str, Any]]) -> None:
    for i in range(0, len(blocks), MAX_BLOCKS_PER_REQUEST):
        client.blocks.children.append(block_id=page_id, children=blocks[i:i + MAX_BLOCKS_PER_REQUEST])


def send_report(report: dict[str, Any], markdown_text: str, secrets: Secrets, config: NotifiersConfig) -> Delivery:
    if not config.notion.enabled:
        return Delivery("notion", "skipped", "disabled in config (notifiers.notion.enabled: false)")
    if secrets.NOTION_API_KEY is None or not secrets.NOTION_DATABASE_ID:
        return Delivery("notion", "skipped", "NOTION_API_KEY and NOTION_DATABASE_ID are not both set")
    try:
        client = _client(secrets, config)
        source_id, title = _schema(client, secrets.NOTION_DATABASE_ID)
        props = properties(report, title)
        blocks = report_blocks(markdown_text)
        found = client.data_sources.query(data_source_id=source_id,
                                          filter={"property": "Date", "date": {"equals": report["date"]}})
        pages = [p for p in found.get("results", []) if p.get("object", "page") == "page"]
        if pages:
            page_id = pages[0]["id"]
            client.pages.update(page_id=page_id, properties=props)
            removed = _clear_children(client, page_id)
            _append(client, page_id, blocks)
            return Delivery("notion", "updated", f"page {page_id} of {report['date']} updated "
                            f"({removed} old blocks replaced by {len(blocks)})")
        page = client.pages.create(parent={"type": "data_source_id", "data_source_id": source_id},
                                   properties=props, children=blocks[:MAX_BLOCKS_PER_REQUEST])
        _append(client, page["id"], blocks[MAX_BLOCKS_PER_REQUEST:])
        return Delivery("notion", "sent", f"page {page['id']} created with {len(blocks)} blocks")
    except Exception as exc:  # noqa: BLE001 - a channel's failure is reported, never raised
        return Delivery("notion", "failed", scrub(f"{type(exc).__name__}: {exc}", secrets))
