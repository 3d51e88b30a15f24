"""Configuration validation and the CLI's behaviour on bad input: exit 2, one clear line, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ai_ops.config import load_config, parse_config
from ai_ops.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ai_ops", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, check=False)


def test_example_config_is_valid_and_matches_the_embedded_defaults() -> None:
    example = load_config(ROOT / "config" / "ops_config.yaml")
    embedded = load_config(None)
    assert example.sla.target == 99.95
    assert example.anomaly.ewma.span == 20 and example.anomaly.gmm.n_components == 3
    assert example.anomaly.sensitivity == 0.92 and example.anomaly.min_train_samples == 48
    assert example.thresholds["autoscaling_cpu_target"].initial == 80
    assert example.thresholds == embedded.thresholds
    assert example.schedule == embedded.schedule


def test_terraform_variables_declare_every_configured_threshold() -> None:
    from ai_ops.actuators.terraform import render_variables_tf

    config = load_config(ROOT / "config" / "ops_config.yaml")
    assert (ROOT / "terraform" / "variables.tf").read_text() == render_variables_tf(config.thresholds)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("sla: {target: 100.5}", "sla.target"),
        ("cost: {monthly_budget: -3}", "cost.monthly_budget"),
        ("thresholds: {autoscaling_cpu_target: {initial: 50, min: 90, max: 30, max_step: 5}}", "bounds inverted"),
        ("slaa: {target: 99}", "slaa: unknown key"),
        ("anomaly: {ewma: {span: twenty}}", "anomaly.ewma.span"),
        ("schedule: {cycle: 'every six hours'}", "schedule.cycle"),
        ("services: [{name: a}, {name: a}]", "unique"),
        ("services: [{name: api, source: prometheus}]", "needs a 'queries' block"),
        ("[1, 2", "not valid YAML"),
        ("- a list", "mapping"),
    ],
)
def test_bad_config_is_named(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "test.yaml")
    assert needle in str(info.value)


def test_cli_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "ops.yaml"
    bad.write_text("sla:\n  target: 120\n")
    result = run_cli("--config", str(bad), "config", "check")
    assert result.returncode == 2
    assert "sla.target" in result.stderr and "Traceback" not in result.stderr
    missing = run_cli("--config", str(tmp_path / "nope.yaml"), "config", "check")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_cli_config_check_passes_on_example() -> None:
    result = run_cli("--config", str(ROOT / "config" / "ops_config.yaml"), "config", "check")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_every_command_has_help() -> None:
    for command in ["cycle", "train", "report", "full-cycle", "run", "demo", "config check"]:
        result = run_cli(*command.split(), "--help")
        assert result.returncode == 0 and "Usage" in result.stdout, command


def test_demo_refuses_a_foreign_non_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    result = run_cli("demo", "--workspace", str(target), "--days", "1")
    assert result.returncode == 2
    assert "not a previous ai-ops demo" in result.stderr and "Traceback" not in result.stderr
    assert (target / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in target.iterdir()) == ["precious.txt"]


def test_demo_refuses_an_unwritable_workspace(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("demo", "--workspace", str(blocker / "sub"), "--days", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "workspace" in result.stderr
