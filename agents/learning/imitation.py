"""Imitation, kept apart from reinforcement learning: behaviour cloning of demonstrations.

A separate, clearly labelled option beside pure RL (``agents.learning.ppo``, the headline): a
network of the learner's own shape (``ActorCritic``, the Gymnasium adapter's encoding and action
space) is fitted by cross-entropy to the actions of demonstrations, so a researcher can compare
on the same seeds

- pure RL (reward only),
- imitation of the planner: ``policy_demonstrations(OraclePolicy(), …)``; the planner reads the
  interaction rules, the student sees only what any agent sees, so it learns what the planner's
  choices look like from outside;
- imitation of people: ``export_demonstrations`` reads ``manage.py export_episodes`` lines
  (recorded review sessions among them) and replays each step's observation and action.

The result is a checkpoint like a trained one (``save_checkpoint``): usable as
``policy:<path>`` everywhere. Seeded and deterministic on the CPU.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import torch

# action_index lives with the encoding (the research export uses it without torch); imported from here too.
from agents.learning.encoding import action_index, encode_observation  # noqa: F401
from agents.learning.policy import ActorCritic, PolicyConfig
from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from envcore.gym_env import N_ACTIONS, OBS_SIZE


@dataclass
class Demonstrations:
    """Encoded (observation, mask, action index) triples and where they came from."""

    source: str
    observations: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    episodes: int = 0
    skipped: int = 0  # actions the adapter's action space cannot express (see action_index)

    def __len__(self) -> int:
        return len(self.actions)

    def add(self, observation: dict[str, Any], action: dict[str, Any], catalog: Catalog) -> None:
        vector, mask, slots = encode_observation(observation, catalog)
        index = action_index(action, slots)
        if index is None or not mask[index]:
            self.skipped += 1
            return
        self.observations.append(vector)
        self.masks.append(mask)
        self.actions.append(index)


def policy_demonstrations(policy: Any, catalog: Catalog | str, task_id: str, seeds: Iterable[int],
                          source: str) -> Demonstrations:
    """Every step of ``policy`` on ``task_id`` over ``seeds`` (a policy of ``agents.policies``'
    signature, e.g. ``OraclePolicy()``)."""
    env = PolypharmacyEnv(catalog)
    demos = Demonstrations(source=source)
    for seed in seeds:
        rng = random.Random(seed)
        obs = env.reset(seed=seed, task_id=task_id)
        while not obs.done:
            before = obs.to_dict()
            action = policy(before, catalog=env.catalog, rng=rng)
            demos.add(before, action, env.catalog)
            obs = env.step(action)
        demos.episodes += 1
    return demos


def export_demonstrations(records: Iterable[dict[str, Any]], catalog: Catalog, source: str,
                          task_id: str | None = None) -> Demonstrations:
    """The steps of ``export_episodes --format episodes`` lines of ``catalog`` (and ``task_id``
    when given): each step's action with the observation before it. Episodes whose reset
    observation could not be rebuilt (``null``: the patient left the catalog) are skipped."""
    demos = Demonstrations(source=source)
    for record in records:
        if record.get("catalog") != catalog.name or (task_id and record.get("task_id") != task_id):
            continue
        before = record.get("reset_observation")
        if before is None:
            continue
        for step in record.get("steps", ()):
            demos.add(before, step["action"], catalog)
            before = step["observation"]
        demos.episodes += 1
    return demos


@dataclass(frozen=True)
class CloneConfig:
    hidden: tuple[int, ...] = (256, 256)
    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0


@dataclass
class CloneResult:
    model: ActorCritic
    losses: list[float]
    samples: int
    cpu_time_s: float


def behaviour_clone(demos: Demonstrations, config: CloneConfig = CloneConfig()) -> CloneResult:
    """Fit the policy head (and trunk) to the demonstrations by masked cross-entropy."""
    if not len(demos):
        raise ValueError(f"No demonstrations to imitate from {demos.source}.")
    started = time.process_time()
    torch.manual_seed(config.seed)
    model = ActorCritic(PolicyConfig(OBS_SIZE, N_ACTIONS, config.hidden))
    obs = torch.as_tensor(np.stack(demos.observations))
    masks = torch.as_tensor(np.stack(demos.masks)).bool()
    actions = torch.as_tensor(np.asarray(demos.actions, dtype=np.int64))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    order_rng = np.random.default_rng(config.seed)
    losses = []
    for _epoch in range(config.epochs):
        order = torch.as_tensor(order_rng.permutation(len(actions)))
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            logits, _value = model(obs[batch], masks[batch])
            loss = torch.nn.functional.cross_entropy(logits, actions[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / len(order))
    model.eval()
    return CloneResult(model=model, losses=losses, samples=len(actions), cpu_time_s=time.process_time() - started)
