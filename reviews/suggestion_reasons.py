"""Why a suggester suggested what it did, for the review page: the rule of the rule-based
suggester that fired (``agents.policies.heuristic_decide``), or a trained policy's most likely
actions with their probabilities. Stored with the suggestion in its audit record."""

from __future__ import annotations

from typing import Any, Callable

from agents import learned
from agents.policies import heuristic_decide
from envcore.catalog import Catalog

TOP_ACTIONS = 3


def rule_based_reason(observation: dict[str, Any], catalog: Catalog) -> str:
    """The rule that chose the heuristic's action (deterministic: the same action it gave)."""
    return heuristic_decide(observation, catalog=catalog)[1]


def policy_top_actions(policy: Callable[..., Any], observation: dict[str, Any], catalog: Catalog,
                       k: int = TOP_ACTIONS) -> list[dict[str, Any]]:
    """The ``k`` actions the policy's network rates likeliest here, with their probabilities
    (the greedy suggestion is the first). Empty for a policy without a network."""
    return learned.policy_top_actions(policy, observation, catalog, k)
