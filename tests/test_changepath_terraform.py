"""Terraform: read the user's variables with python-hcl2, refuse bad writes, and run a real binary."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ai_ops.actuators.terraform import (
    check_terraform,
    read_declared_variables,
    render_tfvars,
    validation_bounds,
    write_tfvars,
)
from ai_ops.config import OpsConfig
from ai_ops.errors import ActuatorError

ROOT = Path(__file__).resolve().parents[1]
VALUES = {"alert_cpu_utilization": 90.0, "alert_error_rate": 1.0, "alert_latency_p95_ms": 500.0,
          "autoscaling_cpu_target": 75.0}


def tf_dir(config: OpsConfig) -> Path:
    return config.path(config.outputs.terraform_dir)


def test_reads_types_and_bounds_from_the_example_variables() -> None:
    declared = read_declared_variables(ROOT / "terraform")
    cpu = declared["autoscaling_cpu_target"]
    assert cpu.type == "number" and (cpu.lower, cpu.upper) == (30, 90) and cpu.file == "variables.tf"
    assert declared["service_name"].type == "string"


@pytest.mark.parametrize(("condition", "expected"), [
    ("var.x >= 1 && var.x <= 5", (1, 5, True, True)),
    ("var.x > 0 && 10 > var.x", (0, 10, False, False)),
    ("var.x >= 2 && var.x > 2", (2, float("inf"), False, True)),
    ("var.x < 1 || var.x > 5", (float("-inf"), float("inf"), True, True)),
    ("contains([1, 2], var.x)", (float("-inf"), float("inf"), True, True)),
])
def test_validation_bounds(condition: str, expected: tuple[float, float, bool, bool]) -> None:
    assert validation_bounds("x", [condition]) == expected


def test_write_is_atomic_deterministic_and_only_on_change(sim_config: OpsConfig) -> None:
    assert write_tfvars(sim_config, VALUES)
    text = sim_config.tfvars_path.read_text()
    assert text == render_tfvars(VALUES) and text.endswith("}\n") and '"alert_error_rate": 1,' in text
    assert list(json.loads(text)) == sorted(VALUES)
    stamp = sim_config.tfvars_path.stat().st_mtime_ns
    assert not write_tfvars(sim_config, dict(reversed(list(VALUES.items()))))
    assert sim_config.tfvars_path.stat().st_mtime_ns == stamp
    assert [p.name for p in tf_dir(sim_config).iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_refuses_an_undeclared_variable_and_writes_nothing(sim_config: OpsConfig) -> None:
    variables = tf_dir(sim_config) / "variables.tf"
    text = variables.read_text()
    start = text.index('variable "alert_error_rate"')
    variables.write_text(text[:start] + text[text.index('variable "alert_latency_p95_ms"'):])
    with pytest.raises(ActuatorError, match=r'alert_error_rate: no `variable "alert_error_rate"` is declared'):
        write_tfvars(sim_config, VALUES)
    assert not sim_config.tfvars_path.exists()
    assert variables.read_text() != text  # our edit stands: the user's file is never rewritten


def test_refuses_an_incompatible_type(sim_config: OpsConfig) -> None:
    variables = tf_dir(sim_config) / "variables.tf"
    variables.write_text(variables.read_text().replace(
        'variable "alert_error_rate" {\n  type        = number', 'variable "alert_error_rate" {\n  type        = string'))
    with pytest.raises(ActuatorError, match=r"alert_error_rate: declared in variables\.tf with type `string`"):
        check_terraform(sim_config, VALUES)


def test_refuses_a_value_outside_the_validation_bounds(sim_config: OpsConfig) -> None:
    variables = tf_dir(sim_config) / "variables.tf"
    variables.write_text(variables.read_text().replace("var.autoscaling_cpu_target <= 90",
                                                       "var.autoscaling_cpu_target < 70"))
    with pytest.raises(ActuatorError) as info:
        write_tfvars(sim_config, VALUES)
    assert "autoscaling_cpu_target = 75 is outside the validation bounds [30, 70)" in str(info.value)
    assert not sim_config.tfvars_path.exists()


def test_refuses_a_variable_also_set_by_a_human_tfvars(sim_config: OpsConfig) -> None:
    (tf_dir(sim_config) / "terraform.tfvars").write_text('autoscaling_cpu_target = 60\nregion = "eu"\n')
    (tf_dir(sim_config) / "team.auto.tfvars.json").write_text('{"alert_error_rate": 2}\n')
    with pytest.raises(ActuatorError) as info:
        write_tfvars(sim_config, VALUES)
    message = str(info.value)
    assert "autoscaling_cpu_target is also set in terraform.tfvars" in message
    assert "alert_error_rate is also set in team.auto.tfvars.json" in message


def test_invalid_hcl_is_named(sim_config: OpsConfig) -> None:
    (tf_dir(sim_config) / "broken.tf").write_text('variable "x" {\n  type = \n')
    with pytest.raises(ActuatorError, match=r"broken\.tf is not valid HCL"):
        check_terraform(sim_config, VALUES)


def test_refuses_values_outside_the_config_bounds(sim_config: OpsConfig) -> None:
    with pytest.raises(ActuatorError, match="outside its bounds"):
        write_tfvars(sim_config, {**VALUES, "autoscaling_cpu_target": 95.0})
    with pytest.raises(ActuatorError, match="not a threshold"):
        write_tfvars(sim_config, {**VALUES, "unknown": 1.0})


# ---------------------------------------------------------------- a real Terraform binary (optional)

TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="no terraform binary (.ci/run installs one from PyPI)")


def terraform(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "HOME": str(folder)}
    return subprocess.run([TERRAFORM or "terraform", *args, "-no-color"], cwd=folder, capture_output=True,
                          text=True, timeout=120, env=env, check=False)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    folder = tmp_path / "terraform"
    shutil.copytree(ROOT / "terraform", folder, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    assert terraform(folder, "init", "-backend=false", "-input=false").returncode == 0
    return folder


@needs_terraform
def test_example_module_is_formatted_and_valid(module: Path) -> None:
    fmt = terraform(module, "fmt", "-check", "-diff")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    validate = terraform(module, "validate")
    assert validate.returncode == 0, validate.stderr


@needs_terraform
def test_plan_accepts_the_controllers_values_and_enforces_validation(module: Path) -> None:
    ok = terraform(module, "plan", "-input=false", "-lock=false")
    assert ok.returncode == 0, ok.stderr
    assert "averageUtilization" in ok.stdout and "80" in ok.stdout
    (module / "ai_ops.auto.tfvars.json").write_text(render_tfvars({**VALUES, "autoscaling_cpu_target": 95.0}))
    bad = terraform(module, "plan", "-input=false", "-lock=false")
    assert bad.returncode != 0 and "autoscaling_cpu_target must be between 30 and 90" in bad.stderr.replace("\n", " ")
