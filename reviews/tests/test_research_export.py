"""/research/'s downloads: JSON Lines that are the stored episodes of the filtered rows (the
``episodes.export`` records, less what names a person), and a Minari dataset whose HDF5 file,
read back with h5py, holds those same steps in the Gymnasium adapter's encoding. Each download is
audited."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import h5py
import numpy as np
import pytest

from episodes.tests.test_export_episodes import keys_anywhere  # the export test's own key walk

from agents.learning.encoding import action_index, encode_observation
from catalog.selectors import catalog_get
from envcore.gym_env import AGE_FEATURE, N_ACTIONS, OBS_SIZE
from episodes.export import reset_observation
from episodes.models import Step
from reviews.models import AuditRecord
from reviews.research_export import DATASET_ID
from reviews.tests.conftest import RATIONALE
from testsupport.world import client_for

pytestmark = pytest.mark.django_db

PERSONAL_KEYS = {"episode_id", "patient_id", "age", "sex", "rationale", "owner", "actor", "actor_label",
                 "created_at", "finished_at"}


def download(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response.content[:2000]
    assert response["Content-Disposition"].startswith("attachment")
    return b"".join(response.streaming_content)


def jsonl(client, query: str = "") -> list[dict[str, Any]]:
    return [json.loads(line) for line in download(client, f"/research/export.jsonl?{query}").splitlines()]


def without_personal(value: Any) -> Any:
    """The test's own idea of the scrub: drop the personal keys wherever they are."""
    if isinstance(value, dict):
        return {k: without_personal(v) for k, v in value.items() if k not in PERSONAL_KEYS}
    if isinstance(value, list):
        return [without_personal(v) for v in value]
    return value


def stored_steps(session) -> list[dict[str, Any]]:
    return [dict(row) for row in Step.objects.filter(episode=session.episode).order_by("index").values(
        "index", "action", "reward", "raw_reward", "done", "observation")]


def test_the_jsonl_is_the_stored_episodes_of_the_filtered_set(research_world, rex):
    client = client_for(rex)
    lines = jsonl(client, "task=easy_screening")
    by_code = {line["code"]: line for line in lines}
    assert set(by_code) == {research_world.codes["approved"], research_world.codes["returned"]}
    assert [line["code"] for line in lines] == sorted(by_code)  # the table's (pseudonym) order
    for name in ("approved", "returned"):
        line, session = by_code[research_world.codes[name]], research_world.sessions[name]
        episode = session.episode
        assert (line["catalog"], line["task_id"], line["status"], line["step_count"], line["sign_off"]) == (
            "classic", "easy_screening", episode.status, episode.step_count, name)
        assert (line["baseline_risk"], line["final_risk"], line["grader_score"]) == (
            episode.baseline_risk, episode.current_risk, episode.grader_score)
        assert line["steps"] == without_personal(stored_steps(session))
        assert line["reset_observation"]["current_risk"] == episode.baseline_risk
    assert [line["code"] for line in jsonl(client, "outcome=pending")] == [research_world.codes["pending"]]
    assert len(jsonl(client)) == 3 and jsonl(client, "catalog=curated") == []


def test_the_jsonl_names_no_person(research_world, rex):
    raw = download(client_for(rex), "/research/export.jsonl").decode()
    assert not keys_anywhere([json.loads(line) for line in raw.splitlines()]) & PERSONAL_KEYS
    for session in research_world.sessions.values():
        for secret in ("phil", "sue", session.episode.patient_id, session.episode.episode_id, RATIONALE):
            assert secret not in raw, secret
    # What a learner needs stays: the drugs named, the environment's answers, the conditions.
    line = next(json.loads(x) for x in raw.splitlines() if json.loads(x)["code"] == research_world.codes["approved"])
    assert line["steps"][1]["action"]["proposed_new_drug_id"] == "DRUG_NORTRIPTYLINE"
    assert line["steps"][0]["observation"]["last_query_result"]["severity"] == "severe"
    assert line["reset_observation"]["conditions"]


