"""Self-monitoring: the daemon's /metrics scraped by a real Prometheus, a real Pushgateway, the textfile,
counters that survive one-shot processes, and the example alert rules checked by promtool."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sources_helpers import PrometheusServer, binaries_present, free_port, start_prometheus

from ai_ops import monitoring
from ai_ops.config import MonitoringConfig, load_config
from ai_ops.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docs" / "alerts"
QUERIES = {m: f'{m}_metric{{service="{{service}}"}}' for m in
           ("request_rate", "cpu_utilization", "latency_p95_ms", "error_rate", "replicas", "cost_per_hour")}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ai_ops", *args], capture_output=True, text=True, timeout=180,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def write_config(path: Path, workspace: Path, **extra: object) -> Path:
    path.write_text(yaml.safe_dump({"outputs": {"workspace": str(workspace)}, **extra}))
    return path


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value of a Prometheus text exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


# ---------------------------------------------------------------- alert rules


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_example_alert_rules_are_valid_and_fire_when_they_should() -> None:
    check = subprocess.run(["promtool", "check", "rules", str(RULES / "ai-ops.rules.yml")], capture_output=True,
                           text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "4 rules found" in check.stdout
    unit = subprocess.run(["promtool", "test", "rules", "ai-ops.rules.test.yml"], cwd=RULES, capture_output=True,
                          text=True, timeout=120, check=False)
    assert unit.returncode == 0, unit.stdout + unit.stderr


def test_every_alerted_metric_is_one_the_controller_exports() -> None:
    rules = yaml.safe_load((RULES / "ai-ops.rules.yml").read_text())["groups"][0]["rules"]
    exported = {f"{family.name}_total" if family.type == "counter" else family.name
                for family in monitoring.REGISTRY.collect()}
    for rule in rules:
        names = set(re.findall(r"\bai_ops_[a-z_]+\b", rule["expr"])) - {"ai_ops_job"}
        assert names and names <= exported, (rule["alert"], names - exported)


# ---------------------------------------------------------------- one-shot runs: textfile and kept counters


def test_textfile_counts_across_one_shot_runs_and_dry_runs_write_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    textfile = tmp_path / "collector" / "ai-ops.prom"
    config = write_config(tmp_path / "ops.yaml", ws, monitoring={"textfile": str(textfile)})
    started = time.time()
    for _ in range(2):
        result = run_cli("--config", str(config), "cycle")
        assert result.returncode == 0, result.stderr
    found = samples(textfile.read_text())
    # Two processes, and the counters kept counting: 2 runs, 2 decisions.
    assert value(found, "ai_ops_job_runs_total", ai_ops_job="cycle", outcome="ok") == 2
    assert sum(v for (name, _), v in found.items() if name == "ai_ops_decisions_total") == 2
    last = value(found, "ai_ops_job_last_success_timestamp_seconds", ai_ops_job="cycle")
    assert last is not None and started <= last <= time.time()
    assert value(found, "ai_ops_job_schedule_interval_seconds", ai_ops_job="cycle") == 6 * 3600
    assert value(found, "ai_ops_job_last_run_ok", ai_ops_job="cycle") == 1
    assert (value(found, "ai_ops_job_last_duration_seconds", ai_ops_job="cycle") or 0) > 0
    kept = json.loads((ws / "models" / "monitoring.json").read_text())
    assert kept["counters"]["ai_ops_job_runs"]

    before = textfile.read_text()
    dry = run_cli("--config", str(config), "cycle", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert textfile.read_text() == before, "a dry run writes nothing, not even its metrics"

    # The same workspace against a dead Prometheus: the failure, the fetch errors, and the last
    # success of the earlier run kept.
    failing = write_config(tmp_path / "dead.yaml", ws, monitoring={"textfile": str(textfile)},
                           services=[{"name": "checkout", "source": "prometheus", "queries": QUERIES}],
                           sources={"retries": 0, "timeout_seconds": 1})
    result = run_cli("--config", str(failing), "cycle", env={"PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"})
    assert result.returncode == 3, result.stderr
    found = samples(textfile.read_text())
    assert value(found, "ai_ops_job_last_run_ok", ai_ops_job="cycle") == 0
    assert value(found, "ai_ops_job_runs_total", ai_ops_job="cycle", outcome="failed") == 1
    assert value(found, "ai_ops_fetch_errors_total", ai_ops_job="cycle", source="prometheus") == 6
    assert value(found, "ai_ops_decisions_total", kind="unusable_data") == 1
    assert value(found, "ai_ops_job_last_success_timestamp_seconds", ai_ops_job="cycle") == last


def test_a_bad_monitoring_setting_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path / "ops.yaml", tmp_path / "ws", monitoring={"textfile": "metrics.txt"})
    result = run_cli("--config", str(config), "config", "check")
    assert result.returncode == 2 and "monitoring.textfile" in result.stderr and ".prom" in result.stderr
    config = write_config(tmp_path / "ops.yaml", tmp_path / "ws", monitoring={"port": 70000})
    result = run_cli("--config", str(config), "config", "check")
    assert result.returncode == 2 and "monitoring.port" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_taken_port_is_a_clear_config_error() -> None:
    first = monitoring.MetricsServer(MonitoringConfig(port=free_port()))
    try:
        with pytest.raises(ConfigError, match=r"monitoring\.port: cannot serve /metrics on 127\.0\.0\.1:"):
            monitoring.MetricsServer(MonitoringConfig(port=first.port))
    finally:
        first.close()


def test_schedule_interval_is_the_longest_gap_of_the_cron() -> None:
    assert monitoring.schedule_interval("0 */6 * * *") == 6 * 3600
    assert monitoring.schedule_interval("0 3 * * *") == 86400
    assert monitoring.schedule_interval("0 9 * * 1-5") == 3 * 86400  # Friday to Monday


# ---------------------------------------------------------------- a real Prometheus scrapes the controller


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _wait_http(url: str, process: subprocess.Popen[bytes] | None = None, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{process.args} exited with {process.returncode}")
        try:
            _get(url)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def _query(prom: PrometheusServer, expr: str, seconds: float = 40) -> list[dict[str, object]]:
    """The instant-query result of `expr`, waiting until it is non-empty (scrapes happen every second)."""
    deadline = time.monotonic() + seconds
    while True:
        data = json.loads(_get(f"{prom.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
        result: list[dict[str, object]] = data["data"]["result"]
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[tuple[PrometheusServer, dict[str, int]]]:
    """A real Prometheus scraping three ports on 127.0.0.1: the daemon, an in-process server, a Pushgateway."""
    missing = binaries_present()
    if missing:
        pytest.skip(missing)
    ports = {"daemon": free_port(), "inprocess": free_port(), "pushgateway": free_port()}
    folder = tmp_path / "prometheus"
    (folder / "data").mkdir(parents=True)
    server = start_prometheus(folder / "data", folder, time.time(),
                              {name: f"127.0.0.1:{port}" for name, port in ports.items()})
    yield server, ports
    server.stop()


def test_daemon_metrics_are_scraped_by_a_real_prometheus(tmp_path: Path,
                                                         scraped: tuple[PrometheusServer, dict[str, int]]) -> None:
    prom, ports = scraped
    ws = tmp_path / "ws"
    config = write_config(tmp_path / "ops.yaml", ws, monitoring={"port": ports["daemon"]})
    started = time.time()
    first = run_cli("--config", str(config), "cycle")  # a one-shot cycle before the daemon starts
    assert first.returncode == 0, first.stderr
    daemon = subprocess.Popen([sys.executable, "-m", "ai_ops", "--config", str(config), "run"],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{ports['daemon']}/metrics", daemon)
        # What the daemon serves was scraped and stored by Prometheus: the build info, the cycle's
        # last success kept from the one-shot run, and the schedule intervals of all three jobs.
        assert _query(prom, 'ai_ops_build_info{job="daemon"}')
        success = _query(prom, 'ai_ops_job_last_success_timestamp_seconds{job="daemon", ai_ops_job="cycle"}')
        assert success and started <= float(success[0]["value"][1]) <= time.time()  # type: ignore[index]
        intervals = _query(prom, 'ai_ops_job_schedule_interval_seconds{job="daemon"}')
        assert {r["metric"]["ai_ops_job"]: float(r["value"][1]) for r in intervals} == {  # type: ignore[index]
            "cycle": 21600.0, "train": 86400.0, "report": 86400.0}
        decisions = _query(prom, 'sum(ai_ops_decisions_total{job="daemon"})')
        assert float(decisions[0]["value"][1]) == 1  # type: ignore[index]
    finally:
        daemon.send_signal(signal.SIGTERM)
        output = daemon.communicate(timeout=30)[0].decode()
    assert daemon.returncode == 0, output
    assert f"serving the controller's metrics on http://127.0.0.1:{ports['daemon']}/metrics" in output


def test_a_job_run_under_the_daemons_server_is_scraped(tmp_path: Path,
                                                       scraped: tuple[PrometheusServer, dict[str, int]]) -> None:
    """The daemon's job wrapper and metrics server, in process, so the test sees a job run live."""
    from ai_ops.jobs.workspace import prepare_workspace
    from ai_ops.scheduler import make_job

    prom, ports = scraped
    config = load_config(write_config(tmp_path / "ops.yaml", tmp_path / "ws",
                                      monitoring={"port": ports["inprocess"]}))
    prepare_workspace(config, fresh=True)
    server = monitoring.MetricsServer(config.monitoring)
    try:
        _wait_http(server.url)
        before = samples(_get(server.url))
        runs_before = value(before, "ai_ops_job_runs_total", ai_ops_job="train", outcome="ok") or 0
        started = time.time()
        assert make_job("train", config, False)() == "ok"
        expr = f'ai_ops_job_runs_total{{job="inprocess", ai_ops_job="train", outcome="ok"}} > {runs_before}'
        assert _query(prom, expr), "the run was not scraped"
        success = _query(prom, f'ai_ops_job_last_success_timestamp_seconds{{job="inprocess", ai_ops_job="train"}} '
                               f'>= {started}')
        assert success
        failures = _query(prom, 'ai_ops_detector_last_training_failed_series{job="inprocess"}')
        assert failures and float(failures[0]["value"][1]) >= 0  # type: ignore[index]
    finally:
        server.close()


