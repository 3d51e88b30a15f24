"""Demand forecast, replica schedule, breach warnings, and the Terraform examples that consume the schedule."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ai_ops.config import load_config
from ai_ops.learner.forecast import (
    DemandForecast,
    forecast_demand,
    hourly_means,
    rolling_errors,
    seasonal_naive,
)
from ai_ops.learner.schedule import (
    blocks_from_hours,
    breach_warnings,
    breached_hours,
    capacity_per_replica,
    daily_schedule,
    guard_schedule,
    hour_of_day_minimums,
    replica_schedule,
)
from ai_ops.sim.service import constant_target, demand, incidents_between, serve

ROOT = Path(__file__).resolve().parent.parent
START = 1767571200.0  # Monday 2026-01-05 00:00 UTC
DAY = 86_400


def _sim_demand(days: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    cfg = load_config(None).services[0].simulation.model_copy(update={"seed": seed})
    ts = np.arange(START, START + days * DAY, 300.0)
    return ts, demand(cfg, ts, 300, incidents_between(cfg, ts[0], ts[-1]))


def test_hourly_means_fill_interior_gaps_only() -> None:
    ts = np.arange(0, 10 * 3600, 300.0)
    values = np.where((ts >= 3 * 3600) & (ts < 5 * 3600), np.nan, ts / 3600.0)
    hourly = hourly_means(ts, values, 10 * 3600, 12)
    assert np.isnan(hourly[:2]).all()  # before the data: unknown, not the first value repeated
    assert np.isfinite(hourly[2:]).all() and hourly[5] > hourly[4] > hourly[2]


def test_seasonal_naive_repeats_the_day_before() -> None:
    hourly = np.arange(48, dtype=float)
    assert seasonal_naive(hourly, 6).tolist() == [24, 25, 26, 27, 28, 29]


def test_forecast_follows_the_daily_cycle_and_brackets_it() -> None:
    ts, rate = _sim_demand(22)
    end = START + 21 * DAY
    forecast = forecast_demand(ts, rate, end, horizon=12)
    assert forecast.method == "mstl(24,168)" and forecast.history_hours == 21 * 24
    assert (forecast.lower <= forecast.mean).all() and (forecast.mean <= forecast.upper).all()
    actual = hourly_means(ts, rate, end + 12 * 3600, 12)
    # the demand peaks at 15:00 UTC: the morning rise must be in the forecast
    assert forecast.mean[11] > 1.5 * forecast.mean[3]
    assert np.mean(np.abs(forecast.mean - actual) / actual) < 0.2


def test_short_history_falls_back_to_seasonal_naive_and_says_so() -> None:
    ts, rate = _sim_demand(1)
    forecast = forecast_demand(ts, rate, START + DAY, horizon=6)
    assert forecast.method == "seasonal-naive"


def test_exactly_two_days_of_history_falls_back_instead_of_failing() -> None:
    ts, rate = _sim_demand(3)
    # 48 hours: statsmodels' MSTL would drop its only period (it needs more than two cycles) and fail
    assert forecast_demand(ts, rate, START + 2 * DAY, horizon=6).method == "seasonal-naive"
    assert forecast_demand(ts, rate, START + 2 * DAY + 3600, horizon=6).method == "mstl(24)"


def test_model_beats_seasonal_naive_at_6h_on_the_simulator() -> None:
    ts, rate = _sim_demand(17)
    errors = rolling_errors(ts, rate, horizon=6, min_history_days=15, every_hours=12)
    assert errors.origins >= 3 and errors.beats_naive, errors


def test_capacity_is_measured_from_busy_steps() -> None:
    cfg = load_config(None).services[0].simulation
    ts, rate = _sim_demand(2)
    served = serve(cfg, ts, rate, constant_target(70)(ts))
    capacity = capacity_per_replica(served["request_rate"], served["replicas"], served["cpu_utilization"])
    assert capacity == pytest.approx(cfg.capacity_rps_per_replica, rel=0.01)
    assert np.isnan(capacity_per_replica(np.ones(3), np.ones(3), np.full(3, 5.0)))


def _flat(start: float, values: list[float]) -> DemandForecast:
    mean = np.asarray(values, dtype=float)
    return DemandForecast(start, mean, mean * 0.9, mean * 1.1, "test", 500)


def test_schedule_holds_the_lower_forecast_at_the_top_of_the_hpa_band_within_bounds() -> None:
    forecast = _flat(START, [100.0] * 6 + [400.0] * 6)
    blocks = replica_schedule(forecast, capacity_rps=10.0, target_percent=80.0, floor=2, ceiling=40, block_hours=3)
    # lower end 90 / (10 x 80% x 1.1 = 8.8) = 10.2 -> 11; 360 / 8.8 = 40.9 -> 41, capped at 40; equal blocks merged
    assert [(b.start_hour, b.end_hour, b.min_replicas) for b in blocks] == [(0, 6, 11), (6, 12, 40)]
    assert blocks[1].forecast_peak_rps == 400.0  # what the table shows: the forecast mean's peak
    with pytest.raises(ValueError, match="cannot size"):
        replica_schedule(forecast, float("nan"), 80.0, 2, 50)


def test_a_block_holds_its_quietest_hour_not_its_busiest() -> None:
    ramp = [100.0, 200.0, 300.0] + [300.0] * 21
    minimums, means = daily_schedule(_flat(START, ramp), capacity_rps=10.0, target_percent=80.0, floor=1,
                                     ceiling=100, block_hours=3, tolerance=0.0)
    # hours 0-2 need 90/8, 180/8, 270/8 -> 12, 23, 34: the block holds 12 (more is paid in the hours needing less)
    assert minimums[:3].tolist() == [12, 12, 12] and minimums[3:].tolist() == [34] * 21
    assert means[1] == 200.0


def test_a_schedule_sized_from_a_perfect_forecast_costs_next_to_nothing_extra() -> None:
    """The sizing's promise (docs/predictive.md): a minimum never above the autoscaler's own count at the
    forecast, so even a perfect forecast buys a floor the autoscaler rarely sits on. Sized the old way
    (the interval's upper end at the target, each block at its busiest hour) it cost 15-20% more."""
    cfg = load_config(None).services[0].simulation
    ts, rate = _sim_demand(4)
    hourly = hourly_means(ts, rate, ts[-1] + 300, 4 * 24)
    alone = serve(cfg, ts, rate, np.full(ts.size, 65.0))
    per_step = np.empty(ts.size)
    for day in range(4):
        truth = DemandForecast(START + day * DAY, hourly[day * 24:(day + 1) * 24], hourly[day * 24:(day + 1) * 24],
                               hourly[day * 24:(day + 1) * 24], "truth", 500)
        minimums, _ = daily_schedule(truth, cfg.capacity_rps_per_replica, 65.0, 2, 60, 3)
        per_step[day * 288:(day + 1) * 288] = np.repeat(minimums, 12)
    scheduled = serve(cfg, ts, rate, np.full(ts.size, 65.0), min_replicas=per_step)
    assert scheduled["replicas"].sum() <= 1.01 * alone["replicas"].sum()
    assert (scheduled["replicas"] >= np.minimum(per_step, 60)).all()  # and the floor is served


def test_warnings_name_the_hours_beyond_what_max_replicas_can_serve() -> None:
    forecast = _flat(START, [100.0, 100.0, 500.0, 500.0, 100.0, 100.0, 900.0])
    warnings = breach_warnings(forecast, now=START, capacity_rps=10.0, max_replicas=40, safe_utilization_percent=90.0,
                               within_hours=6)
    assert [w.lead_hours for w in warnings] == [2.0, 3.0]  # 360 rps servable; the 7th hour is beyond 6 h
    assert "40 replicas" in warnings[0].reason


def test_guard_keeps_bounds_and_the_max_step_from_the_previous_schedule() -> None:
    sized = np.array([1] * 6 + [30] * 12 + [100] * 6)
    first = guard_schedule(None, sized, floor=2, ceiling=40, max_step=4)
    # no previous schedule: the floor everywhere, so every hour moves at most 4 from 2
    assert first.minimums.tolist() == [2] * 6 + [6] * 18
    assert "max step 4" in first.reasons[10] and "bounds [2, 40]" in first.reasons[0]
    second = guard_schedule(first.minimums, sized, floor=2, ceiling=40, max_step=4)
    assert second.minimums.tolist() == [2] * 6 + [10] * 18
    down = guard_schedule(np.full(24, 20), np.full(24, 3), floor=2, ceiling=40, max_step=4)
    assert (down.minimums == 16).all() and down.changed_from(np.full(24, 20))
    settled = guard_schedule(np.full(24, 5), np.full(24, 5), floor=2, ceiling=40, max_step=4)
    assert not settled.changed_from(np.full(24, 5)) and settled.reasons == {}


def test_guard_raises_the_hours_that_breached_and_never_lowers_them() -> None:
    previous = np.full(24, 10)
    sized = np.full(24, 7)  # the forecast says fewer are needed...
    guarded = guard_schedule(previous, sized, floor=2, ceiling=12, max_step=4, breached_hours={8, 9})
    # ...but 08:00-10:00 breached: raised by the max step (capped at the ceiling), the rest lowered
    assert guarded.minimums[8] == 12 and guarded.minimums[9] == 12 and guarded.minimums[7] == 7
    assert "SLO breached" in guarded.reasons[8]
    at_ceiling = guard_schedule(np.full(24, 12), sized, floor=2, ceiling=12, max_step=4, breached_hours={3})
    assert at_ceiling.minimums[3] == 12 and "ceiling 12" in at_ceiling.reasons[3]
    with pytest.raises(ValueError, match="not usable"):
        guard_schedule(None, sized, floor=5, ceiling=4, max_step=1)
    with pytest.raises(ValueError, match="24 hourly"):
        guard_schedule(None, np.ones(12), floor=1, ceiling=4, max_step=1)


def test_breached_hours_weigh_requests_per_hour_of_day() -> None:
    ts = START + 300.0 * np.arange(24)  # 00:00-02:00
    rate = np.full(24, 100.0)
    good = np.ones(24)
    good[13] = 0.99  # one bad step at 01:05: 1% of 12 steps = 0.083% bad in hour 1
    assert breached_hours(ts, rate, good, 99.95) == {1}
    assert breached_hours(ts, rate, good, 99.9) == set()


def test_daily_schedule_covers_every_hour_of_day_in_blocks() -> None:
    forecast = _flat(START + 6 * 3600, [80.0] * 6 + [160.0] * 18 + [40.0] * 6)  # 06:00 today .. 12:00 tomorrow
    minimums, means = daily_schedule(forecast, capacity_rps=10.0, target_percent=80.0, floor=2, ceiling=50,
                                     block_hours=3)
    # 06:00-12:00: 72 / 8.8 -> 9; 12:00-06:00: 144 / 8.8 -> 17; the last six hours (tomorrow 06-12) are beyond 24 h
    assert minimums[6:12].tolist() == [9] * 6 and minimums[12:].tolist() == [17] * 12 and minimums[:6].tolist() == [17] * 6
    assert means[6] == pytest.approx(80.0)
    blocks = blocks_from_hours(minimums, 3, means)
    assert [(b.start_hour, b.end_hour, b.min_replicas) for b in blocks] == [(0, 6, 17), (6, 12, 9), (12, 24, 17)]
    assert hour_of_day_minimums(blocks, 1).tolist() == minimums.tolist()


TERRAFORM = shutil.which("terraform")


@pytest.mark.skipif(TERRAFORM is None, reason="no terraform binary (.ci/run installs one from PyPI)")
@pytest.mark.parametrize("example", ["keda_cron", "aws_scheduled_actions"])
def test_schedule_examples_validate_and_reject_a_bad_block(example: str, tmp_path: Path) -> None:
    folder = tmp_path / example
    shutil.copytree(ROOT / "terraform" / "examples" / example, folder)
    env = {"PATH": "/usr/bin:/bin", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "HOME": str(tmp_path)}

    def tf(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TERRAFORM or "terraform", *args, "-no-color"], cwd=folder, capture_output=True,
                              text=True, timeout=120, env=env, check=False)

    assert tf("init", "-backend=false", "-input=false").returncode == 0
    assert tf("fmt", "-check", "-diff").returncode == 0
    assert tf("validate").returncode == 0
    plan = tf("plan", "-input=false", "-lock=false")
    assert plan.returncode == 0, plan.stderr
    assert ("desiredReplicas" in plan.stdout) if example == "keda_cron" else ("recurrence" in plan.stdout)
    bad = {"autoscaling_min_replicas_schedule": {"checkout": [{"start_hour": 9, "end_hour": 6, "min_replicas": 3}]}}
    (folder / "bad.auto.tfvars.json").write_text(json.dumps(bad))
    refused = tf("plan", "-input=false", "-lock=false")
    assert refused.returncode != 0 and "start_hour < end_hour" in refused.stderr.replace("\n", " ")


