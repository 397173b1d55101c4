"""Test helpers shared by every app: markers for tests that need PostgreSQL or Redis, and the
third-party venvs the compatibility tests run in (``client_venv_python``).

Mark a test ``@requires_postgres`` or ``@requires_redis``. Without the service's URL in the
environment it is skipped with a reason saying how to run it; under ``CI_REQUIRE_SERVICES=1``
(set by ``.ci/run``) it fails instead, so CI can never go green by skipping them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

SERVICES = {
    "postgres": ("DATABASE_URL", ("postgres://", "postgresql://"), "needs PostgreSQL: set DATABASE_URL=postgres://… (CI does)"),
    "redis": ("REDIS_URL", ("redis://", "rediss://"), "needs Redis: set REDIS_URL=redis://… (CI does)"),
}

requires_postgres = pytest.mark.requires_service("postgres")
requires_redis = pytest.mark.requires_service("redis")


def service_missing(name: str) -> str | None:
    """Why service ``name`` is unavailable to this run, or None when it is configured."""
    variable, prefixes, reason = SERVICES[name]
    return None if os.environ.get(variable, "").startswith(prefixes) else reason


def check_required_services(item: pytest.Item) -> None:
    """Skip (or, in CI, fail) a test whose ``requires_service`` marks name a missing service."""
    for mark in item.iter_markers(name="requires_service"):
        reason = service_missing(mark.args[0])
        if reason is None:
            continue
        if os.environ.get("CI_REQUIRE_SERVICES", "") == "1":
            pytest.fail(f"CI_REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
        pytest.skip(reason)


def patch_test_client_login() -> None:
    """Make ``Client.login()`` / ``alogin()`` pass a request to ``authenticate()``, as every real
    login does: django-axes (first of AUTHENTICATION_BACKENDS) refuses to authenticate without one.
    ``force_login`` needs nothing (it authenticates nobody)."""
    from django.http import HttpRequest
    from django.test.client import AsyncClient, Client

    if getattr(Client.login, "sends_a_request", False):
        return
    plain_login, plain_alogin = Client.login, AsyncClient.alogin

    def login(self, **credentials):
        credentials.setdefault("request", _test_request())
        return plain_login(self, **credentials)

    async def alogin(self, **credentials):
        credentials.setdefault("request", _test_request())
        return await plain_alogin(self, **credentials)

    def _test_request() -> HttpRequest:
        request = HttpRequest()
        request.META["REMOTE_ADDR"] = "127.0.0.1"
        return request

    login.sends_a_request = alogin.sends_a_request = True  # type: ignore[attr-defined]  # the mark read above
    Client.login, AsyncClient.alogin = login, alogin  # type: ignore[method-assign]  # the patch itself


def client_venv_python(name: str, *, build_timeout_s: float = 1200) -> Path:
    """The Python of the third-party venv ``.venv-<name>`` (``clients/requirements-<name>.txt``,
    ``bin/openenv-clients <name>``). Without it the calling test skips, saying how to make it;
    under ``CI_REQUIRE_SERVICES=1`` it is made (a no-op when current) and a failed build fails."""
    root = Path(__file__).resolve().parent.parent
    python = root / f".venv-{name}" / "bin" / "python"
    if os.environ.get("CI_REQUIRE_SERVICES", "") == "1":
        proc = subprocess.run([str(root / "bin" / "openenv-clients"), name], cwd=root, capture_output=True,
                              text=True, timeout=build_timeout_s)
        if proc.returncode != 0:
            pytest.fail(f"bin/openenv-clients {name} failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    elif not python.exists():
        pytest.skip(f"needs the venv .venv-{name}: bin/openenv-clients {name} (CI builds it)")
    return python


def streamed(response: Any) -> bytes:
    """The whole body of a streamed response (a download), failing the test if it was not streamed."""
    from django.http import StreamingHttpResponse

    assert isinstance(response, StreamingHttpResponse), type(response)
    return response.getvalue()
