"""Stored episodes as a Minari 0.5 dataset, written with h5py alone (no Minari in the site): the
one writer behind ``manage.py export_episodes --format minari`` and /research/'s Minari download
(``reviews.research_export``, which takes out what would identify a person before writing).

Minari 0.5's layout (read from its ``HDF5Storage`` and checked by loading the files with
``minari.load_dataset`` in the RL stack's venv): a dataset folder ``<id>/data/`` holding
``metadata.json`` and ``main_data.hdf5``, with a group ``episode_<i>`` per episode holding
``observations`` (steps + 1 rows), ``actions``, ``rewards``, ``terminations``, ``truncations``
(steps rows) and ``infos/<key>`` (steps + 1 rows). The encoding is the Gymnasium adapter's
(``envcore.gym_env``, rebuilt from each stored observation by ``agents.learning.encoding``); the
reward is ``raw_reward``, as the adapter's. Infos are the adapter's (``action_mask``,
``grader_score``: 0.0 until the last step) plus ``substitute_named``. With an ``env_spec`` (a
Gymnasium id's spec, ``envcore.gym_registry``) the dataset's ``recover_environment()`` makes the
environment the episodes came from. Episodes are written as they come: memory stays flat.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import gymnasium as gym
import h5py
import numpy as np
from gymnasium import spaces

from agents.learning.encoding import action_index, encode_observation
from envcore.gym_env import adapter_spaces
from episodes.export import Catalogs

MINARI_VERSION = "0.5.4"  # the release whose reader this layout was checked against
METADATA_FILE = "metadata.json"
DATA_FILE = "main_data.hdf5"


def space_json(space: spaces.Space) -> str:
    """A space as Minari 0.5 serialises it in metadata.json (Box and Discrete are all we use)."""
    if isinstance(space, spaces.Box):
        return json.dumps({"type": "Box", "dtype": str(space.dtype), "shape": list(space.shape),
                           "low": space.low.tolist(), "high": space.high.tolist()})
    if isinstance(space, spaces.Discrete):
        return json.dumps({"type": "Discrete", "dtype": "int64", "start": int(space.start), "n": int(space.n)})
    raise TypeError(f"no Minari serialisation written for {space!r}")


def minari_episode(record: dict[str, Any], catalogs: Catalogs) -> dict[str, np.ndarray] | str:
    """One ``episodes.export`` record's arrays in the adapter's encoding, or why it cannot be
    encoded faithfully."""
    catalog = catalogs.get(record["catalog"])
    if catalog is None or record["reset_observation"] is None:
        return "patient_not_in_catalog"
    if record["catalog_changed"]:
        # The encoding reads drug features from today's catalog: vectors would not be what
        # the agent saw. The JSON Lines keep such episodes, marked.
        return "catalog_changed"
    before = record["reset_observation"]
    vector, mask, slots = encode_observation(before, catalog)
    observations, masks, actions, named = [vector], [mask], [], [0]
    for step in record["steps"]:
        index = action_index(step["action"], slots)
        if index is None:
            return "action_outside_the_adapter"  # a slot beyond MAX_SLOTS, a drug outside the regimen
        actions.append(index)
        # The adapter cannot name a substitute (it lets the environment choose), so replaying
        # this index may give another drug than the one the step named: flagged per step.
        named.append(int(bool(step["action"].get("proposed_new_drug_id"))))
        vector, mask, slots = encode_observation(step["observation"], catalog)
        observations.append(vector)
        masks.append(mask)
    last = record["steps"][-1]["observation"] if record["steps"] else before
    score = np.zeros(len(observations))  # as the adapter's info: 0.0 until graded
    score[-1] = last.get("grader_score") or 0.0
    return {
        "observations": np.stack(observations).astype(np.float32),
        "actions": np.asarray(actions, dtype=np.int64),
        "rewards": np.asarray([s["raw_reward"] for s in record["steps"]], dtype=np.float64),
        "terminations": np.asarray([bool(s["observation"].get("terminated")) for s in record["steps"]], dtype=bool),
        "truncations": np.asarray([bool(s["observation"].get("truncated")) for s in record["steps"]], dtype=bool),
        "infos/action_mask": np.stack(masks).astype(np.int8),
        "infos/grader_score": score,
        "infos/substitute_named": np.asarray(named, dtype=np.int8),
    }


class MinariWriter:
    """Writes one dataset's ``data`` folder: ``add`` each episode's arrays (or ``skip`` one with
    its reason), then ``finish`` with the metadata, which returns what it wrote."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.episodes = self.steps = 0
        self.skipped: Counter[str] = Counter()
        self._file = h5py.File(self.folder / DATA_FILE, "w", track_order=True)

    def add(self, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
        group = self._file.create_group(f"episode_{self.episodes}")
        group.attrs.update({"id": self.episodes, "total_steps": len(arrays["actions"]), **attrs})
        infos = group.create_group("infos")
        for name, data in arrays.items():
            # Chunked and resizable along the steps, as Minari writes its own (so its readers and
            # writers can extend the file); compressed: the pair features are mostly zeros.
            target = infos if name.startswith("infos/") else group
            target.create_dataset(name.removeprefix("infos/"), data=data, chunks=True,
                                  maxshape=(None, *data.shape[1:]), compression="gzip")
        self.episodes += 1
        self.steps += len(arrays["actions"])

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def close(self) -> None:
        if self._file.id.valid:
            self._file.close()

    def finish(self, *, dataset_id: str, env_spec: gym.envs.registration.EnvSpec | None = None,
               **fields: Any) -> dict[str, Any]:
        """Close the data file and write ``metadata.json``: the counts, spaces and sizes, the
        environment's spec when given, and ``fields`` (description, author…)."""
        self.close()
        observation_space, action_space = adapter_spaces()
        metadata: dict[str, Any] = {
            "dataset_id": dataset_id, "minari_version": MINARI_VERSION, "data_format": "hdf5", "jpeg_encoding": False,
            "total_episodes": self.episodes, "total_steps": self.steps,
            "observation_space": space_json(observation_space), "action_space": space_json(action_space),
            **({"env_spec": env_spec.to_json()} if env_spec is not None else {}),
            "dataset_size": round(os.path.getsize(self.folder / DATA_FILE) / 1e6, 1),  # MB, as Minari reports it
            **fields,
        }
        metadata.setdefault("polypharmacy", {})["episodes_left_out"] = dict(self.skipped)
        (self.folder / METADATA_FILE).write_text(json.dumps(metadata, indent=1), encoding="utf-8")
        return metadata

    def __enter__(self) -> "MinariWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
