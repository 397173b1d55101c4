"""``manage.py export_episodes [--format episodes|transitions] [--output PATH] [--catalog C]
[--task T] [--status open|finished|all] [--since DATE] [--limit N] [--reviews-only]``: stored
episodes as JSON Lines for offline RL. The format is described in ``Command.help`` below
(``--help`` prints it); the records themselves are built by ``episodes.export``, which the
researchers' export on /research/ shares.
"""

from __future__ import annotations

import json
from argparse import RawDescriptionHelpFormatter
from datetime import datetime, time
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, DjangoHelpFormatter
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from envcore.catalog import CATALOG_NAMES, TASK_IDS
from episodes.export import CHUNK_SIZE, Catalogs, episode_record, episodes_to_export, transition_records

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
        catalogs = Catalogs()
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
