"""Follow-ups opened and closed by month (issue: reports): a ten-year report
counted every follow-up of ten years, twice."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import upkeep
from core.db.engine import current

ID = "2026-11-22T11:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "follow_up_month: follow-ups opened and closed by month"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    return [
        f"""CREATE TABLE follow_up_month (
            id {key},
            organisation INTEGER NOT NULL REFERENCES organisation (id) ON DELETE RESTRICT,
            month VARCHAR(7) NOT NULL,
            opened INTEGER NOT NULL DEFAULT 0,
            closed INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE UNIQUE INDEX follow_up_month_key ON follow_up_month (organisation, month)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)
        # Filled after the migrations (core/db/upkeep.py; issue 18).
        await upkeep.request(engine)

    manager.add_raw(run)
    return manager