def test_backtest_compare_serves_the_guarded_schedule_and_judges_the_cost_target(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ai_ops.cli import cli

    folder = tmp_path / "out"
    run = CliRunner().invoke(cli, ["backtest", "--simulated-days", "5", "--policy", "compare",
                                   "--output-dir", str(folder)])
    assert run.exit_code == 0, run.output
    assert "learner + schedule" in run.output and "learner alone" in run.output and "best fixed target" in run.output
    result = json.loads(next(folder.glob("*-compare.json")).read_text())
    scheduled, learned = result["runs"]["scheduled"], result["runs"]["learned"]
    path = result["schedule_path"]
    assert len(path) == 20  # one schedule per 6 h cycle
    spec = load_config(None).learner.predictive
    previous = np.full(24, 2)
    for entry in path:
        minimums = np.array(entry["minimums"])
        # the guardrails held on every cycle: bounds, max step (or a breach raise), whole blocks
        assert minimums.min() >= 2 and minimums.max() <= 60
        breached = np.isin(np.arange(24), entry["breached_hours"])
        blocks = np.repeat(breached.reshape(-1, spec.block_hours).any(axis=1), spec.block_hours)
        assert (np.abs(minimums - previous)[~blocks] <= spec.max_step_replicas).all()
        assert (minimums[blocks] >= previous[blocks]).all()  # a block that breached is never lowered
        assert (minimums.reshape(-1, spec.block_hours) == minimums.reshape(-1, spec.block_hours)[:, :1]).all()
        previous = minimums
    # sized under the autoscaler's own count, the schedule buys no replicas the learner alone would not run
    assert scheduled["mean_replicas"] <= 1.03 * learned["mean_replicas"]
    assert result["cost_target"]["ratio"] == scheduled["cost_after_day3_vs_best_fixed"]
    assert isinstance(result["cost_target"]["met"], bool)
