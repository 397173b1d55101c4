"""GET /health: the OpenEnv health probe, honest about what the site depends on.

``{"status": "healthy", "database": "ok", "channel_layer": "ok"}``; 503 with ``"unhealthy"``
when the database does not answer. The channel layer (Redis, when configured) carries live
review updates only, so its failure is reported (``"unavailable"``) without failing the probe.
No error text is shown: it would tell a stranger about the deployment; the log has it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)
REDIS_TIMEOUT_S = 0.5


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        log.warning("health: database unavailable: %s", exc)
        return "unavailable"
    return "ok"


def channel_layer_status() -> str:
    if not settings.REDIS_URL:
        return "ok"  # the in-memory layer of this process
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_S,
                                      socket_connect_timeout=REDIS_TIMEOUT_S)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        log.warning("health: channel layer (Redis) unavailable: %s", exc)
        return "unavailable"
    return "ok"


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    database = database_status()
    body = {"status": "healthy" if database == "ok" else "unhealthy", "database": database,
            "channel_layer": channel_layer_status()}
    return JsonResponse(body, status=200 if database == "ok" else 503)
