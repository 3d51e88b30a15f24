"""Terraform variables: the controller owns one `*.auto.tfvars.json` file and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from ai_ops.config import OpsConfig, ThresholdConfig
from ai_ops.errors import ActuatorError
from ai_ops.state import atomic_write_text, dumps


def render_variables_tf(thresholds: dict[str, ThresholdConfig]) -> str:
    """`variables.tf` declaring every tunable threshold with its bounds as a validation block."""
    blocks = []
    for name, spec in sorted(thresholds.items()):
        unit = f" ({spec.unit})" if spec.unit else ""
        blocks.append(
            f'variable "{name}" {{\n'
            f'  type        = number\n'
            f'  description = "Tuned by ai-ops{unit}. Bounds {spec.min:g}..{spec.max:g}, max step {spec.max_step:g}."\n'
            f"  default     = {spec.initial:g}\n\n"
            f"  validation {{\n"
            f"    condition     = var.{name} >= {spec.min:g} && var.{name} <= {spec.max:g}\n"
            f'    error_message = "{name} must be between {spec.min:g} and {spec.max:g}."\n'
            f"  }}\n"
            f"}}\n"
        )
    header = "# Thresholds tuned by ai-ops. The controller writes their values to ai_ops.auto.tfvars.json.\n\n"
    return header + "\n".join(blocks)


def read_tfvars(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ActuatorError(f"{path} is not valid JSON ({exc}); restore it from Git") from None
    if not isinstance(data, dict):
        raise ActuatorError(f"{path} must hold a JSON object of variable values")
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))}


def current_thresholds(config: OpsConfig) -> dict[str, float]:
    """What is deployed: the tfvars values, falling back to each threshold's initial value."""
    written = read_tfvars(config.tfvars_path)
    return {name: written.get(name, spec.initial) for name, spec in config.thresholds.items()}


def write_tfvars(config: OpsConfig, values: dict[str, float]) -> bool:
    """Write the controller's file if (and only if) a value changed. Returns whether it wrote."""
    for name, value in values.items():
        spec = config.thresholds.get(name)
        if spec is None:
            raise ActuatorError(f"refusing to write {name}: it is not a threshold in the config")
        if not spec.min <= value <= spec.max:
            raise ActuatorError(f"refusing to write {name} = {value}: outside its bounds [{spec.min}, {spec.max}]")
    path = config.tfvars_path
    text = dumps({k: (int(v) if float(v).is_integer() else v) for k, v in sorted(values.items())})
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(path, text)
    return True
