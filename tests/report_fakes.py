"""Local fake Slack, Notion and Anthropic servers (127.0.0.1 only) that check the wire format.

The real SDKs are pointed at them with base_url. Each request is recorded; a problem with
its shape is recorded in `violations` and answered with 400, so a test sees both. Queue
error answers (429 with Retry-After, 500) per path prefix with `fail(prefix, status, n)`.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLACK_LIMITS = {"blocks": 50, "header": 150, "section": 3000, "field": 2000, "fields": 10}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class FakeState:
    requests: list[Recorded] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    llm_answer: str = ""
    llm_usage: tuple[int, int] = (1200, 400)
    notion_properties: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "Name": {"type": "title"}, "Date": {"type": "date"}, "Health score": {"type": "number"},
        "SLA": {"type": "number"}, "Cost": {"type": "number"}, "Status": {"type": "select"}})
    counter: int = 0

    def fail(self, prefix: str, status: int, times: int = 1) -> None:
        self.failures.setdefault(prefix, []).extend([status] * times)

    def to(self, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(prefix)]


def _check_slack_blocks(blocks: Any, problems: list[str]) -> None:
    if blocks is None:
        return
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if not isinstance(blocks, list) or len(blocks) > SLACK_LIMITS["blocks"]:
        problems.append(f"blocks must be a list of at most 50, got {type(blocks).__name__}")
        return
    for i, b in enumerate(blocks):
        kind = b.get("type")
        if kind == "header":
            t = b.get("text", {})
            if t.get("type") != "plain_text" or not 0 < len(t.get("text", "")) <= SLACK_LIMITS["header"]:
                problems.append(f"block {i}: header needs plain_text of 1-150 chars")
        elif kind == "section":
            if "text" not in b and "fields" not in b:
                problems.append(f"block {i}: section needs text or fields")
            if "text" in b and (b["text"].get("type") not in ("mrkdwn", "plain_text")
                                or not 0 < len(b["text"].get("text", "")) <= SLACK_LIMITS["section"]):
                problems.append(f"block {i}: section text must be 1-3000 chars")
            fields = b.get("fields", [])
            if len(fields) > SLACK_LIMITS["fields"] or any(len(f.get("text", "")) > SLACK_LIMITS["field"] for f in fields):
                problems.append(f"block {i}: at most 10 fields of 2000 chars")
        elif kind == "context":
            if not 0 < len(b.get("elements", [])) <= 10:
                problems.append(f"block {i}: context needs 1-10 elements")
        else:
            problems.append(f"block {i}: unexpected type {kind!r}")


def _check_rich_text(items: list[dict[str, Any]], where: str, problems: list[str]) -> None:
    if len(items) > 100:
        problems.append(f"{where}: more than 100 rich text items")
    for item in items:
        if len(item.get("text", {}).get("content", "")) > 2000:
            problems.append(f"{where}: rich text item over 2000 characters")


class Handler(BaseHTTPRequestHandler):
    state: FakeState
    port: int

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(payload, bytes) else "text/plain")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        body: Any = None
        if raw and "json" in ctype:
            body = json.loads(raw)
        elif raw and "x-www-form-urlencoded" in ctype and not self.path.startswith("/upload/"):
            body = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        path = urllib.parse.urlparse(self.path).path
        s = self.state
        s.requests.append(Recorded(self.command, path, dict(self.headers.items()), body, raw))
        for prefix, queue in s.failures.items():
            if path.startswith(prefix) and queue:
                status = queue.pop(0)
                self._answer(status, {"ok": False, "error": "ratelimited" if status == 429 else "internal_error",
                                      "object": "error", "status": status, "code": "rate_limited" if status == 429
                                      else "internal_server_error", "message": "fake failure",
                                      "type": "error", "error_detail": "fake"},
                             {"Retry-After": "0", "retry-after-ms": "10"} if status == 429 else None)
                return
        if path.startswith(("/api/", "/hooks/", "/upload/")):
            self._slack(path, body, raw)
        elif path.startswith("/v1/messages"):
            self._anthropic(body)
        elif path.startswith("/v1/"):
            self._notion(path, body)
        else:
            self._answer(404, {"error": "unknown path"})

    do_GET = do_POST = do_PATCH = do_DELETE = _handle

    # ---------------------------------------------------------------- Slack

    def _slack(self, path: str, body: Any, raw: bytes) -> None:
        s, problems = self.state, []
        if path.startswith("/hooks/"):
            if not isinstance(body, dict) or "text" not in body:
                problems.append("webhook needs a JSON body with text")
            _check_slack_blocks((body or {}).get("blocks"), problems)
            s.violations += problems
            self._answer(400 if problems else 200, b"invalid_blocks" if problems else b"ok")
            return
        if path.startswith("/upload/"):
            if not raw:
                s.violations.append("empty file upload")
            self._answer(200, b"OK - " + str(len(raw)).encode())
            return
        if not self.headers.get("Authorization", "").startswith("Bearer xoxb-"):
            s.violations.append(f"{path}: no bot token")
        method = path.removeprefix("/api/")
        if method == "chat.postMessage":
            if not body or not body.get("channel") or not body.get("text"):
                problems.append("chat.postMessage needs channel and text")
            _check_slack_blocks((body or {}).get("blocks"), problems)
            s.violations += problems
            self._answer(200, {"ok": not problems, "error": "invalid_blocks" if problems else None,
                               "channel": "C0123", "ts": "1700000000.000100"})
        elif method == "files.getUploadURLExternal":
            if not body or not body.get("filename") or int(body.get("length", 0)) <= 0:
                s.violations.append("files.getUploadURLExternal needs filename and length")
            self._answer(200, {"ok": True, "upload_url": f"http://127.0.0.1:{self.port}/upload/F1", "file_id": "F1"})
        elif method == "files.completeUploadExternal":
            files = json.loads(body.get("files", "[]")) if body else []
            if not files or body.get("channel_id") != "C0123":
                s.violations.append("files.completeUploadExternal needs files and the channel id")
            self._answer(200, {"ok": True, "files": [{"id": "F1", "title": files[0].get("title") if files else ""}]})
        else:
            self._answer(200, {"ok": False, "error": "unknown_method"})

    # ---------------------------------------------------------------- Anthropic

    def _anthropic(self, body: Any) -> None:
        s, problems = self.state, []
        key = self.headers.get("x-api-key") or self.headers.get("Authorization", "")
        if "sk-ant-test" not in key:
            problems.append("no API key header")
        if not self.headers.get("anthropic-version"):
            problems.append("no anthropic-version header")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not isinstance(body.get("max_tokens"), int):
            problems.append("model (str) and max_tokens (int) are required")
        messages = (body or {}).get("messages")
        if not isinstance(messages, list) or not messages or any(m.get("role") not in ("user", "assistant")
                                                                   for m in messages):
            problems.append("messages must be a non-empty list of user/assistant turns")
        if problems:
            s.violations += problems
            self._answer(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "; ".join(problems)}})
            return
        tokens_in, tokens_out = s.llm_usage
        self._answer(200, {"id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
                           "content": [{"type": "text", "text": s.llm_answer}], "stop_reason": "end_turn",
                           "stop_sequence": None, "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}})

    # ---------------------------------------------------------------- Notion

    def _notion(self, path: str, body: Any) -> None:
        s = self.state
        if self.headers.get("Notion-Version") != "2025-09-03":
            s.violations.append(f"{path}: Notion-Version {self.headers.get('Notion-Version')}")
        if not self.headers.get("Authorization", "").startswith("Bearer ntn_"):
            s.violations.append(f"{path}: no integration token")
        parts = path.strip("/").split("/")[1:]
        method = self.command
        if parts[0] == "databases" and method == "GET":
            self._answer(200, {"object": "database", "id": parts[1], "data_sources": [{"id": "ds-1", "name": "Reports"}]})
        elif parts[0] == "data_sources" and len(parts) == 2 and method == "GET":
            self._answer(200, {"object": "data_source", "id": parts[1], "properties": s.notion_properties})
        elif parts[0] == "data_sources" and parts[-1] == "query":
            date = (body or {}).get("filter", {}).get("date", {}).get("equals")
            if (body or {}).get("filter", {}).get("property") != "Date" or not date:
                s.violations.append("query must filter on Date equals")
            found = [p for p in s.pages.values() if p["properties"]["Date"]["date"]["start"] == date]
            self._answer(200, {"object": "list", "results": found, "has_more": False, "next_cursor": None})
        elif parts == ["pages"] and method == "POST":
            problems = self._check_page(body, create=True)
            if problems:
                s.violations += problems
                self._answer(400, {"object": "error", "status": 400, "code": "validation_error",
                                   "message": "; ".join(problems)})
                return
            s.counter += 1
            page_id = f"page-{s.counter}"
            s.pages[page_id] = {"object": "page", "id": page_id, "properties": body["properties"]}
            s.blocks[page_id] = [self._stored(b) for b in body.get("children", [])]
            self._answer(200, s.pages[page_id])
        elif parts[0] == "pages" and method == "PATCH":
            problems = self._check_page(body, create=False)
            s.violations += problems
            s.pages[parts[1]]["properties"] = body["properties"]
            self._answer(200, s.pages[parts[1]])
        elif parts[0] == "blocks" and parts[-1] == "children" and method == "GET":
            children = s.blocks.get(parts[1], [])
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            start = int(query.get("start_cursor", ["0"])[0])
            size = min(int(query.get("page_size", ["100"])[0]), 100)
            more = start + size < len(children)
            self._answer(200, {"object": "list", "results": children[start:start + size], "has_more": more,
                               "next_cursor": str(start + size) if more else None})
        elif parts[0] == "blocks" and parts[-1] == "children" and method == "PATCH":
            children = (body or {}).get("children", [])
            if len(children) > 100:
                s.violations.append(f"append of {len(children)} blocks (> 100)")
            for b in children:
                _check_rich_text(b.get(b["type"], {}).get("rich_text", []), "block", s.violations)
            s.blocks.setdefault(parts[1], []).extend(self._stored(b) for b in children)
            self._answer(200, {"object": "list", "results": []})
        elif parts[0] == "blocks" and method == "DELETE":
            for page_id, blocks in s.blocks.items():
                s.blocks[page_id] = [b for b in blocks if b["id"] != parts[1]]
            self._answer(200, {"object": "block", "id": parts[1], "archived": True})
        else:
            self._answer(404, {"object": "error", "status": 404, "code": "object_not_found", "message": path})

    def _stored(self, block: dict[str, Any]) -> dict[str, Any]:
        self.state.counter += 1
        return {**block, "id": f"block-{self.state.counter}"}

    def _check_page(self, body: Any, create: bool) -> list[str]:
        problems: list[str] = []
        if not isinstance(body, dict):
            return ["page body must be JSON"]
        if create and body.get("parent") != {"type": "data_source_id", "data_source_id": "ds-1"}:
            problems.append(f"parent must be the data source, got {body.get('parent')}")
        props = body.get("properties", {})
        expect = {"Date": "date", "Health score": "number", "SLA": "number", "Cost": "number", "Status": "select",
                  "Name": "title"}
        for name, kind in expect.items():
            if kind not in props.get(name, {}):
                problems.append(f"property {name} must be given as {kind}")
        if len(body.get("children", [])) > 100:
            problems.append("more than 100 children in one request")
        for b in body.get("children", []):
            _check_rich_text(b.get(b.get("type", ""), {}).get("rich_text", []), "block", problems)
        return problems


@contextmanager
def fake_server() -> Iterator[tuple[str, FakeState]]:
    """(base URL, state) of a fresh fake on a free loopback port."""
    state = FakeState()
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
