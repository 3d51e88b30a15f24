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


def test_the_best_cpu_alert_in_hindsight_keeps_the_page_budget_and_stays_out_of_the_band() -> None:
    """`alerts.alert_cpu_utilization.hindsight_best`: the highest recall any fixed CPU threshold (lifted
    out of the autoscaler's band) could have had at <= pages_per_week, checked against a brute count."""
    import numpy as np

    from ai_ops.backtest import Replay, _best_cpu_alert
    config = load_config(None)
    steps, per_window = 7 * 288, 72
    cpu = np.full(steps, 60.0)
    rate = np.full(steps, 100.0)
    latency = np.full(steps, 100.0)
    for begin in (100, 700, 1500):          # three 6 h windows breach with CPU at 95% for 3 steps
        cpu[begin:begin + 3], latency[begin:begin + 3] = 95.0, 5000.0
    cpu[1000:1002] = 85.0                   # one false alarm at 85%
    metrics = {"cpu_utilization": cpu, "request_rate": rate, "latency_p95_ms": latency,
               "error_rate": np.zeros(steps)}
    from ai_ops.backtest import good_share
    good = good_share(metrics, config.sla.latency_objective_ms, 40.0)
    keep = np.ones(steps, dtype=bool)
    run = Replay(np.full(steps, 60.0), metrics, [], {"autoscaling_cpu_target": np.full(steps, 60.0)})
    best = _best_cpu_alert(config, run, keep, per_window, 1.75, good)  # 3 pages: 1.7/week
    assert best is not None and best["breached_windows"] == 3 and best["caught_windows"] == 3
    assert best["pages_per_week"] <= config.learner.pages_per_week
    assert 85.0 <= best["threshold"] < 95.0  # the false alarm at 85 would be a 4th page: over budget
    # A target whose band covers 95%: no threshold may sit inside it, nothing is caught.
    high = Replay(run.targets, metrics, [], {"autoscaling_cpu_target": np.full(steps, 85.0)})
    assert _best_cpu_alert(config, high, keep, per_window, 1.75, good)["caught_windows"] == 0


@pytest.mark.parametrize("text, message", [
    ("time,v\n1,2\n", "header"),
    ("timestamp,value\n2014-04-10 00:04:00,abc\n", "trace.csv:2: value 'abc'"),
    ("timestamp,value\n0,1\n600,1\n300,x\n", "trace.csv:4: value 'x'"),
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
    folder = tmp_path / "results"
    ok = runner.invoke(cli, ["backtest", "--trace", str(FIXTURE), "--policy", "static", "--target", "60",
                             "--output-dir", str(folder)])
    assert ok.exit_code == 0, ok.output
    out = folder / f"{FIXTURE.stem}-static.json"
    assert [p.name for p in folder.iterdir()] == [out.name] and str(out) in ok.output
    assert (json.loads(out.read_text())["policy"] == "static" and "best fixed" in ok.output) or "no fixed" in ok.output
    missing = tmp_path / "missing"
    bad = runner.invoke(cli, ["backtest", "--trace", str(tmp_path / "nope.csv"), "--output-dir", str(missing)])
    assert bad.exit_code == 2 and "does not exist" in bad.output and "Traceback" not in bad.output
    assert not missing.exists()
    outside = runner.invoke(cli, ["backtest", "--trace", str(FIXTURE), "--policy", "static", "--target", "99",
                                  "--output-dir", str(missing)])
    assert outside.exit_code == 2 and "outside" in outside.output and not missing.exists()


def test_a_trace_too_coarse_for_the_learner_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "hourly.csv"
    path.write_text("timestamp,value\n" + "".join(f"{h * 3600},{10 + h % 24}\n" for h in range(72)))
    with pytest.raises(ConfigError, match="min_samples"):
        run_backtest(load_config(None), load_trace(path), "learned")
    assert run_backtest(load_config(None), load_trace(path), "static")["policy"] == "static"


def test_cli_backtest_writes_into_a_git_ignored_folder_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not ./backtest.json in whatever folder the user stands in: backtest-results/, which .gitignore lists."""
    monkeypatch.chdir(tmp_path)
    ok = CliRunner().invoke(cli, ["backtest", "--trace", str(FIXTURE), "--policy", "static", "--target", "60"])
    assert ok.exit_code == 0, ok.output
    assert not (tmp_path / "backtest.json").exists()
    assert (tmp_path / "backtest-results" / f"{FIXTURE.stem}-static.json").exists()
    gitignore = (Path(__file__).resolve().parents[1] / ".gitignore").read_text().splitlines()
    assert "/backtest-results/" in gitignore
