"""``manage.py export_episodes [--format episodes|transitions] [--output PATH] [--catalog C]
[--task T] [--status open|finished|all] [--since DATE] [--limit N]``: stored episodes as JSON
Lines for offline RL. The format is described in ``Command.help`` below (``--help`` prints it).

The reset observation is not stored (an Episode row keeps only the snapshot after its last step),
so it is rebuilt: envcore's reset is deterministic given the patient (the seed only picks the
patient), so resetting the episode's catalog with its task, patient and episode id gives the
observation the agent saw, with the baseline risk taken from the row. It is exact while the
catalog is the one the episode ran on; after a curator's edit the line says
``"catalog_changed": true`` and the rebuilt observation shows the drug data as they are now.

It only reads: episodes stream from the database in chunks (``iterator``), steps prefetched per
chunk, so memory stays flat however many episodes there are.
"""

from __future__ import annotations

import json
from argparse import RawDescriptionHelpFormatter
from datetime import datetime, time
from typing import IO, Any, Iterator

from django.core.management.base import BaseCommand, CommandError, CommandParser, DjangoHelpFormatter
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from catalog.selectors import CatalogNotLoaded, catalog_get
from envcore.catalog import CATALOG_NAMES, TASK_IDS, Catalog
from envcore.env import PolypharmacyEnv
from envcore.errors import EnvError
from episodes.models import Episode, Step

CHUNK_SIZE = 200
FINISHED = (Episode.Status.TERMINATED, Episode.Status.TRUNCATED)
STEP_FIELDS = ("episode", "index", "action", "observation", "reward", "raw_reward", "done")

HELP = """Write stored episodes as JSON Lines (one JSON object per line, UTF-8) for offline RL.

--format episodes (default), one line per episode:
  {"episode_id", "catalog", "catalog_fingerprint", "catalog_changed", "task_id", "patient_id",
   "status" (open|terminated|truncated), "step_count", "baseline_risk", "final_risk",
   "grader_score" (null while open), "reset_observation",
   "steps": [{"index", "action", "reward", "raw_reward", "done", "observation"}, ...]}
--format transitions, one line per step:
  {"episode_id", "catalog", "task_id", "patient_id", "index", "observation" (before the step),
   "action", "reward", "raw_reward", "next_observation", "done", "terminated", "truncated"}
  Step 1's "observation" is the reset observation; step i+1's is step i's "next_observation".

"reward" is the wire reward (clamped to [0.001, 0.999]), "raw_reward" the unclamped one;
"truncated" marks the step limit (bootstrap from it), "terminated" a finished review.
The reset observation is not stored: it is rebuilt from the episode's catalog, task and patient
(exact unless the catalog was edited since; then "catalog_changed" is true; null if the patient
is no longer in the catalog). Episodes come oldest first; --limit counts episodes in both formats.
Research data: no user identities — the owner, the anonymous caller's key, the actor of each step
and all timestamps are left out."""


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        # Both return None for text of another shape and raise ValueError for 2026-13-45.
        moment = parse_datetime(value)
        day = parse_date(value) if moment is None else None
    except ValueError:
        moment = day = None
    if moment is None:
        if day is None:
            raise CommandError(f"--since must be an ISO date or date-time (2026-11-25 or 2026-11-25T08:00), not {value!r}.")
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_current_timezone())
    return moment


def episodes_to_export(
    *, catalog: str | None, task: str | None, status: str, since: datetime | None, limit: int | None,
    reviews_only: bool = False,
) -> QuerySet[Episode]:
    """The selected episodes, oldest first, with their steps prefetched in index order."""
    steps = Prefetch("steps", queryset=Step.objects.only(*STEP_FIELDS).order_by("index"))
    rows = Episode.objects.select_related("catalog").prefetch_related(steps).only(
        "episode_id", "catalog__name", "catalog_fingerprint", "task_id", "patient_id", "status",
        "step_count", "baseline_risk", "current_risk", "grader_score", "created_at",
    )
    if catalog:
        rows = rows.filter(catalog__name=catalog)
    if task:
        rows = rows.filter(task_id=task)
    if status == "open":
        rows = rows.filter(status=Episode.Status.OPEN)
    elif status == "finished":
        rows = rows.filter(status__in=FINISHED)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if reviews_only:
        rows = rows.filter(steps_via=Episode.REVIEW_CHANNEL)
    rows = rows.order_by("created_at", "pk")
    return rows[:limit] if limit is not None else rows


class _Catalogs:
    """The site's catalogs by name, each read once per export."""

    def __init__(self) -> None:
        self._by_name: dict[str, Catalog | None] = {}

    def get(self, name: str) -> Catalog | None:
        if name not in self._by_name:
            try:
                self._by_name[name] = catalog_get(name)
            except CatalogNotLoaded:
                self._by_name[name] = None
        return self._by_name[name]


