"""A dead metrics server opens one circuit breaker for the whole cycle, not one per service."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ai_ops.config import OpsConfig, Secrets
from ai_ops.errors import SourceError
from ai_ops.jobs.cycle import run_cycle
from ai_ops.state import read_jsonl


class _Failing(BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        self.send_response(503)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_server() -> Iterator[str]:
    _Failing.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_second_service_fails_fast_on_the_open_breaker(tmp_path: Path, failing_server: str) -> None:
    queries = {m: f"{m}_metric{{job=\"{{job}}\"}}" for m in
               ("request_rate", "cpu_utilization", "latency_p95_ms", "error_rate", "replicas", "cost_per_hour")}
    services = [{"name": n, "source": "prometheus", "labels": {"job": n}, "queries": queries} for n in ("api", "web")]
    config = OpsConfig.model_validate({
        "services": services,
        "sources": {"retries": 0, "max_parallel": 1, "breaker_failures": 1, "breaker_reset_seconds": 600},
        "outputs": {"workspace": str(tmp_path), "git": {"mode": "dry-run"}},
    })
    with pytest.raises(SourceError):
        run_cycle(config, now=1_767_600_000, secrets=Secrets(PROMETHEUS_URL=failing_server))
    # The first failed call opens the breaker; the second service fails without calling the server.
    assert _Failing.requests == 1
    ledger = read_jsonl(config.models_path / "decisions.jsonl")
    assert not ledger[-1]["changes"]
    reasons = ledger[-1]["fetch_errors"]
    assert any(k.startswith("web/") for k in reasons)
