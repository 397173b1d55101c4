"""Recorded reviews as demonstrations for imitation: ``export_episodes --reviews-only`` writes the
review sessions' episodes and nothing else, and ``agents.learning.imitation`` turns each recorded
action into an (observation, action) pair a clone can learn from.

The reviewer here is scripted (the heuristic deciding, acting through the review services as a
pharmacist would through the pages): what is tested is the path from a recorded review to a
demonstration, not anybody's judgement."""

from __future__ import annotations

import io
import json
import random

import pytest
from django.core.management import call_command

from agents.learning.imitation import behaviour_clone, CloneConfig, export_demonstrations
from agents.policies import heuristic_policy
from catalog.selectors import catalog_get
from episodes import selectors as episode_selectors
from episodes import services as episode_services
from episodes import steps
from reviews import services
from reviews.tests.conftest import meta

pytestmark = pytest.mark.django_db


def review(phil, patient_id: str) -> int:
    """A finished review of ``patient_id`` on easy_screening; its number of actions."""
    session = services.review_start(meta=meta(phil), patient_id=patient_id, task_id="easy_screening",
                                    catalog_name="classic")
    catalog, actions = catalog_get("classic"), 0
    while True:
        episode = session.episode
        env = episode_selectors.episode_env("classic", episode_selectors.stored_snapshot(episode.pk), episode.episode_id)
        obs = env.observation.to_dict()
        if obs["terminated"] or obs["truncated"]:
            return actions
        action = heuristic_policy(obs, catalog=catalog, rng=random.Random(0))
        services.review_step(session, meta=meta(phil), action=action, at_step=obs["step_index"])
        session.refresh_from_db()
        session.episode.refresh_from_db()
        actions += 1


def test_recorded_reviews_export_alone_and_become_demonstrations(classic, phil):
    taken = review(phil, "EP_0002") + review(phil, "EP_0003")
    # An API episode of the same catalog and task, which must stay out of the reviews' export.
    api = episode_services.Caller(anon_key="b" * 32)
    session, _ = episode_services.episode_reset(api, seed=0, task_id="easy_screening", catalog="classic")
    steps.episode_step(api, action={"action_type": "finish_review"}, episode_id=session.env.observation.episode_id)

    out = io.StringIO()
    call_command("export_episodes", "--reviews-only", stdout=out, stderr=io.StringIO())
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sorted(line["patient_id"] for line in lines) == ["EP_0002", "EP_0003"]
    everything = io.StringIO()
    call_command("export_episodes", stdout=everything, stderr=io.StringIO())
    assert len(everything.getvalue().splitlines()) == 3

    demos = export_demonstrations(lines, catalog_get("classic"), "recorded reviews", task_id="easy_screening")
    assert demos.episodes == 2 and len(demos) == taken and demos.skipped == 0
    clone = behaviour_clone(demos, CloneConfig(hidden=(16,), epochs=3))
    assert clone.samples == taken and len(clone.losses) == 3
