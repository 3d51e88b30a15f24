"""The sources' pure parts (templates, alignment, counters, breaker, retries, endpoints): no server needed."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr
from sources_helpers import free_port

from ai_ops.config import QueriesConfig, Secrets, ServiceConfig, SourcesConfig, load_config, parse_config
from ai_ops.errors import ConfigError, SourceError
from ai_ops.metrics import METRICS
from ai_ops.sources.http_client import wants_gzip
from ai_ops.sources.prometheus import (
    BreakerOpen,
    CircuitBreaker,
    Datasource,
    PrometheusClient,
    PrometheusSource,
    align,
    choose_datasource,
    chunk_ranges,
    counter_increase,
    counter_rate,
    endpoint_from,
)
from ai_ops.sources.promql import escape_label_value, render_query
from ai_ops.sources.series import parse_matrix

QUERIES = QueriesConfig(**{m: f'my_{m}{{service="{{service}}", env="{{env}}"}}' for m in METRICS})


# ---------------------------------------------------------------- templates


def test_label_values_are_escaped_inside_the_string() -> None:
    evil = 'x"} or vector(1) or up{a="\\'
    rendered = render_query('sum(rate(http_requests_total{service="{service}"}[5m]))', {"service": evil})
    assert rendered == 'sum(rate(http_requests_total{service="x\\"} or vector(1) or up{a=\\"\\\\"}[5m]))'
    assert escape_label_value("a\nb'c`") == "a\\nb'c`"  # Go's rules: only \\, the enclosing quote, newlines


def test_selectors_and_durations_are_left_alone() -> None:
    template = 'sum by (pod) (rate(x{job="api", service=~"{service}.*"}[5m])) / on() group_left y{a="b"}'
    assert render_query(template, {"service": "checkout"}) == template.replace("{service}", "checkout")


@pytest.mark.parametrize(
    ("template", "needle"),
    [
        ("x{service={service}}", "must be inside quotes"),
        ('x{service="{team}"}', "add 'team' to the service's labels"),
        ('x{service="{service}}', "unterminated"),
    ],
)
def test_bad_templates_are_config_errors_naming_the_problem(template: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        render_query(template, {"service": "checkout"}, where="services.checkout.queries.replicas")


def test_source_substitutes_the_service_name_and_labels() -> None:
    svc = ServiceConfig(name="checkout", source="prometheus", labels={"env": "prod"}, queries=QUERIES)
    settings = SourcesConfig()
    source = PrometheusSource(PrometheusClient(endpoint_from("prometheus", Secrets(PROMETHEUS_URL="http://x:9090"),
                                                             settings), settings))
    assert source.queries(svc)["replicas"] == 'my_replicas{service="checkout", env="prod"}'


# ---------------------------------------------------------------- alignment, chunks, counters


def test_chunks_cover_the_grid_once_and_stay_under_the_limit() -> None:
    chunks = chunk_ranges(1000.0, 25, 60, 10)
    assert chunks == [(1000.0, 1540.0, 0), (1600.0, 2140.0, 10), (2200.0, 2440.0, 20)]
    covered = [round((t - 1000) / 60) for s, e, _ in chunks for t in np.arange(s, e + 1, 60)]
    assert covered == list(range(25))


def test_align_merges_chunks_keeps_gaps_and_counts_nonfinite() -> None:
    ts = np.arange(0.0, 600.0, 60.0)
    part_a = [{"metric": {"pod": "b"}, "values": [[0, "1"], [60, "NaN"], [120, "3"]]},
              {"metric": {"pod": "a"}, "values": [[0, "7"]]}]
    part_b = [{"metric": {"pod": "b"}, "values": [[300, "+Inf"], [360, "6"], [9999, "8"]]}]
    block = align("q", [(0, part_a), (5, part_b)], ts, 60)
    assert block.labels == [{"pod": "a"}, {"pod": "b"}]
    np.testing.assert_array_equal(block.values[1], [1, np.nan, 3, np.nan, np.nan, np.nan, 6, np.nan, np.nan, np.nan])
    assert block.nonfinite_samples == 2


def test_counter_increase_handles_resets_and_gaps() -> None:
    values = np.array([0.0, 10.0, 25.0, 5.0, 15.0, np.nan, 30.0])
    np.testing.assert_array_equal(counter_increase(values), [np.nan, 10, 15, 5, 10, np.nan, np.nan])
    np.testing.assert_array_equal(counter_rate(values[:3], 5), [np.nan, 2, 3])


# ---------------------------------------------------------------- breaker and retries


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_reset() -> None:
    now = [0.0]
    breaker = CircuitBreaker(2, 30.0, clock=lambda: now[0])
    breaker.failure("boom")
    breaker.check("u")
    breaker.failure("boom")
    with pytest.raises(BreakerOpen, match=r"^boom$"):  # the reason that opened it, word for word
        breaker.check("u")
    now[0] = 31.0
    breaker.check("u")  # half-open: one attempt allowed
    breaker.failure("boom again")
    with pytest.raises(SourceError, match="boom again"):
        breaker.check("u")
    now[0] = 62.0
    breaker.check("u")
    breaker.success()
    breaker.failure("once")
    breaker.check("u")


def test_retries_back_off_exponentially_with_jitter_then_fail_with_the_reason() -> None:
    settings = SourcesConfig(retries=4, backoff_seconds=1.0, backoff_max_seconds=3.0, breaker_failures=100)
    slept: list[float] = []
    client = PrometheusClient(endpoint_from("prometheus", Secrets(PROMETHEUS_URL=f"http://127.0.0.1:{free_port()}"),
                                            settings), settings, sleep=slept.append, rng=random.Random(1))
    with pytest.raises(SourceError, match=r"cannot connect.*after 5 attempts"):
        client.query_range("up", 0, 600, 60)
    assert len(slept) == 4
    for delay, ceiling in zip(slept, [1.0, 2.0, 3.0, 3.0], strict=True):
        assert ceiling / 2 <= delay <= ceiling


# ---------------------------------------------------------------- endpoints and config


def test_endpoints_from_the_environment() -> None:
    settings = SourcesConfig(headers={"X-Scope-OrgID": "team-a"})
    bearer = endpoint_from("prometheus", Secrets(PROMETHEUS_URL="https://p/", PROMETHEUS_TOKEN=SecretStr("t0k")), settings)
    assert bearer.url == "https://p" and bearer.headers == {"X-Scope-OrgID": "team-a", "Authorization": "Bearer t0k"}
    assert "t0k" not in repr(bearer)
    basic = endpoint_from("prometheus", Secrets(PROMETHEUS_URL="https://p", PROMETHEUS_USERNAME="u",
                                                PROMETHEUS_PASSWORD=SecretStr("pw")), settings)
    assert basic.auth == ("u", "pw")
    grafana = endpoint_from("grafana", Secrets(GRAFANA_URL="https://g/", GRAFANA_API_KEY=SecretStr("k"),
                                               GRAFANA_DATASOURCE_UID="abc"), settings)
    assert grafana.url == "https://g/api/datasources/proxy/uid/abc"
    by_config = endpoint_from("grafana", Secrets(GRAFANA_URL="https://g", GRAFANA_API_KEY=SecretStr("k")),
                              SourcesConfig(grafana_datasource_uid="xyz"))
    assert by_config.url.endswith("/uid/xyz")


def test_datasource_choice_default_then_only_then_an_error_naming_the_candidates() -> None:
    prom_a = Datasource("a", "Prom A", "prometheus", False)
    prom_b = Datasource("b", "Prom B", "prometheus", True)
    loki = Datasource("l", "Logs", "loki", True)
    assert choose_datasource([loki, prom_a, prom_b], "g").uid == "b"
    assert choose_datasource([loki, prom_b], "g").why == "the default Prometheus datasource"
    only = choose_datasource([loki, prom_a], "g")
    assert only.uid == "a" and only.why == "the only Prometheus datasource"
    with pytest.raises(ConfigError, match=r"2 Prometheus datasources.*'Prom A' \(uid a\), 'Prom C' \(uid c\)"):
        choose_datasource([prom_a, Datasource("c", "Prom C", "prometheus", False), loki], "g")
    with pytest.raises(ConfigError, match=r"no Prometheus datasource.*'Logs' \(loki\).*GRAFANA_DATASOURCE_UID"):
        choose_datasource([loki], "g")


def test_unreachable_grafana_discovery_says_how_to_skip_it() -> None:
    secrets = Secrets(GRAFANA_URL=f"http://127.0.0.1:{free_port()}", GRAFANA_API_KEY=SecretStr("k"))
    with pytest.raises(SourceError, match=r"cannot list Grafana's datasources.*GRAFANA_DATASOURCE_UID"):
        endpoint_from("grafana", secrets, SourcesConfig(timeout_seconds=1))


@pytest.mark.parametrize(
    ("kind", "secrets", "needle"),
    [
        ("prometheus", {}, "PROMETHEUS_URL is not set"),
        ("grafana", {"GRAFANA_API_KEY": "k", "GRAFANA_DATASOURCE_UID": "u"}, "GRAFANA_URL is not set"),
        ("grafana", {"GRAFANA_URL": "https://g", "GRAFANA_DATASOURCE_UID": "u"}, "GRAFANA_API_KEY is not set"),
    ],
)
def test_missing_settings_are_named(kind: str, secrets: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        endpoint_from(kind, Secrets.model_construct(**{k: (SecretStr(v) if k.endswith("KEY") else v)
                                                       for k, v in secrets.items()}), SourcesConfig())  # type: ignore[arg-type]


def test_missing_ca_bundle_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources\.ca_bundle"):
        endpoint_from("prometheus", Secrets(PROMETHEUS_URL="https://p"), SourcesConfig(ca_bundle=tmp_path / "nope.pem"))


def test_sources_config_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"sources\.max_points_per_request"):
        parse_config("sources: {max_points_per_request: 20000}")
    with pytest.raises(ConfigError, match=r"sources\.tiemout_seconds: unknown key"):
        parse_config("sources: {tiemout_seconds: 3}")


def test_cycle_with_unreachable_prometheus_records_why_and_changes_nothing(tmp_path: Path) -> None:
    """In process and without the binaries: the cycle's contract on a dead server."""
    from ai_ops.jobs.cycle import run_cycle
    from ai_ops.jobs.workspace import prepare_workspace

    config = load_config(None).with_workspace(tmp_path / "ws")
    prepare_workspace(config, fresh=True)
    svc = ServiceConfig(name="checkout", source="prometheus", labels={"env": "prod"}, queries=QUERIES)
    config = config.model_copy(update={"services": [svc],
                                       "sources": SourcesConfig(retries=0, breaker_failures=1)})
    secrets = Secrets(PROMETHEUS_URL=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SourceError, match="no threshold changed") as info:
        run_cycle(config, now=1_800_000_000.0, secrets=secrets)
    assert info.value.exit_code == 3
    ledger = [json.loads(line) for line in (config.models_path / "decisions.jsonl").read_text().splitlines()]
    assert ledger[0]["changes"] == {} and not ledger[0]["applied"]
    assert set(ledger[0]["fetch_errors"]) == {f"checkout/{m}" for m in METRICS}
    assert ledger[0]["service"] == "checkout"  # one record per service and cycle
    assert ledger[0]["data_quality"]["cpu_utilization"]["staleness_minutes"] is None
    assert not config.tfvars_path.exists()


