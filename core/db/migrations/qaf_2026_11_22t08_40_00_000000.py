"""Indexes for the monthly allocation (issue 6, Scale): open allocations per
organisation, re-audit candidates oldest first, and whether an audit already
has a re-audit. (The sweep's open deadlines already have deadline_open.)"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-11-22T08:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "allocation indexes: open and final allocations, re-audits"

STATEMENTS = [
    # Cases already being audited (finalised_at IS NULL), and final audits in
    # finalised order for re-audits (HAR 1.4), without reading the table.
    "CREATE INDEX allocation_finalised ON allocation (organisation, finalised_at, child_case)",
    # "Has this audit a re-audit yet?": one probe instead of a scan.
    "CREATE INDEX allocation_previous ON allocation (previous)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
