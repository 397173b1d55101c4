"""OpenEnv 0.10's package validation (``openenv validate``) at its runtime level, with the image's
entrypoint run as a process where the validator would build and run the Docker image.

Run INSIDE ``.venv-openenv-0.10.0``, on a clean copy of the repository (the validator refuses a
tree holding symbolic links, such as the ``.venv-*`` links of a working checkout):

    .venv-openenv-0.10.0/bin/python clients/validate_runtime.py --package COPY --server-python .venv/bin/python

The validator's own runner does everything (reads openenv.yaml and validation/runtime.json, runs
its graders, applies its severity policy); only its provider is replaced. The stand-in does what
the Dockerfile and the container would: "build" makes the seed database (the Dockerfile's
``manage.py prepare_database``), "start" runs ``bin/docker-entrypoint`` with the image's command on
a loopback port with an empty state folder and waits for ``/health`` within the validator's startup
deadline. What it cannot do is isolate: it declares no network-policy capability, so
``runtime.network_policy`` is skipped, as the validator skips any check its provider cannot back.
Prints the report as JSON; exits 1 when a check that ran failed or errored.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from openenv.validation import Level, run_validation, write_report
from openenv.validation.providers import ExecResult, ProviderError, StartupError
from openenv.validation.types import ProviderCapability

SERVER_ENV_DROP = ("DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "PYTHONPATH", "DATABASE_URL", "REDIS_URL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EntrypointSubject:
    """The started "container": the entrypoint's process."""

    def __init__(self, proc: subprocess.Popen, base_url: str, log_path: Path) -> None:
        self.proc, self.base_url, self.log_path = proc, base_url, log_path

    def inspect(self) -> dict:
        return {"pid": self.proc.pid}

    def logs(self, max_bytes: int = 65536) -> str:
        return self.log_path.read_text(errors="replace")[-max_bytes:]

    def exec(self, argv: list[str], timeout_s: float) -> ExecResult:
        raise ProviderError("the entrypoint stand-in offers no exec")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class EntrypointProvider:
    """Stands in for docker-local: the same build and start, without a container."""

    name = "entrypoint-process"
    capabilities = frozenset({ProviderCapability.IMAGE_BUILD})
    supported_network_modes = frozenset({"public"})

    def __init__(self, server_python: str, workdir: Path) -> None:
        self.python, self.workdir = server_python, workdir
        self.root: Path | None = None
        self.env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_DROP}
        self.env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", PYTHON=server_python)

    def build(self, root: Path, execution) -> str:
        self.root = Path(root)
        seed = self.workdir / "seed"
        done = subprocess.run([self.python, "manage.py", "prepare_database"], cwd=self.root, capture_output=True,
                              text=True, env={**self.env, "POLYPHARMACY_VAR_DIR": str(seed)}, timeout=600)
        if done.returncode != 0:
            raise StartupError(f"the seed database failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        return "sha256:" + hashlib.sha256(f"{self.root}{time.time()}".encode()).hexdigest()

    def start(self, spec) -> EntrypointSubject:
        assert self.root is not None
        port = free_port()
        log_path = self.workdir / "server.log"
        env = {**self.env, "POLYPHARMACY_VAR_DIR": str(self.workdir / "state"),
               "POLYPHARMACY_SEED_DB": str(self.workdir / "seed" / "db.sqlite3")}
        proc = subprocess.Popen([str(self.root / "bin" / "docker-entrypoint"), self.python, "-m",
                                 "polypharmacy_site.serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=self.root, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
        subject = EntrypointSubject(proc, f"http://127.0.0.1:{port}", log_path)
        deadline = time.monotonic() + spec.startup_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StartupError(f"the entrypoint exited with {proc.returncode}: {subject.logs(2000)}")
            try:
                with urllib.request.urlopen(subject.base_url + "/health", timeout=1) as response:
                    if response.status == 200:
                        return subject
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        subject.stop()
        raise StartupError(f"no HTTP 200 from /health within {spec.startup_timeout_s} s: {subject.logs(2000)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", required=True, help="a clean copy of the repository")
    parser.add_argument("--server-python", required=True, help="the interpreter the site runs on")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="openenv-runtime-") as workdir:
        provider = EntrypointProvider(args.server_python, Path(workdir))
        report = run_validation(Path(args.package), max_level=Level.RUNTIME, provider=provider)
        print(write_report(report))
    failed = [r for r in report.results if r.status.value in ("fail", "error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
