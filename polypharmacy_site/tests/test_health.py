"""GET /health: healthy while the database answers, 503 when it does not."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

pytestmark = pytest.mark.django_db


def test_it_reports_healthy() -> None:
    response = Client().get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "database": "ok", "channel_layer": "ok"}


def test_it_reports_unhealthy_when_the_database_is_unreachable() -> None:
    with mock.patch("django.db.backends.base.base.BaseDatabaseWrapper.cursor", side_effect=OperationalError("gone")):
        response = Client().get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "database": "unavailable", "channel_layer": "ok"}
    assert "gone" not in response.content.decode()  # no raw error text for a stranger


def test_it_only_answers_get() -> None:
    assert Client().post("/health").status_code == 405
