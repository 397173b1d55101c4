"""The RL researcher's own tools, unmodified, on this environment (issue 16, points 4 to 7), each in
``.venv-rl-stack`` (``bin/openenv-clients rl-stack``: Gymnasium, sb3-contrib, Minari, TRL with
transformers and torch, Ray RLlib, one venv for all) with the checkout on PYTHONPATH, as a user
who installed the project would have it. ``clients/rl_stack_check.py`` runs the checks there and
prints what it saw; RLlib runs the documented command, ``python -m agents.rllib``.

Without the venv these tests skip, saying how to make it; CI builds it before the suite."""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from catalog.selectors import catalog_cache_clear
from catalog.services import catalog_load
from envcore import GYM_ENV_IDS
from envcore.contract import ACTION_TYPES
from episodes.sessions import env_cache
from episodes.tests.test_export_episodes import ANON, play
from testsupport.live_server import ROOT
from polypharmacy_site.testing import client_venv_python

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]
CHECK = ROOT / "clients" / "rl_stack_check.py"


@pytest.fixture(scope="module")
def rl_python() -> Path:
    return client_venv_python("rl-stack")


def run_in_venv(python: Path, *args: str, timeout: float, env: dict[str, str] | None = None,
                cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """A process in the venv: the checkout on the path, nothing else of the test run's."""
    clean = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE"}}
    clean.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})})
    return subprocess.run([str(python), *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=timeout)


def check(python: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = run_in_venv(python, str(CHECK), *args, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def test_gymnasium_make_gives_each_task_and_catalog_and_a_vector_env(rl_python):
    seen = check(rl_python, "gym")

    assert sorted(seen["ids"]) == sorted(GYM_ENV_IDS.values())
    assert all(0.001 <= made["grader_score"] <= 0.999 for made in seen["ids"].values())
    assert seen["async_vector"] == {"num_envs": 2, "info_keys": ["action_mask", "grader_score"]}


def test_sb3_contribs_maskable_ppo_trains_ten_thousand_steps_unmodified(rl_python):
    trained = check(rl_python, "sb3", timeout=600)

    assert trained["sb3_contrib"] == "2.9.2" and trained["num_timesteps"] >= 10_000
    assert 0.001 <= trained["test_grader_score_after"] <= 0.999
    print(f"MaskablePPO, 10k steps in {trained['train_seconds']} s: test grader score "
          f"{trained['test_grader_score_before']:.3f} -> {trained['test_grader_score_after']:.3f}")


@pytest.fixture
def classic_catalog(db: None) -> Iterator[None]:
    """The classic catalog in this test's database, the process caches empty around it."""
    catalog_cache_clear()
    env_cache.clear()
    catalog_load(name="classic")
    yield
    env_cache.clear()
    catalog_cache_clear()


@pytest.mark.usefixtures("classic_catalog")
def test_minari_reads_an_export_and_recovers_its_environment(rl_python, tmp_path):
    for seed in range(3):
        play(ANON, catalog="classic", task_id="budgeted_screening", seed=seed)
    call_command("export_episodes", "--format", "minari", "--catalog", "classic", "--task", "budgeted_screening",
                 "--output", str(tmp_path), stdout=io.StringIO())
    metadata = json.loads((tmp_path / "polypharmacy-budgeted_screening-classic-v0" / "data" / "metadata.json").read_text())

    read = check(rl_python, "minari", "polypharmacy-budgeted_screening-classic-v0",
                 env={"MINARI_DATASETS_PATH": str(tmp_path)})

    assert read["minari"] == "0.5.4"
    assert (read["total_episodes"], read["total_steps"]) == (3, metadata["total_steps"]) and sum(read["steps"]) == metadata["total_steps"]
    assert read["observation_rows_match"] and read["info_keys"] == ["action_mask", "grader_score", "substitute_named"]
    assert read["recovered_env_id"] == "PolypharmacyEnv/BudgetedScreening-classic-v0"
    # Minari's DataCollector records the registered environment: its info keys never change.
    assert read["collected"] == {"total_episodes": 3, "env_id": "PolypharmacyEnv/BudgetedScreening-classic-v0",
                                 "info_keys": ["action_mask", "grader_score"], "recovers": True}


def test_trls_tool_discovery_accepts_every_tool_of_the_environment_class(rl_python):
    found = check(rl_python, "trl")

    assert (found["trl"], found["transformers"]) == ("1.16.0", "5.23.0")
    assert sorted(found["tools"]) == sorted(ACTION_TYPES)
    for name, schema in found["schemas"].items():
        function = schema["function"]
        assert function["name"] == name and function["description"]
        assert all(p.get("description") for p in function["parameters"]["properties"].values()), name
    intervention = found["schemas"]["propose_intervention"]["function"]["parameters"]
    assert intervention["required"] == ["target_drug_id", "intervention_type"]
    assert intervention["properties"]["intervention_type"]["enum"] == ["stop", "dose_reduce", "substitute", "add_monitoring"]
    assert found["example"] == {"max_tool_calling_iterations": 12, "columns": ["prompt", "seed", "task_id"], "rows": 2}


def test_rllib_ppo_runs_two_iterations_with_two_env_runners_on_a_local_ray_cluster(rl_python):
    proc = run_in_venv(rl_python, "-m", "agents.rllib", "--task", "easy_screening", "--catalog", "classic",
                       "--env-runners", "2", "--iterations", "2", "--train-batch", "256", "--minibatch", "64",
                       "--epochs", "1", "--num-cpus", "3", timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]

    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [line["iteration"] for line in lines] == [1, 2]
    assert lines[-1]["env_steps_sampled"] >= 512 and lines[-1]["episodes"] > 0
    assert 0.001 <= lines[-1]["grader_score_mean"] <= 0.999
