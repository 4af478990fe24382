"""Audits on a person or a meeting (issue 13): ``allocation.child_case``
becomes optional, and an audit names the person it is on
(``subject_person``) or the meeting observed (``meeting_type``,
``meeting_on``). Existing audits are all on cases and keep their case."""

import re

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-04T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "allocation: an optional case; the person or meeting an audit is on"

_COLUMNS = [
    "ALTER TABLE allocation ADD COLUMN subject_person INTEGER NULL REFERENCES person (id) ON DELETE RESTRICT",
    "ALTER TABLE allocation ADD COLUMN meeting_type VARCHAR(64) NOT NULL DEFAULT ''",
    "ALTER TABLE allocation ADD COLUMN meeting_on DATE NULL",
    "CREATE INDEX allocation_subject_person ON allocation (subject_person)",
]

# The column as the first migration wrote it on SQLite, NOT NULL included.
_NOT_NULL = re.compile(r'("child_case" INTEGER) NOT NULL (REFERENCES "child_case")')


async def _sqlite_child_case_nullable(engine) -> None:
    """SQLite cannot ALTER a column's nullability. Dropping a NOT NULL
    constraint changes nothing stored on disk, so SQLite's documented
    procedure for it (https://sqlite.org/lang_altertable.html, "making other
    kinds of table schema changes", the simpler procedure) applies: edit the
    table's CREATE statement in the schema and bump the schema version,
    inside the migration's transaction. No copy of a populated table, and
    its indexes, triggers and the foreign keys onto it stay as they are."""
    found = await engine.run_ddl("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'allocation'")
    sql = found[0]["sql"]
    if not _NOT_NULL.search(sql):
        if '"child_case" INTEGER REFERENCES' in sql or "child_case INTEGER NULL" in sql:
            return  # already optional
        raise RuntimeError("allocation.child_case is not as the first migration made it; not changed")
    version = (await engine.run_ddl("PRAGMA schema_version"))[0]["schema_version"]
    await engine.run_ddl("PRAGMA writable_schema = ON")
    try:
        relaxed = _NOT_NULL.sub(r"\1 \2", sql).replace("'", "''")
        await engine.run_ddl(f"UPDATE sqlite_master SET sql = '{relaxed}' WHERE type = 'table' AND name = 'allocation'")
        await engine.run_ddl(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        await engine.run_ddl("PRAGMA writable_schema = OFF")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _COLUMNS:
            await engine.run_ddl(statement)
        if engine.engine_type == "postgres":
            await engine.run_ddl("ALTER TABLE allocation ALTER COLUMN child_case DROP NOT NULL")
        else:
            await _sqlite_child_case_nullable(engine)

    manager.add_raw(run)
    return manager
