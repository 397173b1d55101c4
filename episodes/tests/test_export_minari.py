"""``manage.py export_episodes --format minari`` (issue 16, point 5): a Minari dataset of one task
and catalog, in the Gymnasium adapter's encoding, read back here with h5py; Minari itself reads
it, and recovers the environment, in agents/tests/test_rl_stack.py."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from agents.learning.encoding import action_index, encode_observation
from catalog.selectors import catalog_get
from episodes.export import Catalogs, episode_record
from episodes.models import Episode
from episodes.tests.conftest import database_rows
from episodes.tests.test_export_episodes import ANON, play

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogs")]
DATASET = "polypharmacy-easy_screening-classic-v0"


@pytest.fixture
def episodes(db: None) -> list[dict[str, Any]]:
    """Two finished classic easy_screening episodes, and episodes of other tasks and catalogs."""
    resets = [play(ANON, catalog="classic", task_id="easy_screening", seed=seed) for seed in (0, 1)]
    play(ANON, catalog="curated", task_id="easy_screening", seed=2)
    play(ANON, catalog="classic", task_id="budgeted_screening", seed=3)
    return resets


def export_minari(*args: str) -> str:
    out = io.StringIO()
    call_command("export_episodes", "--format", "minari", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_dataset_holds_the_tasks_episodes_in_the_adapters_encoding(episodes, tmp_path):
    said = export_minari("--catalog", "classic", "--task", "easy_screening", "--output", str(tmp_path))

    data = tmp_path / DATASET / "data"
    metadata = json.loads((data / "metadata.json").read_text())
    assert f"2 episodes ({metadata['total_steps']} steps) written to {tmp_path / DATASET}" in said
    assert (metadata["dataset_id"], metadata["total_episodes"], metadata["minari_version"]) == (DATASET, 2, "0.5.4")
    assert json.loads(metadata["env_spec"])["id"] == "PolypharmacyEnv/EasyScreening-classic-v0"
    assert json.loads(metadata["action_space"])["n"] == 166
    classic = catalog_get("classic")
    stored = {e.episode_id: e for e in Episode.objects.filter(catalog__name="classic", task_id="easy_screening")}
    with h5py.File(data / "main_data.hdf5", "r") as file:
        assert sorted(file) == ["episode_0", "episode_1"]
        for name in file:
            group = file[name]
            record = episode_record(stored[group.attrs["episode_id"]], Catalogs())
            steps = record["steps"]
            assert group.attrs["total_steps"] == len(steps) == len(group["actions"])
            assert (group.attrs["task_id"], group.attrs["status"]) == ("easy_screening", "terminated")
            seen = [record["reset_observation"]] + [s["observation"] for s in steps]
            for i, observation in enumerate(seen):
                vector, mask, slots = encode_observation(observation, classic)
                np.testing.assert_array_equal(group["observations"][i], vector)
                np.testing.assert_array_equal(group["infos/action_mask"][i], mask)
                if i < len(steps):
                    assert group["actions"][i] == action_index(steps[i]["action"], slots)
            np.testing.assert_array_equal(group["rewards"][()], [s["raw_reward"] for s in steps])
            assert list(group["terminations"][()]) == [False] * (len(steps) - 1) + [True]
            # The same info keys at every step, as the adapter gives them.
            assert sorted(group["infos"]) == ["action_mask", "grader_score", "substitute_named"]
            assert all(len(group["infos"][key]) == len(steps) + 1 for key in group["infos"])
            assert list(group["infos/grader_score"][:-1]) == [0.0] * len(steps)
            assert group["infos/grader_score"][-1] == pytest.approx(record["grader_score"])


def test_the_default_place_is_minaris_datasets_folder(episodes, tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    said = export_minari("--catalog", "classic", "--task", "easy_screening", "--dataset-id", "mine-v3")

    assert json.loads((tmp_path / "mine-v3" / "data" / "metadata.json").read_text())["dataset_id"] == "mine-v3"
    assert "minari.load_dataset('mine-v3') reads it." in said


@pytest.mark.parametrize("args, message", [
    (["--catalog", "classic"], "needs --catalog and --task"),
    (["--task", "easy_screening"], "needs --catalog and --task"),
    (["--catalog", "classic", "--task", "easy_screening", "--dataset-id", "../escape-v0"], "--dataset-id must be"),
    (["--catalog", "classic", "--task", "easy_screening", "--dataset-id", "no-version"], "--dataset-id must be"),
])
def test_a_dataset_of_no_single_environment_or_a_bad_id_is_refused_naming_the_option(episodes, tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        export_minari(*args, "--output", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_dataset_is_never_overwritten_and_the_database_is_untouched(episodes, tmp_path):
    before = database_rows()
    export_minari("--catalog", "classic", "--task", "easy_screening", "--output", str(tmp_path))
    first = (tmp_path / DATASET / "data" / "main_data.hdf5").read_bytes()

    with pytest.raises(CommandError, match="already exists"):
        export_minari("--catalog", "classic", "--task", "easy_screening", "--output", str(tmp_path))

    assert (tmp_path / DATASET / "data" / "main_data.hdf5").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == [DATASET]  # no partial folder left behind
    assert database_rows() == before


def test_a_dataset_id_without_the_minari_format_is_refused(tmp_path):
    with pytest.raises(CommandError, match="only for --format minari"):
        call_command("export_episodes", "--dataset-id", "x-v0", stdout=io.StringIO())


def test_an_unwritable_output_is_a_clear_error(episodes, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(CommandError, match="--output: cannot write"):
        export_minari("--catalog", "classic", "--task", "easy_screening", "--output", str(Path(blocker) / "below"))
