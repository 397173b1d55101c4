"""The Django site on a throwaway database, for benchmarks that measure it in-process.

    with throwaway_site() as var_dir:   # settings loaded, a fresh test database (SQLite file,
        ...                             # or test_<name> on the DATABASE_URL PostgreSQL server)

Everything under ``var_dir`` (the site's var folder) and the database are gone afterwards."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def throwaway_site() -> Iterator[Path]:
    tmp = tempfile.TemporaryDirectory(prefix="ppenv-bench-")
    os.environ["POLYPHARMACY_VAR_DIR"] = tmp.name
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "polypharmacy_site.settings")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield Path(tmp.name)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        tmp.cleanup()
