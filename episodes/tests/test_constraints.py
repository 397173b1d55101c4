"""Episodes and steps: the database keeps step indices unique, and the admin only shows them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from catalog.models import CatalogSource
from episodes.models import Episode, Step

pytestmark = pytest.mark.django_db


@pytest.fixture
def episode() -> Episode:
    catalog = CatalogSource.objects.create(name="classic")
    return Episode.objects.create(catalog=catalog, task_id="easy_screening", patient_id="P1")


def step(episode: Episode, index: int) -> Step:
    return Step(episode=episode, index=index, action={"action_type": "finish_review"}, observation={},
                reward=0.5, raw_reward=0.5)  # fmt: skip


def rejected(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


def test_a_new_episode_gets_an_unguessable_id_and_starts_open(episode: Episode) -> None:
    assert len(episode.episode_id) == 32
    assert (episode.status, episode.step_count, episode.durability) == ("open", 0, "full")


def test_it_rejects_a_second_step_with_the_same_index(episode: Episode) -> None:
    step(episode, 1).save()

    assert rejected(lambda: step(episode, 1).save())
    assert not rejected(lambda: step(episode, 2).save())


def test_it_numbers_steps_from_one(episode: Episode) -> None:
    assert rejected(lambda: step(episode, 0).save())


def test_it_rejects_an_episode_id_used_twice(episode: Episode) -> None:
    assert rejected(
        lambda: Episode.objects.create(catalog=episode.catalog, episode_id=episode.episode_id, task_id="easy_screening",
                                       patient_id="P2")  # fmt: skip
    )


def test_it_rejects_an_unknown_status(episode: Episode) -> None:
    assert rejected(lambda: Episode.objects.filter(pk=episode.pk).update(status="paused"))


def test_a_catalog_with_episodes_cannot_be_deleted(episode: Episode) -> None:
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        episode.catalog.delete()


def test_the_admin_shows_episodes_but_changes_nothing(episode: Episode) -> None:
    step(episode, 1).save()
    client = Client()
    client.force_login(User.objects.create_superuser("ada", password="x"))

    assert client.get(reverse("admin:episodes_episode_changelist")).status_code == 200
    assert client.get(reverse("admin:episodes_episode_change", args=[episode.pk])).status_code == 200
    assert client.get(reverse("admin:episodes_episode_add")).status_code == 403
    assert client.get(reverse("admin:episodes_step_changelist")).status_code == 200
    response = client.post(reverse("admin:episodes_episode_delete", args=[episode.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Episode.objects.filter(pk=episode.pk).exists()
