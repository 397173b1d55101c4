"""`bin/test --fast` leaves out the tests marked `live`: every test module that starts a server
process, a worker or a browser must carry the mark, or the fast suite silently grows slow."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What starts a process or a browser: the test server, the test worker, Playwright, and the
# module-scoped server fixture of episodes/tests/conftest.py.
LIVE = re.compile(r"\bLiveServer\(|\bLiveWorker\(|\bplaywright\b|\benv_server\b")
MARKED = re.compile(r"^pytestmark = .*\bpytest\.mark\.live\b", re.M)


def module_paths(paths: list[Path]) -> list[Path]:
    return [p for d in paths for p in sorted(d.rglob("test_*.py")) if ".venv" not in p.parts]


def unmarked_live_modules(root: Path, paths: list[Path]) -> list[str]:
    this = Path(__file__).resolve()
    return [str(p.relative_to(root)) for p in module_paths(paths)
            if p != this and LIVE.search(p.read_text()) and not MARKED.search(p.read_text())]


def test_every_module_that_starts_a_process_or_a_browser_is_marked_live() -> None:
    ini = configparser.ConfigParser()
    ini.read(ROOT / "pytest.ini")
    paths = [ROOT / name for name in ini["pytest"]["testpaths"].split()]

    assert len(module_paths(paths)) > 50
    assert unmarked_live_modules(ROOT, paths) == []


def test_the_check_finds_an_unmarked_module(tmp_path: Path) -> None:
    (tmp_path / "test_unmarked.py").write_text("def test_x(env_server):\n    pass\n")
    (tmp_path / "test_marked.py").write_text("import pytest\npytestmark = pytest.mark.live\n"
                                             "def test_x(env_server):\n    pass\n")
    (tmp_path / "test_in_process.py").write_text("def test_x():\n    pass\n")

    assert unmarked_live_modules(tmp_path, [tmp_path]) == ["test_unmarked.py"]
