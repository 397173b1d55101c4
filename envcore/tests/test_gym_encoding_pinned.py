"""The adapter's encoding, pinned: a hash of what it gives over seeded random episodes.

The vector, the mask and the rewards are every trained checkpoint's input and signal: a change
to any of them silently invalidates the policies in the README's tables and the site's jobs.
The encoding is written for speed (``envcore.gym_env``: flat lists, one array write, cached
per-drug features and query masks), so this pins its output to the straightforward version's:
the hash below was taken before those rewrites (commit 8596888) and has not changed since.
Change it only on purpose, with the checkpoints retrained.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from envcore.catalog import Catalog
from envcore.gym_env import FINISH_ACTION, N_ACTIONS, PolypharmacyGymEnv
from envcore.scenarios import TASKS

PINNED = {
    "classic": "b9766a7b515d82c28f7166e77ccc2d09cb95ed429348ba64ff054a101e9a6cbb",
    "curated": "ceefcfb54822c72d780c2decde6803ed477fce6dc73ecb738b6cd369d8d2f572",
}


def encoding_digest(catalog: str, episodes_per_task: int = 6) -> tuple[int, str]:
    """(steps, sha256) of observations, masks, rewards, ends and grades over random episodes:
    mostly valid actions, finishing rarely (so interventions and queries pile up), and an
    invalid one now and then (the refusal path)."""
    env = PolypharmacyGymEnv(Catalog.load(catalog))
    rng = np.random.default_rng(7)
    digest = hashlib.sha256()
    steps = 0
    for task in TASKS:
        for episode in range(episodes_per_task):
            obs, info = env.reset(options={"task_id": task, "patient_seed": 500 + episode})
            while True:
                digest.update(obs.tobytes())
                digest.update(info["action_mask"].tobytes())
                valid = np.flatnonzero(info["action_mask"])
                if len(valid) > 1 and rng.random() < 0.93:
                    valid = valid[valid != FINISH_ACTION]
                action = int(rng.choice(valid)) if rng.random() < 0.9 else int(rng.integers(N_ACTIONS))
                obs, reward, terminated, truncated, info = env.step(action)
                steps += 1
                digest.update(np.float64(reward).tobytes())
                digest.update(bytes([terminated, truncated]))
                digest.update(np.float64(info["grader_score"]).tobytes())
                if terminated or truncated:
                    digest.update(obs.tobytes())
                    digest.update(info["action_mask"].tobytes())
                    break
    return steps, digest.hexdigest()


@pytest.mark.parametrize("catalog", sorted(PINNED))
def test_encoding_is_unchanged(catalog: str) -> None:
    steps, digest = encoding_digest(catalog)
    assert steps > 150  # the episodes ran (and stepped through interventions, not one finish each)
    assert digest == PINNED[catalog], (
        f"the adapter's encoding of {catalog} changed ({steps} steps, sha256 {digest}): every "
        "trained checkpoint reads it; if the change is meant, retrain and update PINNED")
