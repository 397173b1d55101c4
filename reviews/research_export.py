"""The researchers' downloads of /research/'s rows: JSON Lines, and a Minari dataset.

Both take exactly the rows the table shows for the same filters (``selectors.research_rows``), in
its pseudonym order, and both read episodes through ``episodes.export``, the serialisation that
``manage.py export_episodes`` writes, so the three never drift. What would identify a person is
taken out of that record here, once, for both formats:

- the episode id and the patient id (the pseudonym stands for both), everywhere they occur;
- demographics: ``age`` and ``sex`` of every observation (neither moves the risk, the rewards or
  the grader, so a learner loses nothing the environment scores); in the Minari vectors the
  adapter's age feature is 0;
- the rationale of every intervention (free text a person typed: a name, a bed number…);
- users and times, which the record never had.

What stays is the review itself (drugs named, the environment's answers, exact risks, rewards and
the score): it is what the data is for. It is **pseudonymised, not anonymous**: an episode's
drugs and exact baseline risk match it to its patient for anyone who can reset one, which the
table's binned, 5-anonymous rows do not allow. README "Review sessions" says so.

Minari 0.5's layout (read from its ``HDF5Storage`` and checked by loading the file with
``minari.load_dataset``): ``<dataset id>/data/metadata.json`` and ``data/main_data.hdf5`` with a
group ``episode_<i>`` per episode holding ``observations`` (steps + 1 rows), ``actions``,
``rewards``, ``terminations``, ``truncations`` (steps rows) and ``infos/<key>`` (steps + 1 rows).
The observation and action encoding is the Gymnasium adapter's (``envcore.gym_env``, rebuilt from
the stored observation by ``agents.learning.encoding``); the reward is ``raw_reward``, as the
adapter's. Written with h5py into temporary files: memory stays flat however many episodes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections import Counter
from typing import IO, Any, Iterator

import h5py
import numpy as np
from gymnasium import spaces

from agents.learning.encoding import action_index, encode_observation
from envcore.gym_env import AGE_FEATURE, adapter_spaces
from episodes.export import CHUNK_SIZE, Catalogs, episode_record, episodes_with_steps
from reviews.audit import RequestMeta, audit_append
from reviews.models import AuditRecord, ReviewSession
from reviews.selectors import ResearchTable

DATASET_ID = "polypharmacy-research-v0"
MINARI_VERSION = "0.5.4"  # the release whose reader this layout was checked against
IDENTIFYING_KEYS = ("episode_id", "patient_id", "age", "sex")


# ── the record ─────────────────────────────────────────────────────────────
def _scrub_observation(observation: dict[str, Any] | None) -> dict[str, Any] | None:
    if observation is None:
        return None
    clean = {k: v for k, v in observation.items() if k not in IDENTIFYING_KEYS}
    clean["interventions"] = [{k: v for k, v in i.items() if k != "rationale"} for i in observation.get("interventions", ())]
    return clean


def research_record(record: dict[str, Any], *, code: str, sign_off: str) -> dict[str, Any]:
    """An ``episodes.export`` record with what identifies a person taken out (module docstring)."""
    kept = {k: v for k, v in record.items() if k not in ("episode_id", "patient_id", "steps", "reset_observation")}
    return {
        "code": code, **kept, "sign_off": sign_off,
        "reset_observation": _scrub_observation(record["reset_observation"]),
        "steps": [
            {**step, "action": {k: v for k, v in step["action"].items() if k != "rationale"},
             "observation": _scrub_observation(step["observation"])}
            for step in record["steps"]
        ],
    }


def _records(table: ResearchTable) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(table row, full ``episodes.export`` record) for each row, in the table's order."""
    catalogs = Catalogs()
    # In chunks of the table's order: a chunk's episodes and their steps in three queries.
    for start in range(0, len(table.rows), CHUNK_SIZE):
        rows = table.rows[start:start + CHUNK_SIZE]
        episode_of = dict(ReviewSession.objects.filter(pk__in=[table.sessions[r["code"]] for r in rows])
                          .values_list("pk", "episode_id"))
        episodes = {e.pk: e for e in episodes_with_steps().filter(pk__in=list(episode_of.values()))}
        for row in rows:
            yield row, episode_record(episodes[episode_of[table.sessions[row["code"]]]], catalogs)


# ── JSON Lines ─────────────────────────────────────────────────────────────
def research_jsonl_write(table: ResearchTable, out: IO[bytes]) -> int:
    """One line per row (``research_record``); returns the number of lines."""
    lines = 0
    for row, record in _records(table):
        line = research_record(record, code=row["code"], sign_off=row["sign_off"])
        out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        lines += 1
    return lines


# ── Minari ─────────────────────────────────────────────────────────────────
def _space_json(space: spaces.Space) -> str:
    """A space as Minari 0.5 serialises it in metadata.json (Box and Discrete are all we use)."""
    if isinstance(space, spaces.Box):
        return json.dumps({"type": "Box", "dtype": str(space.dtype), "shape": list(space.shape),
                           "low": space.low.tolist(), "high": space.high.tolist()})
    if isinstance(space, spaces.Discrete):
        return json.dumps({"type": "Discrete", "dtype": "int64", "start": int(space.start), "n": int(space.n)})
    raise TypeError(f"no Minari serialisation written for {space!r}")


