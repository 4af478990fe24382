"""Overdue actions of everyone below a manager (issue 19 item 4): read in
order of due date from an index.

A director's list shows the 50 longest-overdue open actions of the 4,900
people below them, and how many there are. Through ``action_status`` every
open action was read and sorted to find them (170 ms at scale 1 on SQLite);
``action_open_due`` gives the open ones by due date with their owner, so the
list stops after 50 index entries and the count reads the index alone
(6 ms and 23 ms, measured on a shared machine). A team manager's dozen
people still go through ``action_owner``."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-07T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "action_open_due: open actions by due date, with their owner"


def _statements(engine_type: str) -> list[str]:
    # The same statement on SQLite and PostgreSQL.
    return ["CREATE INDEX action_open_due ON action (status, due_at, owner)"]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
