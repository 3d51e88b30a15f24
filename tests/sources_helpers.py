"""A real Prometheus for tests and benchmarks, backfilled with generated data, and small HTTP proxies.

Used by tests/test_sources_prometheus.py and benchmarks/source_scale.py. Nothing here is mocked:
the server is the Debian `prometheus` binary, the history is written by `promtool`.
"""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

STEP = 300
DAYS = 3
POINTS = DAYS * 86_400 // STEP

SERVICES = ("checkout", "search", 'we"ird\\svc')
"""The third has a quote and a backslash in its label value: queries must escape them."""

GAUGES = {
    "request_rate": "app_request_rate",
    "cpu_utilization": "app_cpu_percent",
    "latency_p95_ms": "app_latency_p95_ms",
    "error_rate": "app_error_percent",
    "replicas": "app_replicas",
    "cost_per_hour": "app_cost_per_hour",
}
"""ai-ops metric -> the gauge name written into the test Prometheus."""

SEARCH_GAP = range(300, 324)
"""Two hours without samples for every metric of `search`."""
SEARCH_LATENCY_STOPS_AT = POINTS - 60
"""search's latency series stops five hours before the end: stale."""
CHECKOUT_NONFINITE = {10: "NaN", 11: "+Inf"}
"""Samples of checkout's error_rate that are NaN and +Inf in Prometheus."""
COUNTER_RESET_AT = 500


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binaries_present() -> str | None:
    """None when prometheus and promtool are installed; otherwise why the tests must skip."""
    missing = [b for b in ("prometheus", "promtool") if shutil.which(b) is None]
    return f"{' and '.join(missing)} not installed (apt-get install prometheus; see .ci/run)" if missing else None


