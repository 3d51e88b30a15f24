"""PromQL query templates with the service's labels substituted safely.

A template holds `{name}` placeholders, e.g. `sum(rate(http_requests_total{service="{service}"}[5m]))`.
Each placeholder must sit inside a single- or double-quoted PromQL string, and its value is
escaped by the rules of PromQL string literals (Go's): the backslash, the enclosing quote and
newlines, so a service name like `x"} or vector(1) or {a="` stays one string (checked with
`promtool` in the tests). A placeholder outside quotes or inside a back-quoted raw string
(which has no escapes) is a config error, because no escaping can make a value safe there.
"""

from __future__ import annotations

from ai_ops.config.promql_template import PLACEHOLDER, check_template, enclosing, string_spans
from ai_ops.errors import ConfigError

# Go's escapes, which PromQL's lexer accepts in '...' and "..." strings.
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_label_value(value: str, quote: str = '"') -> str:
    """The value as the body of a PromQL string literal enclosed in `quote` (' or ").

    Go's rules: the backslash, the enclosing quote and newlines are escaped, other control
    characters become \\xNN; the other quote and a backtick need no escape (PromQL
    rejects `\\'` inside "..." as an unknown escape sequence).
    """
    if quote not in "\"'" or len(quote) != 1:
        raise ValueError(f"a value can only be escaped inside '...' or \"...\", not {quote!r}")
    out = []
    for ch in value:
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif ch == quote:
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def render_query(template: str, labels: dict[str, str], *, where: str = "query") -> str:
    """Fill `{label}` placeholders from `labels`, escaped; raise ConfigError naming what is wrong."""
    try:
        spans = string_spans(template)
        check_template(template)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    out: list[str] = []
    last = 0
    for match in PLACEHOLDER.finditer(template):
        start, end = match.span()
        span = enclosing(spans, start, end)
        name = match.group(1)
        if span is None:
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
        out.append(escape_label_value(labels[name], span.quote))
        last = end
    out.append(template[last:])
    return "".join(out)
