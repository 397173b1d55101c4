"""Django's PostgreSQL backend with one change to its connection pool: when the check of a
connection being handed out finds it dropped, every other idle connection is checked at once.

Why: a server restart, a failover or ``pg_terminate_backend`` drops every connection together,
but psycopg_pool checks its idle ones one per try and sleeps between tries with its reconnection
backoff (0, 1, 2, 4 s…). With four or more dead connections idle (a pool grown under load) the
first request after the fault waited out the 5 s pool timeout and was answered 503, and so did
the next ones, each discarding a few more: a streak of 503s on a database that was answering
again. Checking them all (``ConnectionPool.check``: a dead one fails at once, a live one costs an
empty round trip) leaves the pool only live connections and replacements on their way, so the
request that found the first dead one is served by a fresh one.

Selected in settings (``ENGINE``) whenever the pool is on; ``vendor`` stays "postgresql"."""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


def purging_check(pool: ConnectionPool) -> Any:
    def check(conn: Any) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            pool.check()
            raise  # the pool discards this one and takes another

    check.purges = True  # type: ignore[attr-defined]  # a mark on the function, read below
    return check


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        pool = super().pool  # type: ignore[misc]  # django-stubs 5.2 leaves out the backend's pool
        # Django builds the pool with ConnectionPool.check_connection as its check (with
        # CONN_HEALTH_CHECKS) and gives no way to pass another, so it is swapped in here, once,
        # before the pool is opened on the first connection.
        if pool is not None and pool._check is not None and not getattr(pool._check, "purges", False):
            pool._check = purging_check(pool)
        return pool
