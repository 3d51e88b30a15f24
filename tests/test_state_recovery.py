"""The mechanisms behind the fault battery, one by one: restore from Git, torn tails, tampered tfvars,
config paths, physical ranges and response caps."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import numpy as np
import pytest
import requests

from ai_ops.config import DataQualityConfig, OpsConfig, parse_config
from ai_ops.errors import ActuatorError, ConfigError
from ai_ops.metrics import ServiceMetrics
from ai_ops.sources.prometheus import ResponseTooLarge, cap_response
from ai_ops.sources.quality import assess, screen
from ai_ops.state import StateError, load_state, read_jsonl


def _repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "config", "user.email", "t@example.com"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "config", "user.name", "t"], check=True)
    return tmp_path


def _commit(repo: Path, path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", str(path)], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "state"], check=True)


def _positive(data: object) -> None:
    if not isinstance(data, dict) or not all(isinstance(v, int) and v >= 0 for v in data.values()):
        raise ValueError("counts must be non-negative integers")


def test_damaged_state_is_restored_from_the_newest_good_commit(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    repo = _repo(tmp_path)
    path = repo / "models" / "s.json"
    _commit(repo, path, '{"cycles": 3}')
    _commit(repo, path, '{"cycles": 5}')
    _commit(repo, path, '{"cycles": -1}')  # committed but invalid: skipped
    path.write_text('{"cycles": NaN}')
    with caplog.at_level(logging.WARNING):
        assert load_state(path, _positive) == {"cycles": 5}
    assert json.loads(path.read_text()) == {"cycles": 5}
    assert "restored the version of commit" in caplog.text


@pytest.mark.parametrize("empty", ["[]", "{}"])
def test_empty_file_is_not_a_fresh_start_when_history_has_content(tmp_path: Path, empty: str) -> None:
    repo = _repo(tmp_path)
    path = repo / "s.json"
    _commit(repo, path, '{"cycles": 7}')
    path.write_text(empty)
    assert load_state(path, _positive) == {"cycles": 7}


def test_damaged_state_without_good_history_is_refused_with_exit_2(tmp_path: Path) -> None:
    path = _repo(tmp_path) / "s.json"
    path.write_text('{"cycles": 1e999}')
    with pytest.raises(StateError) as error:
        load_state(path, _positive)
    assert error.value.exit_code == 2 and "delete it to start afresh" in str(error.value)
    assert path.read_text() == '{"cycles": 1e999}'  # nothing reset behind the user's back


def test_torn_last_line_is_set_aside_and_a_middle_one_refused(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, "b": "tor')
    assert read_jsonl(log) == [{"a": 1}, {"a": 2}]
    assert log.read_text() == '{"a": 1}\n{"a": 2}\n'
    assert (tmp_path / "decisions.jsonl.corrupt").read_text() == '{"a": 3, "b": "tor\n'
    log.write_text('{"a": 1}\n{"a"\n{"a": 3}\n')
    with pytest.raises(Exception, match="line 2"):
        read_jsonl(log)



@pytest.mark.parametrize("damage", ['"surprisal": null', '"sustained": "x"', '"caused_by": [1]'])
def test_anomaly_fields_the_report_reads_are_checked(tmp_path: Path, damage: str) -> None:
    """Before: a null surprisal or a string `sustained` passed the schema (extra fields allowed) and
    the report died with a TypeError/ValueError traceback building episodes."""
    from ai_ops.jobs.workspace import AnomalyRecord

    good = '{"service": "s", "metric": "m", "time": 1.0, "score": 0.9, "severity": "critical", %s}'
    fields = {"surprisal": '"surprisal": 5.0', "sustained": '"sustained": 3', "caused_by": '"caused_by": ""'}
    key = damage.split('"')[1]
    log = tmp_path / "anomalies.jsonl"
    log.write_text("\n".join([good % fields[key], good % damage, good % fields[key]]) + "\n")
    with pytest.raises(Exception, match="line 2") as error:
        read_jsonl(log, AnomalyRecord.model_validate)
    assert getattr(error.value, "exit_code", None) == 2

def _workspace_config(tmp_path: Path, **outputs: object) -> OpsConfig:
    config = OpsConfig.model_validate({"outputs": {"workspace": str(tmp_path), **outputs}})
    (tmp_path / "terraform").mkdir(exist_ok=True)
    return config


@pytest.mark.parametrize("value", ["NaN", "1e9", "-5", "Infinity"])
def test_tampered_tfvars_value_is_refused_naming_variable_and_bounds(tmp_path: Path, value: str) -> None:
    from ai_ops.actuators.terraform import current_thresholds

    config = _workspace_config(tmp_path)
    config.tfvars_path.write_text('{"autoscaling_cpu_target": ' + value + "}")
    with pytest.raises(ActuatorError) as error:
        current_thresholds(config)
    spec = config.thresholds["autoscaling_cpu_target"]
    assert error.value.exit_code == 4
    assert "autoscaling_cpu_target = " in str(error.value) and f"[{spec.min:g}, {spec.max:g}]" in str(error.value)


def test_tampered_tfvars_restored_when_configured(tmp_path: Path) -> None:
    from ai_ops.actuators.terraform import current_thresholds

    repo = _repo(tmp_path)
    config = _workspace_config(repo, on_tampered_tfvars="restore")
    service = config.service_names[0]
    good = {"autoscaling_cpu_target": {service: 70}}
    _commit(repo, config.tfvars_path, json.dumps(good))
    config.tfvars_path.write_text(json.dumps({"autoscaling_cpu_target": {service: 1e9}}))
    assert current_thresholds(config)[service]["autoscaling_cpu_target"] == 70
    assert json.loads(config.tfvars_path.read_text()) == good


@pytest.mark.parametrize("outputs", [
    {"models_dir": "../x"}, {"reports_dir": "/elsewhere"}, {"terraform_dir": "a/../../b"},
    {"tfvars_file": "../x.tfvars.json"}, {"git": {"branch_prefix": "--force"}}, {"git": {"branch_prefix": "a..b/"}},
])
def test_config_check_refuses_paths_outside_the_workspace_and_bad_refs(outputs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        parse_config(json.dumps({"outputs": {"workspace": "/srv/infra", **outputs}}))


def test_long_service_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"services\.0\.name"):
        parse_config(json.dumps({"services": [{"name": "s" * 10_000}]}))


def test_relative_workspace_resolves_against_the_config_file(tmp_path: Path) -> None:
    from ai_ops.config import load_config

    (tmp_path / "config").mkdir()
    path = tmp_path / "config" / "ops.yaml"
    path.write_text("outputs:\n  workspace: ..\n")
    assert load_config(path).path(".") == tmp_path.resolve()


def test_unphysical_values_make_the_series_unusable_with_the_reason() -> None:
    t = np.arange(0, 3600, 300, dtype=float)
    values = {"request_rate": np.full(t.shape, 10.0), "latency_p95_ms": np.full(t.shape, 100.0),
              "replicas": np.full(t.shape, 3.0)}
    values["request_rate"][2] = -1.0
    values["latency_p95_ms"][3] = 1e308
    values["replicas"][4] = np.inf
    metrics = screen(ServiceMetrics("svc", t, 300, values), DataQualityConfig())
    assert np.isnan(metrics["request_rate"][2]) and np.isnan(metrics["latency_p95_ms"][3])
    quality = assess(metrics, 3600.0, 0.0, DataQualityConfig())
    assert not any(q.usable for q in quality.values())
    assert "negative" in quality["request_rate"].reason and "above" in quality["latency_p95_ms"].reason
    assert "infinite" in quality["replicas"].reason


def _response(body: bytes, length: bool) -> requests.Response:
    import io

    response = requests.Response()
    response.status_code = 200
    response.raw = io.BytesIO(body)
    if length:
        response.headers["Content-Length"] = str(len(body))
    return response


@pytest.mark.parametrize("length", [True, False])
def test_oversized_response_is_refused_before_parsing(length: bool) -> None:
    body = json.dumps({"data": {"result": [{"metric": {"i": str(i)}, "values": []} for i in range(2000)]}}).encode()
    with pytest.raises(ResponseTooLarge, match="max_response_bytes"):
        cap_response(_response(body, length), 10_000, 50)
    with pytest.raises(ResponseTooLarge, match="2,000 series"):
        cap_response(_response(body, length), 10_000_000, 50)
    small = _response(b'{"data": {"result": []}}', length)
    cap_response(small, 10_000, 50)
    assert small.json() == {"data": {"result": []}}
