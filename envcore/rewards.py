"""Shaped-reward constants (the reference's) and the clamp of the wire reward."""

from __future__ import annotations

QUERY_COST = 0.015
SEVERE_DISCOVERY_BONUS = 0.05
MODERATE_DISCOVERY_BONUS = 0.02
INTERVENTION_COST = 0.025
INVALID_ACTION_PENALTY = 0.15
TIMEOUT_PENALTY = 0.25

# The reference's public contract keeps the wire reward inside (0, 1); trainers get raw_reward.
REWARD_MIN = 0.001
REWARD_MAX = 0.999


def clamp_reward(raw: float) -> float:
    return min(max(raw, REWARD_MIN), REWARD_MAX)


def query_reward(new_severity: str | None) -> float:
    """A query's raw reward; ``new_severity`` is the severity of a pair discovered for the first
    time in this episode, or None (no interaction, or a pair already queried: no bonus twice)."""
    reward = -QUERY_COST
    if new_severity == "severe":
        reward += SEVERE_DISCOVERY_BONUS
    elif new_severity == "moderate":
        reward += MODERATE_DISCOVERY_BONUS
    return reward


def intervention_reward(previous_risk: float, new_risk: float) -> float:
    return (previous_risk - new_risk) - INTERVENTION_COST
