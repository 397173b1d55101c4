"""The event loop's one-statement episode start (services.episode_start_async, used by the
WebSocket and the HTTP fast path) writes the same row as episode_reset, and steps aside whenever
it cannot decide alone."""

from __future__ import annotations

import pytest
from django.db import connection

from catalog.models import CatalogSource
from catalog.selectors import catalog_get
from catalog.signals import catalog_version_bump
from envcore.errors import ValidationError
from episodes import services
from episodes.models import Episode
from episodes.tests.conftest import run_async
from polypharmacy_site.testing import requires_postgres

COMPARED = (
    "catalog_id", "catalog_fingerprint", "task_id", "patient_id", "owner_id", "anon_key", "status", "durability",
    "step_count", "live", "baseline_risk", "current_risk", "grader_score", "finished_at",
)
CALLER = services.Caller(anon_key="k" * 32)


def start_cached(**kwargs):
    return run_async(lambda: services.episode_start_async(CALLER, services.reset_request(kwargs)))


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_fast_start_writes_the_row_episode_reset_writes(classic_catalog):
    catalog_get("classic")  # cached in this process, as after any earlier reset
    fast = start_cached(seed=3, task_id="easy_screening", catalog="classic", durability="fast")
    obs = fast.env.observation
    slow, _ = services.episode_reset(CALLER, seed=3, task_id="easy_screening", catalog="classic", durability="fast")
    slow_obs = slow.env.observation

    fast_row = Episode.objects.filter(episode_id=obs.episode_id).values(*COMPARED, "snapshot").get()
    slow_row = Episode.objects.filter(episode_id=slow_obs.episode_id).values(*COMPARED, "snapshot").get()
    for snapshot in (fast_row.pop("snapshot"), slow_row.pop("snapshot")):
        snapshot.pop("episode_id")
    assert fast_row == slow_row
    assert fast.row.pk == Episode.objects.get(episode_id=obs.episode_id).pk and fast.row.step_count == 0


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_fast_start_steps_aside_when_the_catalog_changed(classic_catalog):
    catalog_get("classic")
    catalog_version_bump(CatalogSource.objects.get(name="classic").pk)  # a curator's edit elsewhere

    assert start_cached(seed=3, task_id="easy_screening", catalog="classic") is None
    assert Episode.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_fast_start_steps_aside_for_named_episodes_and_bad_arguments_still_raise(classic_catalog):
    catalog_get("classic")
    assert start_cached(seed=3, catalog="classic", episode_id="chosen-id") is None
    with pytest.raises(ValidationError):  # the contract refuses it before anything else runs
        start_cached(seed=-1, catalog="classic")
    if connection.vendor != "postgresql":
        assert start_cached(seed=3, catalog="classic") is None  # SQLite: always the sync path
    assert Episode.objects.count() == 0