def minari_files(client, query: str = "") -> tuple[dict[str, Any], h5py.File]:
    archive = zipfile.ZipFile(io.BytesIO(download(client, f"/research/export.minari.zip?{query}")))
    assert sorted(archive.namelist()) == [f"{DATASET_ID}/data/main_data.hdf5", f"{DATASET_ID}/data/metadata.json"]
    metadata = json.loads(archive.read(f"{DATASET_ID}/data/metadata.json"))
    return metadata, h5py.File(io.BytesIO(archive.read(f"{DATASET_ID}/data/main_data.hdf5")), "r")


def test_the_minari_dataset_read_back_with_h5py_holds_the_stored_steps(research_world, rex):
    metadata, file = minari_files(client_for(rex))
    classic = catalog_get("classic")
    assert (metadata["dataset_id"], metadata["data_format"], metadata["minari_version"]) == (DATASET_ID, "hdf5", "0.5.4")
    assert json.loads(metadata["observation_space"])["shape"] == [OBS_SIZE]
    assert json.loads(metadata["action_space"]) == {"type": "Discrete", "dtype": "int64", "start": 0, "n": N_ACTIONS}
    assert metadata["total_episodes"] == 3 == len(file) and metadata["polypharmacy"]["episodes_left_out"] == {}
    by_code = {file[g].attrs["research_code"]: file[g] for g in file}
    assert set(by_code) == set(research_world.codes.values())
    total = 0
    for name, session in research_world.sessions.items():
        group, steps = by_code[research_world.codes[name]], stored_steps(session)
        total += len(steps)
        assert group.attrs["total_steps"] == len(steps) and group.attrs["sign_off"] == name
        np.testing.assert_array_equal(group["rewards"][()], [s["raw_reward"] for s in steps])
        np.testing.assert_array_equal(group["terminations"][()], [s["observation"]["terminated"] for s in steps])
        np.testing.assert_array_equal(group["truncations"][()], [s["observation"]["truncated"] for s in steps])
        # Observations: the reset one and one per step, each the adapter's encoding of the stored
        # observation (age left out); actions: the adapter's index of each stored action.
        observations = group["observations"][()]
        assert observations.shape == (len(steps) + 1, OBS_SIZE) and observations.dtype == np.float32
        assert not observations[:, AGE_FEATURE].any()
        seen = [reset_observation(session.episode, classic)] + [s["observation"] for s in steps]
        for i, observation in enumerate(seen):
            vector, mask, slots = encode_observation(observation, classic)
            vector[AGE_FEATURE] = 0.0
            np.testing.assert_array_equal(observations[i], vector)
            np.testing.assert_array_equal(group["infos/action_mask"][i], mask)
            if i < len(steps):
                assert group["actions"][i] == action_index(steps[i]["action"], slots), (name, i)
        assert group["infos/grader_score"][-1] == pytest.approx(session.episode.grader_score)
        assert (group["infos/grader_score"][:-1] == 0.0).all()  # as the adapter's info: 0.0 until graded
    assert metadata["total_steps"] == total
    # The substitution named its drug, which the adapter's action cannot: flagged at its step.
    assert list(by_code[research_world.codes["approved"]]["infos/substitute_named"][()]) == [0, 0, 1, 0]


def test_the_minari_dataset_takes_the_filters_too(research_world, sue):
    metadata, file = minari_files(client_for(sue), "outcome=returned")
    assert metadata["total_episodes"] == 1 and metadata["polypharmacy"]["filters"] == {"outcome": "returned"}
    assert file["episode_0"].attrs["research_code"] == research_world.codes["returned"]
    assert minari_files(client_for(sue), "catalog=curated")[0]["total_episodes"] == 0


def test_each_download_is_audited(research_world, rex):
    client = client_for(rex)
    download(client, "/research/export.jsonl?task=easy_screening")
    download(client, "/research/export.minari.zip")
    client.get("/research/export.jsonl?task=nope")  # refused: nothing left the site
    records = AuditRecord.objects.filter(action=AuditRecord.Action.RESEARCH_EXPORTED).order_by("pk")
    assert [(r.actor_label, r.payload) for r in records] == [
        ("rex", {"format": "jsonl", "filters": {"task_id": "easy_screening"}, "rows": 2}),
        ("rex", {"format": "minari", "filters": {}, "rows": 3}),
    ]
