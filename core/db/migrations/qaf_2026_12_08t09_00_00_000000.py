"""Missed audit deadlines by allocation (issue 19 item 4): the sweep's count of
what each auditor missed before (HAR 2.15 "the same individual").

The sweep counted, for the auditors of a batch of 500 deadlines, their missed
audit deadlines: through ``deadline_allocation`` every deadline of every
allocation those auditors ever had was read (200-270 ms a batch at scale 1
on SQLite, a sixth of the sweep). ``deadline_missed_by_allocation`` holds
the missed audit deadlines alone, with their allocation, so the count reads
that part of the index and the allocations it names."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-08T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "deadline_missed_by_allocation: deadlines by kind and status, with their allocation"


def _statements(engine_type: str) -> list[str]:
    # The same statement on SQLite and PostgreSQL.
    return ["CREATE INDEX deadline_missed_by_allocation ON deadline (kind, status, allocation)"]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
