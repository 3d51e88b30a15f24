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
ONE = {"alert_cpu_utilization": 90.0, "alert_error_rate": 1.0, "alert_latency_p95_ms": 500.0,
       "autoscaling_cpu_target": 75.0}
SERVICES = ("checkout", "search", "recommendations")
"""The embedded default's fleet (sim_config)."""
VALUES = {s: dict(ONE) for s in SERVICES}


def with_value(service: str, name: str, value: float) -> dict[str, dict[str, float]]:
    return {s: {**v, name: value} if s == service else dict(v) for s, v in VALUES.items()}


def tf_dir(config: OpsConfig) -> Path:
    return config.path(config.outputs.terraform_dir)


def test_reads_types_and_bounds_from_the_example_variables() -> None:
    declared = read_declared_variables(ROOT / "terraform")
    cpu = declared["autoscaling_cpu_target"]
    assert cpu.type == "map(number)" and (cpu.lower, cpu.upper) == (30, 90) and cpu.file == "variables.tf"
    assert declared["namespace"].type == "string"


@pytest.mark.parametrize(("condition", "expected"), [
    ("var.x >= 1 && var.x <= 5", (1, 5, True, True)),
    ("var.x > 0 && 10 > var.x", (0, 10, False, False)),
    ("var.x >= 2 && var.x > 2", (2, float("inf"), False, True)),
    ("var.x < 1 || var.x > 5", (float("-inf"), float("inf"), True, True)),
    ("contains([1, 2], var.x)", (float("-inf"), float("inf"), True, True)),
    ("alltrue([for v in values(var.x) : v >= 30 && v <= 90])", (30, 90, True, True)),
    ("alltrue([for k, value in var.x : value > 0 && 10 > value])", (0, 10, False, False)),
    ("alltrue([for v in values(var.y) : v >= 30])", (float("-inf"), float("inf"), True, True)),
])
def test_validation_bounds(condition: str, expected: tuple[float, float, bool, bool]) -> None:
    assert validation_bounds("x", [condition]) == expected


def test_write_is_atomic_deterministic_and_only_on_change(sim_config: OpsConfig) -> None:
    assert write_tfvars(sim_config, VALUES)
    text = sim_config.tfvars_path.read_text()
    assert text == render_tfvars(VALUES) and text.endswith("}\n") and '"checkout": 1,' in text
    # One map per threshold, keyed by service: what a `map(number)` variable takes.
    data = json.loads(text)
    assert list(data) == sorted(ONE) and all(list(m) == sorted(SERVICES) for m in data.values())
    assert data["autoscaling_cpu_target"] == dict.fromkeys(SERVICES, 75)
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
        'variable "alert_error_rate" {\n  type        = map(number)',
        'variable "alert_error_rate" {\n  type        = number'))
    with pytest.raises(ActuatorError, match=r"alert_error_rate: declared in variables.tf with type `number`, but "
                                            r"ai-ops writes one value per service .* use `type = map\(number\)`"):
        check_terraform(sim_config, VALUES)


def test_refuses_a_value_outside_the_validation_bounds(sim_config: OpsConfig) -> None:
    variables = tf_dir(sim_config) / "variables.tf"
    variables.write_text(variables.read_text().replace("values(var.autoscaling_cpu_target) : v >= 30 && v <= 90",
                                                       "values(var.autoscaling_cpu_target) : v >= 30 && v < 70"))
    with pytest.raises(ActuatorError) as info:
        write_tfvars(sim_config, with_value("search", "autoscaling_cpu_target", 65.0))
    message = str(info.value)
    assert 'autoscaling_cpu_target["checkout"] = 75 is outside the validation bounds [30, 70)' in message
    assert '"search"' not in message  # 65 fits: only the offending keys are named
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
        write_tfvars(sim_config, with_value("search", "autoscaling_cpu_target", 95.0))
    with pytest.raises(ActuatorError, match="not a threshold"):
        write_tfvars(sim_config, with_value("search", "unknown", 1.0))
    with pytest.raises(ActuatorError, match="not a service in the config"):
        write_tfvars(sim_config, {**VALUES, "billing": dict(ONE)})
    assert not sim_config.tfvars_path.exists()


