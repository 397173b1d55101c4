"""The one named test world, shared by every app's tests (registered as a pytest plugin by the
root conftest.py, so its fixtures need no import):

- alice: a user of the API with a token; bob: another user, who must never see or drive alice's
  episodes (neither has a role: the API needs none);
- phil and pia: pharmacists; sue: a supervisor; rex: a researcher; carla: a curator (staff, in
  the "curator" group); oscar: signed up, with no role and no staff rights;
- ``classic``: the classic catalog loaded in the test's database.

Everyone's password is ``PASSWORD``. ``make_user`` makes more people of the same kind;
``client_for`` is a test client logged in as someone.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from rest_framework.authtoken.models import Token

from catalog.models import CatalogSource
from catalog.services import catalog_load

PASSWORD = "world-password-1"


def make_user(username: str, *roles: str, password: str = PASSWORD, **fields: Any) -> User:
    """A user in the named groups (roles), with ``fields`` (is_staff=True, say)."""
    user = User.objects.create_user(username, password=password, **fields)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def client_for(user: User) -> Client:
    """A test client logged in as ``user``, with a browser's User-Agent (the audit records it)."""
    client = Client(HTTP_USER_AGENT="pytest-browser/1.0")
    client.force_login(user)
    return client


@pytest.fixture
def classic(db: None) -> CatalogSource:
    catalog_load(name="classic")
    return CatalogSource.objects.get(name="classic")


@pytest.fixture
def alice(db: None) -> User:
    return make_user("alice")


@pytest.fixture
def alice_token(alice: User) -> str:
    return Token.objects.create(user=alice).key


@pytest.fixture
def bob(db: None) -> User:
    return make_user("bob")


@pytest.fixture
def bob_token(bob: User) -> str:
    return Token.objects.create(user=bob).key


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
def carla(db: None) -> User:
    return make_user("carla", "curator", is_staff=True)


@pytest.fixture
def oscar(db: None) -> User:
    return make_user("oscar")
