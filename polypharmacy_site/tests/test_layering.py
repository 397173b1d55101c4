"""Imports point one way (``polypharmacy_site.layering``): each module imports from its own layer
or lower ones, no import inside a function crosses apps, and no files or apps import each other
round in a circle. The checker reads source with ``ast``: no database, well under a second.

The tests of the test run the same checker on a copy of the project with one reverse import
added, and on small made-up projects, and see it fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from polypharmacy_site import layering
from polypharmacy_site.layering import LAYERS, Layer, Project, architecture_block, cycles, violations

README = layering.ROOT / "README.md"
BEGIN, END = "<!-- architecture: begin (bin/architecture writes this block) -->", "<!-- architecture: end -->"


def test_the_project_imports_only_downward_and_in_no_circle():
    found = violations(Project.scan())
    assert found == [], "\n".join(found)


def test_the_checker_sees_every_layered_package():
    modules = Project.scan().modules
    for package in ("envcore", "agents", "fixtures", "bandits", "catalog", "accounts", "episodes", "reviews", "jobs",
                    "polypharmacy_site"):
        assert package in modules or any(m.startswith(package + ".") for m in modules), package
    assert "episodes.services" in modules and "jobs.management.commands.run_agent" in modules
    assert not any(".tests." in m or ".migrations." in m for m in modules)


def test_the_readme_architecture_block_is_the_layering_tests_layers():
    text = README.read_text()
    assert BEGIN in text and END in text, "README lacks the architecture block: run bin/architecture --write"
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block.strip().strip("`").strip() == architecture_block().strip(), "run bin/architecture --write"


# ── the test of the test ─────────────────────────────────────────────────────────────────────────
@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layered packages' sources, copied (no tests, no data: a second to copy)."""
    root = tmp_path_factory.mktemp("copy")
    packages = {unit.split(".")[0] for layer in LAYERS for unit in layer.units}
    for package in packages:
        for path in (layering.ROOT / package).rglob("*.py"):
            target = root / path.relative_to(layering.ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return root


def _with_line(root: Path, module_file: str, line: str, _tmp_path: Path) -> list[str]:
    """The checker's findings on the copy with ``line`` appended to one file (put back after)."""
    path = root / module_file
    original = path.read_text()
    path.write_text(original + "\n" + line + "\n")
    try:
        return violations(Project.scan(root))
    finally:
        path.write_text(original)


def test_the_copy_passes_as_the_project_does(project_copy):
    assert violations(Project.scan(project_copy)) == []


def test_a_reverse_import_fails_the_layering(project_copy, tmp_path):
    found = (_with_line(project_copy, "episodes/models.py", "from reviews import services", tmp_path))
    assert any("episodes.models (episodes) imports reviews.services from a higher layer (features)" in f
               for f in found), found
    # ...and closes a circle between the apps (reviews imports episodes).
    assert any(f.startswith("import cycle between apps:") and "episodes" in f and "reviews" in f for f in found)


def test_envcore_importing_django_or_the_site_fails(project_copy, tmp_path):
    found = (_with_line(project_copy, "envcore/risk.py", "from django.conf import settings", tmp_path))
    assert any("envcore.risk (environment) imports django.conf" in f and "free of Django" in f for f in found)
    found = (_with_line(project_copy, "envcore/risk.py", "import catalog.selectors", tmp_path))
    assert any("imports catalog.selectors from a higher layer" in f for f in found), found


def test_a_bandit_algorithm_importing_the_jobs_app_fails(project_copy, tmp_path):
    found = (_with_line(project_copy, "bandits/metrics.py", "from jobs.models import Job", tmp_path))
    assert any("bandits.metrics (algorithms) imports jobs.models from a higher layer" in f for f in found), found


def test_a_cross_app_import_inside_a_function_fails(project_copy, tmp_path):
    line = "def later():\n    from catalog.selectors import catalog_get\n    return catalog_get"
    found = (_with_line(project_copy, "jobs/presenters.py", line, tmp_path))
    assert any("jobs.presenters imports catalog.selectors inside a function, across apps" in f for f in found)
    # Within an app a function-level import is allowed (with its reason beside it).
    line = "def later():\n    from jobs.models import Job\n    return Job"
    assert (_with_line(project_copy, "jobs/presenters.py", line, tmp_path)) == []


def test_a_circle_between_two_files_of_one_app_fails(project_copy, tmp_path):
    line = "def later():\n    from jobs.services import job_create\n    return job_create"
    found = (_with_line(project_copy, "jobs/context.py", line, tmp_path))
    assert any(f.startswith("import cycle between files:") and "jobs.context" in f and "jobs.services" in f
               for f in found), found


def _made_up(tmp_path: Path, files: dict[str, str]) -> Project:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Project.scan(tmp_path, MADE_UP)


MADE_UP = (Layer("low", ("low",), "a"), Layer("high", ("high", "side"), "b"))


def test_a_made_up_project_shows_each_rule(tmp_path):
    project = _made_up(tmp_path, {
        "low/__init__.py": "", "low/a.py": "from high import b\n",
        "high/__init__.py": "", "high/b.py": "from . import c\n", "high/c.py": "from high import b\n",
        "side/__init__.py": "", "side/d.py": "import high.b\n",
        "high/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from side import d\n",
        "high/tests/test_x.py": "import side.d\n",
    })
    found = violations(project, MADE_UP)
    assert "low/a.py:1: low.a (low) imports high.b from a higher layer (high)" in found
    assert "import cycle between files: high.b -> high.c -> high.b" in found
    # Siblings in one layer may use each other, one way; a TYPE_CHECKING import never runs, and tests are left out.
    assert not any("side" in f for f in found), found


def test_cycles_names_a_circle_through_every_node_of_a_tangle():
    edges = {("a", "b"), ("b", "a"), ("b", "c"), ("c", "d"), ("d", "b"), ("d", "e")}
    assert cycles(edges) == [["a", "b", "a"], ["b", "c", "d", "b"]]
    assert cycles({("a", "b"), ("b", "c")}) == []
