"""Lets the suite run in several pytest-xdist workers at once (``bin/test -n 2``, as ``.ci/run``
does) against one Redis: each worker, and every server or Celery worker it starts, gets a Redis
database of its own, so one test's cache keys, throttle counts, channel groups and broker queues
never meet another's. PostgreSQL needs nothing here: pytest-django names each worker's test
database after it, and the live servers make databases with unique names.

Loaded with ``-p testsupport.parallel`` (pytest.ini), so it runs before pytest-django reads the
settings: pytest-xdist names the worker in the environment (PYTEST_XDIST_WORKER=gw0, gw1, …)
before the worker's configuration is read, and the live servers inherit ``os.environ``.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

# Databases 10, 11, …: clear of 0 (CI's own) and of the fixed ones some tests take for a server
# of their own (jobs/tests/test_worker.py uses 3 and 4). Redis has 16 by default.
FIRST_WORKER_DB = 10


def worker_redis_url(url: str, worker: str) -> str:
    """``url`` with the database of xdist worker ``worker`` ("gw0" → 10, "gw1" → 11, …)."""
    index = int(worker.removeprefix("gw"))
    if FIRST_WORKER_DB + index > 15:
        raise RuntimeError(f"pytest-xdist worker {worker} has no Redis database of its own (0-15): "
                           f"run at most {16 - FIRST_WORKER_DB} processes against Redis")
    return urlunsplit(urlsplit(url)._replace(path=f"/{FIRST_WORKER_DB + index}"))


_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker and os.environ.get("REDIS_URL"):
    os.environ["REDIS_URL"] = worker_redis_url(os.environ["REDIS_URL"], _worker)
