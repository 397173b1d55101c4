"""A small named world for the review tests: the classic catalog, and a pharmacist (phil), a
colleague (pia), a supervisor (sue), a researcher (rex) and an outsider with no role (oscar)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client

from catalog.selectors import catalog_cache_clear
from catalog.services import catalog_load
from episodes.services import env_cache
from reviews import services
from reviews.audit import RequestMeta
from reviews.management.commands.flush import audit_triggers_suspended
from reviews.models import ReviewSession

PATIENT = "EP_0002"  # easy_screening: ibuprofen, tramadol, amitriptyline
SEVERE_PAIR = ("DRUG_TRAMADOL", "DRUG_AMITRIPTYLINE")
SAME_CLASS_SUBSTITUTE = ("DRUG_AMITRIPTYLINE", "DRUG_NORTRIPTYLINE")
PASSWORD = "review-password-1"


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    catalog_cache_clear()
    env_cache.clear()
    yield
    catalog_cache_clear()
    env_cache.clear()


@pytest.fixture
def classic(db: None) -> None:
    catalog_load(name="classic")


def make_user(username: str, *roles: str) -> User:
    user = User.objects.create_user(username, password=PASSWORD)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def phil(db: None) -> User:
    return make_user("phil", "pharmacist")


@pytest.fixture
def pia(db: None) -> User:
    return make_user("pia", "pharmacist")


@pytest.fixture
def sue(db: None) -> User:
    return make_user("sue", "supervisor")


@pytest.fixture
def rex(db: None) -> User:
    return make_user("rex", "researcher")


@pytest.fixture
def oscar(db: None) -> User:
    return make_user("oscar")


def client_for(user: User) -> Client:
    client = Client(HTTP_USER_AGENT="pytest-browser/1.0")
    client.force_login(user)
    return client


def shown(session: ReviewSession | int, fields: dict | None = None) -> dict:
    """A review form's fields as the page posts them: with the step it was shown at (``at_step``,
    the episode's step count now)."""
    pk = session if isinstance(session, int) else session.pk
    step = ReviewSession.objects.filter(pk=pk).values_list("episode__step_count", flat=True).get()
    return {**(fields or {}), "at_step": step}


def meta(user: User) -> RequestMeta:
    return RequestMeta(user=user, ip="127.0.0.1", user_agent="pytest")


@pytest.fixture
def session(classic: None, phil: User) -> ReviewSession:
    """Phil's review of EP_0002, just started."""
    return services.review_start(meta=meta(phil), patient_id=PATIENT, task_id="easy_screening", catalog_name="classic")


def query(a: str, b: str) -> dict:
    return {"action_type": "query_ddi", "drug_id_1": a, "drug_id_2": b}


def intervene(target: str, kind: str, new: str | None = None) -> dict:
    action = {"action_type": "propose_intervention", "target_drug_id": target, "intervention_type": kind}
    if new:
        action["proposed_new_drug_id"] = new
    return action


class attacker:
    """Full SQL access with DDL: the triggers are switched off (the test's transaction rolls it back)."""

    def __enter__(self):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks block ALTER TABLE
        self._suspended = audit_triggers_suspended(connection)
        self._suspended.__enter__()
        return connection.cursor()

    def __exit__(self, *exc):
        return self._suspended.__exit__(*exc)
