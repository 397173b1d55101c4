"""``manage.py export_episodes``: stored episodes as JSON Lines for offline RL — one line per
episode or per transition, the transitions chained from the rebuilt reset observation, the
filters, no user identities, and nothing written to the database."""

from __future__ import annotations

import io
import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.learning.encoding import encode_observation
from agents.learning.imitation import action_index, export_demonstrations
from agents.policies import heuristic_policy
from catalog.selectors import catalog_get
from episodes import services, steps
from episodes.models import Episode
from episodes.tests.conftest import database_rows

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogs")]

ANON = services.Caller(anon_key="a" * 32)
IDENTITY_KEYS = {"owner", "owner_id", "anon_key", "actor", "actor_id", "actor_label", "created_at",
                 "updated_at", "finished_at", "duration_ms"}


def play(caller: services.Caller, *, catalog: str, task_id: str, seed: int, finish: bool = True) -> dict[str, Any]:
    """An episode through the services with the heuristic; its reset observation (a dict).
    Without ``finish`` it stops after one step and stays open."""
    session, _ = services.episode_reset(caller, seed=seed, task_id=task_id, catalog=catalog)
    obs = session.env.observation
    reset = obs.to_dict()
    rng, cat = random.Random(seed), catalog_get(catalog)
    while not obs.done:
        action = heuristic_policy(obs.to_dict(), catalog=cat, rng=rng)
        obs = steps.episode_step(caller, action=action, episode_id=obs.episode_id).observation
        if not finish:
            break
    return reset


@pytest.fixture
def world(alice: User) -> dict[str, dict[str, Any]]:
    """Three finished episodes (one owned by alice) and one open, by episode id → reset obs."""
    alice_caller = services.Caller.for_user(alice, channel="api")
    episodes = [
        play(ANON, catalog="classic", task_id="easy_screening", seed=0),
        play(alice_caller, catalog="classic", task_id="budgeted_screening", seed=1),
        play(ANON, catalog="curated", task_id="easy_screening", seed=2),
        play(ANON, catalog="classic", task_id="complex_tradeoff", seed=3, finish=False),
    ]
    return {reset["episode_id"]: reset for reset in episodes}


