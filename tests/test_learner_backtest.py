"""Backtest engine and `ai-ops backtest`: replays, hindsight reference, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ai_ops.backtest import load_trace, run_backtest, simulated_trace
from ai_ops.cli import cli
from ai_ops.config import load_config
from ai_ops.errors import ConfigError

FIXTURE = Path(__file__).parent / "fixtures" / "elb_request_count_3days.csv"


def test_learned_policy_leaves_the_unsafe_80_percent_and_meets_the_sla_on_simulated_demand() -> None:
    config = load_config(None)
    trace = simulated_trace(config, 6, start=1767571200)
    learned = run_backtest(config, trace, "learned")
    static = run_backtest(config, trace, "static")
    assert static["sla_after_day3"] < config.sla.target        # 80% breaches on this service
    assert learned["final_target"] < 80
    assert learned["sla_after_day3"] >= config.sla.target
    assert learned["best_fixed_in_hindsight"]["sla"] >= config.sla.target
    assert learned["cost_vs_best_fixed"] < 1.10
    assert learned["threshold_path"][0]["target"] == 80.0 and learned["changes"] >= 1


def test_backtest_is_deterministic_and_reads_a_real_trace() -> None:
    config = load_config(None)
    trace = load_trace(FIXTURE)
    assert trace.step == 300 and trace.values.size >= 864
    first = run_backtest(config, trace, "target-tracking", peak_replicas=20)
    assert first == run_backtest(config, trace, "target-tracking", peak_replicas=20)
    assert len(first["days_detail"]) >= 3 and len(first["fixed_grid"]) == 61


@pytest.mark.parametrize("text, message", [
    ("time,v\n1,2\n", "header"),
    ("timestamp,value\n2014-04-10 00:04:00,abc\n", "trace.csv:2: value 'abc'"),
    ("timestamp,value\n0,1\n600,1\n300,1\n", "trace.csv:4: timestamp 300 is not after"),
    ("timestamp,value\n0,-4\n", "finite request rate >= 0"),
    ("timestamp,value\n0,1\n300,1\n", "at least one day"),
])
def test_bad_traces_are_named_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_trace(path)


def test_cli_backtest_writes_json_and_bad_input_exits_2_without_traceback(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "result.json"
    ok = runner.invoke(cli, ["backtest", "--trace", str(FIXTURE), "--policy", "static", "--target", "60",
                             "--output", str(out)])
    assert ok.exit_code == 0, ok.output
    assert (json.loads(out.read_text())["policy"] == "static" and "best fixed" in ok.output) or "no fixed" in ok.output
    missing = tmp_path / "missing.json"
    bad = runner.invoke(cli, ["backtest", "--trace", str(tmp_path / "nope.csv"), "--output", str(missing)])
    assert bad.exit_code == 2 and "does not exist" in bad.output and "Traceback" not in bad.output
    assert not missing.exists()
    outside = runner.invoke(cli, ["backtest", "--trace", str(FIXTURE), "--policy", "static", "--target", "99",
                                  "--output", str(missing)])
    assert outside.exit_code == 2 and "outside" in outside.output and not missing.exists()


def test_a_trace_too_coarse_for_the_learner_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "hourly.csv"
    path.write_text("timestamp,value\n" + "".join(f"{h * 3600},{10 + h % 24}\n" for h in range(72)))
    with pytest.raises(ConfigError, match="min_samples"):
        run_backtest(load_config(None), load_trace(path), "learned")
    assert run_backtest(load_config(None), load_trace(path), "static")["policy"] == "static"
