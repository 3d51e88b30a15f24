"""The reward: did we meet the SLA, and what did it cost. Pluggable through `RewardWeights`."""

from __future__ import annotations

from dataclasses import dataclass

from ai_ops.learner.observation import Observation

HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class Reward:
    sla_met: float
    cost_term: float
    total: float


def reward(obs: Observation, sla_target: float, monthly_budget: float, cost_weight: float) -> Reward:
    """reward = 1{SLA >= target} - cost_weight * (cost per hour / budgeted cost per hour)."""
    sla_met = 1.0 if obs.sla_attainment >= sla_target else 0.0
    budget_rate = monthly_budget / HOURS_PER_MONTH
    cost_term = cost_weight * obs.cost_per_hour / budget_rate if budget_rate > 0 else 0.0
    return Reward(sla_met, round(cost_term, 6), round(sla_met - cost_term, 6))
