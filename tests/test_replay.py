"""`ai-ops replay` against a real Prometheus holding three services with known incidents.

It must find the incidents, write nothing outside its scratch folder, and reach no notifier.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from replay_helpers import SERVICES, config_yaml, start_with_history
from sources_helpers import STEP, PrometheusServer, binaries_present, free_port

from ai_ops.config import OpsConfig, Secrets, load_config
from ai_ops.errors import ConfigError
from ai_ops.jobs.replay import resolve_period, schedule_between
from ai_ops.sim.service import Incident

ROOT = Path(__file__).resolve().parents[1]
DAYS = 14
REPLAY_DAYS = 3
"""The test replays the last 3 of the 14 backfilled days (speed); the benchmark replays all 14."""


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, dict[str, list[Incident]]]]:
    missing = binaries_present()
    if missing:
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp("replay-prom")
    now = time.time() // STEP * STEP
    server, incidents = start_with_history(folder, now - DAYS * 86_400, now)
    yield server, incidents
    server.stop()


class Recorder:
    """A local HTTP server standing in for Slack, Notion and Anthropic: it records every request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                recorder.requests.append(f"{self.command} {self.path}")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            do_GET = do_POST = do_PATCH = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def snapshot(*folders: Path) -> dict[str, float]:
    out = {}
    for folder in folders:
        for path in folder.rglob("*"):
            out[str(path)] = path.stat().st_mtime if path.is_file() else 0.0
    return out


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ai_ops", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, check=False, timeout=300)


@pytest.mark.prometheus
def test_replay_finds_incidents_writes_only_scratch_and_notifies_nobody(
        history: tuple[PrometheusServer, dict[str, list[Incident]]], tmp_path: Path) -> None:
    server, incidents = history
    user = tmp_path / "user-repo"
    user.mkdir()
    subprocess.run(["git", "init", "-q", str(user)], check=True)
    (user / "ops_config.yaml").write_text(config_yaml(user))
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    recorder = Recorder()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(home), "PROMETHEUS_URL": server.url,
           "SLACK_WEBHOOK_URL": recorder.url + "/hook", "SLACK_BOT_TOKEN": "xoxb-fake", "SLACK_BASE_URL": recorder.url + "/",
           "NOTION_API_KEY": "secret_fake", "NOTION_DATABASE_ID": "db", "NOTION_BASE_URL": recorder.url,
           "ANTHROPIC_API_KEY": "sk-fake", "ANTHROPIC_BASE_URL": recorder.url,
           "GITHUB_TOKEN": "ghp_fake", "GITHUB_API_URL": recorder.url, "GITHUB_REPOSITORY": "o/r"}
    before = snapshot(user, home, cwd)
    scratch = tmp_path / "scratch"
    try:
        result = run_cli(["--config", str(user / "ops_config.yaml"), "replay", "--days", str(REPLAY_DAYS),
                          "--workspace", str(scratch), "--json"], env, cwd)
    finally:
        recorder.close()
    assert result.returncode == 0, result.stderr
    assert snapshot(user, home, cwd) == before
    assert recorder.requests == []
    summary = json.loads(result.stdout)
    assert (scratch / "replay" / "replay.html").is_file() and (scratch / "replay" / "replay.md").is_file()
    assert list((scratch / "replay" / "charts").glob("*.png"))
    assert summary["jobs"]["cycle"] == REPLAY_DAYS * 4 and summary["jobs"]["report"] == REPLAY_DAYS
    assert summary["source_requests"] == len(SERVICES)  # each service fetched once, sliced per job
    start = time.time() - REPLAY_DAYS * 86_400 + 3 * 3600
    by_service = {s["service"]: s for s in summary["services"]}
    assert set(by_service) == set(SERVICES)
    found = missed = 0
    for name, known in incidents.items():
        for incident in known:
            if incident.start < start or incident.end > time.time() - 3600:
                continue
            hit = any(e["start"] <= incident.end + 1800 and e["end"] >= incident.start
                      for e in by_service[name]["episodes"])
            found += hit
            missed += not hit
    assert found >= 1 and found >= missed, (found, missed)
    ledger = [json.loads(line) for line in (scratch / "models" / "decisions.jsonl").read_text().splitlines()]
    for s in summary["services"]:
        own = [r for r in ledger if r["service"] == s["service"] and r["kind"] == "cycle" and r["old"] != r["new"]]
        assert [c["time"] for c in s["changes"]] == [r["time"] for r in own]  # its own changes, no other's
        assert len(s["days"]) >= REPLAY_DAYS
        assert all(d["cost"] > 0 for d in s["days"])
        assert set(s["alerts"]) == {"alert_cpu_utilization", "alert_latency_p95_ms", "alert_error_rate"}


