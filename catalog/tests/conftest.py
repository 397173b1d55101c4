"""A small named world for the catalog tests: a loaded classic catalog, a curator, an outsider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group, User

from catalog.models import CatalogSource
from catalog.selectors import catalog_cache_clear
from catalog.services import catalog_load


@pytest.fixture(autouse=True)
def fresh_catalog_cache() -> Iterator[None]:
    catalog_cache_clear()
    yield
    catalog_cache_clear()


@pytest.fixture
def classic(db: None) -> CatalogSource:
    catalog_load(name="classic")
    return CatalogSource.objects.get(name="classic")


@pytest.fixture
def curator(db: None) -> User:
    """A pharmacist who curates the catalog: staff, in the "curator" group, nothing more."""
    user = User.objects.create_user("carla", password="curator-password", is_staff=True)
    user.groups.add(Group.objects.get(name="curator"))
    return user


@pytest.fixture
def outsider(db: None) -> User:
    """A signed-up user with no staff rights."""
    return User.objects.create_user("oscar", password="outsider-password")