def reset_observation(episode: Episode, catalog: Catalog | None) -> dict[str, Any] | None:
    """The observation the episode started from, rebuilt (None if its patient is gone)."""
    if catalog is None:
        return None
    env = PolypharmacyEnv(catalog)
    try:
        obs = env.reset(episode_id=episode.episode_id, task_id=episode.task_id, patient_id=episode.patient_id)
    except EnvError:
        return None  # the patient (or a drug of theirs) was removed from the catalog since
    rebuilt = obs.to_dict()
    # The row's baseline is the one the episode was scored against, even if the catalog changed.
    rebuilt["baseline_risk"] = rebuilt["current_risk"] = episode.baseline_risk
    return rebuilt


def episode_record(episode: Episode, catalogs: _Catalogs) -> dict[str, Any]:
    """One episode as exported (no user identities, no timestamps)."""
    catalog = catalogs.get(episode.catalog.name)
    return {
        "episode_id": episode.episode_id,
        "catalog": episode.catalog.name,
        "catalog_fingerprint": episode.catalog_fingerprint,
        "catalog_changed": catalog is None or catalog.fingerprint != episode.catalog_fingerprint,
        "task_id": episode.task_id,
        "patient_id": episode.patient_id,
        "status": episode.status,
        "step_count": episode.step_count,
        "baseline_risk": episode.baseline_risk,
        "final_risk": episode.current_risk,
        "grader_score": episode.grader_score,
        "reset_observation": reset_observation(episode, catalog),
        "steps": [
            {"index": s.index, "action": s.action, "reward": s.reward, "raw_reward": s.raw_reward,
             "done": s.done, "observation": s.observation}
            for s in episode.steps.all()
        ],
    }


def transition_records(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """An exported episode's steps as (observation, action, reward, next observation) lines."""
    before = record["reset_observation"]
    for step in record["steps"]:
        after = step["observation"]
        yield {
            "episode_id": record["episode_id"], "catalog": record["catalog"], "task_id": record["task_id"],
            "patient_id": record["patient_id"], "index": step["index"], "observation": before,
            "action": step["action"], "reward": step["reward"], "raw_reward": step["raw_reward"],
            "next_observation": after, "done": step["done"],
            "terminated": bool(after.get("terminated")), "truncated": bool(after.get("truncated")),
        }
        before = after


class _HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Django's option order, the description's own line breaks."""


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        # Keep the format description's line breaks in --help.
        return super().create_parser(prog_name, subcommand, formatter_class=_HelpFormatter, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", dest="fmt", choices=("episodes", "transitions"), default="episodes",
                            help="One line per episode (default) or per transition.")
        parser.add_argument("--output", default="-", help="File to write (default: stdout).")
        parser.add_argument("--catalog", default=None, help=f"Only this catalog: {', '.join(CATALOG_NAMES)}.")
        parser.add_argument("--task", default=None, help=f"Only this task: {', '.join(TASK_IDS)}.")
        parser.add_argument("--status", default="finished", help="open, finished (default) or all.")
        parser.add_argument("--since", default=None, help="Only episodes started at or after this ISO date/date-time.")
        parser.add_argument("--limit", type=int, default=None, help="At most this many episodes.")
        parser.add_argument("--reviews-only", action="store_true",
                            help="Only the episodes of review sessions (pharmacists' reviews: demonstrations "
                                 "for imitation, agents.learning.imitation).")

    def handle(self, *args: Any, fmt: str, output: str, catalog: str | None, task: str | None, status: str,
               since: str | None, limit: int | None, reviews_only: bool = False, **options: Any) -> None:
        if catalog is not None and catalog not in CATALOG_NAMES:
            raise CommandError(f"--catalog must be one of {', '.join(CATALOG_NAMES)}, not {catalog!r}.")
        if task is not None and task not in TASK_IDS:
            raise CommandError(f"--task must be one of {', '.join(TASK_IDS)}, not {task!r}.")
        if status not in ("open", "finished", "all"):
            raise CommandError(f"--status must be open, finished or all, not {status!r}.")
        if limit is not None and limit < 0:
            raise CommandError(f"--limit must be 0 or more, not {limit}.")
        rows = episodes_to_export(catalog=catalog, task=task, status=status, since=_since(since), limit=limit,
                                  reviews_only=reviews_only)

        to_stdout = output == "-"
        try:
            stream: IO[str] = self.stdout if to_stdout else open(output, "w", encoding="utf-8")  # type: ignore[assignment]
        except OSError as exc:
            raise CommandError(f"--output: cannot write {output!r}: {exc.strerror}") from None
        episodes = lines = 0
        catalogs = _Catalogs()
        try:
            for episode in rows.iterator(chunk_size=CHUNK_SIZE):
                record = episode_record(episode, catalogs)
                for line in ([record] if fmt == "episodes" else transition_records(record)):
                    stream.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
                    lines += 1
                episodes += 1
        finally:
            if not to_stdout:
                stream.close()
        # The summary never mixes with JSON Lines on stdout.
        summary = f"{episodes} episodes, {lines} lines written to {'stdout' if to_stdout else output}."
        if to_stdout:
            self.stderr.write(summary, style_func=lambda text: text)  # information, not an error
        else:
            self.stdout.write(summary)
