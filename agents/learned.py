"""The trained-policy helpers the site calls (the review page's suggesters, the jobs' resumable
training), behind functions that import torch only when first called: torch costs seconds to
import, and the site's web processes import this module at start-up without paying for it.

This is the one place outside ``agents.learning`` that reaches into it; pure Python, no Django.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

from envcore.catalog import Catalog
from envcore.gym_env import decode_action

Policy = Callable[..., dict[str, Any]]


def checkpoint_policy(path: str | Path, *, greedy: bool = True) -> Policy:
    """The policy a checkpoint file holds (``agents.learning.agent.checkpoint_policy``)."""
    from agents.learning.agent import checkpoint_policy as load  # torch: on first use

    return load(path, greedy=greedy)


@functools.lru_cache(maxsize=8)
def cached_greedy_policy(path: str, _mtime: float) -> Policy:
    """A checkpoint's greedy policy, loaded once per file version: loading takes tens of
    milliseconds, and the mtime in the key drops a file that was replaced."""
    return checkpoint_policy(path, greedy=True)


def policy_top_actions(policy: Callable[..., Any], observation: dict[str, Any], catalog: Catalog,
                       k: int) -> list[dict[str, Any]]:
    """The ``k`` actions the policy's network rates likeliest here, with their probabilities
    (the greedy suggestion is the first). Empty for a policy without a network."""
    model, encode = getattr(policy, "model", None), getattr(policy, "encode", None)
    if model is None or encode is None:
        return []
    import torch  # a policy with a network was loaded: torch is imported already

    vector, mask, slots = encode(observation, catalog)  # ModelPolicy's: its network's own input
    with torch.no_grad():
        logits, _ = model(torch.as_tensor(vector, dtype=torch.float32).unsqueeze(0),
                          torch.as_tensor(mask).bool().unsqueeze(0))
        probs = torch.softmax(logits[0], -1)
    top = torch.topk(probs, min(k, int(mask.sum())))
    return [{"action": decode_action(int(i), slots).to_dict(), "p": round(float(p), 4)}
            for p, i in zip(top.values, top.indices)]


def resume_state_from_bytes(data: bytes) -> dict[str, Any]:
    """A learner's saved state (``agents.learning.resume``)."""
    from agents.learning.resume import from_bytes  # torch: on first use

    return from_bytes(data)


def resume_state_to_bytes(state: dict[str, Any]) -> bytes:
    from agents.learning.resume import to_bytes  # torch: on first use

    return to_bytes(state)
