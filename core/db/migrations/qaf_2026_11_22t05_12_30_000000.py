"""One practice week per organisation and month."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-11-22T05:12:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "practice week unique month"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        await current().run_ddl("CREATE UNIQUE INDEX practice_week_org_month ON practice_week (organisation, year, month)")

    manager.add_raw(run)
    return manager
