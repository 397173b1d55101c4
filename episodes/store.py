"""Writing a step: one Step row (with the episode's new snapshot) and the Episode row's step
count, atomically, and only if the episode is still at the step count the writer started from
(optimistic concurrency).

What a step writes is listed once, in ``EPISODE_UPDATE`` and ``STEP_INSERT``: the PostgreSQL
statement (``STEP_SQL``, also sent by ``async_store``) and the ORM writer (SQLite) are built
from them, so adding a column to Step is a change in the model and here.

On PostgreSQL the write is a single statement (``WITH u AS (UPDATE … RETURNING) INSERT …``):
one round trip, atomic on its own. DESIGN §5 measured this at about twice the throughput of
lock + insert + update. Elsewhere (SQLite) it is a conditional UPDATE then an INSERT in one
transaction. ``fast`` durability (training episodes) commits with ``synchronous_commit = off``:
a crash of the web process loses nothing, only a crash of the database server itself could lose
the last few milliseconds of steps.

A connection that dies during the statement (``errors.connection_failed``) leaves the outcome
unknown: the commit may have landed before the answer was lost. ``step_landed`` asks the
database, on a fresh connection, whether this very step (its episode, index, actor and
timestamp) is stored.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from django.db import connection, models, transaction

from episodes.models import Episode, Step

# The Episode columns a step updates and the Step row it adds; ``values`` (see
# ``episodes.steps.step_values``) has a key for each, plus "pk" and "previous" (the step
# count the writer started from).
EPISODE_UPDATE = ("step_count", "status", "current_risk", "grader_score", "updated_at", "finished_at")
STEP_INSERT = ("index", "actor_id", "actor_label", "action", "observation", "snapshot", "reward", "raw_reward",
               "done", "created_at", "duration_ms")


def sql(template: str, placeholder: Any) -> str:
    """``template`` with ``{name}`` placeholders rendered by ``placeholder(name)``."""
    names = [part.split("}", 1)[0] for part in template.split("{")[1:]]
    return template.format(**{name: placeholder(name) for name in names})


def _column(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """The field of a column (``get_field`` may also answer a relation or a generic key)."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field


def cast(name: str) -> str:
    """The cast a parameter needs: JSON travels as text (encoded once, by pydantic-core)."""
    models_names: tuple[tuple[type[models.Model], tuple[str, ...]], ...] = ((Episode, EPISODE_UPDATE), (Step, STEP_INSERT))
    for model, names in models_names:
        if name in names and _column(model, name).get_internal_type() == "JSONField":
            return "::jsonb"
    return ""


_episode, _step = Episode._meta.db_table, Step._meta.db_table
STEP_TEMPLATE = (
    f'WITH u AS (UPDATE "{_episode}" SET '
    + ", ".join(f'"{_column(Episode, n).column}" = {{{n}}}' for n in EPISODE_UPDATE)
    + " WHERE id = {pk} AND step_count = {previous} AND status = 'open' RETURNING id) "
    + f'INSERT INTO "{_step}" ("episode_id", ' + ", ".join(f'"{_column(Step, n).column}"' for n in STEP_INSERT)
    + ") SELECT id, " + ", ".join(f"{{{n}}}" for n in STEP_INSERT) + " FROM u RETURNING id"
)
LANDED_TEMPLATE = (
    f'SELECT 1 FROM "{_step}" WHERE episode_id = {{pk}} AND "index" = {{index}} '
    "AND created_at = {created_at} AND actor_label = {actor_label}"
)
# For Django's cursor (and psycopg): named parameters.
STEP_SQL = sql(STEP_TEMPLATE, lambda name: f"%({name})s{cast(name)}")
LANDED_SQL = sql(LANDED_TEMPLATE, lambda name: f"%({name})s")


def positional(template: str) -> tuple[str, tuple[str, ...]]:
    """``template`` with ``$1``, ``$2``… placeholders (asyncpg's), and the value names in order."""
    order: list[str] = []

    def placeholder(name: str) -> str:
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}{cast(name)}"

    return sql(template, placeholder), tuple(order)


def write_step(values: Mapping[str, Any], *, fast: bool = False) -> bool:
    """Write one step through Django's connection. False: the episode moved on (or finished)
    since ``values["previous"]``, and nothing was written. Raises DatabaseError when the
    database fails (then ``step_landed`` tells whether the step is stored)."""
    if connection.vendor == "postgresql":
        if fast:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                    cursor.execute(STEP_SQL, values)
                    return cursor.fetchone() is not None
        with connection.cursor() as cursor:
            cursor.execute(STEP_SQL, values)
            return cursor.fetchone() is not None
    return _write_step_orm(values)


def _write_step_orm(values: Mapping[str, Any]) -> bool:
    def column_value(model: Any, name: str) -> Any:
        json_field = model._meta.get_field(name).get_internal_type() == "JSONField"
        return json.loads(values[name]) if json_field else values[name]

    with transaction.atomic():
        updated = Episode.objects.filter(pk=values["pk"], step_count=values["previous"], status="open").update(
            **{name: column_value(Episode, name) for name in EPISODE_UPDATE}
        )
        if updated != 1:
            return False
        Step.objects.create(episode_id=values["pk"], **{name: column_value(Step, name) for name in STEP_INSERT})
    return True


def in_transaction() -> bool:
    """Whether Django's connection is inside a transaction (the review pages' services)."""
    return connection.in_atomic_block


def step_landed(values: Mapping[str, Any]) -> bool:
    """Whether this step is stored, asked on a fresh connection (after the one that sent it
    failed). Raises DatabaseError when the database cannot answer either."""
    connection.close()  # the broken connection goes back to the pool, which discards it
    with connection.cursor() as cursor:
        cursor.execute(LANDED_SQL, values)
        return cursor.fetchone() is not None