@pytest.mark.skipif(shutil.which("prometheus-pushgateway") is None,
                    reason="prometheus-pushgateway not installed (apt-get install prometheus-pushgateway)")
def test_one_shot_runs_push_to_a_real_pushgateway(tmp_path: Path,
                                                  scraped: tuple[PrometheusServer, dict[str, int]]) -> None:
    prom, ports = scraped
    gateway = subprocess.Popen(["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{ports['pushgateway']}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(f"http://127.0.0.1:{ports['pushgateway']}/metrics", gateway)
        ws = tmp_path / "ws"
        ok = write_config(tmp_path / "ops.yaml", ws)
        env = {"AI_OPS_PUSHGATEWAY_URL": f"http://user:pw@127.0.0.1:{ports['pushgateway']}"}
        started = time.time()
        result = run_cli("--config", str(ok), "cycle", env=env)
        assert result.returncode == 0, result.stderr
        assert "pw" not in result.stdout + result.stderr
        success = _query(prom, 'ai_ops_job_last_success_timestamp_seconds{job="ai-ops", ai_ops_job="cycle"}')
        assert success and float(success[0]["value"][1]) >= started  # type: ignore[index]
        pushed_success = float(success[0]["value"][1])  # type: ignore[index]

        # A failing run updates its group but leaves the last success as the successful run pushed it.
        dead = write_config(tmp_path / "dead.yaml", ws, services=[{"name": "checkout", "source": "prometheus",
                                                                   "queries": QUERIES}],
                            sources={"retries": 0, "timeout_seconds": 1})
        failed = run_cli("--config", str(dead), "cycle",
                         env={**env, "PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"})
        assert failed.returncode == 3, failed.stderr
        assert _query(prom, 'ai_ops_job_last_run_ok{job="ai-ops", ai_ops_job="cycle"} == 0')
        errors = _query(prom, 'ai_ops_fetch_errors_total{job="ai-ops", source="prometheus"}')
        assert float(errors[0]["value"][1]) == 6  # type: ignore[index]
        still = _query(prom, 'ai_ops_job_last_success_timestamp_seconds{job="ai-ops", ai_ops_job="cycle"}')
        assert float(still[0]["value"][1]) == pushed_success  # type: ignore[index]
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)


def test_an_unreachable_pushgateway_is_one_warning_not_a_failed_job(tmp_path: Path) -> None:
    config = write_config(tmp_path / "ops.yaml", tmp_path / "ws",
                          monitoring={"pushgateway_url": f"http://127.0.0.1:{free_port()}"})
    result = run_cli("--config", str(config), "cycle")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("cannot push to the Pushgateway") == 1
