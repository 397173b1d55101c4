"""Minari itself reads /research/'s Minari download: ``minari.load_dataset`` in the RL stack's
venv (``.venv-rl-stack``, made by ``bin/openenv-clients rl-stack``, as the OpenEnv client venvs
are: third-party stacks kept out of the site's). It must see what the site's h5py reading sees
(reviews/tests/test_research_export.py): the same episodes, steps, actions and rewards.

Without that venv the test skips, saying how to make it; under CI_REQUIRE_SERVICES=1 (CI) it is
built (``.ci/run`` builds it before the suite) and a failure to build fails."""

from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from testsupport.live_server import ROOT
from polypharmacy_site.testing import client_venv_python, streamed
from reviews.research_export import DATASET_ID
from testsupport.world import client_for

pytestmark = [pytest.mark.live, pytest.mark.django_db, pytest.mark.timeout(600)]


@pytest.fixture(scope="session")
def minari_python() -> Path:
    return client_venv_python("rl-stack")


def test_minari_load_dataset_reads_the_download(research_world, rex, minari_python, tmp_path):
    response = client_for(rex).get("/research/export.minari.zip")
    archive = zipfile.ZipFile(io.BytesIO(streamed(response)))
    archive.extractall(tmp_path)  # the zip holds <dataset id>/data/…: unpacked into a datasets folder
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE"}}
    env["MINARI_DATASETS_PATH"] = str(tmp_path)
    proc = subprocess.run([str(minari_python), str(ROOT / "clients" / "minari_load.py"), DATASET_ID],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    read = json.loads(proc.stdout)

    assert read["minari"] == "0.5.4" and read["total_episodes"] == 3
    assert read["action_space"] == "Discrete(166)" and read["observation_space"].startswith("Box(0.0, 1.0, (1008,)")
    with h5py.File(tmp_path / DATASET_ID / "data" / "main_data.hdf5", "r") as file:
        assert read["total_steps"] == sum(int(file[g].attrs["total_steps"]) for g in file)
        for episode in read["episodes"]:
            group = file[f"episode_{episode['id']}"]
            assert episode["research_code"] == group.attrs["research_code"]
            assert episode["infos"] == ["action_mask", "grader_score", "substitute_named"]
            for key in ("observations", "actions", "rewards", "terminations", "truncations"):
                np.testing.assert_array_equal(np.asarray(episode[key]), group[key][()], err_msg=key)
            np.testing.assert_array_equal(np.asarray(episode["action_mask"]), group["infos/action_mask"][()])
