"""catalog_get: the envcore catalog built from the database, equal to the fixture one, cached."""

from __future__ import annotations

import pytest

from catalog.models import CatalogSource, DDIRule
from catalog.selectors import CatalogNotLoaded, catalog_get
from catalog.services import catalog_load
from envcore.catalog import Catalog

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["classic", "curated"])
def test_the_database_catalog_equals_the_fixture_catalog(name: str) -> None:
    catalog_load(name=name)

    from_db = catalog_get(name)
    from_files = Catalog.load(name)

    assert from_db == from_files
    assert from_db.fingerprint == from_files.fingerprint
    # Seeds index into the task pools in file order, so the order must survive the database.
    assert list(from_db.patients) == list(from_files.patients)


def test_it_serves_the_cached_catalog_with_one_query_while_nothing_changes(
    classic: CatalogSource, django_assert_num_queries
) -> None:
    first = catalog_get("classic")

    with django_assert_num_queries(1):
        second = catalog_get("classic")

    assert second is first


def test_it_rebuilds_the_catalog_after_a_change(classic: CatalogSource) -> None:
    before = catalog_get("classic")
    rule = DDIRule.objects.filter(catalog=classic).select_related("drug_1", "drug_2").first()
    rule.base_risk_score = 0.123
    rule.save()

    after = catalog_get("classic")

    assert after is not before
    assert after.rule(rule.drug_1.drug_id, rule.drug_2.drug_id).base_risk_score == 0.123


def test_it_says_how_to_load_a_catalog_that_is_not_in_the_database() -> None:
    with pytest.raises(CatalogNotLoaded, match="run `manage.py load_catalog classic`"):
        catalog_get("classic")
