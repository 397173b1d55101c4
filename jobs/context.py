"""What a running job's runner sees of the site: ``JobContext``.

Runners are plain functions (no Django) that call ``ctx.progress``, ``ctx.log``, ``ctx.catalog``,
``ctx.checkpoint_path`` and ``ctx.add_checkpoint``. Writes are throttled (at most one row update
per ``FLUSH_EVERY_S`` unless forced) so a fast training loop does not hammer the database, and
every write is conditional on this worker still owning the job: when the job was cancelled or
handed to another worker the runner is stopped at its next report, or by the job's watchdog
(``jobs.watchdog``) within seconds if no report comes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, TextField, Value, When
from django.db.models.functions import Concat, Length, Right, StrIndex, Substr
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from agents.learned import resume_state_from_bytes, resume_state_to_bytes
from agents.llm import LLMConfig, llm_config_from
from catalog.selectors import catalog_get
from episodes.errors import connection_failed
from episodes.models import Episode
from episodes.services import Caller, episode_observation
from jobs.models import Job, TrainingState
from jobs.selectors import checkpoint_file, checkpoint_get, checkpoint_path

logger = logging.getLogger(__name__)
T = TypeVar("T")

FLUSH_EVERY_S = 0.5
MAX_LOG_CHARS = 200_000  # a job's log keeps its newest lines within this (log_appended)
LOG_ELIDED = "[… earlier lines elided: the log keeps its newest {:,} characters …]\n".format(MAX_LOG_CHARS)
MAX_SERIES_POINTS = 2_000


def log_appended(text: str) -> Case:
    """The job's log with ``text`` appended, as one SQL expression (so concurrent appends by the
    worker, the reaper and the finisher never overwrite each other); beyond MAX_LOG_CHARS the
    oldest whole lines are cut and LOG_ELIDED stands in their place."""
    joined = Concat(F("log"), Value(text))
    tail = Right(joined, MAX_LOG_CHARS - len(LOG_ELIDED))
    # From the first line break on, so no line is left half cut (StrIndex is 0 with none).
    whole_lines = Substr(tail, StrIndex(tail, Value("\n")) + 1)
    return Case(When(GreaterThan(Length(joined), MAX_LOG_CHARS),
                     then=Concat(Value(LOG_ELIDED), whole_lines, output_field=TextField())),
                default=joined, output_field=TextField())


DB_TRIES = 5  # a write of a job's progress or end, on a fresh connection each time (0.2 s, 0.4 s … apart)


def on_fresh_connections(write: Callable[[], T], *, what: str, tries: int = DB_TRIES) -> T:
    """``write()``, tried again on a new connection when the database connection itself fails
    (killed, reset, a restart), about 3 s in all: one killed connection must not fail a job
    that has done its work, nor leave it "running" for the reaper to start again."""
    for attempt in range(tries):
        try:
            return write()
        except Exception as exc:
            if attempt == tries - 1 or not connection_failed(exc):
                raise
            if connection.in_atomic_block:  # inside a caller's transaction a new connection cannot help
                raise
            logger.warning("%s: the database connection failed (%s); trying again on a new one", what, exc)
            try:
                connection.close()
            except Exception:  # already broken
                pass
            time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")


class JobStop(BaseException):
    """The runner must stop. A BaseException, like KeyboardInterrupt, because the watchdog may
    raise it anywhere in the runner: code that catches every ``Exception`` to fall back (the
    LLM suggester does) must not swallow it."""


class JobCancelled(JobStop):
    """The job's cancellation was requested; the runner stops."""


class JobLost(JobStop):
    """This worker no longer owns the job (it was re-queued after looking dead, or finished)."""


@dataclass
class PendingCheckpoint:
    name: str
    kind: str
    path: str  # relative to the artefact folder
    task_id: str = ""
    catalog: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


