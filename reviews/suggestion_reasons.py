"""Why a suggester suggested what it did, for the review page: the rule of the rule-based
suggester that fired (``agents.policies.heuristic_decide``), or a trained policy's most likely
actions with their probabilities. Stored with the suggestion in its audit record."""

from __future__ import annotations

from typing import Any, Callable

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
    model = getattr(policy, "model", None)
    if model is None:
        return []
    import torch

    from agents.learning.encoding import encode_observation
    from envcore.gym_env import decode_action

    vector, mask, slots = encode_observation(observation, catalog)
    with torch.no_grad():
        logits, _ = model(torch.as_tensor(vector, dtype=torch.float32).unsqueeze(0),
                          torch.as_tensor(mask).bool().unsqueeze(0))
        probs = torch.softmax(logits[0], -1)
    top = torch.topk(probs, min(k, int(mask.sum())))
    return [{"action": decode_action(int(i), slots).to_dict(), "p": round(float(p), 4)}
            for p, i in zip(top.values, top.indices)]
