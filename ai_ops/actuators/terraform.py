"""Terraform variables: the controller owns one `*.auto.tfvars.json` file and nothing else.

Each threshold is one `map(number)` variable keyed by service name (a single-service config is a
map with one key), so a module reads `var.autoscaling_cpu_target["checkout"]`.

Before it writes, it reads the user's Terraform (python-hcl2, read-only: hand-written HCL is
never rewritten) and refuses when a threshold has no declared variable, a declared type that
cannot hold a number, a value outside the variable's `validation` bounds, or is also set by a
human-written tfvars file (Terraform would silently let ours override it).
"""

from __future__ import annotations

import copy
import functools
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

SCHEDULE_VARIABLE = "autoscaling_min_replicas_schedule"
"""The schedule of minimum replicas (learner.predictive): per service, a list of UTC hour blocks."""
SCHEDULE_TYPE = "map(list(object({start_hour = number, end_hour = number, min_replicas = number})))"

MAP_TYPES = {"map(number)", "map(any)", "any", None}
"""Declared types that accept a map of numbers keyed by service; no `type` at all means `any`."""

_NUMBER = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


def widest_bounds(config: OpsConfig, name: str) -> tuple[float, float]:
    """The widest [min, max] of a threshold over every service: what the Terraform validation checks.

    One `validation` block covers every key of the map, so per-service bounds cannot be told apart
    there; the controller checks each service's own (narrower) bounds before it writes.
    """
    specs = [config.thresholds_for(s)[name] for s in config.service_names] or [config.thresholds[name]]
    return min(s.min for s in specs), max(s.max for s in specs)


def _hcl_key(service: str) -> str:
    return json.dumps(service)


def render_variables_tf(config: OpsConfig) -> str:
    """`variables.tf` declaring every tunable threshold as a `map(number)` keyed by service, with
    one validation block checking every value against the widest bounds of the services."""
    blocks = []
    services = config.service_names
    width = max((len(_hcl_key(s)) for s in services), default=0)
    for name, spec in sorted(config.thresholds.items()):
        unit = f" ({spec.unit})" if spec.unit else ""
        low, high = widest_bounds(config, name)
        defaults = "".join(f"    {_hcl_key(s).ljust(width)} = {config.thresholds_for(s)[name].initial:g}\n"
                           for s in services)  # none when every service is discovered (not learned)
        blocks.append(
            f'variable "{name}" {{\n'
            f'  type        = map(number)\n'
            f'  description = "Tuned by ai-ops{unit}, one value per service. Bounds {low:g}..{high:g}, '
            f'max step {spec.max_step:g}."\n'
            f"  default = {{\n{defaults}  }}\n\n"
            f"  validation {{\n"
            f"    condition     = alltrue([for v in values(var.{name}) : v >= {low:g} && v <= {high:g}])\n"
            f'    error_message = "Every value of {name} must be between {low:g} and {high:g}."\n'
            f"  }}\n"
            f"}}\n"
        )
    if config.learner.predictive.enabled:
        blocks.append(render_schedule_variable(config))
    header = ("# Thresholds tuned by ai-ops, one value per service (a map keyed by service name).\n"
              "# The controller writes their values to ai_ops.auto.tfvars.json.\n\n")
    return header + "\n".join(blocks)


def render_schedule_variable(config: OpsConfig) -> str:
    """The `autoscaling_min_replicas_schedule` declaration with the validation the controller also checks."""
    spec = config.learner.predictive
    return (
        f'variable "{SCHEDULE_VARIABLE}" {{\n'
        f"  type = map(list(object({{\n"
        f"    start_hour   = number\n"
        f"    end_hour     = number\n"
        f"    min_replicas = number\n"
        f"  }})))\n"
        f'  description = "Written by ai-ops (learner.predictive): per service, UTC hour blocks [start_hour, end_hour) '
        f'and the minimum replicas to hold in each."\n'
        f"  default     = {{}}\n\n"
        f"  validation {{\n"
        f"    condition = alltrue(flatten([\n"
        f"      for blocks in values(var.{SCHEDULE_VARIABLE}) : [\n"
        f"        for b in blocks : b.start_hour >= 0 && b.start_hour < b.end_hour && b.end_hour <= 24 && "
        f"b.min_replicas >= {spec.min_replicas} && b.min_replicas <= {spec.max_replicas} && "
        f"floor(b.min_replicas) == b.min_replicas\n"
        f"      ]\n"
        f"    ]))\n"
        f'    error_message = "Every block needs 0 <= start_hour < end_hour <= 24 and a whole min_replicas in '
        f'{spec.min_replicas}..{spec.max_replicas}."\n'
        f"  }}\n"
        f"}}\n"
    )


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


