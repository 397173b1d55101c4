"""``manage.py export_episodes [--format episodes|transitions|minari] [--output PATH] [--catalog C]
[--task T] [--status open|finished|all] [--since DATE] [--limit N] [--reviews-only]
[--dataset-id ID]``: stored episodes as JSON Lines, or as a Minari dataset, for offline RL. The
formats are described in ``Command.help`` below (``--help`` prints it); the records themselves are
built by ``episodes.export`` and the Minari files written by ``episodes.minari``, both shared
with the researchers' export on /research/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from argparse import RawDescriptionHelpFormatter
from datetime import datetime, time
from pathlib import Path
from typing import IO, Any

import gymnasium
from django.core.management.base import BaseCommand, CommandError, CommandParser, DjangoHelpFormatter
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from envcore.catalog import CATALOG_NAMES, TASK_IDS
from envcore.gym_registry import GYM_ENV_IDS
from episodes.export import CHUNK_SIZE, Catalogs, episode_record, episodes_to_export, transition_records
from episodes.minari import MinariWriter, minari_episode

HELP = """Write stored episodes as JSON Lines (one JSON object per line, UTF-8), or as a Minari
dataset, for offline RL.

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

--format minari: a Minari 0.5 dataset (minari.load_dataset reads it) of one task and catalog
  (--task and --catalog are required), written under --output (default: $MINARI_DATASETS_PATH,
  else ~/.minari/datasets, where Minari looks) as <dataset id>/data/, the id from --dataset-id
  (default polypharmacy-<task>-<catalog>-v0). Observations and actions in the Gymnasium adapter's
  encoding (envcore.gym_env: float32 vectors, Discrete actions), raw rewards, terminations,
  truncations; infos action_mask, grader_score (0.0 until the last step) and substitute_named (the
  step named its substitute, which the adapter's action cannot); each episode group's attributes
  episode_id, patient_id, catalog, task_id, status. Its env_spec is the Gymnasium id's
  (PolypharmacyEnv/<Task>-<catalog>-v0), so dataset.recover_environment() makes the environment
  (envcore importable). Episodes the adapter cannot encode faithfully (the catalog edited since,
  a drug beyond its 15 slots) are left out and counted in metadata.json.

Research data: no user identities — the owner, the anonymous caller's key, the actor of each step
and all timestamps are left out."""

# Minari's dataset ids: an optional namespace is not offered (a plain folder name), a version is required.
DATASET_ID = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*-v\d+")


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
        parser.add_argument("--format", dest="fmt", choices=("episodes", "transitions", "minari"), default="episodes",
                            help="One line per episode (default) or per transition, or a Minari dataset.")
        parser.add_argument("--output", default="-", help="File to write (default: stdout); for minari, the datasets "
                            "folder (default: $MINARI_DATASETS_PATH, else ~/.minari/datasets).")
        parser.add_argument("--dataset-id", default=None, help="minari only: the dataset's id (default "
                            "polypharmacy-<task>-<catalog>-v0).")
        parser.add_argument("--catalog", default=None, help=f"Only this catalog: {', '.join(CATALOG_NAMES)}.")
        parser.add_argument("--task", default=None, help=f"Only this task: {', '.join(TASK_IDS)}.")
        parser.add_argument("--status", default="finished", help="open, finished (default) or all.")
        parser.add_argument("--since", default=None, help="Only episodes started at or after this ISO date/date-time.")
        parser.add_argument("--limit", type=int, default=None, help="At most this many episodes.")
        parser.add_argument("--reviews-only", action="store_true",
                            help="Only the episodes of review sessions (pharmacists' reviews: demonstrations "
                                 "for imitation, agents.learning.imitation).")

    def handle(self, *args: Any, fmt: str, output: str, catalog: str | None, task: str | None, status: str,
               since: str | None, limit: int | None, reviews_only: bool = False, dataset_id: str | None = None,
               **options: Any) -> None:
        if catalog is not None and catalog not in CATALOG_NAMES:
            raise CommandError(f"--catalog must be one of {', '.join(CATALOG_NAMES)}, not {catalog!r}.")
        if task is not None and task not in TASK_IDS:
            raise CommandError(f"--task must be one of {', '.join(TASK_IDS)}, not {task!r}.")
        if status not in ("open", "finished", "all"):
            raise CommandError(f"--status must be open, finished or all, not {status!r}.")
        if limit is not None and limit < 0:
            raise CommandError(f"--limit must be 0 or more, not {limit}.")
        if fmt != "minari" and dataset_id is not None:
            raise CommandError("--dataset-id is only for --format minari.")
        if fmt == "minari":
            if catalog is None or task is None:
                raise CommandError("--format minari needs --catalog and --task: a Minari dataset is of one environment "
                                   "(its env_spec, PolypharmacyEnv/<Task>-<catalog>-v0).")
            dataset_id = dataset_id or f"polypharmacy-{task}-{catalog}-v0"
            if not DATASET_ID.fullmatch(dataset_id):
                raise CommandError(f"--dataset-id must be a name ending in -v<version> (letters, digits, _ . -), "
                                   f"such as polypharmacy-easy_screening-classic-v0, not {dataset_id!r}.")
        rows = episodes_to_export(catalog=catalog, task=task, status=status, since=_since(since), limit=limit,
                                  reviews_only=reviews_only)
        if fmt == "minari":
            assert dataset_id is not None and catalog is not None and task is not None  # checked above
            self._write_minari(rows, output, dataset_id=dataset_id, catalog=catalog, task=task)
            return

        to_stdout = output == "-"
        try:
            stream: IO[str] = self.stdout if to_stdout else open(output, "w", encoding="utf-8")  # type: ignore[assignment]  # stdout writes as a file does
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

    def _write_minari(self, rows: QuerySet, output: str, *, dataset_id: str, catalog: str, task: str) -> None:
        root = Path(os.environ.get("MINARI_DATASETS_PATH") or Path.home() / ".minari" / "datasets") if output == "-" \
            else Path(output)
        target = root / dataset_id
        if target.exists():
            raise CommandError(f"{target} already exists: delete it, or pass another --dataset-id or --output.")
        try:
            root.mkdir(parents=True, exist_ok=True)
            # Written beside its place and moved in whole: a failed export leaves no half dataset.
            partial = Path(tempfile.mkdtemp(prefix=f".{dataset_id}.partial-", dir=root))
        except OSError as exc:
            raise CommandError(f"--output: cannot write {str(root)!r}: {exc.strerror}") from None
        try:
            catalogs = Catalogs()
            with MinariWriter(partial / "data") as writer:
                for episode in rows.iterator(chunk_size=CHUNK_SIZE):
                    record = episode_record(episode, catalogs)
                    arrays = minari_episode(record, catalogs)
                    if isinstance(arrays, str):
                        writer.skip(arrays)
                        continue
                    writer.add(arrays, {key: record[key] for key in ("episode_id", "patient_id", "catalog", "task_id",
                                                                     "status")})
                metadata = writer.finish(
                    dataset_id=dataset_id, env_spec=gymnasium.spec(GYM_ENV_IDS[(task, catalog)]),
                    algorithm_name="stored episodes (PolypharmacyEnv manage.py export_episodes)",
                    author=["PolypharmacyEnv"],
                    description=(
                        f"Stored {task} episodes on the {catalog} catalog. Observations and actions in "
                        "envcore.gym_env.PolypharmacyGymEnv's encoding; rewards are raw rewards. infos: action_mask, "
                        "grader_score (0.0 until the last step), substitute_named (the step named its substitute, "
                        "which the adapter's action cannot). Episode attributes: episode_id, patient_id, catalog, "
                        "task_id, status. No user identities or timestamps."
                    ),
                )
            partial.rename(target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        left_out = metadata["polypharmacy"]["episodes_left_out"]
        self.stdout.write(f"{metadata['total_episodes']} episodes ({metadata['total_steps']} steps) written to {target}"
                          + (f"; left out: {left_out}" if left_out else "") + f". minari.load_dataset({dataset_id!r}) "
                          + ("reads it." if output == "-" else f"reads it with MINARI_DATASETS_PATH={root}."))
