"""work_month: the programme's work issued, done and done on time by due
month, owner and schedule (PLAT-5: the delivery report adds these up)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import upkeep
from core.db.engine import current

ID = "2026-12-02T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "work_month: programme work issued and done by month"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    return [
        f"""CREATE TABLE work_month (
            id {key},
            organisation INTEGER NOT NULL REFERENCES organisation (id) ON DELETE RESTRICT,
            month VARCHAR(7) NOT NULL,
            owner INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            schedule_key VARCHAR(130) NOT NULL,
            issued INTEGER NOT NULL DEFAULT 0,
            done INTEGER NOT NULL DEFAULT 0,
            on_time INTEGER NOT NULL DEFAULT 0
        )""",
        # The upsert's key, and a period's months of one organisation in one
        # range that holds the counts too (a year at scale 1 is ~7,000 rows
        # summed from the index alone, with no visit to the table).
        "CREATE UNIQUE INDEX work_month_key ON work_month (organisation, month, owner, schedule_key)"
        + (" INCLUDE (issued, done, on_time)" if engine_type == "postgres" else ""),
        *(
            []
            if engine_type == "postgres"
            else ["CREATE INDEX work_month_counts ON work_month (organisation, month, owner, schedule_key, issued, done, on_time)"]
        ),
        # A manager's line: each person's months.
        "CREATE INDEX work_month_owner ON work_month (owner, month)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)
        # Filled after the migrations (core/db/upkeep.py; issue 18).
        await upkeep.request(engine, if_rows_in="work")

    manager.add_raw(run)
    return manager
