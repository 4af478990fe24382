"""Local accounts (issue 15 item 2, PLAT-10): when each person last signed in,
for the administrators' "People" page, and the instant before which every
session of theirs ends (set when they choose a new password through a reset
link, so a session someone else holds ends with the old password)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-06T07:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "person.last_signed_in_at and person.sessions_from"


def _statements(engine_type: str) -> list[str]:
    # The same statements on SQLite and PostgreSQL: nobody has signed in yet
    # as far as the column knows, and no session has been ended.
    return [
        "ALTER TABLE person ADD COLUMN last_signed_in_at TIMESTAMPTZ NULL",
        "ALTER TABLE person ADD COLUMN sessions_from TIMESTAMPTZ NULL",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
