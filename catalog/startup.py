"""What a fresh replica does before it serves (``manage.py prepare_database``, run by the image's
entrypoint): migrate, then load each shipped catalog the database does not hold yet.

Several replicas may start at once on one database (docker compose --scale, a rolling update):
the work runs under one lock they share, a PostgreSQL advisory lock held on a connection of its
own (the server drops it if the replica dies) or, on SQLite, a lock on a file beside the database.
The first replica migrates and loads; the others wait, then find nothing to do. A catalog already
loaded is left as it is, so restarts never undo curators' edits in the admin: a new fixture release
is loaded deliberately, with ``manage.py load_catalog``.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from catalog.models import CatalogSource
from catalog.services import catalog_load
from envcore.catalog import CATALOG_NAMES

# pg_advisory_lock's key: any constant the site uses for nothing else ("PPenvSTR" as an integer).
ADVISORY_KEY = int.from_bytes(b"PPenvSTR", "big") - 2**63


@contextmanager
def startup_lock() -> Iterator[None]:
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        path = Path(database["NAME"]).with_suffix(".startup-lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        return
    import psycopg

    # A connection of its own: the lock lives as long as it does, whatever Django's connection
    # (and its pool) does during the migrations.
    tls = {key: value for key, value in database.get("OPTIONS", {}).items() if key.startswith("ssl")}
    with psycopg.connect(dbname=database["NAME"], user=database.get("USER") or None,
                         password=database.get("PASSWORD") or None, host=database.get("HOST") or None,
                         port=database.get("PORT") or None, autocommit=True, **tls) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))


def database_prepare(report: Callable[[str], None] = print) -> list[str]:
    """Migrate and load the missing catalogs, under the startup lock; the catalogs it loaded."""
    loaded = []
    with startup_lock():
        # skip_checks: as the command's own (catalog/management/commands/prepare_database.py).
        call_command("migrate", interactive=False, verbosity=0, skip_checks=True)
        present = set(CatalogSource.objects.values_list("name", flat=True))
        for name in CATALOG_NAMES:
            if name in present:
                report(f"{name}: already loaded (left as it is)")
                continue
            report(str(catalog_load(name=name)))
            loaded.append(name)
    return loaded
