"""The HTTP client for the Prometheus API (also behind Grafana's datasource proxy), on
prometheus-api-client.

Failure policy (see docs/sources.md):
- timeouts, connection errors, 429 and 5xx are retried with exponential backoff and jitter;
  after `breaker_failures` failed attempts in a row the circuit breaker opens and every
  request fails at once, so a dead server fails the cycle fast;
- 401/403, TLS failures, 404 and non-JSON answers are not retried: they raise `SourceError`
  naming the setting or environment variable to fix;
- 400/422 (bad PromQL) affect one query only: the metric comes back NaN with the query and
  Prometheus's own error in `ServiceMetrics.errors`;
- a response over `sources.max_response_bytes` or `sources.max_series` is refused before parsing;
- long ranges are split into chunks, run with at most `sources.max_parallel` requests in flight.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast
from urllib.parse import urlsplit

import numpy as np
import requests
import urllib3
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from ai_ops.config import SourcesConfig
from ai_ops.errors import SourceError
from ai_ops.metrics import grid
from ai_ops.sources.endpoint import Endpoint, error_detail
from ai_ops.sources.series import SeriesBlock, align, chunk_ranges, parse_matrix

log = logging.getLogger(__name__)


class QueryError(SourceError):
    """One query was refused (bad PromQL, execution error): only its metric is lost."""


class BreakerOpen(SourceError):
    """Raised without a request while the circuit breaker is open.

    Its message is the failure that opened the breaker, word for word, so a dead server gives
    one reason however many queries it fails (the opening itself is logged once).
    """


class _Transient(Exception):
    """A failure worth retrying (timeout, connection error, 429, 5xx)."""


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
        if not wants_gzip(settings.compression, endpoint.url):
            # A loopback server (compression: auto) or `none`: gzip would cost Prometheus more CPU than the bytes save.
            session.headers["Accept-Encoding"] = "identity"
        self._session = session
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
            detail = error_detail(response)
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

    def _range_request(self, query: str, start: float, end: float, step: int) -> Any:
        """GET /api/v1/query_range; the `result` list with each series' values as numpy arrays.

        prometheus-api-client's `custom_query_range` does the same request but decodes every
        `[t, "v"]` pair into Python objects (`series.parse_matrix` explains the faster way). Errors
        take the library's shape (PrometheusApiClientException on a non-200) so `_call` classifies
        both paths alike.
        """
        params: dict[str, str | int] = {"query": query, "start": round(start), "end": round(end), "step": str(step)}
        response = self._session.get(
            f"{self.endpoint.url}/api/v1/query_range", params=params,
            headers=self.endpoint.headers or None, auth=self.endpoint.auth, timeout=self.settings.timeout_seconds,
            verify=self._session.verify)  # explicit, or REQUESTS_CA_BUNDLE in the environment would win
        if response.status_code != 200:
            raise PrometheusApiClientException(f"HTTP Status Code {response.status_code} ({response.content!r})")
        return parse_matrix(response.content)

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
                request = functools.partial(self._range_request, queries[i], chunk_start, chunk_end, step)
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


def wants_gzip(compression: str, url: str) -> bool:
    """Whether to ask for gzip answers (`sources.compression`; 'auto': not from a loopback host)."""
    if compression != "auto":
        return compression == "gzip"
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a DNS name
        return True

