"""Terraform variables: the controller owns one `*.auto.tfvars.json` file and nothing else.

Before it writes, it reads the user's Terraform (python-hcl2, read-only: hand-written HCL is
never rewritten) and refuses when a threshold has no declared variable, a declared type that
cannot hold a number, a value outside the variable's `validation` bounds, or is also set by a
human-written tfvars file (Terraform would silently let ours override it).
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

from ai_ops.config import OpsConfig, ThresholdConfig
from ai_ops.errors import ActuatorError
from ai_ops.state import atomic_write_text, dumps, last_good_version

log = logging.getLogger(__name__)

NUMERIC_TYPES = {"number", "any", None}
"""Declared types that accept a number; no `type` at all means `any`."""

_NUMBER = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


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
            f'    error_message = "The value of {name} must be between {spec.min:g} and {spec.max:g}."\n'
            f"  }}\n"
            f"}}\n"
        )
    header = "# Thresholds tuned by ai-ops. The controller writes their values to ai_ops.auto.tfvars.json.\n\n"
    return header + "\n".join(blocks)


# ---------------------------------------------------------------- reading the user's Terraform


@dataclass(frozen=True)
class DeclaredVariable:
    """One `variable` block as declared in the user's Terraform, reduced to what the checks need."""

    name: str
    file: str
    type: str | None
    lower: float
    upper: float
    lower_inclusive: bool = True
    upper_inclusive: bool = True

    def admits(self, value: float) -> bool:
        above = value >= self.lower if self.lower_inclusive else value > self.lower
        below = value <= self.upper if self.upper_inclusive else value < self.upper
        return above and below

    def bounds_text(self) -> str:
        low = "[" if self.lower_inclusive else "("
        high = "]" if self.upper_inclusive else ")"
        return f"{low}{self.lower:g}, {self.upper:g}{high}"


def _strip_interpolation(text: Any) -> str | None:
    if text is None:
        return None
    value = str(text).strip()
    if value.startswith("${") and value.endswith("}"):
        value = value[2:-1].strip()
    return value


def validation_bounds(name: str, conditions: list[str]) -> tuple[float, float, bool, bool]:
    """The numeric interval the `validation` conditions allow, from comparisons with literals.

    Only `var.x >= 1`, `var.x < 2`, `1 <= var.x` ... joined by `&&` are understood; anything
    else (functions, `||`) is not a bound the controller can check, so it adds none and
    `terraform plan` stays the final judge.
    """
    lower, upper, lower_inc, upper_inc = -math.inf, math.inf, True, True
    var = rf"var\.{re.escape(name)}\b"
    for condition in conditions:
        if "||" in condition:
            continue
        for raw in condition.split("&&"):
            part = raw.strip().strip("()").strip()
            match = re.fullmatch(rf"{var}\s*(>=|>|<=|<)\s*{_NUMBER}", part)
            if match:
                op, number = match.group(1), float(match.group(2))
            else:
                match = re.fullmatch(rf"{_NUMBER}\s*(>=|>|<=|<)\s*{var}", part)
                if not match:
                    continue
                number, op = float(match.group(1)), {">=": "<=", ">": "<", "<=": ">=", "<": ">"}[match.group(2)]
            if op in (">=", ">"):
                if number > lower:
                    lower, lower_inc = number, op == ">="
                elif number == lower:
                    lower_inc = lower_inc and op == ">="
            elif number < upper:
                upper, upper_inc = number, op == "<="
            elif number == upper:
                upper_inc = upper_inc and op == "<="
    return lower, upper, lower_inc, upper_inc