def minari_episode(record: dict[str, Any], catalogs: Catalogs) -> dict[str, np.ndarray] | str:
    """One episode's arrays in the adapter's encoding, or why it cannot be encoded faithfully."""
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
        # this index may give another drug than the one the pharmacist named: flagged per step.
        named.append(int(bool(step["action"].get("proposed_new_drug_id"))))
        vector, mask, slots = encode_observation(step["observation"], catalog)
        observations.append(vector)
        masks.append(mask)
    obs = np.stack(observations).astype(np.float32)
    obs[:, AGE_FEATURE] = 0.0  # demographics are left out (module docstring)
    last = record["steps"][-1]["observation"] if record["steps"] else before
    score = np.full(len(observations), np.nan)
    score[-1] = last["grader_score"] if last.get("grader_score") is not None else np.nan
    return {
        "observations": obs,
        "actions": np.asarray(actions, dtype=np.int64),
        "rewards": np.asarray([s["raw_reward"] for s in record["steps"]], dtype=np.float64),
        "terminations": np.asarray([bool(s["observation"].get("terminated")) for s in record["steps"]], dtype=bool),
        "truncations": np.asarray([bool(s["observation"].get("truncated")) for s in record["steps"]], dtype=bool),
        "infos/action_mask": np.stack(masks).astype(np.int8),
        "infos/substitute_named": np.asarray(named, dtype=np.int8),
        "infos/grader_score": score,
    }


def _dataset(group: h5py.Group, name: str, data: np.ndarray) -> None:
    # Chunked and resizable along the steps, as Minari writes its own (so its readers and
    # writers can extend the file); compressed: the pair features are mostly zeros.
    group.create_dataset(name, data=data, chunks=True, maxshape=(None, *data.shape[1:]), compression="gzip")


def research_minari_write(table: ResearchTable, out: IO[bytes], *, filters: dict[str, Any]) -> dict[str, Any]:
    """The rows as a zipped Minari dataset directory (``DATASET_ID/data/…``) into ``out``;
    returns the metadata written (episode and step counts, what was left out and why)."""
    observation_space, action_space = adapter_spaces()
    skipped: Counter[str] = Counter()
    episodes = steps = 0
    catalogs = Catalogs()
    with tempfile.TemporaryDirectory(prefix="research-minari-") as folder:
        path = f"{folder}/main_data.hdf5"
        with h5py.File(path, "w", track_order=True) as file:
            for row, record in _records(table):
                arrays = minari_episode(record, catalogs)
                if isinstance(arrays, str):
                    skipped[arrays] += 1
                    continue
                group = file.create_group(f"episode_{episodes}")
                group.attrs.update({"id": episodes, "total_steps": len(arrays["actions"]), "research_code": row["code"],
                                    "catalog": row["catalog"], "task_id": row["task_id"], "sign_off": row["sign_off"]})
                infos = group.create_group("infos")
                for name, data in arrays.items():
                    _dataset(infos if name.startswith("infos/") else group, name.removeprefix("infos/"), data)
                episodes += 1
                steps += len(arrays["actions"])
        metadata = {
            "dataset_id": DATASET_ID, "minari_version": MINARI_VERSION, "data_format": "hdf5", "jpeg_encoding": False,
            "total_episodes": episodes, "total_steps": steps,
            "observation_space": _space_json(observation_space), "action_space": _space_json(action_space),
            "algorithm_name": "pharmacists' review sessions (PolypharmacyEnv /research/)",
            "author": ["PolypharmacyEnv"],
            "description": (
                "Finished review sessions, pseudonymised (no user, patient or episode id, no times, no age or sex, "
                "no rationale). Observations and actions in envcore.gym_env.PolypharmacyGymEnv's encoding (its age "
                "feature set to 0); rewards are raw rewards. infos: action_mask, substitute_named (the step named "
                "its substitute, which the adapter's action cannot), grader_score (NaN until the last step). "
                "Episode attributes: research_code, catalog, task_id, sign_off."
            ),
            "dataset_size": round(os.path.getsize(path) / 1e6, 1),  # MB, as Minari reports it
            "polypharmacy": {"filters": filters, "rows": len(table.rows), "episodes_left_out": dict(skipped)},
        }
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{DATASET_ID}/data/metadata.json", json.dumps(metadata, indent=1))
            with open(path, "rb") as source, archive.open(f"{DATASET_ID}/data/main_data.hdf5", "w") as target:
                shutil.copyfileobj(source, target)
    return metadata


def research_export_record(*, meta: RequestMeta, fmt: str, filters: dict[str, Any], rows: int) -> None:
    """Each download is audited: who took which rows out, and in which format."""
    audit_append(meta=meta, action=AuditRecord.Action.RESEARCH_EXPORTED,
                 payload={"format": fmt, "filters": filters, "rows": rows})
