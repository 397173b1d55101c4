"""Runs inside .venv-minari-0.5.4 (imports only Minari and numpy): loads a dataset the way a
researcher would, ``minari.load_dataset(id)`` under ``MINARI_DATASETS_PATH``, and prints what it
read as JSON for reviews/tests/test_research_minari.py to compare with the site's own h5py reading."""

from __future__ import annotations

import json
import sys

import minari
import numpy as np


def main(dataset_id: str) -> None:
    dataset = minari.load_dataset(dataset_id)
    episodes = []
    for episode, meta in zip(dataset.iterate_episodes(), dataset.storage.get_episode_metadata(dataset.episode_indices)):
        episodes.append({
            "id": int(episode.id), "steps": len(episode), "research_code": str(meta["research_code"]),
            "observations": np.asarray(episode.observations).tolist(), "actions": np.asarray(episode.actions).tolist(),
            "rewards": episode.rewards.tolist(), "terminations": episode.terminations.tolist(),
            "truncations": episode.truncations.tolist(), "infos": sorted(episode.infos),
            "action_mask": np.asarray(episode.infos["action_mask"]).tolist(),
        })
    print(json.dumps({
        "minari": minari.__version__, "total_episodes": dataset.total_episodes, "total_steps": dataset.total_steps,
        "observation_space": str(dataset.observation_space), "action_space": str(dataset.action_space),
        "episodes": episodes,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
