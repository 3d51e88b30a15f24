"""The threshold learner's public API (see docs/learner.md)."""

from ai_ops.learner.learner import Decision, LearningStatus, ThresholdLearner
from ai_ops.learner.observation import Observation, observe
from ai_ops.learner.reward import Reward, RewardWeights, budget_burn, cost_variance, reward

__all__ = ["Decision", "LearningStatus", "Observation", "Reward", "RewardWeights", "ThresholdLearner",
           "budget_burn", "cost_variance", "observe", "reward"]
