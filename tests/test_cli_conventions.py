"""CLI conventions: global options after the subcommand, --json results, shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "ops_config.yaml"


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ai_ops", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=180, check=False, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_global_options_are_accepted_after_the_subcommand(tmp_path: Path) -> None:
    after = run_cli("config", "check", "--config", str(EXAMPLE))
    assert after.returncode == 0, after.stderr
    assert f"{EXAMPLE}: OK" in after.stdout
    before = run_cli("--config", str(EXAMPLE), "config", "check")
    assert before.stdout == after.stdout


def test_the_subcommands_value_wins(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    good_after = run_cli("--config", str(missing), "config", "check", "--config", str(EXAMPLE))
    assert good_after.returncode == 0 and f"{EXAMPLE}: OK" in good_after.stdout, good_after.stderr
    bad_after = run_cli("--config", str(EXAMPLE), "config", "check", "--config", str(missing))
    assert bad_after.returncode == 2 and "does not exist" in bad_after.stderr
    assert "Traceback" not in bad_after.stderr


def test_quiet_and_log_format_after_the_subcommand(tmp_path: Path) -> None:
    quiet = run_cli("config", "check", "--config", str(EXAMPLE), "-q")
    assert quiet.returncode == 0 and quiet.stdout == ""
    # The embedded simulated service in a workspace under tmp_path; JSON log lines on stdout.
    logged = run_cli("cycle", "--dry-run", "--log-format", "json", cwd=tmp_path)
    assert logged.returncode == 0, logged.stderr
    lines = [json.loads(line) for line in logged.stdout.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any("cycle:" in line["message"] for line in lines)


def test_cycle_json_puts_the_result_on_stdout_and_the_logs_on_stderr(tmp_path: Path) -> None:
    result = run_cli("cycle", "--json", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # nothing but the JSON document on stdout
    assert document["ok"] is True and document["dry_run"] is True
    assert document["summary"] and set(document["old"]) == set(document["new"])
    assert document["applied"] is False  # a dry run writes nothing
    assert document["data_quality"]["checkout"]["request_rate"]["usable"] is True
    assert "cycle:" in result.stderr  # the progress line went to stderr
    assert not (tmp_path / "ai-ops-demo" / "models" / "decisions.jsonl").exists()


def test_json_on_an_error_is_still_json(tmp_path: Path) -> None:
    result = run_cli("cycle", "--json", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["exit_code"] == 2 and "does not exist" in document["error"]
    assert "error: config file" in result.stderr and "Traceback" not in result.stderr


def test_sources_check_json_on_a_simulated_config(tmp_path: Path) -> None:
    result = run_cli("sources", "check", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["problems"] == 0
    assert document["rows"][0]["service"] == "checkout" and document["rows"][0]["ok"] is True


def test_shell_completion_script_and_completions() -> None:
    script = run_cli(env={"_AI_OPS_COMPLETE": "bash_source"})
    assert script.returncode == 0
    assert "complete -o nosort -F _ai_ops_completion ai-ops" in script.stdout
    words = run_cli(env={"_AI_OPS_COMPLETE": "bash_complete", "COMP_WORDS": "ai-ops sources ch", "COMP_CWORD": "2"})
    assert "plain,check" in words.stdout.split()
    late = run_cli(env={"_AI_OPS_COMPLETE": "bash_complete", "COMP_WORDS": "ai-ops config check --con",
                        "COMP_CWORD": "3"})
    assert "plain,--config" in late.stdout.split()
