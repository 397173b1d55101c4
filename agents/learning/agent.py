"""A checkpoint as an agent: ``checkpoint_policy(path)`` returns
``policy(observation: dict, *, catalog, rng) -> action dict`` like ``agents.policies``.

The wire observation is encoded with ``encode_observation`` (identical to the gym adapter's
encoding), the greedy masked action is decoded with the adapter's ``decode_action``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable

import torch

from agents.learning.encoding import encode_observation
from agents.learning.policy import ActorCritic, load_checkpoint
from envcore.catalog import Catalog
from envcore.gym_env import decode_action


def model_policy(model: ActorCritic, *, greedy: bool = True) -> Callable[..., dict[str, Any]]:
    def policy(observation: dict[str, Any], *, catalog: Catalog, rng: random.Random) -> dict[str, Any]:
        vector, mask, slots = encode_observation(observation, catalog)
        with torch.no_grad():
            if greedy:
                index = model.act(vector, mask, greedy=True)
            else:
                gen = torch.Generator()
                gen.manual_seed(rng.getrandbits(63))
                index = model.act(vector, mask, greedy=False, generator=gen)
        return decode_action(int(index), slots).to_dict()

    policy.model = model  # type: ignore[attr-defined]
    return policy


def checkpoint_policy(path: str | Path, *, greedy: bool = True) -> Callable[..., dict[str, Any]]:
    """The checkpoint's policy, with the checkpoint's payload (metrics, config) as ``.checkpoint``."""
    model, payload = load_checkpoint(path)
    policy = model_policy(model, greedy=greedy)
    policy.checkpoint = {k: v for k, v in payload.items() if k != "state_dict"}  # type: ignore[attr-defined]
    return policy
