"""A real server process for tests and benchmarks: the site as ``polypharmacy_site.serve`` runs
it (uvicorn) on a free port, with a database of
its own (a fresh SQLite file, or a fresh PostgreSQL database when DATABASE_URL names one),
migrated and loaded with both catalogs. It can be killed and restarted on the same database.

Migrating and loading both catalogs takes two Django start-ups and 10–40 s, and a test run starts
a server in some twenty modules; so each process does it once, into a template (a PostgreSQL
database that ``CREATE DATABASE … TEMPLATE`` copies, or a SQLite file that is copied), and every
server starts from a copy of it: the same rows a fresh migrate and load would give.

    with LiveServer() as server:
        requests.post(server.url + "/reset", json={})
        server.kill(); server.start()          # a crash and a restart, same data
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, *, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.TemporaryDirectory(prefix="ppenv-live-")
        self.env = {**os.environ, "POLYPHARMACY_VAR_DIR": self.tmp.name, "PYTHONUNBUFFERED": "1"}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.env.update(extra_env or {})
        self.pg_admin_url: str | None = None
        self.db_name: str | None = None
        base = os.environ.get("DATABASE_URL", "")
        if base.startswith(("postgres://", "postgresql://")):
            # A database of its own: the test run's database lives inside a transaction the
            # server process could not see.
            parts = urlsplit(base)
            self.db_name = f"ppenv_live_{uuid.uuid4().hex[:10]}"
            self.pg_admin_url = urlunsplit(parts._replace(path="/postgres"))
            self.env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{self.db_name}"))
        else:
            self.env["DATABASE_URL"] = ""
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(self.tmp.name) / "server.log"

    # ── lifecycle ──────────────────────────────────────────────────────────
    def setup_database(self) -> None:
        """This server's database: a copy of the process's template (migrated, both catalogs)."""
        template = _template_for(self)
        if self.db_name:
            import psycopg

            assert self.pg_admin_url is not None  # set with db_name
            with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.db_name}" TEMPLATE "{template}"')
        else:
            for path in Path(template).parent.glob("db.sqlite3*"):  # the WAL file too, if any
                shutil.copy2(path, Path(self.tmp.name) / path.name)

    def manage(self, *args: str) -> str:
        """Run a management command on this server's database; its stdout, or an error with its output."""
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self, timeout: float = 30.0) -> None:
        cmd = [sys.executable, "-m", "polypharmacy_site.serve", "--host", "127.0.0.1", "--port", str(self.port)]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urlopen(self.url + "/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy in {timeout} s:\n{self.log()}")

    def kill(self) -> None:
        """A crash: SIGKILL, no clean shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        self.stop()
        if self.db_name:
            import psycopg

            assert self.pg_admin_url is not None  # set with db_name
            with psycopg.connect(self.pg_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        self.tmp.cleanup()

    def sibling(self, **env: str) -> "LiveServer":
        """Another web process on this server's database and broker (the same environment, with
        ``env`` on top), on a port of its own: a second machine behind the same load balancer.
        Start it with ``start()``; ``close()`` stops it and leaves the database to this one."""
        other = LiveServer.__new__(LiveServer)
        other.port = free_port()
        other.url = f"http://127.0.0.1:{other.port}"
        other.tmp = tempfile.TemporaryDirectory(prefix="ppenv-live-sibling-")
        other.env = {**self.env, **env}
        other.pg_admin_url = other.db_name = None  # the database is this server's to drop
        other.proc = None
        other.log_path = Path(other.tmp.name) / "server.log"
        return other

    def __enter__(self) -> "LiveServer":
        try:
            self.setup_database()
            self.start()
        except Exception:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_templates: dict[str, str] = {}  # the database URL a template was made for → its name or file


def _template_for(server: LiveServer) -> str:
    """The template database for ``server``'s kind of database, made on first use: a fresh
    database (or SQLite file) migrated and loaded with both catalogs, dropped when the process
    ends. Nothing connects to it once made, as ``CREATE DATABASE … TEMPLATE`` requires."""
    base = os.environ.get("DATABASE_URL", "")
    if base in _templates:
        return _templates[base]
    maker = LiveServer.__new__(LiveServer)  # only its environment and manage()
    maker.tmp = tempfile.TemporaryDirectory(prefix="ppenv-live-template-")
    maker.env = {**server.env, "POLYPHARMACY_VAR_DIR": maker.tmp.name}
    if server.db_name:
        import psycopg

        name = f"ppenv_live_template_{uuid.uuid4().hex[:10]}"
        assert server.pg_admin_url is not None  # set with db_name
        with psycopg.connect(server.pg_admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        maker.env["DATABASE_URL"] = urlunsplit(urlsplit(server.env["DATABASE_URL"])._replace(path=f"/{name}"))
        admin_url = server.pg_admin_url

        def drop() -> None:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            maker.tmp.cleanup()

        template = name
    else:
        template = str(Path(maker.tmp.name) / "db.sqlite3")
        drop = maker.tmp.cleanup
    try:
        maker.manage("migrate", "--noinput", "-v", "0")
        maker.manage("load_catalog", "--all")
    except Exception:
        drop()
        raise
    atexit.register(drop)
    _templates[base] = template
    return template


class LiveWorker:
    """A real Celery worker process on a LiveServer's database, broker and artefact folder
    (``env``: the server's environment). ``kill()`` is a crash of the whole worker (main process
    and pool children, SIGKILL), as when its machine dies."""

    def __init__(self, env: dict[str, str], *, name: str = "w1", queues: str = "celery,training") -> None:
        self.env = env
        self.name = name
        self.queues = queues
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(env["POLYPHARMACY_VAR_DIR"]) / f"worker-{name}.log"

    def start(self, timeout: float = 60.0) -> "LiveWorker":
        cmd = [sys.executable, "-m", "celery", "-A", "polypharmacy_site", "worker", "-Q", self.queues,
               "--concurrency", "1", "--loglevel", "INFO", "-n", f"{self.name}@%h", "--without-gossip",
               "--without-mingle", "--without-heartbeat"]
        log = open(self.log_path, "ab")
        # A session of its own, so kill() can take the pool children down with the main process.
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            if " ready." in self.log():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout} s:\n{self.log()}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "LiveWorker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
