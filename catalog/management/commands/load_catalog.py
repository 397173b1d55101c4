"""manage.py load_catalog classic|curated [--all] [--prune]: upsert the shipped catalogs."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.services import catalog_load
from envcore.catalog import CATALOG_NAMES


class Command(BaseCommand):
    help = "Load catalogs from envcore/catalogs/<name>/ into the database (idempotent; reports what changed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="{classic,curated}")
        parser.add_argument("--all", action="store_true", help="Load every shipped catalog.")
        parser.add_argument("--prune", action="store_true", help="Delete rows that the fixture files no longer have.")

    def handle(self, *args: Any, names: list[str], all: bool, prune: bool, **options: Any) -> None:
        names = list(CATALOG_NAMES) if all else names
        if not names:
            raise CommandError("Name a catalog (classic or curated) or pass --all.")
        unknown = [n for n in names if n not in CATALOG_NAMES]
        if unknown:
            raise CommandError(f"Unknown catalog {unknown[0]!r}: use one of {', '.join(CATALOG_NAMES)}.")
        for name in names:
            report = catalog_load(name=name, prune=prune)
            self.stdout.write(str(report))
