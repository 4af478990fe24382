"""Staff pages bounded by what they show (issue 19 item 1): the inbox's
newest notifications read in order from an index.

The inbox lists a person's 50 newest notifications. Through
``notification_recipient`` every notification the person was ever sent was
read and sorted to find them (a busy team manager has about a thousand
after ten years); ``notification_newest`` gives them newest first, so the
page reads 50 index entries whatever the history.

The homes' open disputes (``core.services.home.my_disputes``) were found
through ``dispute_organisation``: every dispute the council ever had
(2,968 at scale 1) read to keep the open ones (28). ``dispute_open`` holds
them by outcome, in the order the home lists them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-07T12:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notification_newest: a person's notifications newest first; dispute_open: a council's open disputes"


def _statements(engine_type: str) -> list[str]:
    # The same statement on SQLite and PostgreSQL.
    return [
        "CREATE INDEX notification_newest ON notification (recipient, created_at, id)",
        "CREATE INDEX dispute_open ON dispute (organisation, outcome, state_due_at, id)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
