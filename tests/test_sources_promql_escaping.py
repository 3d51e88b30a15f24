"""Rendered queries are checked by the real `promtool`: PromQL's lexer decides, not our reading of it.

Each value is put into single- and double-quoted templates; `promtool check rules` must parse
the query and `promtool test rules` must evaluate it to exactly the one series whose label is
the value (an injected `or vector(1)` would add a sample, a wrong escape a parse error).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ai_ops.config import parse_config
from ai_ops.errors import ConfigError
from ai_ops.sources.promql import escape_label_value, render_query

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")

VALUES = [
    "o'brien",                                  # \' is an unknown escape inside "..." (the old bug)
    'x"} or vector(1) or up{a="',               # closes a double-quoted string if unescaped
    "x`}[5m])) or vector(1) #",                 # closes a back-quoted string
    "back\\slash\\",                            # a trailing backslash would escape the quote
    "two\nlines",                               # a raw newline ends a PromQL string
    "tab\tcr\rbell\x07del\x7f",                  # other control characters
    "naïve ünïcode ✓",
]


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def selector(value: str, quote: str) -> str:
    return render_query(f"probe{{service={quote}{{service}}{quote}}}", {"service": value})


@pytest.mark.parametrize("quote", ['"', "'"])
@pytest.mark.parametrize("value", VALUES)
def test_promtool_parses_the_query_and_selects_exactly_that_series(tmp_path: Path, value: str, quote: str) -> None:
    query = selector(value, quote)
    rules = {"groups": [{"name": "g", "rules": [{"record": "rendered", "expr": query}]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    series = selector(value, '"')
    unit = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": series, "values": "7"}, {"series": 'probe{service="other"}', "values": "3"}],
        "promql_expr_test": [{"expr": query, "eval_time": "0m", "exp_samples": [{"labels": series, "value": 7}]}],
    }]}
    (tmp_path / "unit.yml").write_text(yaml.safe_dump(unit))
    tested = promtool("test", "rules", "unit.yml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("value", VALUES)
def test_double_quoted_escapes_decode_back_to_the_value(value: str) -> None:
    # Independent of promtool: Go's "..." escapes used here are a subset of JSON's, or \xNN.
    body = escape_label_value(value, '"')
    assert json.loads('"' + body.replace("\\x", "\\u00") + '"') == value


def test_the_enclosing_quote_is_escaped_and_the_other_is_not() -> None:
    assert escape_label_value("o'brien", '"') == "o'brien"
    assert escape_label_value("o'brien", "'") == "o\\'brien"
    assert escape_label_value('say "hi"', '"') == 'say \\"hi\\"'
    assert escape_label_value("a\nb\\c`", '"') == "a\\nb\\\\c`"


def test_a_naive_backtick_substitution_is_an_injection_promtool_accepts(tmp_path: Path) -> None:
    """Why a placeholder inside `...` is refused: raw strings have no escapes."""
    naive = "sum(rate(x{s=`{service}`}[5m]))".replace("{service}", "x`}[5m])) or vector(1) #")
    rules = {"groups": [{"name": "g", "rules": [{"record": "r", "expr": naive}]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    assert promtool("check", "rules", "rules.yml", cwd=tmp_path).returncode == 0
    with pytest.raises(ConfigError, match="back-quoted"):
        render_query("sum(rate(x{s=`{service}`}[5m]))", {"service": "x"})


def test_a_placeholder_in_a_backtick_string_is_a_config_error_at_load() -> None:
    queries = dict.fromkeys(("request_rate", "cpu_utilization", "latency_p95_ms", "error_rate", "replicas", "cost_per_hour"), "up")
    queries["replicas"] = "kube_replicas{deployment=`{service}`}"
    text = yaml.safe_dump({"services": [{"name": "web", "source": "prometheus", "queries": queries}]})
    with pytest.raises(ConfigError, match=r"services\.0\.queries\.replicas: placeholder \{service\} is inside a back"):
        parse_config(text)
