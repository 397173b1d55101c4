"""The image's entrypoint (bin/docker-entrypoint) on an empty database: it migrates, loads the
catalogs and serves, so /reset works with nothing done beforehand. On PostgreSQL two copies start
at once on one empty database, as replicas do. No Docker engine runs here: the script itself runs,
with the command the image gives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from testsupport.live_server import ROOT, free_port
from polypharmacy_site.testing import requires_postgres

pytestmark = [pytest.mark.live, pytest.mark.timeout(300)]
ENTRYPOINT = ROOT / "bin" / "docker-entrypoint"
STARTUP_S = 150  # migrate + both catalogs on a shared 2-core machine, two at once


class Replica:
    """One run of the entrypoint serving on a port of its own."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"entrypoint-{self.port}.log"
        self.proc = subprocess.Popen(
            [str(ENTRYPOINT), sys.executable, "-m", "polypharmacy_site.serve", "--host", "127.0.0.1",
             "--port", str(self.port)],
            cwd=tempfile.gettempdir(),  # the script finds the repository by its own path
            env={**env, "PYTHON": sys.executable}, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the entrypoint exited with {self.proc.returncode}:\n{self.log()}"
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        pytest.fail(f"not healthy within {STARTUP_S} s:\n{self.log()}")

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    env.update(POLYPHARMACY_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1", DATABASE_URL="")
    return env


@pytest.fixture
def empty_postgres(clean_env: dict[str, str]) -> Iterator[dict[str, str]]:
    import psycopg

    parts = urlsplit(os.environ["DATABASE_URL"])
    admin = urlunsplit(parts._replace(path="/postgres"))
    name = f"ppenv_entry_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**clean_env, "DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}"))}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def started(env: dict[str, str], log_dir: Path, copies: int) -> list[Replica]:
    replicas = [Replica(env, log_dir) for _ in range(copies)]
    deadline = time.monotonic() + STARTUP_S
    try:
        for replica in replicas:
            replica.wait_healthy(deadline)
    except BaseException:
        for replica in replicas:
            replica.stop()
        raise
    return replicas


def plays(replica: Replica) -> None:
    status, body = replica.post("/reset", {"task_id": "easy_screening", "seed": 0, "catalog": "classic"})
    assert status == 200 and body["done"] is False, body
    status, body = replica.post("/step", {"action": {"action_type": "finish_review"},
                                          "episode_id": body["observation"]["episode_id"]})
    assert status == 200 and body["done"] is True and body["observation"]["grader_score"] is not None


def test_the_entrypoint_makes_an_empty_sqlite_database_ready_and_one_started_from_it_has_nothing_to_do(
        clean_env, tmp_path) -> None:
    (replica,) = started(clean_env, tmp_path, 1)
    try:
        plays(replica)
    finally:
        replica.stop()
    assert "curated: drugs 139 created" in replica.log()

    # The image's seed database (built by the same command) copied into a new, empty state folder.
    seeded = {**clean_env, "POLYPHARMACY_VAR_DIR": str(tmp_path / "fresh"),
              "POLYPHARMACY_SEED_DB": str(tmp_path / "var" / "db.sqlite3")}
    (again,) = started(seeded, tmp_path, 1)
    try:
        plays(again)
    finally:
        again.stop()
    assert "classic: already loaded" in again.log() and "created" not in again.log()
    assert (tmp_path / "fresh" / "db.sqlite3").exists()


@requires_postgres
def test_two_entrypoints_at_once_on_one_empty_postgresql_database_both_serve(empty_postgres, tmp_path) -> None:
    import psycopg

    replicas = started(empty_postgres, tmp_path, 2)
    try:
        for replica in replicas:
            plays(replica)
    finally:
        for replica in replicas:
            replica.stop()
    logs = [replica.log() for replica in replicas]
    # One loaded the catalogs; the other waited for the lock and found them there.
    assert sum("curated: drugs 139 created" in log for log in logs) == 1, logs
    assert sum("curated: already loaded" in log for log in logs) == 1, logs
    with psycopg.connect(empty_postgres["DATABASE_URL"]) as conn:
        versions = conn.execute("SELECT name, version FROM catalog_catalogsource ORDER BY name").fetchall()
    assert versions == [("classic", 1), ("curated", 1)]
