"""Issue 16's third-party checks, each in a virtualenv of its own (``bin/openenv-clients``), against
a real server process:

- OpenEnv 0.10's ``MCPToolClient`` plays full episodes (session, WebSocket attach, tools, close);
- the ``mcp`` SDK 2.3.0 at its newest protocol version (2026-07-28) and at the 2025-11-25
  handshake, and fastmcp 4.1.6, play full episodes through the tools;
- ``AutoEnv.from_env("polypharmacy_env")`` after ``pip install`` of the client package (``client/``);
- ``openenv validate`` of a clean copy of the repository: the static level passes, and the runtime
  checks pass with the image's entrypoint standing in for the Docker build and run (Docker is what
  the validator's own provider needs; no Docker engine runs here).

The openenv-0.10.0 venv is the one test_openenv_clients.py builds. The mcp-2.3.0 venv is built by
CI (``CI_REQUIRE_SERVICES=1``); elsewhere its tests skip without it (``bin/openenv-clients mcp-2.3.0``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from episodes.tests.test_openenv_clients import client_env, client_venvs, server, show  # noqa: F401 (fixtures)
from testsupport.live_server import ROOT, LiveServer
from polypharmacy_site.testing import client_venv_python

pytestmark = [pytest.mark.live, pytest.mark.timeout(900)]
MCP_VENV = "mcp-2.3.0"
SCRIPT_TIMEOUT_S = 300


@pytest.fixture(scope="session")
def mcp_python() -> Path:
    return client_venv_python(MCP_VENV)


def run_script(python: Path, script: str, *args: str, env: dict[str, str] | None = None,
               cwd: Path | None = None) -> dict:
    proc = subprocess.run([str(python), str(ROOT / "clients" / script), *args], cwd=cwd or ROOT / "clients",
                          env=env or client_env(), capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S)
    try:
        summary = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"{script} printed no JSON summary:\n{show(proc)}", pytrace=False)
    assert proc.returncode == 0 and summary["ok"], (
        f"{script}: {json.dumps(summary.get('failures'), indent=2)[:6000]}\n{proc.stderr[-3000:]}")
    return summary


def test_openenvs_mcp_tool_client_plays_full_episodes_over_a_session(client_venvs, server: LiveServer) -> None:
    summary = run_script(client_venvs["openenv-0.10.0"], "openenv_mcp_episode.py", "--url", server.url)

    names = [check["check"] for check in summary["checks"]]
    for task_id in ("easy_screening", "budgeted_screening", "complex_tradeoff"):
        assert f"{task_id}: finish_review ends it with a grader score in [0.001, 0.999]" in names
        assert f"{task_id}: closing the client closed its session" in names


def test_the_mcp_sdk_at_its_newest_protocol_version_and_fastmcp_play_full_episodes(mcp_python,
                                                                                    server: LiveServer) -> None:
    summary = run_script(mcp_python, "mcp_episode.py", "--url", server.url)

    assert summary["observed"]["protocol_versions"] == {"mcp": "2026-07-28", "mcp-handshake": "2025-11-25",
                                                        "fastmcp": "2026-07-28"}
    assert len(summary["observed"]["grader_scores"]) == 9


def test_autoenv_finds_the_installed_client_package_and_plays_an_episode(client_venvs, server: LiveServer,
                                                                          tmp_path: Path) -> None:
    # A virtualenv on top of the openenv 0.10.0 one (a .pth names its packages), into which pip
    # installs the package from a copy of client/, as `pip install ./client` does.
    base = client_venvs["openenv-0.10.0"]
    layer = tmp_path / "venv"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(layer)], check=True, timeout=120)
    purelib = lambda python: subprocess.run(  # noqa: E731
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True,
        text=True, check=True).stdout.strip()
    (Path(purelib(layer / "bin" / "python")) / "openenv-base.pth").write_text(purelib(base) + "\n")
    package = shutil.copytree(ROOT / "client", tmp_path / "client")
    install = subprocess.run([str(base), "-m", "pip", "--python", str(layer / "bin" / "python"), "install", "--quiet",
                              "--no-deps", str(package)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, show(install)

    env = {**client_env(), "XDG_CACHE_HOME": str(tmp_path / "cache")}  # AutoEnv's discovery cache: a fresh one
    summary = run_script(layer / "bin" / "python", "autoenv_episode.py", "--url", server.url, env=env, cwd=tmp_path)

    names = [check["check"] for check in summary["checks"]]
    assert "AutoEnv.from_env builds the package's typed client" in names
    assert "the package's observation model has the fields /schema publishes" in names


@pytest.fixture(scope="module")
def clean_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files as a clone has them (tracked, and new files not ignored): the
    validator reads the whole tree and refuses the .venv-* links of a working checkout."""
    target = tmp_path_factory.mktemp("checkout")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_openenv_validate_of_the_package_passes(client_venvs, clean_checkout: Path, tmp_path: Path) -> None:
    cli = client_venvs["openenv-0.10.0"].parent / "openenv"
    # Without Docker the build-dependent checks are skipped (a warning, exit 0), as --skip-build says;
    # the next test runs them with the entrypoint in the container's place.
    full = subprocess.run([str(cli), "validate", str(clean_checkout), "--skip-build", "--json"], cwd=tmp_path,
                          env=client_env(), capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S)

    assert full.returncode == 0, show(full)
    report = json.loads(full.stdout)
    results = {r["check_id"]: r["status"] for r in report["results"]}
    assert report["verdict"] == "warn" and report["signature"] == "openenv.yaml"
    assert results["static.manifest"] == "pass" and results["runtime.startup"] == "skip"
    assert "fail" not in results.values() and "error" not in results.values()


def test_the_validators_runtime_checks_pass_with_the_images_entrypoint_in_place_of_docker(
        client_venvs, clean_checkout: Path, tmp_path: Path) -> None:
    proc = subprocess.run([str(client_venvs["openenv-0.10.0"]), str(ROOT / "clients" / "validate_runtime.py"),
                           "--package", str(clean_checkout), "--server-python", sys.executable],
                          cwd=tmp_path, env=client_env(), capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S)

    assert proc.returncode == 0, show(proc)
    results = {r["check_id"]: r["status"] for r in json.loads(proc.stdout)["results"]}
    for check in ("runtime.startup", "runtime.reward_well_formed", "runtime.observation_schema",
                  "runtime.state_contract"):
        assert results[check] == "pass", (check, proc.stdout[-4000:])
    assert results["runtime.network_policy"] == "skip"