def _map_condition(name: str, condition: str) -> tuple[str, str] | None:
    """`alltrue([for v in values(var.x) : <cond>])` or `alltrue([for k, v in var.x : <cond>])` ->
    (the loop variable, <cond>); None for any other form."""
    match = re.fullmatch(
        rf"alltrue\(\s*\[\s*for\s+(?:\w+\s*,\s*)?(\w+)\s+in\s+(?:values\(\s*var\.{re.escape(name)}\s*\)"
        rf"|var\.{re.escape(name)})\s*:\s*(.*)\]\s*\)", condition.strip(), re.S)
    return (match.group(1), match.group(2)) if match else None


def validation_bounds(name: str, conditions: list[str]) -> tuple[float, float, bool, bool]:
    """The numeric interval the `validation` conditions allow, from comparisons with literals.

    Only `var.x >= 1`, `var.x < 2`, `1 <= var.x` ... joined by `&&` are understood, directly or
    inside `alltrue([for v in values(var.x) : ...])` (a map variable: every value); anything else
    (other functions, `||`) is not a bound the controller can check, so it adds none and
    `terraform plan` stays the final judge.
    """
    lower, upper, lower_inc, upper_inc = -math.inf, math.inf, True, True
    for written in conditions:
        var, condition = rf"var\.{re.escape(name)}\b", written
        loop = _map_condition(name, written)
        if loop is not None:
            var, condition = rf"\b{re.escape(loop[0])}\b", loop[1]
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


@functools.lru_cache(maxsize=64)
def _parse_hcl(text: str) -> dict[str, Any]:
    """Parsed once per distinct text: every cycle checks the same variables.tf before it writes, and
    python-hcl2's parser took a tenth of a replay re-reading it."""
    parsed: dict[str, Any] = hcl2.loads(text, serialization_options=hcl2.SerializationOptions(
        with_comments=False, strip_string_quotes=True))
    return parsed


