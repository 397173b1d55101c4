"""The learner's whole state between two updates, so a training run stopped there (its worker
lost) goes on from it and ends with the same parameters as a run that never stopped.

Everything the next update reads is in it: the network and the optimiser, every random state
(python, numpy, torch's global one and the training ``Generator``), each environment's episode
(envcore's own snapshot, the adapter's query memory, its numpy Generator), the rollout's
observations, masks and running returns, the history so far and the update count.

Plain data only: ``to_bytes`` writes it with ``torch.save`` and ``from_bytes`` reads it back
with ``weights_only=True``, which loads tensors, numbers, strings and containers and refuses
anything that would run code, so a state read from the database cannot be a way in."""

from __future__ import annotations

import io
import random
from typing import Any

import numpy as np
import torch

FORMAT = "polypharmacy-train-state/1"


def capture(*, update: int, steps: int, model: torch.nn.Module, optim: torch.optim.Optimizer,
            gen: torch.Generator, venv: Any, ep_return: np.ndarray, history: list[dict[str, Any]]) -> dict[str, Any]:
    """The state after ``update`` (its history entry included)."""
    version, mt, gauss = random.getstate()
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple)  # the global generator is the legacy MT19937: always a tuple
    return {
        "format": FORMAT, "update": update, "steps": steps,
        "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "optim": optim.state_dict(),
        "gen": gen.get_state(), "torch": torch.get_rng_state(),
        "python": [version, list(mt), gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "envs": [{"episode": env.env.snapshot(), "pair_state": torch.from_numpy(env._pair_state.copy()),
                  "task_id": env.task_id} for env in venv.envs],
        "rngs": [rng.bit_generator.state for rng in venv.rngs],
        "obs": torch.from_numpy(venv.obs.copy()), "masks": torch.from_numpy(venv.masks.copy()),
        "current_task": list(venv.current_task),
        "ep_return": torch.from_numpy(ep_return.copy()),
        "history": history,
    }


def restore(state: dict[str, Any], *, model: torch.nn.Module, optim: torch.optim.Optimizer, gen: torch.Generator,
            venv: Any) -> tuple[int, int, np.ndarray, list[dict[str, Any]]]:
    """Put ``state`` back into freshly built objects of the same configuration; (update done,
    steps, running returns, history)."""
    if state.get("format") != FORMAT:
        raise ValueError(f"Not a training state of this version ({state.get('format')!r}).")
    if len(state["envs"]) != len(venv.envs):
        raise ValueError(f"The state has {len(state['envs'])} environments, the run {len(venv.envs)}.")
    model.load_state_dict(state["model"])
    optim.load_state_dict(state["optim"])
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    for env, saved in zip(venv.envs, state["envs"]):
        env.env.restore(saved["episode"])
        env._pair_state[:] = saved["pair_state"].numpy()
        env.task_id = saved["task_id"]
    for rng, saved in zip(venv.rngs, state["rngs"]):
        rng.bit_generator.state = saved
    venv.obs[:] = state["obs"].numpy()
    venv.masks[:] = state["masks"].numpy()
    for env, task in zip(venv.envs, state["current_task"]):
        env.current_task = task
    return int(state["update"]), int(state["steps"]), state["ep_return"].numpy().copy(), list(state["history"])


def to_bytes(state: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()


def from_bytes(data: bytes) -> dict[str, Any]:
    return torch.load(io.BytesIO(data), weights_only=True)
