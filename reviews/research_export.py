"""The researchers' downloads of /research/'s rows: JSON Lines, and a Minari dataset.

Both take exactly the rows the table shows for the same filters (``selectors.research_rows``), in
its pseudonym order, and both read episodes through ``episodes.export``, the serialisation that
``manage.py export_episodes`` writes, so the three never drift. What would identify a person is
taken out of that record here, once, for both formats:

- the episode id and the patient id (the pseudonym stands for both), everywhere they occur;
- demographics: ``age`` and ``sex`` of every observation (neither moves the risk, the rewards or
  the grader, so a learner loses nothing the environment scores); in the Minari vectors the
  adapter's age feature is 0;
- the rationale of every intervention (free text a person typed: a name, a bed number…);
- users and times, which the record never had.

What stays is the review itself (drugs named, the environment's answers, exact risks, rewards and
the score): it is what the data is for. It is **pseudonymised, not anonymous**: an episode's
drugs and exact baseline risk match it to its patient for anyone who can reset one, which the
table's binned, 5-anonymous rows do not allow. README "Review sessions" says so.

The Minari dataset is written by ``episodes.minari`` (its layout and encoding are described
there), the writer ``export_episodes --format minari`` shares, into temporary files and zipped:
memory stays flat however many episodes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from typing import IO, Any, Iterator

from envcore.gym_env import AGE_FEATURE
from episodes.export import CHUNK_SIZE, Catalogs, episode_record, episodes_with_steps
from episodes.minari import DATA_FILE, METADATA_FILE, MinariWriter, minari_episode
from reviews.audit import RequestMeta, audit_append
from reviews.models import AuditRecord, ReviewSession
from reviews.selectors import ResearchTable

DATASET_ID = "polypharmacy-research-v0"
IDENTIFYING_KEYS = ("episode_id", "patient_id", "age", "sex")


# ── the record ─────────────────────────────────────────────────────────────
def _scrub_observation(observation: dict[str, Any] | None) -> dict[str, Any] | None:
    if observation is None:
        return None
    clean = {k: v for k, v in observation.items() if k not in IDENTIFYING_KEYS}
    clean["interventions"] = [{k: v for k, v in i.items() if k != "rationale"} for i in observation.get("interventions", ())]
    return clean


def research_record(record: dict[str, Any], *, code: str, sign_off: str) -> dict[str, Any]:
    """An ``episodes.export`` record with what identifies a person taken out (module docstring)."""
    kept = {k: v for k, v in record.items() if k not in ("episode_id", "patient_id", "steps", "reset_observation")}
    return {
        "code": code, **kept, "sign_off": sign_off,
        "reset_observation": _scrub_observation(record["reset_observation"]),
        "steps": [
            {**step, "action": {k: v for k, v in step["action"].items() if k != "rationale"},
             "observation": _scrub_observation(step["observation"])}
            for step in record["steps"]
        ],
    }


def _records(table: ResearchTable) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(table row, full ``episodes.export`` record) for each row, in the table's order."""
    catalogs = Catalogs()
    # In chunks of the table's order: a chunk's episodes and their steps in three queries.
    for start in range(0, len(table.rows), CHUNK_SIZE):
        rows = table.rows[start:start + CHUNK_SIZE]
        episode_of = dict(ReviewSession.objects.filter(pk__in=[table.sessions[r["code"]] for r in rows])
                          .values_list("pk", "episode_id"))
        episodes = {e.pk: e for e in episodes_with_steps().filter(pk__in=list(episode_of.values()))}
        for row in rows:
            yield row, episode_record(episodes[episode_of[table.sessions[row["code"]]]], catalogs)


# ── JSON Lines ─────────────────────────────────────────────────────────────
def research_jsonl_write(table: ResearchTable, out: IO[bytes]) -> int:
    """One line per row (``research_record``); returns the number of lines."""
    lines = 0
    for row, record in _records(table):
        line = research_record(record, code=row["code"], sign_off=row["sign_off"])
        out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        lines += 1
    return lines


# ── Minari ─────────────────────────────────────────────────────────────────
def research_minari_write(table: ResearchTable, out: IO[bytes], *, filters: dict[str, Any]) -> dict[str, Any]:
    """The rows as a zipped Minari dataset directory (``DATASET_ID/data/…``) into ``out``, written
    by ``episodes.minari`` (shared with ``export_episodes --format minari``); returns the metadata
    written (episode and step counts, what was left out and why)."""
    catalogs = Catalogs()
    with tempfile.TemporaryDirectory(prefix="research-minari-") as folder:
        with MinariWriter(folder) as writer:
            for row, record in _records(table):
                arrays = minari_episode(record, catalogs)
                if isinstance(arrays, str):
                    writer.skip(arrays)
                    continue
                arrays["observations"][:, AGE_FEATURE] = 0.0  # demographics are left out (module docstring)
                writer.add(arrays, {"research_code": row["code"], "catalog": row["catalog"], "task_id": row["task_id"],
                                    "sign_off": row["sign_off"]})
            metadata = writer.finish(
                dataset_id=DATASET_ID,
                algorithm_name="pharmacists' review sessions (PolypharmacyEnv /research/)",
                author=["PolypharmacyEnv"],
                description=(
                    "Finished review sessions, pseudonymised (no user, patient or episode id, no times, no age or sex, "
                    "no rationale). Observations and actions in envcore.gym_env.PolypharmacyGymEnv's encoding (its "
                    "age feature set to 0); rewards are raw rewards. infos: action_mask, substitute_named (the step "
                    "named its substitute, which the adapter's action cannot), grader_score (0.0 until the last "
                    "step). Episode attributes: research_code, catalog, task_id, sign_off."
                ),
                polypharmacy={"filters": filters, "rows": len(table.rows)},
            )
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{DATASET_ID}/data/{METADATA_FILE}", json.dumps(metadata, indent=1))
            with open(f"{folder}/{DATA_FILE}", "rb") as source, archive.open(f"{DATASET_ID}/data/{DATA_FILE}", "w") as target:
                shutil.copyfileobj(source, target)
    return metadata


def research_export_record(*, meta: RequestMeta, fmt: str, filters: dict[str, Any], rows: int) -> None:
    """Each download is audited: who took which rows out, and in which format."""
    audit_append(meta=meta, action=AuditRecord.Action.RESEARCH_EXPORTED,
                 payload={"format": fmt, "filters": filters, "rows": rows})