def _load_hcl(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        return hcl2.loads(text, serialization_options=hcl2.SerializationOptions(
            with_comments=False, strip_string_quotes=True))
    except OSError as exc:
        raise ActuatorError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - python-hcl2 raises lark and transformer errors of no common base
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ActuatorError(f"{path} is not valid HCL ({first}); fix it (`terraform fmt` shows where)") from None


def read_declared_variables(terraform_dir: Path) -> dict[str, DeclaredVariable]:
    """Every `variable` block in the `*.tf` files of `terraform_dir` (a Terraform module is a folder)."""
    declared: dict[str, DeclaredVariable] = {}
    for path in sorted(terraform_dir.glob("*.tf")):
        for block in _load_hcl(path).get("variable", []):
            for name, declared_body in block.items():
                body = declared_body if isinstance(declared_body, dict) else {}
                conditions = [c for v in body.get("validation", []) if isinstance(v, dict)
                              for c in [_strip_interpolation(v.get("condition"))] if c]
                lower, upper, lower_inc, upper_inc = validation_bounds(name, conditions)
                declared[name] = DeclaredVariable(name, path.name, _strip_interpolation(body.get("type")),
                                                  lower, upper, lower_inc, upper_inc)
    return declared


def human_tfvars_files(terraform_dir: Path, owned: str) -> list[Path]:
    """The variable files Terraform loads automatically, except the controller's own."""
    names = {"terraform.tfvars", "terraform.tfvars.json"}
    found = [p for p in terraform_dir.iterdir() if p.is_file() and p.name != owned
             and (p.name in names or p.name.endswith(".auto.tfvars") or p.name.endswith(".auto.tfvars.json"))]
    return sorted(found)


def _tfvars_keys(path: Path) -> set[str]:
    if path.name.endswith(".json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ActuatorError(f"{path} is not valid JSON ({exc}); fix it before ai-ops writes") from None
        return set(data) if isinstance(data, dict) else set()
    return set(_load_hcl(path))


def check_terraform(config: OpsConfig, values: dict[str, float]) -> None:
    """Refuse (ActuatorError naming every problem) unless Terraform would accept exactly these values."""
    terraform_dir = config.path(config.outputs.terraform_dir)
    if not terraform_dir.is_dir():
        raise ActuatorError(f"Terraform folder {terraform_dir} does not exist; set outputs.terraform_dir "
                            "to the folder holding your variables.tf")
    declared = read_declared_variables(terraform_dir)
    problems: list[str] = []
    for name, value in sorted(values.items()):
        variable = declared.get(name)
        if variable is None:
            problems.append(f"{name}: no `variable \"{name}\"` is declared in {terraform_dir}/*.tf; "
                            f"declare it (type = number, see terraform/variables.tf) or remove the threshold")
        elif variable.type not in NUMERIC_TYPES:
            problems.append(f"{name}: declared in {variable.file} with type `{variable.type}`, "
                            f"which cannot hold the number {value:g}; use `type = number`")
        elif not variable.admits(value):
            problems.append(f"{name} = {value:g} is outside the validation bounds {variable.bounds_text()} in "
                            f"{variable.file}; narrow thresholds.{name}.min/max in the config to fit them")
    for path in human_tfvars_files(terraform_dir, config.outputs.tfvars_file):
        for name in sorted(_tfvars_keys(path) & set(values)):
            problems.append(f"{name} is also set in {path.name}; Terraform would let "
                            f"{config.outputs.tfvars_file} override it silently. Remove it from {path.name} "
                            f"(ai-ops owns it) or remove the threshold from the config")
    if problems:
        raise ActuatorError("refusing to write Terraform variables:\n  - " + "\n  - ".join(problems))


# ---------------------------------------------------------------- the controller's own file


def read_tfvars(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ActuatorError(f"{path} is not valid JSON ({exc}); restore it from Git") from None
    if not isinstance(data, dict):
        raise ActuatorError(f"{path} must hold a JSON object of variable values")
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _raw_tfvars(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # permissive: NaN/Infinity are read to be reported
    except (OSError, ValueError) as exc:
        raise ActuatorError(f"{path} is not valid JSON ({exc}); restore it from Git") from None


def _leaf_problems(name: str, value: Any, spec: ThresholdConfig) -> list[str]:
    """Every value of one variable (a number, or a map of numbers keyed e.g. by service) checked alone."""
    if isinstance(value, dict):
        return [p for key, leaf in value.items() for p in _leaf_problems(f"{name}[{key!r}]", leaf, spec)]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return [f"{name} = {json.dumps(value)[:40]} is not a number"]
    if not math.isfinite(value) or not spec.min <= value <= spec.max:
        return [f"{name} = {value!r} is outside its bounds [{spec.min:g}, {spec.max:g}]"]
    return []


def tampering(config: OpsConfig, data: Any) -> list[str]:
    """Why the current tfvars cannot be believed (empty when they can)."""
    if not isinstance(data, dict):
        return [f"{config.outputs.tfvars_file} must hold a JSON object of variable values"]
    return [p for name, spec in sorted(config.thresholds.items()) if name in data
            for p in _leaf_problems(name, data[name], spec)]


def current_thresholds(config: OpsConfig) -> dict[str, float]:
    """What is deployed: the tfvars values, falling back to each threshold's initial value.

    A value that is not finite or lies outside its configured bounds was not written by ai-ops:
    it is treated as tampering. No change is ever proposed from it: the run stops (exit 4) naming
    the variable and its bounds, or, with `outputs.on_tampered_tfvars: restore`, the newest
    committed version of the file whose values are all good is restored (logged) and used.
    """
    path = config.tfvars_path
    if not path.exists():
        return {name: spec.initial for name, spec in config.thresholds.items()}
    problems = tampering(config, _raw_tfvars(path))
    if problems:
        restored = None
        if config.outputs.on_tampered_tfvars == "restore":
            restored = last_good_version(path, lambda d: _raise_if(tampering(config, d)))
        if restored is None:
            how = ("no committed version of it is good either" if config.outputs.on_tampered_tfvars == "restore"
                   else "set outputs.on_tampered_tfvars: restore to restore the last committed good file")
            raise ActuatorError(f"{path} looks tampered with, so no threshold is changed from it:\n  - "
                                + "\n  - ".join(problems) + f"\nRestore it from Git (`git checkout -- {path.name}`)"
                                f" or write values inside the bounds; or {how}")
        sha, text, _ = restored
        atomic_write_text(path, text)
        log.warning("%s looked tampered with (%s): restored the version of commit %s", path, "; ".join(problems),
                    sha[:10])
    written = read_tfvars(path)
    return {name: written.get(name, spec.initial) for name, spec in config.thresholds.items()}


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise ValueError("; ".join(problems))


def render_tfvars(values: dict[str, float]) -> str:
    """Deterministic bytes: sorted keys, integers without `.0`, trailing newline."""
    return dumps({k: (int(v) if float(v).is_integer() else v) for k, v in sorted(values.items())})


def write_tfvars(config: OpsConfig, values: dict[str, float]) -> bool:
    """Write the controller's file if (and only if) a value changed. Returns whether it wrote."""
    for name, value in values.items():
        spec = config.thresholds.get(name)
        if spec is None:
            raise ActuatorError(f"refusing to write {name}: it is not a threshold in the config")
        if not math.isfinite(value) or not spec.min <= value <= spec.max:
            raise ActuatorError(f"refusing to write {name} = {value}: outside its bounds [{spec.min}, {spec.max}]")
    path = config.tfvars_path
    text = render_tfvars(values)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    check_terraform(config, values)
    atomic_write_text(path, text)
    return True
