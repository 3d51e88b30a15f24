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
from ai_ops.learner.schedule import breach_warnings, capacity_per_replica, replica_schedule
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


def test_schedule_holds_the_upper_forecast_at_the_target_within_bounds() -> None:
    forecast = _flat(START, [100.0] * 6 + [400.0] * 6)
    blocks = replica_schedule(forecast, capacity_rps=10.0, target_percent=80.0, floor=2, ceiling=50, block_hours=3)
    # 100 x 1.1 / (10 x 0.8) = 13.75 -> 14; 400 x 1.1 / 8 = 55 -> capped at 50; equal blocks merged
    assert [(b.start_hour, b.end_hour, b.min_replicas) for b in blocks] == [(0, 6, 14), (6, 12, 50)]
    with pytest.raises(ValueError, match="cannot size"):
        replica_schedule(forecast, float("nan"), 80.0, 2, 50)


def test_warnings_name_the_hours_beyond_what_max_replicas_can_serve() -> None:
    forecast = _flat(START, [100.0, 100.0, 500.0, 500.0, 100.0, 100.0, 900.0])
    warnings = breach_warnings(forecast, now=START, capacity_rps=10.0, max_replicas=40, safe_utilization_percent=90.0,
                               within_hours=6)
    assert [w.lead_hours for w in warnings] == [2.0, 3.0]  # 360 rps servable; the 7th hour is beyond 6 h
    assert "40 replicas" in warnings[0].reason


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
