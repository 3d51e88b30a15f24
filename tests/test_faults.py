"""The fault battery: corrupted state files, mutated configs, bad metrics responses, kill -9.

Every generated case asserts what docs/guide.md#when-state-is-damaged promises: no traceback,
an exit code from the README table (0/2/3/4/75), no write outside the workspace, nothing learned
dropped silently, no change proposed from a tampered current value, and the next run succeeds.

Hypothesis is derandomized and bounded so CI stays within minutes; `benchmarks/faults.py` runs
the same tests with more examples (FAULTS_EXAMPLES) and counts the outcomes (FAULTS_LOG).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ai_ops.cli import cli
from ai_ops.config import embedded_default_yaml

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED_EXITS = {0, 2, 3, 4, 75}
SCALE = int(os.environ.get("FAULTS_EXAMPLES", "0") or 0)


def examples(ci: int) -> int:
    return SCALE or ci


def fault_settings(ci: int) -> Any:
    return settings(max_examples=examples(ci), derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def record(kind: str, **outcome: Any) -> None:
    """With FAULTS_LOG set (benchmarks/faults.py), every case appends its outcome as one JSON line."""
    log = os.environ.get("FAULTS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"kind": kind, **outcome}, default=str) + "\n")


def tree(folder: Path, skip: Path | None = None) -> dict[str, float]:
    """Every path under `folder` (except under `skip`) with its mtime: a write anywhere shows."""
    out = {}
    for path in folder.rglob("*"):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        out[str(path)] = path.stat().st_mtime if path.is_file() else 0.0
    return out


def run(config: Path, *args: str) -> tuple[int, str, bool]:
    """The CLI in-process (fast): exit code, output, and whether an exception escaped (a traceback)."""
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=True)
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    return result.exit_code, result.output, crashed


def git(ws: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(ws), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated workspace that has learned something (train, two cycles, a report) and committed it."""
    base = tmp_path_factory.mktemp("template")
    (base / "ops.yaml").write_text(one_service_config())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for job in ("full-cycle", "cycle"):
        done = subprocess.run([sys.executable, "-m", "ai_ops", "--config", "ops.yaml", job], cwd=base, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
    return base


def one_service_config() -> str:
    """The embedded default with its first service only, in the folder `ws`: the faults do not depend
    on the fleet's size, and one service keeps each case (a full job in a subprocess) short."""
    import yaml

    data = yaml.safe_load(embedded_default_yaml())
    data["services"] = data["services"][:1]
    data["outputs"]["workspace"] = "ws"
    return yaml.safe_dump(data, sort_keys=False)


def copy(template: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(template, target, symlinks=True)
    return target


# ---------------------------------------------------------------- corrupted state files

LEARNER = "models/learner/checkout.json"
"""One service's learner state (each service of the simulated default has its own)."""
STATE_FILES = [LEARNER, "models/training_log.json", "models/llm_state.json",
               "models/detectors/checkout/request_rate.json", "models/detectors/checkout/latency_p95_ms.json",
               "terraform/ai_ops.auto.tfvars.json", "models/decisions.jsonl", "models/anomalies.jsonl"]
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
MUTATIONS = ["nan", "infinity", "huge", "1e9", "negative", "string", "empty_list", "empty_object", "truncate",
             "garbage", "torn_tail", "null"]


def mutate(text: str, how: str, index: int, cut: float, noise: bytes) -> bytes:
    numbers = list(NUMBER.finditer(text))
    replace = {"nan": "NaN", "infinity": "Infinity", "huge": "1e308", "1e9": "1e9", "negative": "-5",
               "string": '"x"', "null": "null"}
    if how in replace and numbers:
        m = numbers[index % len(numbers)]
        return (text[:m.start()] + replace[how] + text[m.end():]).encode()
    if how == "empty_list":
        return b"[]"
    if how == "empty_object":
        return b"{}"
    if how == "truncate":
        return text.encode()[: max(1, int(len(text) * cut))]
    if how == "torn_tail":
        return text.encode() + b'{"time": 17, "kind": "cyc'
    return noise or b"\x00"


@fault_settings(ci=24)
@given(target=st.sampled_from(STATE_FILES), how=st.sampled_from(MUTATIONS), index=st.integers(0, 500),
       cut=st.floats(0.0, 1.0), noise=st.binary(max_size=40), job=st.sampled_from(["cycle", "report"]))
def test_corrupted_state_file(template: Path, tmp_path_factory: pytest.TempPathFactory, target: str, how: str,
                              index: int, cut: float, noise: bytes, job: str) -> None:
    base = copy(template, tmp_path_factory.mktemp("state") / "case")
    ws, config = base / "ws", base / "ops.yaml"
    path = ws / target
    if not path.exists():  # llm_state.json only exists once an LLM was called: a corrupt one can still appear
        path.write_text("{}\n")
    original = path.read_text(encoding="utf-8")
    learned_before = json.loads((ws / LEARNER).read_text())["cycles"]
    head_before = git(ws, "rev-parse", "HEAD").strip()
    path.write_bytes(mutate(original, how, index, cut, noise))
    outside = tree(base.parent, skip=ws)

    code, output, crashed = run(config, job)

    tampered_tfvars = target.endswith("tfvars.json") and how in ("nan", "infinity", "huge", "1e9", "negative")
    learner = ws / LEARNER
    try:
        learned_after = json.loads(learner.read_text())["cycles"] if learner.exists() else None
    except (ValueError, KeyError, TypeError):
        learned_after = None
    silent_reset = code == 0 and (learned_after is None or learned_after < learned_before)
    head_after = git(ws, "rev-parse", "HEAD").strip()
    proposed_from_tampered = tampered_tfvars and head_after != head_before
    record("state", target=target, how=how, job=job, exit=code, traceback=crashed, silent_reset=silent_reset,
           outside_writes=tree(base.parent, skip=ws) != outside, proposed_from_tampered=proposed_from_tampered)
    assert not crashed and "Traceback" not in output, output
    assert code in DOCUMENTED_EXITS, (code, output)
    assert tree(base.parent, skip=ws) == outside, "wrote outside the workspace"
    assert not silent_reset, output
    if tampered_tfvars:  # every such mutation is non-finite or out of bounds: refused, nothing committed
        assert code == 4 and not proposed_from_tampered, output
    # The next run succeeds once the documented fix is applied (restore the file from Git).
    if code != 0:
        assert "error:" in output
        git(ws, "checkout", "HEAD", "--", target) if git(ws, "ls-files", target).strip() else path.unlink()
        code, output, crashed = run(config, job)
        assert code == 0 and not crashed, output


# ---------------------------------------------------------------- mutated configs

CONFIG_MUTATIONS: list[tuple[str, Any]] = [
    ("outputs.models_dir", "../x"), ("outputs.reports_dir", "/tmp/elsewhere"), ("outputs.terraform_dir", "../../t"),
    ("outputs.git.pull_request_dir", "../pr"), ("outputs.tfvars_file", "../a.tfvars.json"),
    ("outputs.git.branch_prefix", "--force"), ("outputs.git.branch_prefix", "a..b/"),
    ("outputs.git.branch_prefix", "x y/"), ("outputs.git.base_branch", "-main"), ("outputs.workspace", "missing/ws"),
    ("services.0.name", "s" * 10_000), ("services.0.name", "../evil"), ("services.0.name", "a/b"),
    ("thresholds.autoscaling_cpu_target.max", float("nan")), ("thresholds.autoscaling_cpu_target.min", -1e308),
    ("sla.target", float("inf")), ("step_seconds", -5), ("data_quality.max_value.replicas", -1),
    ("data_quality.max_value.bogus", 5), ("sources.max_series", 0), ("outputs.on_tampered_tfvars", "ignore"),
    ("cycle_window_hours", 1e308), ("outputs.git.mode", "force"), ("version", 2), ("services", []),
]


def _set(data: Any, dotted: str, value: Any) -> None:
    """Set a dotted path; an index into a list an earlier mutation emptied is skipped (nothing to set)."""
    keys = dotted.split(".")
    for key in keys[:-1]:
        if isinstance(data, list):
            if int(key) >= len(data):
                return
            data = data[int(key)]
        else:
            data = data.setdefault(key, {})
    data[keys[-1]] = value


@fault_settings(ci=16)
@given(mutations=st.lists(st.sampled_from(CONFIG_MUTATIONS), min_size=1, max_size=3),
       job=st.sampled_from(["config", "cycle"]))
def test_mutated_config(template: Path, tmp_path_factory: pytest.TempPathFactory,
                        mutations: list[tuple[str, Any]], job: str) -> None:
    base = copy(template, tmp_path_factory.mktemp("config") / "case")
    # A moved workspace is where the job may write (and the old one is then outside it). With this
    # simulated config a missing workspace is created (docs/guide.md, `outputs.workspace`), so that
    # mutation alone is no mistake; any other is one `config check` must name.
    moved = ("outputs.workspace", "missing/ws") in mutations
    ws = base / "missing" if moved else base / "ws"
    data = yaml.safe_load((base / "ops.yaml").read_text())
    for key, value in mutations:
        _set(data, key, value)
    config = base / "ops.yaml"
    config.write_text(yaml.safe_dump(data))
    outside = tree(base.parent, skip=ws)
    outside.pop(str(config), None)
    args = ["config", "check"] if job == "config" else ["cycle"]
    code, output, crashed = run(config, *args)
    after = tree(base.parent, skip=ws)
    after.pop(str(config), None)
    record("config", mutations=[k for k, _ in mutations], job=job, exit=code, traceback=crashed,
           outside_writes=after != outside, silent_reset=False, proposed_from_tampered=False)
    assert not crashed and "Traceback" not in output, output
    mistakes = [m for m in mutations if m != ("outputs.workspace", "missing/ws")]
    assert code == (2 if mistakes else 0), (mutations, code, output)
    assert after == outside, "wrote outside the workspace"


# ---------------------------------------------------------------- bad metrics responses


class FakePrometheus:
    """A local Prometheus API on 127.0.0.1 answering every range query with the current `body`."""

    def __init__(self) -> None:
        self.body = b""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = fake.body
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fake_prometheus() -> Iterator[FakePrometheus]:
    server = FakePrometheus()
    yield server
    server.close()


def response(series: int, value: str, points: int, garbage: str) -> bytes:
    now = time.time()
    values = [[now - 6 * 3600 + 300 * i, value] for i in range(points)]
    result = [{"metric": {"pod": f"p{i}"}, "values": values} for i in range(series)]
    text = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})
    if garbage == "truncated":
        text = text[: len(text) // 2]
    elif garbage == "html":
        text = "<html>login</html>"
    elif garbage == "wrong_shape":
        text = json.dumps({"status": "success", "data": {"result": {"not": "a list"}}})
    return text.encode()


VALUES = ["1e308", "-1e308", "NaN", "+Inf", "-Inf", "-5", "0", "42", "1e9", "abc"]


@fault_settings(ci=10)
@given(series=st.sampled_from([0, 1, 2, 60, 2000]), value=st.sampled_from(VALUES), points=st.integers(1, 80),
       garbage=st.sampled_from(["", "", "truncated", "html", "wrong_shape"]), job=st.sampled_from(["cycle", "train"]))
def test_bad_metrics_response(template: Path, tmp_path_factory: pytest.TempPathFactory,
                              fake_prometheus: FakePrometheus, monkeypatch: pytest.MonkeyPatch,
                              series: int, value: str, points: int, garbage: str, job: str) -> None:
    base = copy(template, tmp_path_factory.mktemp("metrics") / "case")
    ws = base / "ws"
    data = yaml.safe_load((base / "ops.yaml").read_text())
    queries = {m: f"app_{m}" for m in ("request_rate", "cpu_utilization", "latency_p95_ms", "error_rate",
                                       "replicas", "cost_per_hour")}
    data["services"] = [{"name": "checkout", "source": "prometheus", "queries": queries}]
    data["sources"] = {"timeout_seconds": 5, "retries": 0}
    config = base / "ops.yaml"
    config.write_text(yaml.safe_dump(data))
    fake_prometheus.body = response(series, value, points, garbage)
    monkeypatch.setenv("PROMETHEUS_URL", fake_prometheus.url)
    outside = tree(base.parent, skip=ws)
    outside.pop(str(config), None)
    head = git(ws, "rev-parse", "HEAD").strip()
    tfvars = (ws / "terraform/ai_ops.auto.tfvars.json").read_text()
    code, output, crashed = run(config, job)
    after = tree(base.parent, skip=ws)
    after.pop(str(config), None)
    absurd = value not in ("0", "42") or series != 1 or garbage
    changed = (ws / "terraform/ai_ops.auto.tfvars.json").read_text() != tfvars
    record("metrics", series=series, value=value, garbage=garbage, job=job, exit=code, traceback=crashed,
           outside_writes=after != outside, silent_reset=False, proposed_from_tampered=bool(absurd and changed))
    assert not crashed and "Traceback" not in output, output
    assert code in {0, 3}, (code, output)
    assert after == outside
    if absurd and job == "cycle":
        assert not changed, "a threshold changed on data nobody can believe"
        assert git(ws, "rev-parse", "HEAD").strip() == head or "state after" in git(ws, "log", "-1", "--format=%s")
    if series == 2000 and job == "cycle" and not garbage:  # garbage replaces the 2,000-series body
        assert "sum by" in output or "aggregate" in output, output


# ---------------------------------------------------------------- kill -9 at random points


@fault_settings(ci=3)
@given(delay=st.floats(0.3, 9.0))
def test_kill_9_full_cycle_then_next_run_succeeds(tmp_path_factory: pytest.TempPathFactory, delay: float) -> None:
    base = tmp_path_factory.mktemp("kill")
    (base / "ops.yaml").write_text(one_service_config())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "ai_ops", "--config", "ops.yaml", "full-cycle"]
    process = subprocess.Popen(command, cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    outside = tree(base, skip=base / "ws")
    again = subprocess.run(command, cwd=base, env=env, capture_output=True, text=True, timeout=300, check=False)
    record("kill9", delay=round(delay, 3), exit=again.returncode, traceback="Traceback" in again.stderr,
           outside_writes=tree(base, skip=base / "ws") != outside, silent_reset=False, proposed_from_tampered=False)
    assert "Traceback" not in again.stderr, again.stderr
    assert again.returncode == 0, again.stderr
    assert tree(base, skip=base / "ws") == outside
    state = json.loads((base / "ws" / LEARNER).read_text())
    assert state["cycles"] >= 1