def _load_hcl(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        return copy.deepcopy(_parse_hcl(text))  # a copy: callers may not change the cached parse
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


def by_threshold(values: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """{service: {threshold: value}} -> {threshold: {service: value}} (the tfvars layout)."""
    out: dict[str, dict[str, float]] = {}
    for service, thresholds in values.items():
        for name, value in thresholds.items():
            out.setdefault(name, {})[service] = value
    return out


def check_terraform(config: OpsConfig, values: dict[str, dict[str, float]]) -> None:
    """Refuse (ActuatorError naming every problem) unless Terraform would accept exactly these values.

    `values` is {service: {threshold: value}}; each threshold is one `map(number)` variable.
    """
    terraform_dir = config.path(config.outputs.terraform_dir)
    if not terraform_dir.is_dir():
        raise ActuatorError(f"Terraform folder {terraform_dir} does not exist; set outputs.terraform_dir "
                            "to the folder holding your variables.tf")
    declared = read_declared_variables(terraform_dir)
    problems: list[str] = []
    maps = by_threshold(values)
    for name, per_service in sorted(maps.items()):
        variable = declared.get(name)
        if variable is None:
            problems.append(f"{name}: no `variable \"{name}\"` is declared in {terraform_dir}/*.tf; "
                            f"declare it (type = map(number), see terraform/variables.tf) or remove the threshold")
        elif variable.type not in MAP_TYPES:
            problems.append(f"{name}: declared in {variable.file} with type `{variable.type}`, but ai-ops writes "
                            f"one value per service (a map like {{\"{next(iter(per_service))}\" = "
                            f"{next(iter(per_service.values())):g}}}); use `type = map(number)` and read it as "
                            f"var.{name}[\"<service>\"] (docs/terraform.md)")
        else:
            for service, value in sorted(per_service.items()):
                if not variable.admits(value):
                    problems.append(f"{name}[\"{service}\"] = {value:g} is outside the validation bounds "
                                    f"{variable.bounds_text()} in {variable.file}; narrow thresholds.{name}.min/max "
                                    f"(or services[{service}].thresholds.{name}) in the config to fit them")
    for path in human_tfvars_files(terraform_dir, config.outputs.tfvars_file):
        for name in sorted(_tfvars_keys(path) & set(maps)):
            problems.append(f"{name} is also set in {path.name}; Terraform would let "
                            f"{config.outputs.tfvars_file} override it silently. Remove it from {path.name} "
                            f"(ai-ops owns it) or remove the threshold from the config")
    if problems:
        raise ActuatorError("refusing to write Terraform variables:\n  - " + "\n  - ".join(problems))


Schedule = dict[str, list[dict[str, int]]]
"""{service: [{"start_hour", "end_hour", "min_replicas"}, ...]}: the value of `autoscaling_min_replicas_schedule`."""


def schedule_problems(config: OpsConfig, schedule: Schedule) -> list[str]:
    """Why Terraform (or the config's bounds) would not accept this schedule; empty when it would."""
    spec = config.learner.predictive
    known = set(config.service_names)
    problems: list[str] = []
    for service, blocks in sorted(schedule.items()):
        label = f'{SCHEDULE_VARIABLE}["{service}"]'
        if service not in known:
            problems.append(f"{label}: {service!r} is not a service in the config")
            continue
        if not isinstance(blocks, list) or not blocks:
            problems.append(f"{label} must be a non-empty list of blocks")
            continue
        end = 0
        for i, block in enumerate(blocks):
            if not isinstance(block, dict) or set(block) != {"start_hour", "end_hour", "min_replicas"} or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in block.values()):
                problems.append(f"{label}[{i}] = {json.dumps(block)[:80]} must be "
                                "{start_hour, end_hour, min_replicas} with whole numbers")
                continue
            if not 0 <= block["start_hour"] < block["end_hour"] <= 24 or block["start_hour"] != end:
                problems.append(f"{label}[{i}]: hours {block['start_hour']}-{block['end_hour']} must follow the "
                                f"previous block (start {end}) with start < end <= 24")
            if not spec.min_replicas <= block["min_replicas"] <= spec.max_replicas:
                problems.append(f"{label}[{i}]: min_replicas {block['min_replicas']} is outside "
                                f"learner.predictive [{spec.min_replicas}, {spec.max_replicas}]")
            end = block["end_hour"]
        if end != 24 and not any(label in p for p in problems):
            problems.append(f"{label}: the blocks end at {end}:00; they must cover the day up to 24")
    return problems


def check_schedule_terraform(config: OpsConfig, declared: dict[str, DeclaredVariable], terraform_dir: Path) -> list[str]:
    """The schedule variable must be declared with a list-of-objects type and set by no human tfvars."""
    problems: list[str] = []
    variable = declared.get(SCHEDULE_VARIABLE)
    if variable is None:
        problems.append(f"{SCHEDULE_VARIABLE}: no `variable \"{SCHEDULE_VARIABLE}\"` is declared in "
                        f"{terraform_dir}/*.tf; declare it (type = {SCHEDULE_TYPE}, see docs/terraform.md) "
                        "or set learner.predictive.enabled: false")
    elif variable.type not in ("any", None) and "list(object(" not in variable.type.replace(" ", ""):
        problems.append(f"{SCHEDULE_VARIABLE}: declared in {variable.file} with type `{variable.type}`; "
                        f"ai-ops writes {SCHEDULE_TYPE} (docs/terraform.md)")
    for path in human_tfvars_files(terraform_dir, config.outputs.tfvars_file):
        if SCHEDULE_VARIABLE in _tfvars_keys(path):
            problems.append(f"{SCHEDULE_VARIABLE} is also set in {path.name}; Terraform would let "
                            f"{config.outputs.tfvars_file} override it silently. Remove it from {path.name}")
    return problems


# ---------------------------------------------------------------- the controller's own file


def read_schedule(config: OpsConfig) -> Schedule:
    """The schedule in the controller's file ({} when none); a malformed one is refused, naming what is wrong."""
    path = config.tfvars_path
    if not path.exists():
        return {}
    data = _raw_tfvars(path)
    value = data.get(SCHEDULE_VARIABLE) if isinstance(data, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ActuatorError(f"{path}: {SCHEDULE_VARIABLE} must be a map of service -> blocks; restore it from Git")
    known = {s: b for s, b in value.items() if s in config.service_names}  # a removed service's blocks are dropped
    problems = schedule_problems(config, known)
    if problems:
        raise ActuatorError(f"{path} holds a schedule ai-ops did not write, so none is changed from it:\n  - "
                            + "\n  - ".join(problems) + f"\nRestore it from Git (`git checkout -- {path.name}`)")
    return known


def read_tfvars(path: Path) -> dict[str, dict[str, float] | float]:
    """The controller's file: {threshold: {service: value}}. A bare number (the layout before
    per-service thresholds) is returned as is: it applies to every service until rewritten."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ActuatorError(f"{path} is not valid JSON ({exc}); restore it from Git") from None
    if not isinstance(data, dict):
        raise ActuatorError(f"{path} must hold a JSON object of variable values")
    out: dict[str, dict[str, float] | float] = {}
    for name, value in data.items():
        if _is_number(value):
            out[name] = float(value)
        elif isinstance(value, dict):
            out[name] = {s: float(v) for s, v in value.items() if _is_number(v)}
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _raw_tfvars(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # permissive: NaN/Infinity are read to be reported
    except (OSError, ValueError) as exc:
        raise ActuatorError(f"{path} is not valid JSON ({exc}); restore it from Git") from None


def _leaf_problems(label: str, value: Any, spec: ThresholdConfig) -> list[str]:
    if not _is_number(value):
        return [f"{label} = {json.dumps(value)[:40]} is not a number"]
    if not math.isfinite(value) or not spec.min <= value <= spec.max:
        return [f"{label} = {value!r} is outside its bounds [{spec.min:g}, {spec.max:g}]"]
    return []


def tampering(config: OpsConfig, data: Any) -> list[str]:
    """Why the current tfvars cannot be believed (empty when they can): every value checked against
    its own service's bounds (the widest ones for a service the config does not know, and for a
    bare number from before per-service thresholds)."""
    if not isinstance(data, dict):
        return [f"{config.outputs.tfvars_file} must hold a JSON object of variable values"]
    known = set(config.service_names)
    problems: list[str] = []
    for name, shared in sorted(config.thresholds.items()):
        if name not in data:
            continue
        value = data[name]
        low, high = widest_bounds(config, name)
        widest = shared.model_copy(update={"min": low, "max": high})
        if isinstance(value, dict):
            for service, leaf in value.items():
                spec = config.thresholds_for(service)[name] if service in known else widest
                problems += _leaf_problems(f"{name}[{service!r}]", leaf, spec)
        else:
            problems += _leaf_problems(name, value, widest)
    return problems


def current_thresholds(config: OpsConfig) -> dict[str, dict[str, float]]:
    """What is deployed, per service: the tfvars values, falling back to each threshold's initial value.

    A value that is not finite or lies outside its configured bounds was not written by ai-ops:
    it is treated as tampering. No change is ever proposed from it: the run stops (exit 4) naming
    the variable and its bounds, or, with `outputs.on_tampered_tfvars: restore`, the newest
    committed version of the file whose values are all good is restored (logged) and used.
    """
    path = config.tfvars_path
    if path.exists():
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
            log.warning("%s looked tampered with (%s): restored the version of commit %s", path,
                        "; ".join(problems), sha[:10])
    written = read_tfvars(path)
    out: dict[str, dict[str, float]] = {}
    for service in config.service_names:
        values = {}
        for name, spec in config.thresholds_for(service).items():
            value = written.get(name)
            if isinstance(value, dict):
                values[name] = value.get(service, spec.initial)
            else:
                values[name] = spec.initial if value is None else value
        out[service] = values
    return out


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise ValueError("; ".join(problems))


def render_tfvars(values: dict[str, dict[str, float]], schedule: Schedule | None = None) -> str:
    """Deterministic bytes: {threshold: {service: value}}, sorted keys, integers without `.0`; plus
    the schedule of minimum replicas when there is one."""
    data: dict[str, Any] = {name: {s: (int(v) if float(v).is_integer() else v) for s, v in sorted(per_service.items())}
                            for name, per_service in sorted(by_threshold(values).items())}
    if schedule:
        data[SCHEDULE_VARIABLE] = {s: schedule[s] for s in sorted(schedule)}
    return dumps(data)


def write_tfvars(config: OpsConfig, values: dict[str, dict[str, float]], schedule: Schedule | None = None) -> bool:
    """Write the controller's file if (and only if) a value changed. Returns whether it wrote.

    `values` is {service: {threshold: value}}; each value is checked against its service's bounds.
    `schedule` (learner.predictive) replaces the file's schedule; None keeps the one in the file.
    """
    known = set(config.service_names)
    for service, thresholds in values.items():
        if service not in known:
            raise ActuatorError(f"refusing to write thresholds of {service!r}: it is not a service in the config")
        specs = config.thresholds_for(service)
        for name, value in thresholds.items():
            spec = specs.get(name)
            if spec is None:
                raise ActuatorError(f"refusing to write {name}: it is not a threshold in the config")
            if not math.isfinite(value) or not spec.min <= value <= spec.max:
                raise ActuatorError(f"refusing to write {name}[{service!r}] = {value}: outside its bounds "
                                    f"[{spec.min}, {spec.max}] for that service")
    path = config.tfvars_path
    if schedule is None:
        schedule = read_schedule(config)
    else:
        problems = schedule_problems(config, schedule)
        if problems:
            raise ActuatorError("refusing to write the schedule:\n  - " + "\n  - ".join(problems))
    text = render_tfvars(values, schedule)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    check_terraform(config, values)
    if schedule:
        terraform_dir = config.path(config.outputs.terraform_dir)
        problems = check_schedule_terraform(config, read_declared_variables(terraform_dir), terraform_dir)
        if problems:
            raise ActuatorError("refusing to write Terraform variables:\n  - " + "\n  - ".join(problems))
    atomic_write_text(path, text)
    return True
