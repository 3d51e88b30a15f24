"""Both sources against a real Prometheus (backfilled by promtool), a Grafana-style proxy and injected faults."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import SecretStr
from sources_helpers import (
    CHECKOUT_NONFINITE,
    GAUGES,
    POINTS,
    SEARCH_GAP,
    SEARCH_LATENCY_STOPS_AT,
    STEP,
    PrometheusServer,
    Proxy,
    backfill,
    binaries_present,
    counter_values,
    expected,
    free_port,
    history_lines,
    query_result_count,
    self_signed_certificate,
    start_prometheus,
)

from ai_ops.config import QueriesConfig, Secrets, ServiceConfig, SourcesConfig, load_config
from ai_ops.errors import ConfigError, SourceError
from ai_ops.metrics import METRICS
from ai_ops.sources.prometheus import (
    BreakerOpen,
    GrafanaSource,
    PrometheusClient,
    PrometheusSource,
    counter_increase,
    endpoint_from,
)
from ai_ops.sources.quality import assess

pytestmark = pytest.mark.prometheus
ROOT = Path(__file__).resolve().parents[1]
QUERIES = QueriesConfig(**{m: f'{GAUGES[m]}{{service="{{service}}"}}' for m in METRICS})
FAST = SourcesConfig(timeout_seconds=0.5, retries=2, backoff_seconds=0.01, backoff_max_seconds=0.02,
                     breaker_failures=50)


@pytest.fixture(scope="session")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """The real Prometheus, started once, holding DAYS of history ending one step before now."""
    missing = binaries_present()
    if missing:
        pytest.skip(missing)
    import time

    folder = tmp_path_factory.mktemp("prometheus")
    first = float((int(time.time()) // STEP) * STEP - POINTS * STEP)
    server = start_prometheus(backfill(history_lines(first), folder), folder, first)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def proxy(prom: PrometheusServer) -> Iterator[Proxy]:
    p = Proxy(prom.url)
    yield p
    p.close()


@pytest.fixture
def faults(proxy: Proxy) -> Iterator[Proxy]:
    proxy.reset()
    yield proxy
    proxy.reset()


def service(name: str, **labels: str) -> ServiceConfig:
    return ServiceConfig(name=name, source="prometheus", labels=labels, queries=QUERIES)


def source_at(url: str, settings: SourcesConfig = FAST, **secrets: str) -> PrometheusSource:
    env = Secrets(PROMETHEUS_URL=url, **secrets)  # type: ignore[arg-type]
    return PrometheusSource(PrometheusClient(endpoint_from("prometheus", env, settings), settings))


def window(prom: PrometheusServer) -> tuple[float, float]:
    return prom.first, prom.first + POINTS * STEP


# ---------------------------------------------------------------- values, exactly


def test_exact_sli_from_histogram_buckets_matches_a_hand_computation(prom: PrometheusServer) -> None:
    """good = requests in the objective's bucket - failed requests; total = the histogram's count."""
    from sources_helpers import HISTOGRAM, histogram_increments

    from ai_ops.config import SLIConfig
    from ai_ops.learner.observation import exact_attainment

    sli = SLIConfig(latency_histogram=HISTOGRAM, selector='service="{service}"', buckets=[0.1, 0.3, 1.0],
                    requests_failed='sum(rate(app_requests_failed_total{service="{service}"}[300s]))')
    svc = service("checkout").model_copy(update={"sli": sli})
    src = PrometheusSource(source_at(prom.url).client, latency_objective_ms=300)
    metrics = src.fetch(svc, *window(prom), STEP)
    assert metrics.errors == {}
    buckets, failed = histogram_increments()
    # Hand computation, per 5-minute step: the counters' increase over the step / 300 s.
    want_total = buckets["+Inf"] / STEP
    want_good = (buckets["0.3"] - failed) / STEP
    got_total, got_good = metrics["sli_total"], metrics["sli_good"]
    assert np.isnan(got_total[0])  # a rate needs the sample before the window
    np.testing.assert_allclose(got_total[1:], want_total[1:], rtol=1e-9)
    np.testing.assert_allclose(got_good[1:], want_good[1:], rtol=1e-9)
    hand = 100.0 * (buckets["0.3"][1:] - failed[1:]).sum() / buckets["+Inf"][1:].sum()
    assert exact_attainment(got_total, got_good) == pytest.approx(hand, rel=1e-12)
    # A 1 s objective reads the bucket written as le="1.0" (client libraries differ on "1" / "1.0").
    one = PrometheusSource(source_at(prom.url).client, latency_objective_ms=1000).fetch(svc, *window(prom), STEP)
    np.testing.assert_allclose(one["sli_good"][1:], (buckets["1.0"] - failed)[1:] / STEP, rtol=1e-9)
    # Without requests_failed, failures come from the error_rate series (percent of all requests).
    plain = svc.model_copy(update={"sli": sli.model_copy(update={"requests_failed": None})})
    derived = src.fetch(plain, *window(prom), STEP)
    errors = expected("checkout", "error_rate", prom.first) / 100.0
    want = np.clip(buckets["0.3"] / STEP - errors * want_total, 0, None)
    np.testing.assert_allclose(derived["sli_good"][1:], np.minimum(want, want_total)[1:], rtol=1e-9)


def test_an_objective_that_is_not_a_bucket_bound_is_named(prom: PrometheusServer) -> None:
    from sources_helpers import HISTOGRAM

    from ai_ops.config import SLIConfig

    sli = SLIConfig(latency_histogram=HISTOGRAM, selector='service="{service}"')
    svc = service("checkout").model_copy(update={"sli": sli})
    metrics = PrometheusSource(source_at(prom.url).client, latency_objective_ms=250).fetch(svc, *window(prom), STEP)
    assert "must be one of the histogram's bucket bounds" in metrics.errors["sli_good"]


@pytest.mark.parametrize("name", ["checkout", "search", "weird"])
def test_prometheus_values_match_the_generated_data_exactly(prom: PrometheusServer, name: str) -> None:
    svc = service("weird", service='we"ird\\svc') if name == "weird" else service(name)
    label = 'we"ird\\svc' if name == "weird" else name
    metrics = source_at(prom.url).fetch(svc, *window(prom), STEP)
    assert metrics.errors == {}
    assert metrics.timestamps.size == POINTS and metrics.timestamps[0] == prom.first
    for metric in METRICS:
        np.testing.assert_array_equal(metrics[metric], expected(label, metric, prom.first), err_msg=metric)


def test_gaps_nonfinite_samples_and_stale_series_are_visible(prom: PrometheusServer) -> None:
    start, end = window(prom)
    search = source_at(prom.url).fetch(service("search"), start, end, STEP)
    assert np.isnan(search["request_rate"][list(SEARCH_GAP)]).all()
    assert np.isfinite(search["request_rate"][SEARCH_GAP.stop])
    quality = assess(search, end, start, load_config(None).data_quality)
    assert not quality["latency_p95_ms"].usable and "stale" in quality["latency_p95_ms"].reason
    assert quality["latency_p95_ms"].staleness_minutes == (POINTS - SEARCH_LATENCY_STOPS_AT) * STEP / 60
    assert quality["request_rate"].usable
    assert quality["request_rate"].samples == POINTS - len(SEARCH_GAP)

    client = source_at(prom.url).client
    block = client.query_range('app_error_percent{service="checkout"}', start, end, STEP)
    assert block.nonfinite_samples == len(CHECKOUT_NONFINITE)
    assert np.isnan(block.values[0][list(CHECKOUT_NONFINITE)]).all()


def test_counter_reset_is_handled_when_rate_is_computed_locally(prom: PrometheusServer) -> None:
    block = source_at(prom.url).client.query_range('app_requests_total{service="checkout"}', *window(prom), STEP)
    np.testing.assert_array_equal(block.values[0], counter_values())
    increase = counter_increase(block.values[0])
    assert np.isnan(increase[0])
    np.testing.assert_array_equal(increase[1:], np.full(POINTS - 1, 30.0))


def test_long_ranges_are_split_under_the_points_limit(prom: PrometheusServer, faults: Proxy) -> None:
    settings = FAST.model_copy(update={"max_points_per_request": 100})
    client = source_at(faults.url, settings).client
    block = client.query_range('app_cpu_percent{service="checkout"}', *window(prom), STEP)
    assert len(faults.state.requests) == -(-POINTS // 100)
    np.testing.assert_array_equal(block.values[0], expected("checkout", "cpu_utilization", prom.first))


def test_queries_run_in_parallel_but_bounded(prom: PrometheusServer, faults: Proxy) -> None:
    faults.reset(mode="slow", delay=0.3)
    settings = FAST.model_copy(update={"max_parallel": 2, "timeout_seconds": 5})
    metrics = source_at(faults.url, settings).fetch(service("checkout"), *window(prom), STEP)
    assert metrics.errors == {} and len(faults.state.requests) == len(METRICS)
    assert faults.state.max_in_flight == 2


def test_instant_query(prom: PrometheusServer) -> None:
    at = prom.first + 7 * STEP
    result = source_at(prom.url).client.query('app_replicas{service="search"}', at)
    assert result == [({"__name__": "app_replicas", "service": "search"}, expected("search", "replicas", 0)[7])]


def test_label_values_cannot_inject_promql(prom: PrometheusServer) -> None:
    evil = 'x"} or vector(1) or app_cpu_percent{service="'
    start, end = window(prom)
    naive = QUERIES.cpu_utilization.replace("{service}", evil)
    assert query_result_count(prom.url, naive, start, end - STEP) > 0, "the unescaped query must be an injection"
    metrics = source_at(prom.url).fetch(service("evil", service=evil), start, end, STEP)
    assert metrics.errors == {}
    assert np.isnan(metrics["cpu_utilization"]).all()


def test_query_returning_several_series_is_an_error_for_that_metric(prom: PrometheusServer) -> None:
    queries = QUERIES.model_copy(update={"replicas": "app_replicas"})
    svc = ServiceConfig(name="checkout", source="prometheus", queries=queries)
    metrics = source_at(prom.url).fetch(svc, *window(prom), STEP)
    assert set(metrics.errors) == {"replicas"} and "3 series" in metrics.errors["replicas"]
    assert np.isnan(metrics["replicas"]).all()


# ---------------------------------------------------------------- Grafana datasource proxy


def test_grafana_source_reads_the_same_values_through_the_datasource_proxy(prom: PrometheusServer) -> None:
    grafana = Proxy(prom.url, grafana_uid="prom-uid", grafana_token="glsa_test_token")
    try:
        env = Secrets(GRAFANA_URL=grafana.url, GRAFANA_API_KEY=SecretStr("glsa_test_token"),
                      GRAFANA_DATASOURCE_UID="prom-uid")
        source = GrafanaSource(PrometheusClient(endpoint_from("grafana", env, FAST), FAST))
        metrics = source.fetch(service("checkout"), *window(prom), STEP)
        assert metrics.errors == {}
        for metric in METRICS:
            np.testing.assert_array_equal(metrics[metric], expected("checkout", metric, prom.first))
        assert set(grafana.state.authorizations) == {"Bearer glsa_test_token"}
        assert all(p.startswith("/api/datasources/proxy/uid/prom-uid/api/v1/query_range") for p in grafana.state.requests)

        bad = Secrets(GRAFANA_URL=grafana.url, GRAFANA_API_KEY=SecretStr("wrong"), GRAFANA_DATASOURCE_UID="prom-uid")
        before = len(grafana.state.requests)
        with pytest.raises(SourceError, match="GRAFANA_API_KEY") as info:
            GrafanaSource(PrometheusClient(endpoint_from("grafana", bad, FAST), FAST)).fetch(
                service("checkout"), *window(prom), STEP)
        assert "wrong" not in str(info.value), "the token must never be shown"
        assert "401" in str(info.value)
        assert len(grafana.state.requests) - before <= len(METRICS), "401 must not be retried"
    finally:
        grafana.close()


GRAFANA_LIST = [
    {"id": 3, "uid": "logs", "name": "Loki", "type": "loki", "isDefault": False},
    {"id": 1, "uid": "prom-uid", "name": "Prometheus main", "type": "prometheus", "isDefault": True},
    {"id": 2, "uid": "old-prom", "name": "Prometheus old", "type": "prometheus", "isDefault": False},
]


def test_grafana_without_a_uid_uses_the_default_prometheus_datasource(prom: PrometheusServer,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    grafana = Proxy(prom.url, grafana_uid="prom-uid", grafana_token="glsa_t", datasources=GRAFANA_LIST)
    try:
        env = Secrets(GRAFANA_URL=grafana.url, GRAFANA_API_KEY=SecretStr("glsa_t"))
        with caplog.at_level("INFO", logger="ai_ops"):
            endpoint = endpoint_from("grafana", env, FAST)
        assert endpoint.url == f"{grafana.url}/api/datasources/proxy/uid/prom-uid"
        assert "'Prometheus main' (uid prom-uid, the default Prometheus datasource" in endpoint.datasource
        assert "no datasource uid configured; using datasource 'Prometheus main'" in caplog.text
        metrics = GrafanaSource(PrometheusClient(endpoint, FAST)).fetch(service("checkout"), *window(prom), STEP)
        np.testing.assert_array_equal(metrics["replicas"], expected("checkout", "replicas", prom.first))
        assert grafana.state.requests[0] == "/api/datasources"
        assert set(grafana.state.authorizations) == {"Bearer glsa_t"}

        grafana.datasources = [d for d in GRAFANA_LIST if d["uid"] != "prom-uid"]  # only "Prometheus old" left
        assert endpoint_from("grafana", env, FAST).url.endswith("/uid/old-prom")
        grafana.datasources = [{**d, "isDefault": False} for d in GRAFANA_LIST]
        with pytest.raises(ConfigError, match=r"2 Prometheus datasources.*'Prometheus main' \(uid prom-uid\), "
                                              r"'Prometheus old' \(uid old-prom\)"):
            endpoint_from("grafana", env, FAST)
        grafana.datasources_status = 403
        with pytest.raises(SourceError, match=r"HTTP 403.*datasources:read.*GRAFANA_DATASOURCE_UID"):
            endpoint_from("grafana", env, FAST)
        with pytest.raises(SourceError, match=r"HTTP 401.*GRAFANA_API_KEY"):
            endpoint_from("grafana", Secrets(GRAFANA_URL=grafana.url, GRAFANA_API_KEY=SecretStr("bad")), FAST)
    finally:
        grafana.close()


def test_sources_check_says_which_grafana_datasource_it_found(tmp_path: Path, prom: PrometheusServer) -> None:
    grafana = Proxy(prom.url, grafana_uid="prom-uid", grafana_token="glsa_t", datasources=GRAFANA_LIST)
    try:
        config_path, env = _workspace(tmp_path, "", source="grafana")
        env = {k: v for k, v in env.items() if not k.startswith(("PROMETHEUS_", "GRAFANA_"))}
        env.update(GRAFANA_URL=grafana.url, GRAFANA_API_KEY="glsa_t")
        text = _cli(config_path, env, "sources", "check")
        assert text.returncode == 0, text.stdout + text.stderr
        said = "datasource 'Prometheus main' (uid prom-uid, the default Prometheus datasource"
        assert said in text.stdout  # the log line and the line above the table
        as_json = _cli(config_path, env, "sources", "check", "--json")
        assert as_json.returncode == 0, as_json.stderr
        document = json.loads(as_json.stdout)
        assert document["sources"][0]["kind"] == "grafana" and said in document["sources"][0]["datasource"]
        assert said in as_json.stderr  # the log line went to stderr in --json mode

        grafana.datasources = [{**d, "isDefault": False} for d in GRAFANA_LIST]
        ambiguous = _cli(config_path, env, "sources", "check")
        assert ambiguous.returncode == 2 and "Traceback" not in ambiguous.stderr
        assert "'Prometheus main' (uid prom-uid), 'Prometheus old' (uid old-prom)" in ambiguous.stderr
    finally:
        grafana.close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_verification_and_ca_bundle(prom: PrometheusServer, tmp_path: Path) -> None:
    tls = self_signed_certificate(tmp_path)
    if tls is None:
        pytest.skip("openssl not installed")
    https = Proxy(prom.url, tls=tls)
    try:
        with pytest.raises(SourceError, match=r"TLS error.*sources\.ca_bundle"):
            source_at(https.url).fetch(service("checkout"), *window(prom), STEP)
        trusted = FAST.model_copy(update={"ca_bundle": tls[0]})
        metrics = source_at(https.url, trusted).fetch(service("checkout"), *window(prom), STEP)
        np.testing.assert_array_equal(metrics["replicas"], expected("checkout", "replicas", prom.first))
        unverified = FAST.model_copy(update={"verify_tls": False})
        assert source_at(https.url, unverified).fetch(service("checkout"), *window(prom), STEP).errors == {}
    finally:
        https.close()


# ---------------------------------------------------------------- faults


def test_slow_server_times_out_with_a_clear_reason(prom: PrometheusServer, faults: Proxy) -> None:
    faults.reset(mode="slow", delay=1.5)
    settings = FAST.model_copy(update={"timeout_seconds": 0.2, "retries": 1})
    with pytest.raises(SourceError, match=r"no answer within 0.2 s .*after 2 attempts"):
        source_at(faults.url, settings).client.query_range("app_replicas", *window(prom), STEP)


def test_500s_then_success_is_retried(prom: PrometheusServer, faults: Proxy) -> None:
    faults.reset(mode="fail500", failures_left=2)
    block = source_at(faults.url).client.query_range('app_replicas{service="checkout"}', *window(prom), STEP)
    assert len(faults.state.requests) == 3
    np.testing.assert_array_equal(block.values[0], expected("checkout", "replicas", prom.first))


def test_500s_past_the_retries_fail_the_source(prom: PrometheusServer, faults: Proxy) -> None:
    faults.reset(mode="fail500", failures_left=100)
    with pytest.raises(SourceError, match=r"HTTP 500: injected failure \(after 3 attempts\)"):
        source_at(faults.url).client.query_range("app_replicas", *window(prom), STEP)
    assert len(faults.state.requests) == 3


@pytest.mark.parametrize("status", [401, 403])
def test_auth_refusal_names_the_env_var_and_is_not_retried(prom: PrometheusServer, faults: Proxy,
                                                           status: int) -> None:
    faults.reset(mode="status", status=status, body=b'{"status":"error","error":"bad token"}')
    with pytest.raises(SourceError, match="PROMETHEUS_TOKEN") as info:
        source_at(faults.url, PROMETHEUS_TOKEN="s3cret-token").client.query_range("up", *window(prom), STEP)
    assert f"HTTP {status}: bad token" in str(info.value)
    assert "s3cret-token" not in str(info.value)
    assert faults.state.authorizations == ["Bearer s3cret-token"]


def test_bad_promql_loses_only_that_metric_with_query_and_prometheus_error(prom: PrometheusServer) -> None:
    queries = QUERIES.model_copy(update={"error_rate": 'sum(rate(app_error_percent{service="{service}"}[5m]'})
    svc = ServiceConfig(name="checkout", source="prometheus", queries=queries)
    metrics = source_at(prom.url).fetch(svc, *window(prom), STEP)
    assert set(metrics.errors) == {"error_rate"}
    message = metrics.errors["error_rate"]
    assert "HTTP 400" in message and "parse error" in message
    assert 'query: sum(rate(app_error_percent{service="checkout"}[5m]' in message
    np.testing.assert_array_equal(metrics["replicas"], expected("checkout", "replicas", prom.first))


def test_garbage_json_is_a_clear_source_error(prom: PrometheusServer, faults: Proxy) -> None:
    faults.reset(mode="garbage")
    with pytest.raises(SourceError, match="did not answer with Prometheus API JSON"):
        source_at(faults.url).client.query_range("up", *window(prom), STEP)
    assert len(faults.state.requests) == 1


def test_connection_refused_fails_after_retries_and_opens_the_breaker(prom: PrometheusServer) -> None:
    settings = FAST.model_copy(update={"breaker_failures": 3, "breaker_reset_seconds": 600})
    client = source_at(f"http://127.0.0.1:{free_port()}", settings).client
    with pytest.raises(SourceError, match="cannot connect") as first:
        client.query_range("up", *window(prom), STEP)
    # Open: it fails at once, with the same words (one reason, however many queries it stops).
    with pytest.raises(BreakerOpen) as second:
        client.query_range("up", *window(prom), STEP)
    assert str(second.value) == str(first.value)


# ---------------------------------------------------------------- end to end through the CLI


def _workspace(tmp_path: Path, url: str, queries: QueriesConfig = QUERIES,
               services: tuple[str, ...] = ("checkout",), source: str = "prometheus") -> tuple[Path, dict[str, str]]:
    from ai_ops.jobs.workspace import prepare_workspace

    data = {
        "services": [{"name": name, "source": source, "queries": queries.model_dump()} for name in services],
        "sources": {"timeout_seconds": 0.5, "retries": 1, "backoff_seconds": 0.01},
        # The fixture's values are synthetic markers (error_rate ~300), not percents: widen its physical range.
        "data_quality": {"max_value": {"error_rate": 1000}},
        "outputs": {"workspace": str(tmp_path / "ws"), "git": {"mode": "commit"}},
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    config_path = tmp_path / "ops_config.yaml"
    config_path.write_text(yaml.safe_dump(data))
    prepare_workspace(load_config(config_path), fresh=True)
    env = {**os.environ, "PROMETHEUS_URL": url, "PYTHONPATH": str(ROOT), "COLUMNS": "400"}
    return config_path, env


def _cli(config_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ai_ops", "--config", str(config_path), *args],
                          check=False, capture_output=True, text=True, env=env, timeout=120)


def _git_commits(ws: Path) -> int:
    return int(subprocess.run(["git", "-C", str(ws), "rev-list", "--count", "HEAD"], capture_output=True,
                              text=True, check=True).stdout)


@pytest.mark.parametrize(
    ("fault", "needle"),
    [
        ({"mode": "fail500", "failures_left": 100}, "HTTP 500"),
        ({"mode": "status", "status": 401, "body": b'{"error":"unauthorized"}'}, "PROMETHEUS_TOKEN"),
        ({"mode": "garbage"}, "did not answer with Prometheus API JSON"),
        ({"mode": "slow", "delay": 2.0}, "no answer within 0.5 s"),
        (None, "cannot connect"),
        ("bad-query", "parse error"),
    ],
)
def test_cycle_on_a_fetch_failure_changes_nothing_records_why_and_exits_3(
        tmp_path: Path, prom: PrometheusServer, faults: Proxy, fault: dict[str, object] | str | None,
        needle: str) -> None:
    url = f"http://127.0.0.1:{free_port()}" if fault is None else faults.url
    queries = QUERIES
    if fault == "bad-query":
        queries = QUERIES.model_copy(update={"latency_p95_ms": "histogram_quantile(0.95,"})
    elif isinstance(fault, dict):
        faults.reset(**fault)
    config_path, env = _workspace(tmp_path, url, queries)
    ws = tmp_path / "ws"
    commits = _git_commits(ws)

    result = _cli(config_path, env, "cycle")

    assert result.returncode == 3, result.stderr
    assert needle in result.stderr and "no threshold changed" in result.stderr
    assert "Traceback" not in result.stderr
    ledger = [json.loads(line) for line in (ws / "models" / "decisions.jsonl").read_text().splitlines()]
    assert len(ledger) == 1
    assert ledger[0]["changes"] == {} and ledger[0]["applied"] is False
    assert any(needle in reason for reason in ledger[0]["fetch_errors"].values())
    assert not (ws / "terraform" / "ai_ops.auto.tfvars.json").exists()
    assert _git_commits(ws) == commits


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_refused_credential_is_said_once_with_the_number_of_series(
        tmp_path: Path, prom: PrometheusServer, faults: Proxy, dry_run: bool) -> None:
    """Three services behind one server answering 401: one reason, "18 series", not 18 copies of it."""
    faults.reset(mode="status", status=401, body=b'{"status":"error","error":"invalid token"}')
    config_path, env = _workspace(tmp_path, faults.url, services=("checkout", "search", "cart"))

    result = _cli(config_path, env, *(["--dry-run"] if dry_run else []), "cycle")

    assert result.returncode == 3, result.stderr
    output = result.stdout + result.stderr
    reason = "refused the credentials (HTTP 401: invalid token)"
    assert output.count(reason) == 1, output
    assert "18 series could not be fetched" in result.stderr
    assert "checkout (all 6 metrics), search (all 6 metrics), cart (all 6 metrics)" in result.stderr
    assert len(output) < 1500, output
    assert len(faults.state.requests) < 18, "the open breaker stops the other services' queries"
    ledger = tmp_path / "ws" / "models" / "decisions.jsonl"
    if dry_run:  # a dry run writes nothing, so it must not point at the ledger
        assert "decisions.jsonl" not in output and "dry run: nothing recorded" in result.stderr
        assert not ledger.exists() or not ledger.read_text().strip()
        as_json = _cli(config_path, env, "cycle", "--dry-run", "--json")
        assert as_json.returncode == 3
        document = json.loads(as_json.stdout)
        assert document["ok"] is False and document["exit_code"] == 3 and document["changed"] is False
        assert len(document["fetch_errors"]) == 1 and "(18 series: " in document["fetch_errors"][0]
    else:
        assert f"recorded in {ledger}" in result.stderr
        entries = [json.loads(line) for line in ledger.read_text().splitlines()]  # one per service
        assert sorted(e["service"] for e in entries) == ["cart", "checkout", "search"]
        assert all(len(e["fetch_errors"]) == 6 for e in entries)
        for entry in entries:  # each decision's own reason is grouped too
            assert sum(str(v).count(reason) for v in entry["reasons"].values()) == 1, entry["reasons"]


def test_cycle_against_healthy_prometheus_exits_0(tmp_path: Path, prom: PrometheusServer, faults: Proxy) -> None:
    config_path, env = _workspace(tmp_path, faults.url)
    result = _cli(config_path, env, "cycle")
    assert result.returncode == 0, result.stderr
    ledger = [json.loads(line) for line in (tmp_path / "ws" / "models" / "decisions.jsonl").read_text().splitlines()]
    assert "fetch_errors" not in ledger[0]
    assert ledger[0]["service"] == "checkout"  # one record per service and cycle
    quality = ledger[0]["data_quality"]
    assert all(q["usable"] for q in quality.values()), quality


def test_sources_check_prints_the_table_and_exit_status(tmp_path: Path, prom: PrometheusServer,
                                                        faults: Proxy) -> None:
    config_path, env = _workspace(tmp_path, faults.url)
    ok = _cli(config_path, env, "sources", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for column in ("query", "series", "samples", "coverage", "staleness", "error"):
        assert column in ok.stdout
    assert 'app_cpu_percent{service="checkout"}' in ok.stdout
    # 6 h at 5 min = 72 grid points, of which those after the history's last sample are missing: the
    # session's Prometheus was filled when the session started, which may be minutes ago in a long run.
    last = prom.first + (POINTS - 1) * STEP
    have = {72 - max(0, int((time.time() + lag - last) // STEP)) for lag in (-60, 0, 60)}
    rows = re.findall(r"│\s+1 │\s+(\d+) │\s+\d+% │", ok.stdout)
    assert len(rows) == 6 and all(int(n) in have | {n - 1 for n in have} for n in rows), (have, ok.stdout)

    bad_queries = QUERIES.model_copy(update={"replicas": "app_replicas", "error_rate": "rate(("})
    config_path, env = _workspace(tmp_path / "bad", faults.url, bad_queries)
    bad = _cli(config_path, env, "sources", "check")
    assert bad.returncode == 3
    assert "3 series, expected 1" in bad.stdout and "parse error" in bad.stdout
    assert "2 of 6 queries have a problem" in bad.stderr
    as_json = _cli(config_path, env, "sources", "check", "--json")
    assert as_json.returncode == 3
    document = json.loads(as_json.stdout)
    assert document["ok"] is False and document["problems"] == 2 and len(document["rows"]) == 6
    assert {r["metric"] for r in document["rows"] if not r["ok"]} == {"replicas", "error_rate"}

    env.pop("PROMETHEUS_URL")
    missing = _cli(config_path, env, "sources", "check")
    assert missing.returncode == 2 and "PROMETHEUS_URL is not set" in missing.stderr