def test_replay_simulated_default(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = run_cli(["replay", "--days", "1", "--workspace", str(tmp_path / "ws"), "--json"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["jobs"] == {"train": 1, "cycle": 4, "report": 1}
    assert summary["services"][0]["service"] == "checkout"
    assert summary["services"][0]["threshold_path"]


@pytest.mark.parametrize(("args", "code", "words"), [
    (["replay", "--days", "0"], 2, "--days must be at least 1"),
    (["replay", "--from", "2026-02-01", "--to", "2026-01-01"], 2, "is not before"),
    (["replay", "--from", "yesterday"], 2, "not an ISO 8601"),
])
def test_replay_bad_arguments(tmp_path: Path, args: list[str], code: int, words: str) -> None:
    result = run_cli(args, {**os.environ, "PYTHONPATH": str(ROOT)}, tmp_path)
    assert result.returncode == code
    assert words in result.stderr and "Traceback" not in result.stderr


def test_replay_unreachable_source_exits_3(tmp_path: Path) -> None:
    config = tmp_path / "ops.yaml"
    config.write_text(config_yaml(tmp_path / "user") + "sources:\n  retries: 0\n  timeout_seconds: 1\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"}
    result = run_cli(["--config", str(config), "replay", "--days", "1", "--workspace", str(tmp_path / "s")],
                     env, tmp_path)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "127.0.0.1" in result.stderr and "error:" in result.stderr


def test_schedule_follows_config_and_period_is_checked() -> None:
    config = load_config(None)
    runs = schedule_between(config, 0.0, 86_400.0)
    assert [j for _, j in runs] == ["cycle", "train", "cycle", "report", "cycle", "cycle"]
    with pytest.raises(ConfigError, match="in the future"):
        resolve_period(None, None, 2e9, 1e9, 300)


def test_each_service_summary_holds_only_its_own_decisions() -> None:
    """The cycle writes one ledger record per service: another service's decision is not this one's path."""
    import numpy as np

    from ai_ops.metrics import ServiceMetrics
    from ai_ops.reporting.replay import summarise_service

    t = 1_700_000_000.0 + 300.0 * np.arange(288)
    metrics = ServiceMetrics("a", t, 300, {m: np.full(t.size, 1.0) for m in ("cpu_utilization", "cost_per_hour", "request_rate", "latency_p95_ms", "error_rate", "replicas")})

    def record(service: str, time: float, old: float, new: float) -> dict[str, object]:
        return {"kind": "cycle", "service": service, "time": time, "time_iso": "", "applied": True,
                "old": {"autoscaling_cpu_target": old}, "new": {"autoscaling_cpu_target": new}, "reasons": {}}

    ledger = [record("a", t[10], 80.0, 60.0), record("b", t[10], 80.0, 40.0), record("b", t[50], 40.0, 45.0)]
    summary = summarise_service(metrics, ledger, [], {"autoscaling_cpu_target": 80.0}, 300.0, t[0], t[-1] + 300)
    assert [p["autoscaling_cpu_target"] for p in summary["threshold_path"]] == [60.0]
    assert [c["changes"] for c in summary["changes"]] == [{"autoscaling_cpu_target": {"old": 80.0, "new": 60.0}}]
    assert summary["final"] == {"autoscaling_cpu_target": 60.0}


def test_a_simulated_source_kept_across_jobs_follows_the_targets_applied_since(sim_config: OpsConfig) -> None:
    """replay keeps one source for every job: the simulated autoscaler must serve the target the last
    cycle applied, not the one in force when the source was made (it stayed at 80% and the learner
    walked to its floor while the SLA stayed at 92%)."""
    import numpy as np

    from ai_ops.jobs.cycle import run_cycle
    from ai_ops.jobs.observing import Sources, deployed_target_timeline
    from ai_ops.jobs.workspace import SCALING, paths_for, read_ledger

    now = 1_700_000_000.0
    service = sim_config.services[0].name
    timeline = deployed_target_timeline(sim_config, service)  # made before any decision
    assert timeline(np.array([now + 60.0]))[0] == sim_config.thresholds_for(service)[SCALING].initial
    run_cycle(sim_config, now, secrets=Secrets(), sources=Sources(sim_config, Secrets()))
    applied = [r["new"][SCALING] for r in read_ledger(paths_for(sim_config)) if r["service"] == service and r["applied"]]
    assert applied and applied[-1] != sim_config.thresholds_for(service)[SCALING].initial
    assert timeline(np.array([now - 60.0, now + 60.0])).tolist() == [
        sim_config.thresholds_for(service)[SCALING].initial, applied[-1]]
