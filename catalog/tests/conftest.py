"""The catalog tests use the shared world (testsupport/world.py: carla the curator, oscar the
outsider, the ``classic`` catalog); each test starts with an empty catalog cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from catalog.selectors import catalog_cache_clear


@pytest.fixture(autouse=True)
def fresh_catalog_cache() -> Iterator[None]:
    catalog_cache_clear()
    yield
    catalog_cache_clear()
