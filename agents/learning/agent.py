"""A checkpoint as an agent: ``checkpoint_policy(path)`` returns
``policy(observation: dict, *, catalog, rng) -> action dict`` like ``agents.policies``.

The wire observation is encoded with ``encode_observation`` (identical to the gym adapter's
encoding), the greedy masked action is decoded with the adapter's ``decode_action``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.learning.encoding import encode_observation, learner_extras
from agents.learning.policy import ActorCritic, load_checkpoint
from envcore.catalog import Catalog
from envcore.gym_env import decode_action


class ModelPolicy:
    """A network as an ``agents.policies.Policy``, with the network as ``.model`` (the review
    pages' suggestion reasons read it) and, loaded from a file, the checkpoint's payload (metrics,
    config) as ``.checkpoint``."""

    def __init__(self, model: ActorCritic, *, greedy: bool = True, checkpoint: dict[str, Any] | None = None) -> None:
        self.model = model
        self.greedy = greedy
        self.checkpoint = checkpoint if checkpoint is not None else {}
        self._index = model.config.drug_index()

    def encode(self, observation: dict[str, Any], catalog: Catalog) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
        """(the network's input, action mask, drug id per slot) for a wire observation: the
        adapter's vector, and for the pairwise network the learner's extras after it."""
        vector, mask, slots = encode_observation(observation, catalog)
        if self._index is not None:
            vector = np.concatenate([vector, learner_extras(slots, observation, catalog, self._index)])
        return vector, mask, slots

    def __call__(self, observation: dict[str, Any], *, catalog: Catalog, rng: random.Random) -> dict[str, Any]:
        vector, mask, slots = self.encode(observation, catalog)
        with torch.no_grad():
            if self.greedy:
                index = self.model.act(vector, mask, greedy=True)
            else:
                gen = torch.Generator()
                gen.manual_seed(rng.getrandbits(63))
                index = self.model.act(vector, mask, greedy=False, generator=gen)
        return decode_action(int(index), slots).to_dict()


def model_policy(model: ActorCritic, *, greedy: bool = True) -> ModelPolicy:
    return ModelPolicy(model, greedy=greedy)


def checkpoint_policy(path: str | Path, *, greedy: bool = True) -> ModelPolicy:
    """The checkpoint's policy, with the checkpoint's payload (metrics, config) as ``.checkpoint``."""
    model, payload = load_checkpoint(path)
    return ModelPolicy(model, greedy=greedy, checkpoint={k: v for k, v in payload.items() if k != "state_dict"})
