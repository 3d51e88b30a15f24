"""A discovered fleet against a real Prometheus: discovery, batched fetches, chunking, appear/disappear, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from sources_helpers import (
    FLEET_GAUGES,
    FLEET_GONE,
    FLEET_LATE,
    STEP,
    PrometheusServer,
    Proxy,
    backfill,
    binaries_present,
    fleet_history_lines,
    fleet_names,
    fleet_value,
    start_prometheus,
)

from ai_ops.config import DiscoveryConfig, QueriesConfig, Secrets, SourcesConfig, load_config, parse_config
from ai_ops.errors import ConfigError, SourceError
from ai_ops.metrics import METRICS
from ai_ops.sources.discovery import discover, select
from ai_ops.sources.prometheus import PrometheusClient, PrometheusSource, endpoint_from

ROOT = Path(__file__).resolve().parents[1]
FLEET = 200
POINTS = 288  # one day at 5 minutes
DISCOVERY_QUERY = "count by (service) (last_over_time(fleet_request_rate[1h]))"
FLEET_QUERIES = {m: f"max by (service) ({g})" for m, g in FLEET_GAUGES.items()}
PER_SERVICE_QUERIES = {m: f'max({g}{{service="{{service}}"}})' for m, g in FLEET_GAUGES.items()}
FAST = SourcesConfig(timeout_seconds=10, retries=1, backoff_seconds=0.01, backoff_max_seconds=0.02)


def discovery(**changes: object) -> DiscoveryConfig:
    data: dict[str, object] = {"query": DISCOVERY_QUERY, "queries": FLEET_QUERIES, **changes}
    return DiscoveryConfig.model_validate(data)


@pytest.fixture(scope="module")
def fleet_prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus holding one day of FLEET services (+ extras), ending one step before now."""
    missing = binaries_present()
    if missing:
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp("fleet-prometheus")
    first = float((int(time.time()) // STEP) * STEP - POINTS * STEP)
    server = start_prometheus(backfill(fleet_history_lines(first, FLEET, POINTS), folder), folder, first)
    yield server
    server.stop()


def client_at(url: str, settings: SourcesConfig = FAST) -> PrometheusClient:
    return PrometheusClient(endpoint_from("prometheus", Secrets(PROMETHEUS_URL=url), settings), settings)


def end_of(prom: PrometheusServer) -> float:
    return prom.first + POINTS * STEP


# ---------------------------------------------------------------- selection and config (no server)


def test_include_exclude_configured_and_invalid_names() -> None:
    config = discovery(include=["^svc-", "^canary-"], exclude=["^canary-"])
    kept, dropped = select(["svc-b", "svc-a", "canary-1", "other", "svc-a", "svc-x y"], config, {"svc-b"})
    assert kept == ["svc-a"]
    assert dropped == {"canary-1": "matches a discovery.exclude pattern",
                       "other": "matches no discovery.include pattern",
                       "svc-b": "configured by hand under services (that entry wins)",
                       "svc-x y": dropped["svc-x y"]}
    assert "not usable as a service name" in dropped["svc-x y"]


def _config_text(**discovery_changes: object) -> str:
    data = {"services": [], "discovery": {"query": DISCOVERY_QUERY, "queries": FLEET_QUERIES, **discovery_changes}}
    return yaml.safe_dump(data)


def test_discovery_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"overrides.svc-001.autoscaling_cpu_target: bounds inverted"):
        parse_config(_config_text(overrides={"svc-001": {"autoscaling_cpu_target": {"max": 20}}}))
    with pytest.raises(ConfigError, match=r"overrides.svc-001.no_such: no such threshold"):
        parse_config(_config_text(overrides={"svc-001": {"no_such": {"max": 20}}}))
    with pytest.raises(ConfigError, match=r"not a valid regular expression"):
        parse_config(_config_text(include=["(unclosed"]))
    with pytest.raises(ConfigError, match=r"must keep the 'service' label: write it as 'sum by \(service\)"):
        parse_config(_config_text(queries={**FLEET_QUERIES, "replicas": "sum(fleet_replicas)"}))
    with pytest.raises(ConfigError, match=r"no services: list at least one"):
        parse_config("services: []\n")
    config = parse_config(_config_text(overrides={"svc-001": {"autoscaling_cpu_target": {"max": 85, "initial": 75}}}))
    assert config.discovery is not None and not config.is_simulated
    assert config.discovery.overrides["svc-001"]["autoscaling_cpu_target"].max == 85


# ---------------------------------------------------------------- against the real Prometheus


@pytest.mark.prometheus
def test_discovery_reads_the_label_values(fleet_prom: PrometheusServer) -> None:
    found = discover(client_at(fleet_prom.url), discovery(exclude=["^canary-"],
                                                          overrides={"svc-007": {"alert_error_rate": {"max": 5}}}),
                     time.time(), set())
    assert found.names == sorted([*fleet_names(FLEET), FLEET_LATE])  # svc-gone stopped 4 h ago
    assert found.dropped["canary-svc-000"] == "matches a discovery.exclude pattern"
    assert "not usable as a service name" in found.dropped["bad name!"]
    assert list(found.overrides) == ["svc-007"]
    svc = found.services[0]
    assert svc.source == "prometheus" and svc.labels == {"service": "svc-000"}


@pytest.mark.prometheus
def test_discovery_failures_are_clear(fleet_prom: PrometheusServer) -> None:
    with pytest.raises(SourceError, match=r"discovery\.query failed: query refused"):
        discover(client_at(fleet_prom.url), discovery(query="count by (service) (("), time.time(), set())
    with pytest.raises(SourceError, match="none has the label 'service'"):
        discover(client_at(fleet_prom.url), discovery(query="count(last_over_time(fleet_replicas[1h]))"),
                 time.time(), set())
    with pytest.raises(SourceError, match=r"more than discovery\.max_services"):
        discover(client_at(fleet_prom.url), discovery(max_services=10), time.time(), set())


@pytest.mark.prometheus
def test_batched_fetch_equals_per_series_queries_with_one_query_per_metric(fleet_prom: PrometheusServer) -> None:
    proxy = Proxy(fleet_prom.url)
    try:
        found = discover(client_at(fleet_prom.url), discovery(include=["^svc-0[0-4][0-9]$"]), time.time(), set())
        assert len(found.services) == 50
        start, end = fleet_prom.first, end_of(fleet_prom)
        batched = PrometheusSource(client_at(proxy.url)).fetch_fleet(found.services, "service", start, end, STEP)
        assert len(proxy.state.requests) == len(METRICS)  # one range query per metric, for all 50 services
        per_series = PrometheusSource(client_at(fleet_prom.url))
        index = np.arange(POINTS)
        for i in (0, 17, 49):
            service = found.services[i].model_copy(update={"queries": QueriesConfig(**PER_SERVICE_QUERIES)})
            one = per_series.fetch(service, start, end, STEP)
            got = batched[service.name]
            assert got.errors == {} and one.errors == {}
            for metric in METRICS:
                np.testing.assert_array_equal(got.values[metric], one.values[metric])
                np.testing.assert_array_equal(got.values[metric], fleet_value(i, metric, index))
    finally:
        proxy.close()


@pytest.mark.prometheus
def test_mixed_templates_and_duplicate_series_per_service(fleet_prom: PrometheusServer) -> None:
    """A template with {service} runs per service; a fleet query that does not aggregate to one series per
    service loses only that metric, with a reason."""
    queries = {**FLEET_QUERIES, "cpu_utilization": PER_SERVICE_QUERIES["cpu_utilization"],
               "replicas": "max by (service, __name__) ({__name__=~\"fleet_replicas|fleet_cost_per_hour\"})"}
    found = discover(client_at(fleet_prom.url), discovery(include=["^svc-00[0-2]$"], queries=queries),
                     time.time(), set())
    proxy = Proxy(fleet_prom.url)
    try:
        got = PrometheusSource(client_at(proxy.url)).fetch_fleet(found.services, "service", fleet_prom.first,
                                                                 end_of(fleet_prom), STEP)
        assert len(proxy.state.requests) == 5 + 3  # five fleet queries + cpu for each of 3 services
    finally:
        proxy.close()
    for i, name in enumerate(found.names):
        np.testing.assert_array_equal(got[name].values["cpu_utilization"],
                                      fleet_value(i, "cpu_utilization", np.arange(POINTS)))
        assert "returned 2 series with service=" in got[name].errors["replicas"]
        assert np.isnan(got[name].values["replicas"]).all()
        assert set(got[name].errors) == {"replicas"}


@pytest.mark.prometheus
def test_ranges_over_11000_points_are_chunked(fleet_prom: PrometheusServer) -> None:
    """One day at 5 s is 17,280 points: Prometheus refuses it in one request; the client splits it."""
    start, end, step = end_of(fleet_prom) - 86_400, end_of(fleet_prom), 5
    params = urllib.parse.urlencode({"query": 'fleet_replicas{service="svc-003"}', "start": start,
                                     "end": end - step, "step": step})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{fleet_prom.url}/api/v1/query_range?{params}", timeout=30)
    assert refused.value.code == 400 and b"11,000 points" in refused.value.read()
    proxy = Proxy(fleet_prom.url)
    try:
        block = client_at(proxy.url).query_range('fleet_replicas{service="svc-003"}', start, end, step)
        assert len(proxy.state.requests) == 2  # max_points_per_request 10,000: 10,000 + 7,280
    finally:
        proxy.close()
    assert block.values.shape == (1, 17_280)
    on_grid = block.values[0][:: STEP // step]  # every 5 min: exactly the written samples
    np.testing.assert_array_equal(on_grid, fleet_value(3, "replicas", np.arange(POINTS)))


# ---------------------------------------------------------------- jobs: appear, disappear, the 200-service fleet


def _workspace(tmp_path: Path, url: str, **discovery_changes: object) -> tuple[Path, dict[str, str]]:
    from ai_ops.jobs.workspace import prepare_workspace

    data = {
        "services": [],
        "discovery": {"query": DISCOVERY_QUERY, "queries": FLEET_QUERIES, "exclude": ["^canary-"],
                      **discovery_changes},
        "sources": {"timeout_seconds": 10, "retries": 1, "backoff_seconds": 0.01},
        "outputs": {"workspace": str(tmp_path / "ws"), "git": {"mode": "commit"}},
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    config_path = tmp_path / "ops_config.yaml"
    config_path.write_text(yaml.safe_dump(data))
    prepare_workspace(load_config(config_path), fresh=True)
    return config_path, {**os.environ, "PROMETHEUS_URL": url, "PYTHONPATH": str(ROOT), "COLUMNS": "400"}


@pytest.mark.prometheus
def test_services_appear_and_disappear_between_cycles(tmp_path: Path, fleet_prom: PrometheusServer) -> None:
    from ai_ops.jobs.cycle import run_cycle
    from ai_ops.jobs.train import run_train

    config_path, _ = _workspace(tmp_path, fleet_prom.url, include=["^svc-00[0-1]$", "^svc-gone$", "^svc-late$"])
    config = load_config(config_path)
    secrets = Secrets(PROMETHEUS_URL=fleet_prom.url)
    models = tmp_path / "ws" / "models"
    early = end_of(fleet_prom) - 5 * 3600  # svc-gone still reports, svc-late not yet
    run_train(config, now=early, secrets=secrets)
    first = run_cycle(config, now=early, secrets=secrets)
    assert set(first.quality) == {"svc-000", "svc-001", FLEET_GONE}
    registry = json.loads((models / "fleet.json").read_text())
    assert {n: e["active"] for n, e in registry["services"].items()} == {"svc-000": True, "svc-001": True,
                                                                         FLEET_GONE: True}
    gone_model = models / "detectors" / FLEET_GONE / "request_rate.json"
    trained = gone_model.read_bytes()

    second = run_cycle(config, now=time.time(), secrets=secrets)
    assert set(second.quality) == {"svc-000", "svc-001", FLEET_LATE}
    registry = json.loads((models / "fleet.json").read_text())
    assert registry["services"][FLEET_GONE]["active"] is False and "inactive_since" in registry["services"][FLEET_GONE]
    assert registry["services"][FLEET_LATE]["active"] is True
    assert gone_model.read_bytes() == trained  # gone: state kept untouched, nothing deleted
    late = json.loads((models / "detectors" / FLEET_LATE / "request_rate.json").read_text())["payload"]
    assert late and (models / "detectors" / "svc-000" / "request_rate.json").exists()

    third = run_cycle(config, now=early, secrets=secrets)  # svc-gone comes back: continues from its state
    assert FLEET_GONE in third.quality
    assert json.loads((models / "fleet.json").read_text())["services"][FLEET_GONE]["active"] is True


def _cli(config_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ai_ops", "--config", str(config_path), *args],
                          check=False, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.prometheus
def test_a_discovered_fleet_of_200_services_through_the_cli(tmp_path: Path, fleet_prom: PrometheusServer) -> None:
    config_path, env = _workspace(tmp_path, fleet_prom.url, include=["^svc-[0-9]+$"],
                                  overrides={"svc-042": {"autoscaling_cpu_target": {"max": 85}}})
    check = _cli(config_path, env, "config", "check")
    assert check.returncode == 0, check.stderr
    assert f"discovery: {FLEET} service(s) from label 'service'" in check.stdout
    assert "fetch: 6 fleet queries" in check.stdout and "override svc-042.autoscaling_cpu_target" in check.stdout

    sources = _cli(config_path, env, "sources", "check")
    assert sources.returncode == 0, sources.stdout + sources.stderr
    assert f"discovery: {FLEET} service(s)" in sources.stdout and f"(discovered: {FLEET})" in sources.stdout

    cycle = _cli(config_path, env, "cycle")
    assert cycle.returncode == 0, cycle.stderr
    assert f"discovery: {FLEET} new service(s)" in cycle.stdout + cycle.stderr
    ws = tmp_path / "ws"
    ledger = [json.loads(line) for line in (ws / "models" / "decisions.jsonl").read_text().splitlines()]
    # One record per discovered service: watched by the detectors, thresholds not learned (no learner).
    assert len(ledger) == FLEET and {r["kind"] for r in ledger} == {"watch"}
    assert not any("fetch_errors" in r for r in ledger)
    assert all(q["usable"] for r in ledger for q in r["data_quality"].values())
    assert len(list((ws / "models" / "detectors").iterdir())) == FLEET

    from ai_ops.jobs.cycle import run_cycle

    config_path, _ = _workspace(tmp_path / "none", fleet_prom.url, include=["^nothing-matches$"])
    with pytest.raises(SourceError, match="discovery found no services"):
        run_cycle(load_config(config_path), secrets=Secrets(PROMETHEUS_URL=fleet_prom.url))
    with pytest.raises(ConfigError, match="PROMETHEUS_URL is not set"):
        run_cycle(load_config(config_path), secrets=Secrets(PROMETHEUS_URL=None))
    assert not (tmp_path / "none" / "ws" / "models" / "decisions.jsonl").exists()


@pytest.mark.prometheus
def test_cycle_detection_in_worker_processes_equals_in_process(tmp_path: Path, fleet_prom: PrometheusServer) -> None:
    """With anomaly.train_workers > 1 a fleet's services are detected in a process pool (jobs.observing.detect_each):
    the same advanced model files as in process (tests/test_detect_each.py compares anomalies)."""
    from ai_ops.jobs.cycle import run_cycle
    from ai_ops.jobs.observing import SERVICES_PER_TASK
    from ai_ops.jobs.train import run_train

    secrets = Secrets(PROMETHEUS_URL=fleet_prom.url)
    now = end_of(fleet_prom)
    outputs: dict[int, dict[str, bytes]] = {}
    for workers in (1, 2):
        config_path, _ = _workspace(tmp_path / f"w{workers}", fleet_prom.url, include=["^svc-0[0-2][0-9]$"])
        config = load_config(config_path)
        config = config.model_copy(update={"anomaly": config.anomaly.model_copy(update={"train_workers": workers})})
        run_train(config, now=now - 6 * 3600, secrets=secrets)
        result = run_cycle(config, now=now, secrets=secrets)
        assert len(result.quality) == 30 > SERVICES_PER_TASK
        models = tmp_path / f"w{workers}" / "ws" / "models"
        outputs[workers] = {str(p.relative_to(models)): p.read_bytes()
                            for p in sorted((models / "detectors").rglob("*.json"))}
    assert len(outputs[1]) == 30 * 6  # every metric of every service
    assert outputs[1] == outputs[2]
