"""Indexes for the leaders' reports (CORE-15): the period's allocations by
due date, and the latest grade of a phase per allocation and domain."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-11-22T06:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "report indexes: allocations by due date, latest grade of a phase"

STATEMENTS = [
    # A report's allocations: one organisation's, due within the period (a range).
    "CREATE INDEX allocation_report ON allocation (organisation, due_at)",
    # "The latest final (or moderated) grade of this allocation's domain":
    # found by the index in set_at order, without a sort.
    "CREATE INDEX grade_latest ON grade (allocation, domain, phase, set_at, level, rank)",
    # Escalations raised in a period: notifications by kind and instant.
    "CREATE INDEX notification_report ON notification (organisation, kind, created_at)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
