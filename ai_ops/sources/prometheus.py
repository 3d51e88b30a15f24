"""Prometheus and Grafana (datasource proxy) sources, on prometheus-api-client.

One HTTP path serves both: Grafana's `/api/datasources/proxy/uid/<uid>` forwards the
Prometheus HTTP API unchanged, so `GrafanaSource` is a `PrometheusSource` with another
base URL and a service-account token.

Failure policy (see docs/sources.md):
- timeouts, connection errors, 429 and 5xx are retried with exponential backoff and jitter;
  after `breaker_failures` failed attempts in a row the circuit breaker opens and every
  request fails at once, so a dead server fails the cycle fast;
- 401/403, TLS failures, 404 and non-JSON answers are not retried: they raise `SourceError`
  naming the setting or environment variable to fix;
- 400/422 (bad PromQL) affect one query only: the metric comes back NaN with the query and
  Prometheus's own error in `ServiceMetrics.errors`.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import requests
import urllib3
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from ai_ops.config import Secrets, ServiceConfig, SourcesConfig
from ai_ops.errors import ConfigError, SourceError
from ai_ops.metrics import METRICS, ServiceMetrics, grid
from ai_ops.sources.promql import render_query

log = logging.getLogger(__name__)

Kind = Literal["prometheus", "grafana"]


class QueryError(SourceError):
    """One query was refused (bad PromQL, execution error): only its metric is lost."""


class BreakerOpen(SourceError):
    """Raised without a request while the circuit breaker is open.

    Its message is the failure that opened the breaker, word for word, so a dead server gives
    one reason however many queries it fails (the opening itself is logged once).
    """


class _Transient(Exception):
    """A failure worth retrying (timeout, connection error, 429, 5xx)."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach the Prometheus HTTP API."""

    kind: Kind
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    verify: bool | str = True
    credential_hint: str = ""
    """What to fix when the server answers 401/403 (names the environment variables)."""
    datasource: str = ""
    """Grafana only: which datasource is queried and why (configured uid, or how discovery chose it)."""

    @property
    def shown_url(self) -> str:
        """The URL for messages: any user:password@ part removed."""
        return _shown(self.url)

    def __repr__(self) -> str:  # never show headers: they hold the token
        return f"Endpoint({self.kind}, {self.shown_url})"


def endpoint_from(kind: Kind, secrets: Secrets, settings: SourcesConfig) -> Endpoint:
    """Build the endpoint from the environment; a missing URL or uid is a config error."""
    verify: bool | str = str(settings.ca_bundle) if settings.ca_bundle else settings.verify_tls
    if settings.ca_bundle is not None and not settings.ca_bundle.is_file():
        raise ConfigError(f"sources.ca_bundle: {settings.ca_bundle} is not a file; give the path of a PEM CA bundle")
    headers = dict(settings.headers)
    if kind == "prometheus":
        if not secrets.PROMETHEUS_URL:
            raise ConfigError("PROMETHEUS_URL is not set; export PROMETHEUS_URL=http://your-prometheus:9090")
        auth = None
        if secrets.PROMETHEUS_TOKEN is not None:
            headers["Authorization"] = f"Bearer {secrets.PROMETHEUS_TOKEN.get_secret_value()}"
        elif secrets.PROMETHEUS_USERNAME:
            password = secrets.PROMETHEUS_PASSWORD.get_secret_value() if secrets.PROMETHEUS_PASSWORD else ""
            auth = (secrets.PROMETHEUS_USERNAME, password)
        return Endpoint("prometheus", secrets.PROMETHEUS_URL.rstrip("/"), headers, auth, verify,
                        "check PROMETHEUS_TOKEN (bearer) or PROMETHEUS_USERNAME/PROMETHEUS_PASSWORD (basic auth)")
    if not secrets.GRAFANA_URL:
        raise ConfigError("GRAFANA_URL is not set; export GRAFANA_URL=https://your-grafana")
    if secrets.GRAFANA_API_KEY is None:
        raise ConfigError("GRAFANA_API_KEY is not set; create a Grafana service account with the Viewer role "
                          "and export its token as GRAFANA_API_KEY")
    headers["Authorization"] = f"Bearer {secrets.GRAFANA_API_KEY.get_secret_value()}"
    base = secrets.GRAFANA_URL.rstrip("/")
    uid = settings.grafana_datasource_uid or secrets.GRAFANA_DATASOURCE_UID
    if uid:
        where = "sources.grafana_datasource_uid" if settings.grafana_datasource_uid else "GRAFANA_DATASOURCE_UID"
        chosen = f"datasource uid {uid} (from {where})"
    else:
        found = discover_datasource(base, headers, verify, settings.timeout_seconds)
        uid = found.uid
        chosen = f"datasource '{found.name}' (uid {found.uid}, {found.why}; set GRAFANA_DATASOURCE_UID to choose)"
        log.info("grafana at %s: no datasource uid configured; using %s", _shown(base), chosen)
    return Endpoint("grafana", f"{base}/api/datasources/proxy/uid/{uid}", headers, None,
                    verify, "check GRAFANA_API_KEY: a service-account token whose role can query the datasource "
                    "(Viewer, or datasources:query on it)", chosen)