def expected(service: str, metric: str, first: float) -> np.ndarray:
    """The exact values written for (service, metric), NaN where no finite sample exists."""
    index = np.arange(POINTS, dtype=np.float64)
    s = SERVICES.index(service)
    m = list(GAUGES).index(metric)
    values = 1000.0 * s + 100.0 * m + (index % 288) * 0.25 + (index // 288)
    if service == "search":
        values[list(SEARCH_GAP)] = np.nan
        if metric == "latency_p95_ms":
            values[SEARCH_LATENCY_STOPS_AT:] = np.nan
    if service == "checkout" and metric == "error_rate":
        values[list(CHECKOUT_NONFINITE)] = np.nan
    del first
    return values


def counter_values() -> np.ndarray:
    """checkout's request counter: +30 a step; restarts at COUNTER_RESET_AT (from 0, so it reads 30 there)."""
    index = np.arange(POINTS, dtype=np.float64)
    return np.where(index < COUNTER_RESET_AT, index * 30.0, (index - COUNTER_RESET_AT + 1) * 30.0)


HISTOGRAM = "app_request_duration_seconds"
HISTOGRAM_LE = ("0.1", "0.3", "1.0", "+Inf")
"""checkout's latency histogram bucket bounds, written as a Python client writes them ("1.0")."""


def histogram_increments() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """checkout's requests per step in each cumulative bucket, and its failed requests per step.

    60 requests a step; 0..6 of them slower than 0.3 s (cycling), 10 more slower than 0.1 s, half
    of the slow ones slower than 1 s; 2 failed requests every fifth step.
    """
    index = np.arange(POINTS)
    total = np.full(POINTS, 60.0)
    over_03 = (index % 7).astype(float)
    buckets = {"0.1": total - over_03 - 10, "0.3": total - over_03, "1.0": total - np.floor(over_03 / 2),
               "+Inf": total}
    failed = np.where(index % 5 == 0, 2.0, 0.0)
    return buckets, failed


def _histogram_lines(first: float) -> Iterator[str]:
    buckets, failed = histogram_increments()
    cumulative = {le: np.cumsum(v) for le, v in buckets.items()}
    yield f"# TYPE {HISTOGRAM} histogram\n"
    for i in range(POINTS):
        ts = int(first + i * STEP)
        for le in HISTOGRAM_LE:
            yield f'{HISTOGRAM}_bucket{{service="checkout",le="{le}"}} {_fmt(cumulative[le][i])} {ts}\n'
        yield f'{HISTOGRAM}_count{{service="checkout"}} {_fmt(cumulative["+Inf"][i])} {ts}\n'
        yield f'{HISTOGRAM}_sum{{service="checkout"}} {_fmt(0.05 * cumulative["+Inf"][i])} {ts}\n'
    yield "# TYPE app_requests_failed counter\n"
    for i, value in enumerate(np.cumsum(failed)):
        yield f'app_requests_failed_total{{service="checkout"}} {_fmt(value)} {int(first + i * STEP)}\n'


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt(value: float) -> str:
    return repr(float(value))


def history_lines(first: float) -> Iterator[str]:
    """The history of the test services, as OpenMetrics text lines."""
    for metric, name in GAUGES.items():
        yield f"# TYPE {name} gauge\n"
        for service in SERVICES:
            values = expected(service, metric, first)
            for i in range(POINTS):
                ts = int(first + i * STEP)
                if service == "checkout" and metric == "error_rate" and i in CHECKOUT_NONFINITE:
                    yield f'{name}{{service="{_label(service)}"}} {CHECKOUT_NONFINITE[i]} {ts}\n'
                elif np.isfinite(values[i]):
                    yield f'{name}{{service="{_label(service)}"}} {_fmt(values[i])} {ts}\n'
    yield "# TYPE app_requests counter\n"
    for i, value in enumerate(counter_values()):
        yield f'app_requests_total{{service="checkout"}} {_fmt(value)} {int(first + i * STEP)}\n'
    yield from _histogram_lines(first)


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    first: float
    """Timestamp of the first generated sample (a multiple of STEP)."""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def backfill(lines: Iterable[str], folder: Path) -> Path:
    """Write OpenMetrics text and turn it into TSDB blocks with promtool."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "history.om"
    with source.open("w") as out:
        out.writelines(lines)
        out.write("# EOF\n")
    data = folder / "data"
    result = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                            check=False, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"promtool failed: {result.stderr[-2000:]}")
    source.unlink()
    return data


def start_prometheus(data: Path, folder: Path, first: float,
                     scrape_targets: dict[str, str] | None = None) -> PrometheusServer:
    """The real server on 127.0.0.1 at a free port. Lookback 4m: a grid point sees only its own sample.

    `scrape_targets` (scrape job name -> host:port) are scraped every second, labels honoured (as for
    a Pushgateway); without them nothing is scraped.
    """
    config = folder / "prometheus.yml"
    text = "global:\n  scrape_interval: 1h\n"
    if scrape_targets:
        text += "scrape_configs:\n" + "".join(
            f"  - job_name: {name}\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    honor_labels: true\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n" for name, target in scrape_targets.items())
    config.write_text(text)
    port = free_port()
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
         "--storage.tsdb.retention.time=3650d", f"--web.listen-address=127.0.0.1:{port}",
         "--query.lookback-delta=4m", "--web.enable-lifecycle"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited: {(folder / 'prometheus.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return PrometheusServer(url, process, data, first)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("prometheus did not become ready within 60 s")


# ---------------------------------------------------------------- proxies


@dataclass
class ProxyState:
    """What the proxy does to the next requests. Modes: pass, slow, fail500, status, garbage."""

    mode: str = "pass"
    status: int = 500
    failures_left: int = 0
    delay: float = 0.0
    body: bytes = b""
    requests: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Proxy:
    """A local HTTP proxy in front of the real Prometheus: fault injection, or Grafana's datasource proxy."""

    def __init__(self, upstream: str, grafana_uid: str | None = None, grafana_token: str | None = None,
                 tls: tuple[Path, Path] | None = None, datasources: list[dict[str, object]] | None = None) -> None:
        self.upstream = upstream
        self.state = ProxyState()
        self.grafana_uid = grafana_uid
        self.grafana_token = grafana_token
        self.datasources = datasources if datasources is not None else [
            {"id": 1, "uid": grafana_uid, "orgId": 1, "name": "Prometheus", "type": "prometheus",
             "typeName": "Prometheus", "access": "proxy", "url": upstream, "isDefault": True, "readOnly": False}]
        """What Grafana's `GET /api/datasources` lists (its JSON shape); only the uid in `grafana_uid` proxies."""
        self.datasources_status = 200
        """403 imitates a token without datasources:read (Grafana's Viewer role)."""
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls is not None:  # (certificate, key): serve HTTPS with that certificate
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self, **changes: object) -> ProxyState:
        self.state = ProxyState(**changes)  # type: ignore[arg-type]
        return self.state

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _reply(self, handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes,
               content_type: str = "application/json") -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        state = self.state
        path = handler.path
        state.requests.append(path)
        state.authorizations.append(handler.headers.get("Authorization", ""))
        if self.grafana_uid is not None:
            prefix = f"/api/datasources/proxy/uid/{self.grafana_uid}"
            if handler.headers.get("Authorization") != f"Bearer {self.grafana_token}":
                return self._reply(handler, 401, b'{"message":"Unauthorized","traceID":""}')
            if path == "/api/datasources":
                if self.datasources_status != 200:
                    return self._reply(handler, self.datasources_status,
                                       b'{"accessErrorId":"ACE0","message":"You\'ll need additional permissions '
                                       b'to perform this action. Permissions needed: datasources:read"}')
                return self._reply(handler, 200, json.dumps(self.datasources).encode())
            if not path.startswith(prefix + "/"):
                return self._reply(handler, 404, b'{"message":"Data source not found"}')
            path = path[len(prefix):]
        if state.mode == "slow":
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            time.sleep(state.delay)
            with state.lock:
                state.in_flight -= 1
        elif state.mode == "fail500" and state.failures_left > 0:
            state.failures_left -= 1
            return self._reply(handler, 500, b'{"status":"error","error":"injected failure"}')
        elif state.mode == "status":
            return self._reply(handler, state.status, state.body)
        elif state.mode == "garbage":
            return self._reply(handler, 200, b"<html>please log in</html>", "text/html")
        try:
            with urllib.request.urlopen(self.upstream + path, timeout=30) as response:
                self._reply(handler, response.status, response.read())
        except urllib.error.HTTPError as exc:
            self._reply(handler, exc.code, exc.read())
        except (urllib.error.URLError, OSError):  # upstream gone (e.g. at teardown): answer like a gateway
            self._reply(handler, 502, b'{"status":"error","error":"upstream unreachable"}')


