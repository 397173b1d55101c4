"""Project-wide pytest hooks (the Django settings come from pytest.ini)."""

from collections.abc import Iterator

import pytest

from polypharmacy_site.testing import check_required_services, patch_test_client_login


def pytest_configure(config: pytest.Config) -> None:
    # django-axes (the login throttle) needs the request in authenticate(); Django's test client's
    # login() passes none. Give it one, so client.login() is throttled like a real login.
    patch_test_client_login()


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_required_services(item)


@pytest.fixture(autouse=True)
def _no_token_lock_left_over() -> Iterator[None]:
    """The token throttle counts in the cache, which outlives a test's database: start each test
    with the test clients' addresses unlocked (Django's test client is 127.0.0.1; Channels'
    WebsocketCommunicator gives none). django-axes' counts are rows, rolled back with the test."""
    from episodes.tokens import token_throttle_reset

    for ip in ("127.0.0.1", ""):
        token_throttle_reset(ip)
    yield
