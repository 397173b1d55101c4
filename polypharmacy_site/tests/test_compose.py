"""docker-compose.yml: web, worker, postgres and redis, each with a health check.

`docker compose config` is the real check where the compose plugin exists; this test holds the
file to the same structure wherever the suite runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_runs_web_worker_postgres_and_redis(compose: dict) -> None:
    assert set(compose["services"]) == {"web", "worker", "postgres", "redis"}
    assert "python -m polypharmacy_site.serve" in compose["services"]["web"]["command"]
    assert "celery -A polypharmacy_site worker -Q celery,training" in compose["services"]["worker"]["command"]


def test_every_service_has_a_health_check(compose: dict) -> None:
    for name, service in compose["services"].items():
        assert service["healthcheck"]["test"], name


def test_the_app_waits_for_healthy_services_and_points_at_them(compose: dict) -> None:
    for name in ("web", "worker"):
        service = compose["services"][name]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")
        assert env["POLYPHARMACY_PRODUCTION"] == "1"
        assert {"SECRET_KEY", "ALLOWED_HOSTS", "AUDIT_KEY", "AUDIT_CHECKPOINT_DIR"} <= set(env)


def test_data_lives_in_named_volumes(compose: dict) -> None:
    assert {"pgdata", "redisdata"} <= set(compose["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    assert "redisdata:/data" in compose["services"]["redis"]["volumes"]


def _compose_command() -> list[str] | None:
    """`docker compose` (the v2 plugin) where installed, else Debian's `docker-compose` (v1),
    which validates the same file; None when neither is here."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(_compose_command() is None, reason="needs docker compose (or Debian's docker-compose)")
def test_docker_compose_accepts_the_file() -> None:
    command = _compose_command()
    assert command is not None
    result = subprocess.run(
        [*command, "config", "--quiet"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "SECRET_KEY": "compose-config-check", "AUDIT_KEY": "compose-config-check"},
    )

    assert result.returncode == 0, result.stderr
