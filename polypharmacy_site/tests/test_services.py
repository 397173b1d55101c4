"""The scaled-out shape: PostgreSQL with a connection pool, Redis for channels and Celery.

These run when DATABASE_URL / REDIS_URL point at the services (CI sets both); elsewhere they
are skipped with the reason, and under CI_REQUIRE_SERVICES=1 they fail instead of skipping.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from polypharmacy_site.celery import app as celery_app
from polypharmacy_site.testing import requires_postgres, requires_redis


@requires_postgres
@pytest.mark.django_db
def test_the_database_is_postgresql_with_a_connection_pool() -> None:
    assert connection.vendor == "postgresql"
    assert settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"] >= 1
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 0
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        assert int(cursor.fetchone()[0]) >= 140000


@requires_redis
def test_the_channel_layer_passes_messages_through_redis() -> None:
    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisChannelLayer"

    async def round_trip() -> dict:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "ping", "n": 1})
        return await layer.receive(channel)

    assert async_to_sync(round_trip)() == {"type": "ping", "n": 1}


@requires_redis
def test_celery_uses_redis_as_its_broker() -> None:
    assert celery_app.conf.broker_url.startswith("redis://")
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.connected
