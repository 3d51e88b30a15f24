"""The reward's parts are named as docs/learner.md defines them, in the ledger and the commit message."""

from __future__ import annotations

import pytest

from ai_ops.config import load_config
from ai_ops.jobs.cycle import FleetDecision, commit_message
from ai_ops.learner.learner import Decision
from ai_ops.learner.observation import Observation
from ai_ops.learner.reward import HOURS_PER_MONTH, RewardWeights, reward


def window(cost_per_hour: float, sla: float = 99.99) -> Observation:
    return Observation(time=0.0, sla_attainment=sla, cost=6 * cost_per_hour, cost_per_hour=cost_per_hour,
                       utilization_mean=50.0, utilization_p95=70.0, replicas_mean=10.0, replicas_max=12.0,
                       latency_p95_max_ms=200.0, error_rate_mean=0.01, samples=72)


def test_reward_is_weighted_sla_minus_cost_variance() -> None:
    budget = 730.0  # 1.0 per hour
    r = reward(window(1.5), 99.95, budget, RewardWeights(sla_weight=2.0, cost_weight=0.5))
    assert r.budget_per_hour == pytest.approx(budget / HOURS_PER_MONTH)
    assert r.cost_variance == pytest.approx(0.5 * 0.5)          # weighted relative overspend
    assert r.total == pytest.approx(2.0 * 1.0 - 0.25)
    assert r.sla_weight == 2.0
    assert not hasattr(r, "cost_term")


def test_commit_message_labels_the_cost_part_cost_variance() -> None:
    config = load_config(None)
    monthly = config.cost.monthly_budget
    obs = window(1.2 * monthly / HOURS_PER_MONTH)
    r = reward(obs, config.sla.target, monthly, config.learner.cost_weight)
    decision = Decision(0.0, {"autoscaling_cpu_target": 80.0}, {"autoscaling_cpu_target": 75.0}, r,
                        {"autoscaling_cpu_target": "test"}, "exploring", "autoscaling_cpu_target 80 -> 75")
    message = commit_message(FleetDecision({"checkout": decision}), {"checkout": obs}, {}, [], config)
    assert "cost variance +0.2000" in message
    assert "cost term" not in message
    assert f"reward {r.total:+.4f} = 1 x SLA met 1 - cost variance" in message
