"""Stored episodes as plain records for offline RL: one serialisation, read by
``manage.py export_episodes`` (JSON Lines on the command line) and by the researchers' export on
/research/ (``reviews.research_export``, which removes what would identify a person).

The reset observation is not stored (an Episode row keeps only the snapshot after its last step),
so it is rebuilt: envcore's reset is deterministic given the patient (the seed only picks the
patient), so resetting the episode's catalog with its task, patient and episode id gives the
observation the agent saw, with the baseline risk taken from the row. It is exact while the
catalog is the one the episode ran on; after a curator's edit the record says
``"catalog_changed": true`` and the rebuilt observation shows the drug data as they are now.

It only reads: callers stream episodes from the database in chunks (``iterator``), steps
prefetched per chunk, so memory stays flat however many episodes there are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator

from django.db.models import Prefetch, QuerySet

from catalog.selectors import CatalogNotLoaded, catalog_get
from envcore.catalog import Catalog
from envcore.env import PolypharmacyEnv
from envcore.errors import EnvError
from episodes.models import Episode, Step

CHUNK_SIZE = 200
FINISHED = (Episode.Status.TERMINATED, Episode.Status.TRUNCATED)
STEP_FIELDS = ("episode", "index", "action", "observation", "reward", "raw_reward", "done")


def episodes_with_steps() -> QuerySet[Episode]:
    """Every episode with what a record needs, its steps prefetched in index order."""
    steps = Prefetch("steps", queryset=Step.objects.only(*STEP_FIELDS).order_by("index"))
    return Episode.objects.select_related("catalog").prefetch_related(steps).only(
        "episode_id", "catalog__name", "catalog_fingerprint", "task_id", "patient_id", "status",
        "step_count", "baseline_risk", "current_risk", "grader_score", "created_at",
    )


def episodes_to_export(
    *, catalog: str | None, task: str | None, status: str, since: datetime | None, limit: int | None,
    reviews_only: bool = False,
) -> QuerySet[Episode]:
    """The selected episodes, oldest first, with their steps prefetched in index order."""
    rows = episodes_with_steps()
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


class Catalogs:
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


def episode_record(episode: Episode, catalogs: Catalogs) -> dict[str, Any]:
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
