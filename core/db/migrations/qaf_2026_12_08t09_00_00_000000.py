"""Missed audit deadlines by allocation (issue 19 item 4): the sweep's count of
what each auditor missed before (HAR 2.15 "the same individual").

The sweep counted, for the auditors of a batch of 500 deadlines, their missed
audit deadlines: through ``deadline_allocation`` every deadline of every
allocation those auditors ever had was read (200-270 ms a batch at scale 1
on SQLite, a sixth of the sweep). ``deadline_missed_by_allocation`` holds
the missed audit deadlines alone, with their allocation, so the count reads
that part of the index and the allocations it names.

The monthly draw reads four columns of every open case (those with an
allocated worker) in id order: ``child_case_open_draw`` holds exactly those,
so the read is an index-only scan (SQLite, scale 1: 95 ms instead of
147 ms).

Every notification was written to eight indexes; three are the first column
of another (``notification_organisation`` of ``notification_report``,
``notification_recipient`` of ``notification_inbox`` and
``notification_newest``, ``notification_email_state`` of
``notification_outbox``), which serve the same lookups. Dropped: writing
1,600 notifications (a month's draw) 208 ms -> 164 ms on SQLite at scale 1;
the sweep writes about 4,500 at the end of a month."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-08T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = ("deadline_missed_by_allocation; child_case_open_draw: the open cases' drawn columns;"
               " notification's single-column indexes that composite ones start with dropped")


def _statements(engine_type: str) -> list[str]:
    # The same statement on SQLite and PostgreSQL.
    return [
        "CREATE INDEX deadline_missed_by_allocation ON deadline (kind, status, allocation)",
        "CREATE INDEX child_case_open_draw ON child_case (organisation, id, category, team, allocated_worker)"
        " WHERE allocated_worker IS NOT NULL",
        "DROP INDEX IF EXISTS notification_organisation",
        "DROP INDEX IF EXISTS notification_recipient",
        "DROP INDEX IF EXISTS notification_email_state",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
