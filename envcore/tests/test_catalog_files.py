"""The shipped catalogs are envcore's own data files, so an installed wheel can load them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import envcore
from envcore.catalog import CATALOG_NAMES, CATALOGS_DIR, Catalog

ROOT = Path(__file__).resolve().parents[2]


def test_the_catalogs_live_inside_the_envcore_package() -> None:
    package = Path(envcore.__file__).resolve().parent
    assert CATALOGS_DIR.is_relative_to(package)
    for name in CATALOG_NAMES:
        assert Catalog.load(name).patients


def test_pyproject_ships_every_catalog_file_with_envcore() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["envcore"]
    package = Path(envcore.__file__).resolve().parent
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    files = {path for path in CATALOGS_DIR.rglob("*") if path.is_file() and "__pycache__" not in path.parts}
    assert files and files <= shipped
