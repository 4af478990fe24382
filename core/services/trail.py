"""The append-only trail (CORE-14): who, when, what changed, from which request."""

from __future__ import annotations

from core.db import bulk
from core.db.tables import Trail
from core.services.context import Context


async def record(
    ctx: Context,
    *,
    organisation_id: int | None,
    entity: str,
    entity_id: int,
    action: str,
    changes: dict | None = None,
) -> None:
    await Trail.insert(
        Trail(
            organisation=organisation_id,
            at=ctx.now,
            actor=ctx.person_id,
            request_id=ctx.request_id,
            entity=entity,
            entity_id=entity_id,
            action=action,
            changes=changes or {},
        )
    )


COLUMNS = ("organisation", "at", "actor", "request_id", "entity", "entity_id", "action", "changes")


def row(
    ctx: Context,
    *,
    organisation_id: int | None,
    entity: str,
    entity_id: int,
    action: str,
    changes: dict | None = None,
) -> tuple:
    """The row ``record`` would write (in ``COLUMNS`` order), for ``record_many``."""
    return (organisation_id, ctx.now, ctx.person_id, ctx.request_id, entity, entity_id, action, bulk.json_value(changes or {}))


async def record_many(rows: list[tuple]) -> None:
    """Write trail rows in order with one prepared statement, for a batch job
    (a cycle, a sweep); inside its transaction."""
    await bulk.insert("trail", COLUMNS, rows)


async def history(entity: str, entity_id: int) -> list[dict]:
    return (
        await Trail.select(
            Trail.at,
            Trail.action,
            Trail.changes,
            Trail.request_id,
            Trail.actor.display_name.as_alias("actor_name"),
        )
        .where((Trail.entity == entity) & (Trail.entity_id == entity_id))
        .order_by(Trail.at)
        .order_by(Trail.id)
    )
