"""The reward: did we meet the SLA, and what did it cost.

    reward = sla_weight * 1{SLA attainment >= target} - cost_variance
    cost_variance = cost_weight * (cost per hour - budgeted cost per hour) / budgeted cost per hour

`cost_variance` is the budget variance of the window, as a fraction of the budget: 0 when the
service spends exactly its monthly budget's hourly share, +0.2 when it spends 20% more, -0.3
when it spends 30% less. Using a rate (per hour) makes windows of any length comparable.
The weights are the pluggable part (`RewardWeights`); every part is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ai_ops.learner.observation import Observation

HOURS_PER_MONTH = 730.0
"""365.25 * 24 / 12, rounded as cloud price sheets do."""


@dataclass(frozen=True)
class RewardWeights:
    """How much each objective counts; a latency term could be added here later."""

    sla_weight: float = 1.0
    cost_weight: float = 1.0


@dataclass(frozen=True)
class Reward:
    """One window's reward with its parts, so a reviewer can recompute it."""

    sla_met: float
    sla_attainment: float
    sla_target: float
    cost_per_hour: float
    budget_per_hour: float
    cost_variance: float
    """Already weighted by `cost_weight`: exactly what the reward subtracts."""
    total: float
    sla_weight: float = 1.0
    """total = sla_weight * sla_met - cost_variance."""


def cost_variance(cost_per_hour: float, monthly_budget: float, cost_weight: float = 1.0) -> float:
    """Weighted relative budget variance; 0 when there is no budget to compare with."""
    budget_per_hour = monthly_budget / HOURS_PER_MONTH
    if budget_per_hour <= 0 or not np.isfinite(cost_per_hour):
        return 0.0
    return cost_weight * (cost_per_hour - budget_per_hour) / budget_per_hour


def reward(obs: Observation, sla_target: float, monthly_budget: float,
           weights: RewardWeights | float = 1.0) -> Reward:
    """Score one window. `weights` may be a bare cost weight (the config's `cost_weight`)."""
    if not isinstance(weights, RewardWeights):
        weights = RewardWeights(cost_weight=float(weights))
    sla_met = 1.0 if np.isfinite(obs.sla_attainment) and obs.sla_attainment >= sla_target else 0.0
    variance = cost_variance(obs.cost_per_hour, monthly_budget, weights.cost_weight)
    total = weights.sla_weight * sla_met - variance
    return Reward(sla_met, round(float(obs.sla_attainment), 6), sla_target, round(float(obs.cost_per_hour), 6),
                  round(monthly_budget / HOURS_PER_MONTH, 6), round(variance, 6), round(total, 6),
                  weights.sla_weight)


def budget_burn(r: Reward) -> float:
    """Share of the window's SLA error budget used: bad-request share / (100% - target).

    1.0 = exactly the budget; `sla_met` is `budget_burn <= 1`. Finer than the 0/1 SLA term, so
    a marginal window and a meltdown are told apart.
    """
    allowed = 100.0 - r.sla_target
    if allowed <= 0:
        return 0.0 if r.sla_attainment >= 100.0 else float("inf")
    return max(0.0, (100.0 - r.sla_attainment) / allowed)
