"""Project-wide pytest hooks (the Django settings come from pytest.ini)."""

import pytest

from polypharmacy_site.testing import check_required_services


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_required_services(item)
