"""Today's code writing into a database at an earlier release's schema, as
that release wrote: only the tables and columns the schema has.

The upgrade tests populate a database migrated only up to an earlier
release (core/db/migrations) with today's demo loader, then migrate it
forward. Today's table classes name columns a later migration adds (the
second factor's ``person.totp_secret``, say), and today's trail keeps its
words in ``trail_text``; a release before them wrote neither. Inside
:func:`writing_as_of_the_schema`, each table class names only the columns the
database has, and the trail is written with its words inline (chained only
if the schema's trail is), as the releases before ``trail_text`` wrote it.
"""

from __future__ import annotations

import contextlib
import json

from core.db import bulk
from core.db.engine import current, transaction
from core.db.tables import TABLES
from core.services import trail

_LISTS = ("columns", "non_default_columns", "default_columns", "foreign_key_columns", "json_columns",
          "secret_columns", "auto_update_columns", "array_columns", "email_columns")


async def _schema() -> dict[str, set[str]]:
    engine = current()
    if engine.engine_type == "sqlite":
        names = [r["name"] for r in await engine.run_ddl("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: {c["name"] for c in await engine.run_ddl(f'PRAGMA table_info("{name}")')} for name in names}
    rows = await engine.run_ddl(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()")
    schema: dict[str, set[str]] = {}
    for r in rows:
        schema.setdefault(r["table_name"], set()).add(r["column_name"])
    return schema


def _inline_record_many(chained: bool):
    async def record_many(rows: list[tuple]) -> None:
        if not rows:
            return
        inline = [trail.Row((*r[:7], bulk.json_value(trail.unseal(json.loads(r[7]), getattr(r, "words", {}))))) for r in rows]
        if not chained:
            await bulk.insert("trail", trail.COLUMNS, inline)
            return
        async with transaction():
            heads = await trail._heads({values[0] or 0 for values in inline})
            await bulk.insert("trail", trail.CHAINED, trail.chain(inline, heads))

    return record_many


@contextlib.asynccontextmanager
async def writing_as_of_the_schema(monkeypatch):
    """Within this, today's code writes only what the bound database's schema holds."""
    schema = await _schema()
    saved = {}
    for table in TABLES:
        present = schema.get(table._meta.tablename)
        if present is None:
            continue
        saved[table] = {name: getattr(table._meta, name) for name in _LISTS}
        for name in _LISTS:
            setattr(table._meta, name, [c for c in saved[table][name] if c._meta.db_column_name in present])
    try:
        with monkeypatch.context() as patched:
            if "trail_text" not in schema:
                patched.setattr(trail, "record_many", _inline_record_many(chained="hash" in schema.get("trail", set())))
            yield
    finally:
        for table, lists in saved.items():
            for name, value in lists.items():
                setattr(table._meta, name, value)
