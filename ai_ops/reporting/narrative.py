"""The report's words: an LLM narrative when allowed and working, a deterministic template otherwise.

The numbers are computed before this runs; the LLM only narrates them. The prompt holds
the structured report only, redacted of every secret and credentialed URL. A failed,
over-budget or invalid answer falls back to the template, and the report says which
way it was written and why. Calls are bounded: timeout, SDK retries with backoff on
429/5xx, a daily token budget and a circuit breaker kept in models/llm_state.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ai_ops.config import LLMConfig, Secrets, redact
from ai_ops.reporting.model import LLMUsage, NarrativeItem, Report
from ai_ops.reporting.model import NarrativePart as Narrative
from ai_ops.state import atomic_write_json, load_state


class NarrativeRecommendation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=120)
    action: str = Field(min_length=1, max_length=600)
    evidence: str = Field(min_length=1, max_length=200)
    value: float | int | str


class NarrativeOutput(BaseModel):
    """The fixed schema the LLM must answer in (schema_version 1)."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=20, max_length=1500)
    recommendations: list[NarrativeRecommendation] = Field(min_length=5, max_length=5)


def _template(name: str) -> str:
    return resources.files("ai_ops.reporting").joinpath("templates", name).read_text(encoding="utf-8")


def prompt_view(report: Report) -> dict[str, Any]:
    """The part of the report the LLM sees: numbers and names, nothing else."""
    keep = {"date", "health", "trends", "cost", "actions", "learning", "anomalies", "thresholds", "sla_days"}
    return report.model_dump(mode="json", include=keep)


def build_prompt(report: Report, recommendations: Sequence[NarrativeItem],
                 secret_values: list[str]) -> tuple[str, str]:
    """(system, user) prompts from the template files, redacted."""
    schema = json.dumps(NarrativeOutput.model_json_schema(), indent=1, sort_keys=True)
    system = _template("narrative_system.md").replace("{schema}", schema)
    user = (_template("narrative_user.md")
            .replace("{date}", report.date)
            .replace("{report_json}", json.dumps(prompt_view(report), sort_keys=True, default=str))
            .replace("{recommendations_json}", json.dumps([_item(r).model_dump(mode="json") for r in recommendations])))
    return redact(system, secret_values), redact(user, secret_values)


def _item(r: NarrativeItem) -> NarrativeItem:
    """The narrative's view of a recommendation (no priority)."""
    return NarrativeItem(title=r.title, action=r.action, evidence=r.evidence, value=r.value)


def template_narrative(report: Report, recommendations: Sequence[NarrativeItem], reason: str,
                       currency: str) -> Narrative:
    """The deterministic words: the same data always gives the same text."""
    h, cost = report.health, report.cost
    weakest = h.weakest_part
    sentences = [f"Health score {h.score}/100 (weakest part: {weakest}, "
                 f"{h.parts[weakest]:g} of {h.maxima[weakest]:g} points)."]
    sla = h.inputs.sla_attainment
    if sla is not None:
        sentences.append(f"SLA attainment over the last 24 h was {sla:.3f}% against a target of "
                         f"{h.inputs.sla_target}%.")
    moved = [f"{s}/{m} {t.change_pct:+.1f}%" for s, ms in report.trends.items() for m, t in ms.items()
             if t.significant and t.change_pct is not None]
    sentences.append("Significant changes against the 7-day baseline: " + ", ".join(moved) + "."
                     if moved else "No metric moved beyond its normal day-to-day variation.")
    if cost.projected_total is not None:
        sentences.append(f"Month-end cost is projected at {cost.projected_total:.0f} {currency} "
                         f"({cost.lower or 0:.0f}-{cost.upper or 0:.0f}) against a budget of {cost.budget:.0f}.")
    n = len(report.actions)
    sentences.append(f"The controller made {n} threshold change(s) in the last 24 h; the learner is "
                     f"{report.learning.learner_status}.")
    return Narrative(written_by="template", reason=reason, summary=" ".join(sentences),
                     recommendations=[_item(r) for r in recommendations])


# ---------------------------------------------------------------- LLM state: budget and breaker


