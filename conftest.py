"""Project-wide pytest hooks and fixtures (the Django settings come from pytest.ini)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from polypharmacy_site.testing import check_required_services, patch_test_client_login

# The named test world (alice, bob, phil, pia, sue, rex, carla, oscar; the classic catalog),
# one definition for every app's tests.
pytest_plugins = ["testsupport.world"]


def pytest_configure(config: pytest.Config) -> None:
    # django-axes (the login throttle) needs the request in authenticate(); Django's test client's
    # login() passes none. Give it one, so client.login() is throttled like a real login.
    patch_test_client_login()


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_required_services(item)


@pytest.fixture(autouse=True, scope="session")
def _test_run_settings() -> None:
    # The flush between transactional tests may empty the append-only audit tables
    # (reviews/management/commands/flush.py); only the test runner sets this.
    from django.conf import settings

    settings.AUDIT_FLUSH_SUSPENDS_TRIGGERS = True
    # The site's PBKDF2 takes about half a second a password here, and the test worlds make
    # users with passwords in most review tests. In-process tests hash with MD5 (Django's advice
    # for test suites); servers started by the live tests keep the real hashers.
    from django.test.utils import override_settings

    override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]).enable()  # signals the cache


@pytest.fixture(autouse=True)
def _audit_checkpoints_per_test(settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Each test's database starts a new audit chain: its checkpoints must not meet another's.
    path = tmp_path_factory.mktemp("audit")
    settings.AUDIT_CHECKPOINT_DIR = path
    return path


@pytest.fixture(autouse=True)
def _no_token_lock_left_over() -> Iterator[None]:
    """The token throttle counts in the cache, which outlives a test's database: start each test
    with the test clients' addresses unlocked (Django's test client is 127.0.0.1; Channels'
    WebsocketCommunicator gives none). django-axes' counts are rows, rolled back with the test."""
    from episodes.tokens import token_throttle_reset

    for ip in ("127.0.0.1", ""):
        token_throttle_reset(ip)
    yield