def query_result_count(url: str, query: str, start: float, end: float) -> int:
    """Series a raw range query returns (straight to the server, for test assertions)."""
    params = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": STEP})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}", timeout=30) as response:
        return len(json.loads(response.read())["data"]["result"])



def self_signed_certificate(folder: Path) -> tuple[Path, Path] | None:
    """A certificate for 127.0.0.1 made with the openssl CLI; None when openssl is absent."""
    if shutil.which("openssl") is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


# ---------------------------------------------------------------- a discovered fleet

FLEET_GAUGES = {
    "request_rate": "fleet_request_rate",
    "cpu_utilization": "fleet_cpu_percent",
    "latency_p95_ms": "fleet_latency_p95_ms",
    "error_rate": "fleet_error_percent",
    "replicas": "fleet_replicas",
    "cost_per_hour": "fleet_cost_per_hour",
}
FLEET_EXTRA = ("canary-svc-000", "bad name!")
"""Also in Prometheus: a canary (for include/exclude) and a value that cannot be a service name."""
FLEET_GONE = "svc-gone"
"""Has data only until 4 h before the end: discovered early, gone at the end."""
FLEET_LATE = "svc-late"
"""Has data only from 2 h before the end: appears in a later discovery."""


def fleet_names(n: int) -> list[str]:
    return [f"svc-{i:03d}" for i in range(n)]


def fleet_value(service_index: int, metric: str, index: np.ndarray) -> np.ndarray:
    """Plausible, exactly representable values: a daily cycle per service (index = grid position)."""
    day = np.sin(2 * np.pi * (index % 288) / 288)
    base = {"request_rate": 100.0 + service_index, "cpu_utilization": 50.0, "latency_p95_ms": 120.0,
            "error_rate": 0.1, "replicas": 4.0, "cost_per_hour": 0.5}[metric]
    swing = {"request_rate": 40.0, "cpu_utilization": 15.0, "latency_p95_ms": 20.0, "error_rate": 0.02,
             "replicas": 2.0, "cost_per_hour": 0.2}[metric]
    return np.round(base + swing * day, 3)


def fleet_history_lines(first: float, n: int, points: int) -> Iterator[str]:
    """n services svc-000.. plus FLEET_EXTRA, FLEET_GONE and FLEET_LATE, `points` steps from `first`."""
    names = [*fleet_names(n), *FLEET_EXTRA, FLEET_GONE, FLEET_LATE]
    index = np.arange(points)
    ts = [str(int(first + i * STEP)) for i in range(points)]
    for metric, gauge in FLEET_GAUGES.items():
        yield f"# TYPE {gauge} gauge\n"
        for s, name in enumerate(names):
            values = fleet_value(s, metric, index).tolist()
            keep = range(points)
            if name == FLEET_GONE:
                keep = range(points - 48)
            elif name == FLEET_LATE:
                keep = range(points - 24, points)
            prefix = f'{gauge}{{service="{_label(name)}"}} '
            yield "".join(f"{prefix}{values[i]!r} {ts[i]}\n" for i in keep)


def _blocks(data: Path) -> int:
    return sum(1 for p in data.iterdir() if p.is_dir() and p.name not in ("wal", "chunks_head"))


def wait_for_compaction(data: Path, stable_seconds: float = 20, limit: float = 600) -> tuple[float, int]:
    """promtool writes 2-hour blocks (84 for 7 days); a production Prometheus holds that history in a few
    compacted blocks, and range queries are ~5x faster on them (and compaction itself takes a core for
    a minute or more). Benchmarks wait until Prometheus has compacted; tests do not need to."""
    began = time.monotonic()
    last, since = _blocks(data), time.monotonic()
    while time.monotonic() - began < limit:
        time.sleep(2)
        count = _blocks(data)
        if count != last:
            last, since = count, time.monotonic()
        elif count <= 12 and time.monotonic() - since >= stable_seconds:
            break
    return round(time.monotonic() - began, 1), last