class LLMState(BaseModel):
    """Schema of models/llm_state.json (token budget and circuit breaker)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    date: str | None = Field(None, max_length=40)
    tokens_used: int = Field(0, ge=0)
    consecutive_failures: int = Field(0, ge=0)
    open_until: float = Field(0.0, ge=0)


def _state(path: Path, today: str) -> dict[str, Any]:
    state = load_state(path, LLMState.model_validate, {}) or {}
    if state.get("date") != today:
        state = {**state, "date": today, "tokens_used": 0}
    state.setdefault("consecutive_failures", 0)
    state.setdefault("open_until", 0.0)
    return state


def _extract_json(text: str) -> Any:
    text = text.strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.DOTALL)
    if fence:
        text = fence.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("the answer holds no JSON object")
    return json.loads(text[start:end + 1])


def check_grounding(output: NarrativeOutput, allowed: dict[str, Any]) -> None:
    """Every recommendation must cite a number of the report, with its value unchanged."""
    for i, rec in enumerate(output.recommendations, start=1):
        if rec.evidence not in allowed:
            raise ValueError(f"recommendation {i} cites '{rec.evidence}', which is not in the report")
        want = allowed[rec.evidence]
        same = (abs(float(rec.value) - float(want)) <= 1e-6 * max(1.0, abs(float(want)))
                if isinstance(want, int | float) and isinstance(rec.value, int | float) else str(rec.value) == str(want))
        if not same:
            raise ValueError(f"recommendation {i} changed the value of '{rec.evidence}' ({rec.value} != {want})")


def write_narrative(report: Report, recommendations: Sequence[NarrativeItem], allowed: dict[str, Any],
                    config: LLMConfig, secrets: Secrets, state_path: Path, now: float, currency: str,
                    save_state: bool = True) -> Narrative:
    """The LLM's narrative if everything allows and works, else the template's; never raises for LLM trouble.

    `save_state=False` (a dry run) reads the budget and circuit-breaker state but writes nothing.
    """
    if not config.enabled:
        return template_narrative(report, recommendations, "LLM disabled in config (llm.enabled: false)", currency)
    if secrets.ANTHROPIC_API_KEY is None or not secrets.ANTHROPIC_API_KEY.get_secret_value():
        return template_narrative(report, recommendations, "no ANTHROPIC_API_KEY set", currency)
    today = datetime.fromtimestamp(now, UTC).date().isoformat()
    state = _state(state_path, today)
    if state["open_until"] > now:
        until = datetime.fromtimestamp(state["open_until"], UTC).strftime("%Y-%m-%dT%H:%MZ")
        return template_narrative(report, recommendations, f"circuit breaker open after "
                                  f"{state['consecutive_failures']} failed calls, until {until}", currency)
    system, user = build_prompt(report, recommendations, secrets.secret_values())
    estimate = (len(system) + len(user)) // 3 + config.max_tokens
    if state["tokens_used"] + estimate > config.daily_token_budget:
        return template_narrative(report, recommendations, f"daily token budget reached ({state['tokens_used']} used "
                                  f"+ ~{estimate} needed > {config.daily_token_budget})", currency)
    record: dict[str, Any] = {"model": config.model, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    try:
        output = _call(config, secrets, system, user, record)
        check_grounding(output, allowed)
    except Exception as exc:  # noqa: BLE001 - any failure of the LLM path falls back; the reason is kept
        state["consecutive_failures"] += 1
        if state["consecutive_failures"] >= config.circuit_breaker_failures:
            state["open_until"] = now + config.circuit_breaker_cooldown_hours * 3600
        state["tokens_used"] += record["input_tokens"] + record["output_tokens"]
        if save_state:
            atomic_write_json(state_path, state)
        message = redact(f"{type(exc).__name__}: {exc}", secrets.secret_values())[:300]
        narrative = template_narrative(report, recommendations, f"LLM call failed ({message})", currency)
        if record["input_tokens"]:
            narrative = narrative.model_copy(update={"llm": LLMUsage.model_validate(record)})
        return narrative
    state["consecutive_failures"] = 0
    state["open_until"] = 0.0
    state["tokens_used"] += record["input_tokens"] + record["output_tokens"]
    if save_state:
        atomic_write_json(state_path, state)
    return Narrative(written_by="llm", reason=f"written by {config.model}", summary=output.summary,
                     recommendations=[NarrativeItem.model_validate(r.model_dump()) for r in output.recommendations],
                     llm=LLMUsage.model_validate(record))


def _call(config: LLMConfig, secrets: Secrets, system: str, user: str, record: dict[str, Any]) -> NarrativeOutput:
    import anthropic

    key = secrets.ANTHROPIC_API_KEY.get_secret_value() if secrets.ANTHROPIC_API_KEY else ""
    client = anthropic.Anthropic(api_key=key, base_url=secrets.ANTHROPIC_BASE_URL or None,
                                 timeout=config.timeout_seconds, max_retries=config.max_retries)
    try:
        response = client.messages.create(model=config.model, max_tokens=config.max_tokens, system=system,
                                          messages=[{"role": "user", "content": user}])
    finally:
        client.close()
    record["input_tokens"] = int(response.usage.input_tokens)
    record["output_tokens"] = int(response.usage.output_tokens)
    record["cost_usd"] = round(record["input_tokens"] * config.input_price_per_mtok / 1e6
                               + record["output_tokens"] * config.output_price_per_mtok / 1e6, 6)
    record["stop_reason"] = response.stop_reason
    text = "".join(block.text for block in response.content if isinstance(block, anthropic.types.TextBlock))
    try:
        return NarrativeOutput.model_validate(_extract_json(text))
    except (ValueError, ValidationError) as exc:
        raise ValueError(f"answer does not match the narrative schema: {str(exc)[:200]}") from None