def export(*args: str) -> tuple[list[dict[str, Any]], str]:
    """Run the command to stdout: (the parsed lines, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("export_episodes", *args, stdout=out, stderr=err)
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_anywhere(v)}
    return set()


# ── the two formats ──────────────────────────────────────────────────────────
def test_it_writes_one_line_per_finished_episode_with_its_steps(world):
    lines, err = export()
    finished = Episode.objects.exclude(status="open")
    assert {line["episode_id"] for line in lines} == set(finished.values_list("episode_id", flat=True))
    assert err.strip() == "3 episodes, 3 lines written to stdout."
    for line in lines:
        row = finished.get(episode_id=line["episode_id"])
        assert line["status"] in ("terminated", "truncated") and line["grader_score"] == row.grader_score
        assert line["step_count"] == len(line["steps"]) == row.steps.count()
        assert [s["index"] for s in line["steps"]] == list(range(1, row.step_count + 1))
        assert line["steps"][-1]["done"] is True
        assert line["steps"][-1]["observation"]["grader_score"] == row.grader_score
        assert line["catalog_changed"] is False


def test_the_rebuilt_reset_observation_is_exactly_the_one_the_agent_saw(world):
    lines, _ = export("--status", "all")
    for line in lines:
        assert line["reset_observation"] == world[line["episode_id"]]


def test_transitions_chain_from_the_reset_observation_to_the_last_step(world):
    episodes, _ = export()
    transitions, err = export("--format", "transitions")
    assert len(transitions) == sum(len(e["steps"]) for e in episodes)
    assert err.strip() == f"3 episodes, {len(transitions)} lines written to stdout."
    by_episode: dict[str, list[dict[str, Any]]] = {}
    for t in transitions:
        by_episode.setdefault(t["episode_id"], []).append(t)
    for episode in episodes:
        chain = by_episode[episode["episode_id"]]
        assert [t["index"] for t in chain] == [s["index"] for s in episode["steps"]]
        assert chain[0]["observation"] == world[episode["episode_id"]]
        for before, after in zip(chain, chain[1:]):
            assert after["observation"] == before["next_observation"]
        for t, s in zip(chain, episode["steps"]):
            assert (t["action"], t["reward"], t["raw_reward"], t["next_observation"], t["done"]) == (
                s["action"], s["reward"], s["raw_reward"], s["observation"], s["done"])
        assert chain[-1]["done"] is True and (chain[-1]["terminated"] or chain[-1]["truncated"])
        assert not any(t["done"] for t in chain[:-1])


def test_no_user_identity_or_timestamp_is_exported(world):
    for fmt in ("episodes", "transitions"):
        lines, _ = export("--status", "all", "--format", fmt)
        text = json.dumps(lines)
        assert "alice" not in text and ANON.anon_key not in text
        assert not keys_anywhere(lines) & IDENTITY_KEYS


def test_it_writes_to_a_file_and_reports_on_stdout(world, tmp_path: Path):
    target = tmp_path / "episodes.jsonl"
    out = io.StringIO()
    call_command("export_episodes", "--output", str(target), "--format", "transitions", stdout=out)
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
    assert out.getvalue().strip() == f"3 episodes, {len(lines)} lines written to {target}."


def test_an_edited_catalog_is_flagged_and_the_row_baseline_kept(world):
    episode = Episode.objects.filter(status="terminated").first()
    Episode.objects.filter(pk=episode.pk).update(catalog_fingerprint="0" * 64)  # as if reset on an older catalog
    (line,) = [line for line in export()[0] if line["episode_id"] == episode.episode_id]
    assert line["catalog_changed"] is True
    assert line["reset_observation"]["baseline_risk"] == episode.baseline_risk


# ── filters ──────────────────────────────────────────────────────────────────
def ids(*args: str) -> set[str]:
    return {line["episode_id"] for line in export(*args)[0]}


def test_status_selects_open_finished_or_all(world):
    open_ids = set(Episode.objects.filter(status="open").values_list("episode_id", flat=True))
    assert ids("--status", "open") == open_ids and len(open_ids) == 1
    assert ids("--status", "all") == set(world)
    assert ids() == set(world) - open_ids
    (line,) = export("--status", "open")[0]
    assert line["grader_score"] is None and len(line["steps"]) == 1 and line["steps"][0]["done"] is False


def test_catalog_and_task_filter(world):
    assert {line["catalog"] for line in export("--catalog", "curated")[0]} == {"curated"}
    assert len(ids("--catalog", "classic")) == 2
    lines, _ = export("--task", "easy_screening")
    assert len(lines) == 2 and {line["task_id"] for line in lines} == {"easy_screening"}
    assert ids("--catalog", "curated", "--task", "budgeted_screening") == set()


def test_since_keeps_episodes_started_at_or_after_it(world):
    old = Episode.objects.filter(task_id="budgeted_screening").get()
    Episode.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    last_week = (timezone.now() - timedelta(days=7)).date().isoformat()
    assert old.episode_id not in ids("--since", last_week)
    assert len(ids("--since", last_week)) == 2
    assert old.episode_id in ids("--since", (timezone.now() - timedelta(days=31)).isoformat())
    assert ids("--since", (timezone.now() + timedelta(days=1)).date().isoformat()) == set()


def test_limit_keeps_the_oldest_episodes(world):
    lines, _ = export("--limit", "2", "--format", "transitions")
    oldest = list(Episode.objects.exclude(status="open").order_by("created_at", "pk").values_list("episode_id", flat=True))
    assert {line["episode_id"] for line in lines} == set(oldest[:2])
    assert ids("--limit", "0") == set()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--catalog", "other"], "--catalog"),
        (["--task", "hard"], "--task"),
        (["--status", "done"], "--status"),
        (["--since", "last tuesday"], "--since"),
        (["--since", "2026-13-45"], "--since"),
        (["--limit", "-1"], "--limit"),
        (["--output", "/no/such/dir/out.jsonl"], "--output"),
    ],
)
def test_a_bad_option_is_a_command_error_naming_it(db, args: list[str], option: str):
    with pytest.raises(CommandError) as info:
        export(*args)
    assert str(info.value).startswith(option)


# ── it only reads ────────────────────────────────────────────────────────────
def test_it_writes_nothing_to_the_database(world):
    before = database_rows()
    with CaptureQueriesContext(connection) as queries:
        for fmt in ("episodes", "transitions"):
            export("--status", "all", "--format", fmt)
    writes = [q["sql"] for q in queries.captured_queries
              if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "REPLACE"))]
    assert writes == []
    assert database_rows() == before


def test_it_does_not_query_per_episode(world):
    with CaptureQueriesContext(connection) as few:
        export("--status", "all", "--catalog", "classic")
    for seed in range(4, 8):
        play(ANON, catalog="classic", task_id="easy_screening", seed=seed)
    with CaptureQueriesContext(connection) as more:
        export("--status", "all", "--catalog", "classic")
    # Chunks of episodes with their steps prefetched: three times the episodes, the same queries.
    assert len(more.captured_queries) == len(few.captured_queries)


def test_exported_episodes_are_demonstrations_for_imitation(world):
    """``agents.learning.imitation`` reads the export as it is written: every step of the
    exported episodes of a catalog and task becomes one (observation, action) demonstration, and
    each is the action the heuristic took on that observation."""
    lines, _ = export()
    classic = catalog_get("classic")
    demos = export_demonstrations(lines, classic, "export", task_id="budgeted_screening")
    (line,) = [x for x in lines if x["catalog"] == "classic" and x["task_id"] == "budgeted_screening"]
    assert demos.episodes == 1 and len(demos) + demos.skipped == len(line["steps"]) and demos.skipped == 0
    before = line["reset_observation"]
    for step, index in zip(line["steps"], demos.actions):
        _vector, _mask, slots = encode_observation(before, classic)
        assert index == action_index(heuristic_policy(before, catalog=classic, rng=random.Random(0)), slots)
        before = step["observation"]
    assert export_demonstrations(lines, classic, "export").episodes == 2  # both classic episodes