def test_per_service_bounds_are_checked_by_the_controller(tmp_path: Path) -> None:
    """Terraform checks the widest bounds; the controller checks each service's own."""
    from ai_ops.actuators.terraform import render_variables_tf
    from ai_ops.config import load_config, parse_config
    from ai_ops.jobs.workspace import prepare_workspace

    base = load_config(None).model_dump(mode="json")
    base["services"][2]["thresholds"] = {"autoscaling_cpu_target": {"min": 40, "max": 70}}
    config = parse_config(json.dumps(base)).with_workspace(tmp_path / "ws")
    prepare_workspace(config, fresh=True)
    assert config.thresholds_for("recommendations")["autoscaling_cpu_target"].max == 70
    assert config.thresholds_for("search")["autoscaling_cpu_target"].max == 90
    assert "v >= 30 && v <= 90" in render_variables_tf(config)  # the widest: documented choice
    with pytest.raises(ActuatorError, match=r"autoscaling_cpu_target\['recommendations'\] = 75.0: outside its bounds"):
        write_tfvars(config, VALUES)
    assert write_tfvars(config, with_value("recommendations", "autoscaling_cpu_target", 70.0))


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
    # The controller's map, one key per service: each service's HPA gets its own target.
    (module / "ai_ops.auto.tfvars.json").write_text(render_tfvars(with_value("search", "autoscaling_cpu_target", 62.0)))
    ok = terraform(module, "plan", "-input=false", "-lock=false")
    assert ok.returncode == 0, ok.stderr
    assert "averageUtilization = 62" in ok.stdout and "averageUtilization = 75" in ok.stdout
    # One out-of-bounds value in the map is enough for plan to refuse.
    (module / "ai_ops.auto.tfvars.json").write_text(render_tfvars(with_value("search", "autoscaling_cpu_target", 95.0)))
    bad = terraform(module, "plan", "-input=false", "-lock=false")
    assert bad.returncode != 0
    assert "Every value of autoscaling_cpu_target must be between 30 and 90" in bad.stderr.replace("\n", " ")


@needs_terraform
def test_a_single_service_config_is_a_map_with_one_key(tmp_path: Path) -> None:
    from ai_ops.actuators.terraform import render_variables_tf
    from ai_ops.config import parse_config

    config = parse_config("services: [{name: api}]").with_workspace(tmp_path)
    folder = tmp_path / "terraform"
    shutil.copytree(ROOT / "terraform", folder, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    (folder / "variables.tf").write_text(render_variables_tf(config))
    (folder / "ai_ops.auto.tfvars.json").write_text(render_tfvars({"api": dict(ONE)}))
    assert terraform(folder, "init", "-backend=false", "-input=false").returncode == 0
    assert terraform(folder, "fmt", "-check").returncode == 0
    plan = terraform(folder, "plan", "-input=false", "-lock=false")
    assert plan.returncode == 0, plan.stderr
    assert '"api"' in plan.stdout and "averageUtilization = 75" in plan.stdout


def test_an_edit_between_two_writes_is_seen_although_parses_are_reused(sim_config: OpsConfig) -> None:
    """variables.tf is parsed once per distinct text: a second check of the same file reuses the parse,
    an edit in between is read afresh (and the cached parse cannot be changed through a result)."""
    check_terraform(sim_config, VALUES)
    declared = read_declared_variables(tf_dir(sim_config))
    declared.clear()  # the caller's copy, not the cache
    assert "autoscaling_cpu_target" in read_declared_variables(tf_dir(sim_config))
    variables = tf_dir(sim_config) / "variables.tf"
    variables.write_text(variables.read_text().replace("values(var.autoscaling_cpu_target) : v >= 30 && v <= 90",
                                                       "values(var.autoscaling_cpu_target) : v >= 30 && v < 70"))
    with pytest.raises(ActuatorError, match=r'autoscaling_cpu_target\["checkout"\] = 75 is outside'):
        check_terraform(sim_config, VALUES)
