"""What the upkeep after the migrations (core/db/upkeep.py) needs to keep
while it rebuilds the report summaries in batches (issue 18 item 5): a
``detail`` beside each ``qaf_upkeep`` row, where the definition of each index
of ``standing_grade`` set aside while the table is loaded waits to be put
back (a run cut short puts them back when it resumes). The table was made
only when a migration asked for a rebuild; it is made here if it was not."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-07T09:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "qaf_upkeep.detail"


def _statements(engine_type: str) -> list[str]:
    # The same statements on SQLite and PostgreSQL.
    return [
        "CREATE TABLE IF NOT EXISTS qaf_upkeep (task VARCHAR(64) PRIMARY KEY)",
        "ALTER TABLE qaf_upkeep ADD COLUMN detail TEXT NULL",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
