"""The adapter's action mask inside its observation, for libraries that read masks there.

Ray RLlib's new API stack masks actions from the observation, not from ``info`` or a method: its
``ActionMaskingTorchRLModule`` (``ray.rllib.examples.rl_modules.classes.action_masking_rlm``)
wants a ``Dict`` observation ``{"action_mask": Box(0, 1, (n,)), "observations": <original>}``
and removes masked actions' logits before sampling. ``MaskInObservation`` gives any adapter
(``gymnasium.make`` of a registered id included) that form, built from the wrapped env's declared
spaces, so it follows the adapter's encoding whatever its size. ``agents/rllib.py`` uses it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class MaskInObservation(gym.ObservationWrapper[dict[str, Any], Any, Any], gym.utils.RecordConstructorArgs):
    """``obs`` → ``{"action_mask": the mask as float32, "observations": obs}``."""

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)  # so the wrapped env's spec can be recreated
        gym.ObservationWrapper.__init__(self, env)
        assert isinstance(env.action_space, gym.spaces.Discrete), "masks need a Discrete action space"
        self.observation_space = gym.spaces.Dict({
            "action_mask": gym.spaces.Box(0.0, 1.0, shape=(int(env.action_space.n),), dtype=np.float32),
            "observations": env.observation_space,
        })

    def observation(self, observation: Any) -> dict[str, Any]:
        mask = self.env.get_wrapper_attr("action_mask")()
        return {"action_mask": np.asarray(mask, dtype=np.float32), "observations": observation}
