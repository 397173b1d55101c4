"""Project-wide pytest hooks and fixtures (the Django settings come from pytest.ini)."""

from pathlib import Path

import pytest

from polypharmacy_site.testing import check_required_services


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_required_services(item)


@pytest.fixture(autouse=True, scope="session")
def _audit_flush_allowed() -> None:
    # The flush between transactional tests may empty the append-only audit tables
    # (reviews/management/commands/flush.py); only the test runner sets this.
    from django.conf import settings

    settings.AUDIT_FLUSH_SUSPENDS_TRIGGERS = True


@pytest.fixture(autouse=True)
def _audit_checkpoints_per_test(settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Each test's database starts a new audit chain: its checkpoints must not meet another's.
    path = tmp_path_factory.mktemp("audit")
    settings.AUDIT_CHECKPOINT_DIR = path
    return path
