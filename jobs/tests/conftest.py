"""A small world for the job tests: the classic catalog, a researcher (rex) who queues jobs, a
supervisor (sue), a pharmacist (phil, no access to jobs), and tiny parameters that run in seconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from catalog.selectors import catalog_cache_clear
from catalog.services import catalog_load

PASSWORD = "jobs-password-1"
# 1,024 steps (one rollout of 16 envs × 64 steps), a small network, three test episodes.
TINY_TRAIN = {"task_id": "easy_screening", "catalog": "classic", "total_steps": 1024, "hidden": [16],
              "eval_every": 1, "test_episodes": 3}


@pytest.fixture(autouse=True)
def fresh_caches(settings, tmp_path) -> Iterator[None]:
    settings.JOBS_ARTIFACT_DIR = tmp_path / "artifacts"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    catalog_cache_clear()
    yield
    catalog_cache_clear()


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch) -> list[int]:
    """Jobs are executed by the tests themselves (``job_execute``); the broker is not involved
    here (test_worker.py runs real workers)."""
    sent: list[int] = []
    monkeypatch.setattr("jobs.services.job_enqueue", sent.append)
    return sent


@pytest.fixture
def classic(db: None) -> None:
    catalog_load(name="classic")


def make_user(username: str, *roles: str) -> User:
    user = User.objects.create_user(username, password=PASSWORD)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def rex(db: None) -> User:
    return make_user("rex", "researcher")


@pytest.fixture
def sue(db: None) -> User:
    return make_user("sue", "supervisor")


@pytest.fixture
def phil(db: None) -> User:
    return make_user("phil", "pharmacist")


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
