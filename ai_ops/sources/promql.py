"""PromQL query templates with the service's labels substituted safely.

A template holds `{name}` placeholders, e.g. `sum(rate(http_requests_total{service="{service}"}[5m]))`.
Each placeholder must sit inside a quoted PromQL string, and its value is escaped as a PromQL
string literal: a service name like `x"} or vector(1) or {a="` stays a string and cannot
inject PromQL. A placeholder outside quotes is a config error, because no escaping can make
an arbitrary value safe there.
"""

from __future__ import annotations

import re

from ai_ops.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "`": "\\`", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_label_value(value: str) -> str:
    """The value as the body of a PromQL string literal (double, single or back-quoted)."""
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def _string_spans(template: str) -> list[tuple[int, int]]:
    """[start, end) of the body of every quoted string literal in the template."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(template)
    while i < n:
        quote = template[i]
        if quote in "\"'`":
            j = i + 1
            while j < n and template[j] != quote:
                j += 2 if template[j] == "\\" and quote != "`" else 1
            if j >= n:
                raise ConfigError(f"query template has an unterminated {quote} string: {template!r}")
            spans.append((i + 1, j))
            i = j + 1
        else:
            i += 1
    return spans


def render_query(template: str, labels: dict[str, str], *, where: str = "query") -> str:
    """Fill `{label}` placeholders from `labels`, escaped; raise ConfigError naming what is wrong."""
    spans = _string_spans(template)
    out: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(template):
        start, end = match.span()
        inside = any(s <= start and end <= e for s, e in spans)
        name = match.group(1)
        if not inside:
            # `{job}` outside quotes is not valid PromQL anyway; it is only ever a misplaced placeholder.
            if name in labels:
                raise ConfigError(
                    f"{where}: placeholder {{{name}}} must be inside quotes (e.g. service=\"{{{name}}}\") "
                    f"so its value can be escaped: {template!r}"
                )
            continue
        if name not in labels:
            raise ConfigError(
                f"{where}: placeholder {{{name}}} has no value; add '{name}' to the service's labels "
                f"(known: {', '.join(sorted(labels)) or 'none'})"
            )
        out.append(template[last:start])
        out.append(escape_label_value(labels[name]))
        last = end
    out.append(template[last:])
    return "".join(out)
