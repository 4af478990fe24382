"""Work started by hand on a theme (issue 13 item 3, C17-3): the council
theme a themed "as required" activity is on."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-03T10:13:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "work.theme: the theme of a themed activity started by hand"


def _statements(engine_type: str) -> list[str]:
    # The same statement on SQLite and PostgreSQL: existing work has no theme.
    return ["ALTER TABLE work ADD COLUMN theme VARCHAR(64) NOT NULL DEFAULT ''"]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
