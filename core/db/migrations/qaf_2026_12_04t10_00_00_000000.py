"""A council's case attributes (PLAT-3): what the case import records of each
case beyond its category ("child protection plan started on", "looked
after"), which schedules' case criteria select on.

One JSON column on child_case rather than a table of (case, attribute,
value) rows: the attributes are the council's own, so no fixed columns
could hold them; a draw reads every open case's values in the one query it
already makes of child_case, and a case is imported (and its trail written)
as one row, as today. Criteria are judged in Python on the values read, so
no engine-specific JSON operators are needed on SQLite or PostgreSQL.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-04T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "child_case.attributes: the council's case attributes (PLAT-3)"


def _statements(engine_type: str) -> list[str]:
    # The same statement on SQLite and PostgreSQL: existing cases record none.
    return ["ALTER TABLE child_case ADD COLUMN attributes JSON NOT NULL DEFAULT '{}'"]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