@dataclass(frozen=True)
class Datasource:
    """One entry of Grafana's `GET /api/datasources`, and why discovery picked it."""

    uid: str
    name: str
    type: str
    is_default: bool
    why: str = ""


def choose_datasource(listed: Sequence[Datasource], grafana: str) -> Datasource:
    """The default Prometheus datasource, else the only Prometheus one; otherwise a ConfigError naming them."""
    prometheus = [d for d in listed if d.type == "prometheus"]
    default = [d for d in prometheus if d.is_default]
    if default:
        return replace(default[0], why="the default Prometheus datasource")
    if len(prometheus) == 1:
        return replace(prometheus[0], why="the only Prometheus datasource")
    if prometheus:
        names = ", ".join(f"'{d.name}' (uid {d.uid})" for d in prometheus)
        raise ConfigError(f"Grafana at {grafana} has {len(prometheus)} Prometheus datasources and none is the "
                          f"default: {names}; set GRAFANA_DATASOURCE_UID (or sources.grafana_datasource_uid) "
                          f"to the uid of the one to query")
    others = ", ".join(f"'{d.name}' ({d.type})" for d in listed) or "none"
    raise ConfigError(f"Grafana at {grafana} has no Prometheus datasource the token can see (datasources: "
                      f"{others}); add one, or set GRAFANA_DATASOURCE_UID to its uid")


def discover_datasource(base: str, headers: dict[str, str], verify: bool | str, timeout: float) -> Datasource:
    """Ask Grafana (`GET /api/datasources`) which Prometheus datasource to use when no uid is configured."""
    url = f"{base}/api/datasources"
    shown = _shown(base)
    skip = "or set GRAFANA_DATASOURCE_UID to skip discovery"
    try:
        response = requests.get(url, headers=headers, verify=verify, timeout=timeout)
    except requests.exceptions.SSLError:
        raise SourceError(f"TLS error talking to {shown}; set sources.ca_bundle to the CA that signed its "
                          f"certificate (or sources.verify_tls: false for a test server)") from None
    except requests.exceptions.RequestException as exc:
        raise SourceError(f"cannot list Grafana's datasources at {shown} ({exc.__class__.__name__}); is "
                          f"GRAFANA_URL right and Grafana up? {skip}") from None
    if response.status_code == 401:
        raise SourceError(f"grafana at {shown} refused the credentials (HTTP 401); check GRAFANA_API_KEY "
                          f"(a service-account token)")
    if response.status_code == 403:
        raise SourceError(f"grafana at {shown}: the token may not list datasources (HTTP 403; listing needs "
                          f"datasources:read, which the Viewer role lacks); set GRAFANA_DATASOURCE_UID to the "
                          f"datasource's uid, or grant the service account datasources:read")
    if response.status_code != 200:
        raise SourceError(f"grafana at {shown}: GET /api/datasources answered HTTP {response.status_code}"
                          f"{': ' + _error_detail(response) if _error_detail(response) else ''}; {skip}")
    try:
        body = response.json()
        listed = [Datasource(str(d["uid"]), str(d.get("name", "")), str(d.get("type", "")),
                             bool(d.get("isDefault", False))) for d in body]
    except (ValueError, KeyError, TypeError):
        raise SourceError(f"{shown}/api/datasources did not answer with Grafana's datasource list; is "
                          f"GRAFANA_URL Grafana's base URL? {skip}") from None
    return choose_datasource(listed, shown)


