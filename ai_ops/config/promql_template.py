"""The lexical rules of PromQL query templates, checked when the config is loaded.

A template holds `{name}` placeholders inside quoted PromQL strings. PromQL string literals
follow Go's rules: in a double- or single-quoted string a backslash starts an escape
(`\\\\`, the enclosing quote, `\\n`, `\\xNN`, ...); a back-quoted (raw) string has no escapes
at all, so no value can be made safe there and a placeholder inside one is refused.
Pure string code: the config validator and ai_ops.sources.promql share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class StringSpan:
    """The body [start, end) of one quoted string literal and its quote character."""

    start: int
    end: int
    quote: str


def string_spans(template: str) -> list[StringSpan]:
    """Every quoted string literal of the template; ValueError when one is not terminated."""
    spans: list[StringSpan] = []
    i, n = 0, len(template)
    while i < n:
        quote = template[i]
        if quote in "\"'`":
            j = i + 1
            while j < n and template[j] != quote:
                j += 2 if template[j] == "\\" and quote != "`" else 1
            if j >= n:
                raise ValueError(f"query template has an unterminated {quote} string: {template!r}")
            spans.append(StringSpan(i + 1, j, quote))
            i = j + 1
        else:
            i += 1
    return spans


def enclosing(spans: list[StringSpan], start: int, end: int) -> StringSpan | None:
    return next((s for s in spans if s.start <= start and end <= s.end), None)


def check_template(template: str) -> None:
    """ValueError unless every placeholder sits inside a single- or double-quoted string."""
    spans = string_spans(template)
    for match in PLACEHOLDER.finditer(template):
        span = enclosing(spans, *match.span())
        if span is not None and span.quote == "`":
            raise ValueError(
                f"placeholder {match.group(0)} is inside a back-quoted (raw) string, which has no escapes, so its "
                f"value could end the string; use double quotes instead: {template!r}")