def test_credentials_in_the_url_never_reach_a_message() -> None:
    settings = SourcesConfig(retries=0)
    url = f"http://ops:hunter2@127.0.0.1:{free_port()}"
    client = PrometheusClient(endpoint_from("prometheus", Secrets(PROMETHEUS_URL=url), settings), settings)
    with pytest.raises(SourceError) as info:
        client.query_range("up", 0, 600, 60)
    assert "hunter2" not in str(info.value) and "***@127.0.0.1" in str(info.value)


def _matrix_body(result: list[dict[str, object]]) -> bytes:
    """Compact, as Prometheus writes it."""
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}},
                      separators=(",", ":")).encode()


def test_parse_matrix_reads_every_number_exactly_and_falls_back_on_other_shapes() -> None:
    rng = np.random.default_rng(3)
    numbers = np.concatenate([rng.normal(0, 1e6, 500), rng.uniform(0, 1, 500) * 10.0 ** rng.integers(-300, 300, 500),
                              [0.0, -0.0, 5e-324, 1.7976931348623157e308, 0.1, 1 / 3]])
    texts = [repr(float(x)) for x in numbers] + ["NaN", "+Inf", "-Inf", "1e3", "2E-5"]
    series = [{"metric": {"service": 'we"ird\\"values":[[1,"2"]]', "pod": "]],[["},
               "values": [[1_700_000_000 + 60 * i, v] for i, v in enumerate(texts)]},
              {"metric": {}, "values": []},
              {"metric": {"service": "b"}, "values": [[1_700_000_000.5, "7"]]}]
    parsed = parse_matrix(_matrix_body(series))
    assert [s["metric"] for s in parsed] == [s["metric"] for s in series]
    for got, want in zip(parsed, series, strict=True):
        ts, vs = got["values"]
        expected_ts = np.array([p[0] for p in want["values"]], dtype=np.float64)  # type: ignore[union-attr]
        expected_vs = np.array([float(p[1]) for p in want["values"]], dtype=np.float64)  # type: ignore[union-attr]
        assert ts.tobytes() == expected_ts.tobytes() and vs.tobytes() == expected_vs.tobytes()
    # spaced JSON, keys in another order, or a token that is not a number: decoded the ordinary way
    spaced = parse_matrix(json.dumps({"data": {"result": series}}).encode())
    assert spaced[0]["values"] == series[0]["values"]
    swapped = json.dumps({"data": {"result": [{"values": [[1, "2"], [2, "x"]], "metric": {"a": "b"}}]}}).encode()
    assert parse_matrix(swapped) == [{"values": [[1, "2"], [2, "x"]], "metric": {"a": "b"}}]
    block = align("q", [(0, parse_matrix(_matrix_body(series[2:])))], np.array([1_700_000_000.0]), 60)
    assert block.values.tolist() == [[7.0]] and block.labels == [{"service": "b"}]


def test_compression_auto_skips_gzip_only_for_loopback_servers() -> None:
    assert not wants_gzip("auto", "http://127.0.0.1:9090") and not wants_gzip("auto", "http://[::1]:9090")
    assert not wants_gzip("auto", "http://LOCALHOST:9090/prom")
    assert wants_gzip("auto", "https://prometheus.example.com") and wants_gzip("auto", "http://10.0.0.5:9090")
    assert wants_gzip("gzip", "http://127.0.0.1:9090") and not wants_gzip("none", "https://prometheus.example.com")