def _shown(url: str) -> str:
    """A URL for messages: any user:password@ part removed."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


class CircuitBreaker:
    """Opens after `failures` failed attempts in a row; while open, requests fail without a call."""

    def __init__(self, failures: int, reset_seconds: float, clock: Callable[[], float] = time.monotonic,
                 name: str = "") -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self.clock = clock
        self.name = name
        self._lock = threading.Lock()
        self._streak = 0
        self._opened_at: float | None = None
        self.last_reason = ""

    def check(self, url: str) -> None:
        with self._lock:
            if self._opened_at is None:
                return
            if self.clock() - self._opened_at >= self.reset_seconds:
                self._opened_at = None  # half-open: let one attempt through
                self._streak = self.failures - 1
                return
        raise BreakerOpen(self.last_reason or f"{url} is failing")

    def success(self) -> None:
        with self._lock:
            self._streak = 0
            self._opened_at = None

    def failure(self, reason: str) -> None:
        with self._lock:
            self._streak += 1
            self.last_reason = reason
            if self._streak >= self.failures and self._opened_at is None:
                self._opened_at = self.clock()
                log.warning("%s: %d failed attempts in a row; circuit breaker open: for %g s every request "
                            "fails at once with the same reason", self.name or "source", self._streak,
                            self.reset_seconds)


@dataclass(frozen=True)
class SeriesBlock:
    """Every series one query returned, aligned on one grid: values[i] belongs to labels[i]."""

    query: str
    timestamps: np.ndarray
    labels: list[dict[str, str]]
    values: np.ndarray
    nonfinite_samples: int = 0
    """Samples that were NaN or +/-Inf in Prometheus; they are kept as NaN (missing)."""


def chunk_ranges(first: float, count: int, step: int, max_points: int) -> list[tuple[float, float, int]]:
    """(start, end, offset) of each request so no request returns more than `max_points` per series."""
    return [(first + offset * step, first + (min(offset + max_points, count) - 1) * step, offset)
            for offset in range(0, count, max_points)]


def _series_key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(metric.items()))


def align(query: str, parts: Sequence[tuple[int, list[dict[str, Any]]]], timestamps: np.ndarray,
          step: int) -> SeriesBlock:
    """Turn raw `matrix` results (one per chunk, with the chunk's grid offset) into a 2-D array."""
    rows: dict[tuple[tuple[str, str], ...], np.ndarray] = {}
    labels: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    first = float(timestamps[0]) if timestamps.size else 0.0
    nonfinite = 0
    for _offset, result in parts:
        for series in result:
            metric = series.get("metric", {})
            key = _series_key(metric)
            row = rows.get(key)
            if row is None:
                row = rows[key] = np.full(timestamps.shape, np.nan)
                labels[key] = metric
            pairs = series.get("values", [])
            if not pairs:
                continue
            ts_text, vs_text = zip(*pairs, strict=True)
            ts = np.array(ts_text, dtype=np.float64)
            vs = np.array(vs_text, dtype=np.float64)  # numpy parses "NaN", "+Inf" and decimal strings
            index = np.rint((ts - first) / step).astype(np.int64)
            keep = (index >= 0) & (index < timestamps.size)
            bad = ~np.isfinite(vs)
            nonfinite += int((bad & keep).sum())
            vs[bad] = np.nan
            row[index[keep]] = vs[keep]
    keys = sorted(rows)
    values = np.vstack([rows[k] for k in keys]) if keys else np.empty((0, timestamps.size))
    return SeriesBlock(query, timestamps, [labels[k] for k in keys], values, nonfinite)


def counter_increase(values: np.ndarray) -> np.ndarray:
    """Per-step increase of a counter, with resets handled as Prometheus does.

    After a reset (the value drops), the counter restarted from zero, so the increase is the
    new value itself. NaN where either neighbour is missing; the first point is NaN.
    """
    out = np.full(values.shape, np.nan)
    if values.size < 2:
        return out
    diff = np.diff(values)
    out[1:] = np.where(diff < 0, values[1:], diff)
    return out


def counter_rate(values: np.ndarray, step: int) -> np.ndarray:
    """Per-second rate of a counter sampled every `step` seconds (resets handled)."""
    return counter_increase(values) / float(step)


FLEET_SERIES = 100_000
"""Series a fleet or discovery query (one series per label value) may return; its size in bytes
stays capped by sources.max_response_bytes."""


class ResponseTooLarge(Exception):
    """A response over `sources.max_response_bytes` or `sources.max_series`, refused before parsing."""


def cap_response(response: requests.Response, max_bytes: int, max_series: int) -> None:
    """Read the body in chunks and stop past `max_bytes`; count series before anything is parsed.

    Runs as a `requests` response hook, i.e. before `requests` reads the body itself, so a
    runaway answer costs at most `max_bytes` of memory instead of its parsed size.
    """
    if response.status_code != 200:
        return
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise ResponseTooLarge(f"the response is {int(declared):,} bytes, over sources.max_response_bytes "
                               f"({max_bytes:,})")
    body = bytearray()
    for chunk in response.iter_content(chunk_size=1 << 16):
        body += chunk
        if len(body) > max_bytes:
            response.close()
            raise ResponseTooLarge(f"the response exceeded sources.max_response_bytes ({max_bytes:,}) while streaming")
    series = body.count(b'"metric"')
    if series > max_series:
        raise ResponseTooLarge(f"the response holds {series:,} series, over sources.max_series ({max_series:,})")
    response._content = bytes(body)  # requests then parses from this instead of reading the socket again


class PrometheusClient:
    """Range and instant queries with timeouts, retries, a circuit breaker and bounded parallelism."""

    def __init__(self, endpoint: Endpoint, settings: SourcesConfig, *,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_seconds,
                                      name=endpoint.shown_url)
        self._last_response = threading.local()
        self._allowed_series = threading.local()
        session = requests.Session()
        session.verify = endpoint.verify
        session.hooks["response"].append(self._remember)
        session.hooks["response"].append(
            lambda response, *args, **kwargs: cap_response(response, settings.max_response_bytes,
                                                            getattr(self._allowed_series, "value", settings.max_series)))
        # Retries are ours (jitter, breaker, 4xx vs 5xx); the adapter must not retry on its own.
        self._client = PrometheusConnect(url=endpoint.url, headers=endpoint.headers or None, auth=endpoint.auth,
                                         session=session, retry=Retry(total=False), timeout=settings.timeout_seconds)

    def close(self) -> None:
        self._client.close()

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_response.value = response

    # ------------------------------------------------------------ one request

    def _classify(self, exc: Exception, query: str) -> Exception:
        """Map a client exception to _Transient (retry), QueryError or SourceError."""
        url = self.endpoint.shown_url
        if isinstance(exc, ResponseTooLarge):
            return QueryError(f"{exc}; query: {query}. Aggregate it to the series the controller needs, e.g. "
                              f"`sum by (service) ({query})` or `max(...)`, or raise the cap if it is genuine")
        if isinstance(exc, requests.exceptions.SSLError):
            return SourceError(f"TLS error talking to {url}: {exc.__class__.__name__}; set sources.ca_bundle to the "
                               f"CA that signed its certificate (or sources.verify_tls: false for a test server)")
        if isinstance(exc, requests.exceptions.Timeout):
            return _Transient(f"no answer within {self.settings.timeout_seconds:g} s (sources.timeout_seconds)")
        if isinstance(exc, urllib3.exceptions.SSLError):
            return SourceError(f"TLS error talking to {url}; set sources.ca_bundle to the CA that signed its "
                               f"certificate (or sources.verify_tls: false for a test server)")
        # With adapter retries off, urllib3 errors (e.g. NewConnectionError) reach us unwrapped.
        if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.RetryError,
                            urllib3.exceptions.HTTPError)):
            return _Transient("cannot connect (connection refused or reset); is the URL right and the server up?")
        if isinstance(exc, PrometheusApiClientException):
            response: requests.Response | None = getattr(self._last_response, "value", None)
            status = response.status_code if response is not None else 0
            detail = _error_detail(response)
            if status == 429 or status >= 500:
                return _Transient(f"HTTP {status}{': ' + detail if detail else ''}")
            if status in (401, 403):
                return SourceError(f"{self.endpoint.kind} at {url} refused the credentials (HTTP {status}"
                                   f"{': ' + detail if detail else ''}); {self.endpoint.credential_hint}")
            if status in (400, 422):
                return QueryError(f"query refused (HTTP {status}): {detail or 'no detail'}; query: {query}")
            if status == 404:
                return SourceError(f"{url}/api/v1/query_range not found (HTTP 404); the URL must be Prometheus's "
                                   f"base URL (Grafana: check the datasource uid)")
            return SourceError(f"{url} answered HTTP {status}{': ' + detail if detail else ''}")
        if isinstance(exc, (ValueError, KeyError, TypeError)):
            return SourceError(f"{url} did not answer with Prometheus API JSON ({exc.__class__.__name__}); "
                               f"is the URL pointing at Prometheus and not at a login page or another service?")
        return SourceError(f"{url}: unexpected {exc.__class__.__name__}: {exc}")

    def _call(self, query: str, request: Callable[[], Any], expected_series: int = 1) -> Any:
        """Run one HTTP request with retries (exponential backoff, jitter in [d/2, d]) and the breaker.

        The series cap is `sources.max_series`, or the number of series the caller expects when
        that is larger (a fleet or discovery query returns one per service): a forgotten
        aggregation is still refused, a fleet of 2,000 services is not.
        """
        self._allowed_series.value = max(self.settings.max_series, expected_series)
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            self.breaker.check(self.endpoint.shown_url)
            try:
                result = request()
            except Exception as exc:  # noqa: BLE001 - every failure is classified below
                error = self._classify(exc, query)
                if not isinstance(error, _Transient):
                    if not isinstance(error, QueryError):
                        self.breaker.failure(str(error))
                    raise error from None
                where = f"{self.endpoint.kind} at {self.endpoint.shown_url}: {error}"
                if attempt + 1 >= attempts:
                    # The breaker keeps the final words, so queries it stops later say exactly this.
                    self.breaker.failure(f"{where} (after {attempts} attempts)")
                    raise SourceError(f"{where} (after {attempts} attempts)") from None
                self.breaker.failure(where)
                delay = min(self.settings.backoff_max_seconds, self.settings.backoff_seconds * 2 ** attempt)
                delay = self.rng.uniform(delay / 2, delay)
                log.warning("%s: %s; retry %d/%d in %.2f s", self.endpoint.shown_url, error, attempt + 1,
                            attempts - 1, delay)
                self.sleep(delay)
                continue
            if not isinstance(result, list):
                self.breaker.failure("bad payload")
                raise SourceError(f"{self.endpoint.shown_url} answered with an unexpected payload (not a result list)")
            self.breaker.success()
            return result
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ queries

    def query_range(self, query: str, start: float, end: float, step: int, series: int = 1) -> SeriesBlock:
        """Every series of `query` on the step grid covering [start, end); gaps are NaN."""
        result = self.query_many([query], start, end, step, [series])[0]
        if isinstance(result, QueryError):
            raise result
        return result

    def _chunks(self, count: int, first: float, step: int, series: int) -> list[tuple[float, float, int]]:
        """Time chunks of one query: at most max_points_per_request points per series, and for a query
        expected to return many series (a fleet query) at most max_samples_per_request samples in all."""
        points = min(self.settings.max_points_per_request,
                     max(10, self.settings.max_samples_per_request // max(series, 1)))
        return chunk_ranges(first, count, step, points)

    def query(self, query: str, at: float, expected_series: int = 1) -> list[tuple[dict[str, str], float]]:
        """Instant query: (labels, value) of every series at time `at` (`expected_series`: how many may come)."""
        result = self._call(query, lambda: self._client.custom_query(query, params={"time": f"{at:.3f}"}),
                            expected_series)
        out = []
        for series in result:
            value = series.get("value") or [at, "NaN"]
            out.append((series.get("metric", {}), float(value[1])))
        return out

    def query_many(self, queries: Sequence[str], start: float, end: float, step: int,
                   series: Sequence[int] | None = None) -> list[SeriesBlock | QueryError]:
        """Several range queries, every time chunk of every query a task, at most `max_parallel` in flight.

        `series`: how many series each query is expected to return (fleet queries: the number of
        services), so its chunks stay under max_samples_per_request. A QueryError is returned in
        place of that query's block; a SourceError (server unreachable, auth) is raised and the
        remaining requests are cancelled.
        """
        timestamps = grid(start, end, step)
        if not timestamps.size:
            return [SeriesBlock(q, timestamps, [], np.empty((0, 0))) for q in queries]
        expected = list(series) if series is not None else [1] * len(queries)
        tasks = [(i, chunk) for i, query in enumerate(queries)
                 for chunk in self._chunks(timestamps.size, float(timestamps[0]), step, expected[i])]

        def one(task: tuple[int, tuple[float, float, int]]) -> list[dict[str, Any]] | QueryError:
            i, (chunk_start, chunk_end, _offset) = task
            try:
                request = functools.partial(self._client.custom_query_range, queries[i], _dt(chunk_start),
                                            _dt(chunk_end), str(step))
                # A fleet query answers for every value of its label (excluded ones too): only the byte cap.
                allowed = 1 if expected[i] <= 1 else FLEET_SERIES
                return cast(list[dict[str, Any]], self._call(queries[i], request, allowed))
            except QueryError as exc:
                return exc

        if len(tasks) <= 1 or self.settings.max_parallel == 1:
            answers = [one(t) for t in tasks]
        else:
            pool = ThreadPoolExecutor(max_workers=min(self.settings.max_parallel, len(tasks)),
                                      thread_name_prefix="ai-ops-prom")
            try:
                futures = [pool.submit(one, t) for t in tasks]
                answers = [f.result() for f in futures]
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        parts: list[list[tuple[int, list[dict[str, Any]]]]] = [[] for _ in queries]
        failed: dict[int, QueryError] = {}
        for (i, (_s, _e, offset)), answer in zip(tasks, answers, strict=True):
            if isinstance(answer, QueryError):
                failed.setdefault(i, answer)
            else:
                parts[i].append((offset, answer))
        return [failed[i] if i in failed else align(q, parts[i], timestamps, step) for i, q in enumerate(queries)]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _error_detail(response: requests.Response | None) -> str:
    """Prometheus's (or Grafana's) own words for an error response, shortened."""
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        for key in ("error", "message"):
            if body.get(key):
                return str(body[key])[:500]
    return str(body)[:300]


def le_pattern(bound: float) -> str:
    """A regex matching the `le` label value client libraries write for `bound` ("0.3"; "1" or "1.0"),
    escaped for a PromQL double-quoted string."""
    text = format(bound, ".15g")
    options = [text] + ([f"{text}.0"] if re.fullmatch(r"-?\d+", text) else [])
    return "|".join(re.escape(o).replace("\\", "\\\\") for o in options)


def sli_queries(service: ServiceConfig, latency_objective_ms: float, step: int) -> dict[str, str]:
    """PromQL of the exact SLI: `sli_total`, and `sli_good` (direct) or `sli_fast` (the objective's
    histogram bucket), plus `sli_failed` when given. Empty without an `sli` block."""
    sli = service.sli
    if sli is None:
        return {}
    labels = {"service": service.name, **service.labels}
    where = f"services.{service.name}.sli"
    out: dict[str, str] = {}
    if sli.requests_total is not None and sli.requests_good is not None:
        out["sli_total"] = render_query(sli.requests_total, labels, where=f"{where}.requests_total")
        out["sli_good"] = render_query(sli.requests_good, labels, where=f"{where}.requests_good")
    elif sli.latency_histogram:
        selector = render_query(sli.selector, labels, where=f"{where}.selector").strip().strip(",")
        bound = latency_objective_ms / 1000.0 if sli.histogram_unit == "seconds" else latency_objective_ms
        le = f'le=~"{le_pattern(bound)}"'
        name = sli.latency_histogram
        out["sli_total"] = f"sum(rate({name}_count{{{selector}}}[{step}s]))"
        out["sli_fast"] = f"sum(rate({name}_bucket{{{selector + ',' if selector else ''}{le}}}[{step}s]))"
    if sli.requests_failed is not None:
        out["sli_failed"] = render_query(sli.requests_failed, labels, where=f"{where}.requests_failed")
    return out


class PrometheusSource:
    """Fetches a service's six metrics with its query templates, in parallel, and the exact SLI
    series (`sli_total`, `sli_good`) when the service has an `sli` block."""

    def __init__(self, client: PrometheusClient, latency_objective_ms: float | None = None) -> None:
        self.client = client
        self.latency_objective_ms = latency_objective_ms

    def queries(self, service: ServiceConfig) -> dict[str, str]:
        """Metric -> PromQL with the service's labels substituted (escaped); `service` defaults to its name."""
        if service.queries is None:
            raise ConfigError(f"service '{service.name}' has no 'queries' block")
        labels = {"service": service.name, **service.labels}
        templates = service.queries.model_dump()
        return {m: render_query(templates[m], labels, where=f"services.{service.name}.queries.{m}") for m in METRICS}

    def fetch(self, service: ServiceConfig, start: float, end: float, step: int) -> ServiceMetrics:
        queries = self.queries(service)
        if self.latency_objective_ms is not None:
            queries.update(sli_queries(service, self.latency_objective_ms, step))
        timestamps = grid(start, end, step)
        results = self.client.query_many(list(queries.values()), start, end, step)
        values: dict[str, np.ndarray] = {}
        errors: dict[str, str] = {}
        for metric, result in zip(queries, results, strict=True):
            values[metric] = np.full(timestamps.shape, np.nan)
            if isinstance(result, QueryError):
                errors[metric] = str(result)
            elif len(result.labels) > 1:
                errors[metric] = (f"query returned {len(result.labels)} series, expected 1; aggregate it "
                                  f"(e.g. sum(...) or max(...)); query: {result.query}")
            elif len(result.labels) == 1:
                values[metric] = result.values[0]
        if "sli_fast" in values:
            self._good_from_buckets(service, values, errors)
        return ServiceMetrics(service.name, timestamps, step, values, errors)

    def _good_from_buckets(self, service: ServiceConfig, values: dict[str, np.ndarray], errors: dict[str, str]) -> None:
        """sli_good = requests at or under the objective bucket - failed requests (from `sli_failed`,
        else error_rate / 100 x all requests), clipped to [0, all]."""
        fast, total = values.pop("sli_fast"), values["sli_total"]
        error = errors.pop("sli_fast", None)
        if error is None and np.isfinite(total).any() and not np.isfinite(fast).any():
            sli = service.sli
            unit = sli.histogram_unit if sli else "seconds"
            error = (f"no {sli.latency_histogram if sli else ''}_bucket series has le = the latency objective "
                     f"({self.latency_objective_ms:g} ms in {unit}): the objective must be one of the histogram's "
                     "bucket bounds; set sla.latency_objective_ms to one (or give sli.requests_good)")
        if "sli_failed" in values:
            failed = values.pop("sli_failed")
            if "sli_failed" in errors:
                error = error or errors.pop("sli_failed")
        else:
            failed = total * values["error_rate"] / 100.0
        good = np.clip(fast - failed, 0.0, None)
        values["sli_good"] = np.minimum(good, total)
        if error is not None:
            errors["sli_good"] = error

    def fetch_fleet(self, services: Sequence[ServiceConfig], label: str, start: float, end: float,
                    step: int) -> dict[str, ServiceMetrics]:
        """Every service's metrics with as few queries as the templates allow (discovered services).

        A template without a `{label}` placeholder is a fleet query (`sum by (service) (...)`): it
        runs once and its series are split by `label`. A template with the placeholder runs once
        per service, as in `fetch`. All queries share the client's bounded parallelism and chunking.
        """
        timestamps = grid(start, end, step)
        placeholder = "{" + label + "}"
        plan: list[tuple[str, str | None, str]] = []  # (metric, service or None = fleet query, query)
        rendered: dict[str, dict[str, str]] = {}
        for metric in METRICS:
            templates = {s.name: getattr(s.queries, metric) for s in services if s.queries is not None}
            shared = set(templates.values())
            if len(shared) == 1 and placeholder not in next(iter(shared)):
                plan.append((metric, None, next(iter(shared))))
                continue
            for service in services:
                if service.name not in rendered:
                    rendered[service.name] = self.queries(service)
                plan.append((metric, service.name, rendered[service.name][metric]))
        results = self.client.query_many([q for _, _, q in plan], start, end, step,
                                         [len(services) if name is None else 1 for _, name, _ in plan])
        values = {s.name: {m: np.full(timestamps.shape, np.nan) for m in METRICS} for s in services}
        errors: dict[str, dict[str, str]] = {s.name: {} for s in services}
        for (metric, name, query), result in zip(plan, results, strict=True):
            targets = [name] if name is not None else list(values)
            if isinstance(result, QueryError):
                for target in targets:
                    errors[target][metric] = str(result)
                continue
            if name is not None:
                if len(result.labels) > 1:
                    errors[name][metric] = (f"query returned {len(result.labels)} series, expected 1; aggregate "
                                            f"it (e.g. sum(...) or max(...)); query: {query}")
                elif len(result.labels) == 1:
                    values[name][metric] = result.values[0]
                continue
            seen: dict[str, int] = {}
            for row, labels in zip(result.values, result.labels, strict=True):
                value = labels.get(label)
                if value is None or value not in values:
                    continue  # a service not (or no longer) in the fleet, or a series without the label
                seen[value] = seen.get(value, 0) + 1
                values[value][metric] = row
            for value, count in seen.items():
                if count > 1:
                    values[value][metric] = np.full(timestamps.shape, np.nan)
                    errors[value][metric] = (f"fleet query returned {count} series with {label}=\"{value}\"; "
                                             f"aggregate by ({label}) only; query: {query}")
        return {s.name: ServiceMetrics(s.name, timestamps, step, values[s.name], errors[s.name]) for s in services}


class GrafanaSource(PrometheusSource):
    """Grafana's datasource proxy speaks the Prometheus API: the same source, another endpoint."""

    def __init__(self, client: PrometheusClient, latency_objective_ms: float | None = None) -> None:
        if client.endpoint.kind != "grafana":
            raise ValueError("GrafanaSource needs a client built for the grafana endpoint (endpoint_from('grafana', ...))")
        super().__init__(client, latency_objective_ms)


def source_from(kind: Kind, secrets: Secrets, settings: SourcesConfig,
                latency_objective_ms: float | None = None) -> PrometheusSource:
    """The source for a service's `source:` setting, built from the environment and `sources:`;
    with the SLA's latency objective it also reads the exact SLI of services with an `sli` block."""
    client = PrometheusClient(endpoint_from(kind, secrets, settings), settings)
    if kind == "grafana":
        return GrafanaSource(client, latency_objective_ms)
    return PrometheusSource(client, latency_objective_ms)