# jobs.services.sweep_create_runs, handed in by the service that builds the context (this module
# is below jobs.services: importing it here would close a circle).
SweepRunsCreator = Callable[..., list[Job]]


class JobContext:
    def __init__(self, job: Job, worker: str, *, create_sweep_runs: SweepRunsCreator | None = None) -> None:
        self._create_sweep_runs = create_sweep_runs
        self.job_id = job.pk
        self.params = dict(job.params)
        self.owner_id = job.owner_id
        self.worker = worker
        self.artifact_dir = Path(settings.JOBS_ARTIFACT_DIR) / f"job-{job.pk}"
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoints: list[PendingCheckpoint] = []
        self._series: list[dict[str, Any]] = []  # a retry starts afresh (a resumed training replays its own)
        self._series_dirty = True
        self._log_lines: list[str] = []
        self._progress = 0.0
        self._stage = ""
        self._last_flush = 0.0
        # Set by the watchdog thread when the job must stop (JobCancelled or JobLost): the next
        # report raises it.
        self.stop_reason: type[JobStop] | None = None
        self._last_resume_save = time.monotonic()  # the first save comes JOBS_RESUME_EVERY_S in

    # ── reporting ──────────────────────────────────────────────────────────
    def progress(self, fraction: float, stage: str | None = None, metrics: dict[str, Any] | None = None,
                 *, force: bool = False) -> None:
        """Report ``fraction`` done (0–1), optionally what is going on and a metrics point for the
        plots. Raises JobCancelled / JobLost when the job must stop."""
        if self.stop_reason is not None:
            raise self.stop_reason("Cancelled on request." if self.stop_reason is JobCancelled else
                                   f"job {self.job_id} is no longer running on {self.worker}")
        self._progress = min(max(float(fraction), 0.0), 1.0) * 100.0
        if stage is not None:
            self._stage = stage[:200]
        if metrics is not None:
            self._series.append(metrics)
            if len(self._series) > MAX_SERIES_POINTS:
                # Keep the first point and every other one after it: the curve's shape survives.
                self._series = self._series[:1] + self._series[1::2]
            self._series_dirty = True
        if force or time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self.flush()

    def log(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self._log_lines.append(f"[{stamp}] {line}\n")

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        updates: dict[str, Any] = {"progress": self._progress, "heartbeat_at": timezone.now()}
        if self._stage:
            updates["stage"] = self._stage
        if self._series_dirty:
            updates["series"] = self._series
            self._series_dirty = False
        if self._log_lines:
            updates["log"] = log_appended("".join(self._log_lines))
            self._log_lines = []
        owned = Job.objects.filter(pk=self.job_id, status=Job.Status.RUNNING, worker=self.worker)
        if on_fresh_connections(lambda: owned.update(**updates), what=f"job {self.job_id}'s progress") != 1:
            raise JobLost(f"job {self.job_id} is no longer running on {self.worker}")
        if on_fresh_connections(lambda: Job.objects.filter(pk=self.job_id, cancel_requested=True).exists(),
                                what=f"job {self.job_id}'s cancellation"):
            raise JobCancelled("Cancelled on request.")

    def pending_log(self) -> str:
        """The lines not written yet, for the job's last write (kept: that write may be tried
        again on a new connection, and nothing is written after it)."""
        return "".join(self._log_lines)

    @property
    def series(self) -> list[dict[str, Any]]:
        return self._series

    # ── the site's data ────────────────────────────────────────────────────
    def catalog(self, name: str) -> Any:
        """The envcore catalog as the database holds it now (curators' edits included)."""
        return catalog_get(name)

    def episode_observation(self, episode_id: str) -> tuple[dict[str, Any], str]:
        """A stored episode's latest observation and its catalog's name, as the job's owner may see it."""
        obs = episode_observation(Caller(user_id=self.owner_id, label="job"), episode_id=episode_id)
        catalog_name = Episode.objects.filter(episode_id=episode_id).values_list("catalog__name", flat=True).get()
        return obs.to_dict(), catalog_name

    def llm_config(self) -> LLMConfig | None:
        """The LLM endpoint from the settings, as the review pages read it (None: rule-based)."""
        return llm_config_from(settings)

    # ── sweeps ─────────────────────────────────────────────────────────────
    def sweep_runs(self, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """This sweep's runs (created on the first call): for each of ``runs`` in order, its job
        id, seed, grid point, status and result."""
        if self._create_sweep_runs is None:
            raise RuntimeError("This job context was built without a way to create sweep runs.")
        jobs = self._create_sweep_runs(sweep_id=self.job_id, runs=runs)
        fresh = {j.pk: j for j in Job.objects.filter(pk__in=[j.pk for j in jobs]).only("pk", "status", "result")}
        return [{"job": job.pk, "seed": run["params"]["seed"], "point": run["point"], "status": fresh[job.pk].status,
                 "result": fresh[job.pk].result} for run, job in zip(runs, jobs)]

    # ── resuming ───────────────────────────────────────────────────────────
    def resume_state(self) -> dict[str, Any] | None:
        """The learner's state an earlier attempt of this job saved, or None."""
        saved = on_fresh_connections(lambda: TrainingState.objects.filter(job_id=self.job_id).first(),
                                     what=f"job {self.job_id}'s training state")
        if saved is None:
            return None
        try:
            state = resume_state_from_bytes(bytes(saved.content))
        except Exception as exc:  # unreadable: start afresh rather than fail the job
            self.log(f"the saved training state cannot be read ({type(exc).__name__}); starting from the beginning")
            return None
        self.log(f"resuming from update {saved.update} (step {saved.steps}), saved by {saved.saved_by}")
        return state

    def keep_resume_state(self, update: int, state: Any) -> bool:
        """Save the learner's state (``state()`` builds it) when the last save is at least
        JOBS_RESUME_EVERY_S old; only while this worker owns the job. True when saved."""
        if time.monotonic() - self._last_resume_save < settings.JOBS_RESUME_EVERY_S:
            return False
        built = state()
        data = resume_state_to_bytes(built)

        def save() -> bool:
            with transaction.atomic():
                if not Job.objects.select_for_update().filter(pk=self.job_id, status=Job.Status.RUNNING,
                                                              worker=self.worker).exists():
                    return False
                TrainingState.objects.update_or_create(job_id=self.job_id, defaults={
                    "content": data, "update": update, "steps": int(built["steps"]), "saved_by": self.worker})
                return True

        try:
            saved = on_fresh_connections(save, what=f"job {self.job_id}'s training state")
        except Exception as exc:  # the database away: the next update's save tries again
            if not connection_failed(exc):
                raise
            return False
        if saved:
            self._last_resume_save = time.monotonic()
        return saved

    def checkpoint_path(self, name: str) -> Path:
        """A policy checkpoint's file on this machine."""
        return checkpoint_path(name)

    def model_file(self, name: str) -> Path:
        """A bandit checkpoint's file on this machine (fetched from the database when its job ran
        on another one); LookupError when there is none."""
        path = checkpoint_file(checkpoint_get(name, kind="bandit"))
        if not path.is_file():
            raise LookupError(f"The file of bandit model {name!r} is missing.")
        return path

    def add_checkpoint(self, kind: str, path: Path, *, name: str, task_id: str = "", catalog: str = "",
                       metrics: dict[str, Any] | None = None) -> str:
        """Register a file the runner wrote under ``artifact_dir``; the Checkpoint row is created
        when the job succeeds (a failed job leaves no checkpoint behind)."""
        rel = str(Path(path).resolve().relative_to(Path(settings.JOBS_ARTIFACT_DIR).resolve()))
        self.checkpoints.append(PendingCheckpoint(name=name, kind=kind, path=rel, task_id=task_id, catalog=catalog,
                                                  metrics=metrics or {}))
        return name
