"""Monthly counts for the rest of a council-wide report: audits allocated,
completed and completed on time; escalations raised; re-audit movement. A
year's report added up every audit, notification and re-audit of four
periods (issue: reports); these are a few rows a month."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import upkeep
from core.db.engine import current

ID = "2026-11-22T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "allocation_month, escalation_month, movement_month: monthly report counts; covering agreement_month index"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    org = "organisation INTEGER NOT NULL REFERENCES organisation (id) ON DELETE RESTRICT"
    return [
        f"""CREATE TABLE allocation_month (
            id {key},
            {org},
            month VARCHAR(7) NOT NULL,
            allocated INTEGER NOT NULL DEFAULT 0,
            completed INTEGER NOT NULL DEFAULT 0,
            on_time INTEGER NOT NULL DEFAULT 0
        )""",
        # The upsert's conflict target, and a report's range of months.
        "CREATE UNIQUE INDEX allocation_month_key ON allocation_month (organisation, month)",
        f"""CREATE TABLE escalation_month (
            id {key},
            {org},
            month VARCHAR(7) NOT NULL,
            kind VARCHAR(64) NOT NULL,
            raised INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE UNIQUE INDEX escalation_month_key ON escalation_month (organisation, month, kind)",
        f"""CREATE TABLE movement_month (
            id {key},
            {org},
            month VARCHAR(7) NOT NULL,
            domain VARCHAR(64) NOT NULL,
            improved INTEGER NOT NULL DEFAULT 0,
            same INTEGER NOT NULL DEFAULT 0,
            downgraded INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE UNIQUE INDEX movement_month_key ON movement_month (organisation, month, domain)",
        # Movement is kept for a re-audit when its predecessor's grade changes
        # too (a dispute concluded after the re-audit): find them by predecessor.
        # The moderation tables add up a year's auditor-and-team rows (5,600 at
        # scale 1): from the index alone, 2 ms a table instead of 5-7.
        "CREATE INDEX agreement_month_covering ON agreement_month (organisation, month, auditor, team, moderated, agreed)",
        "CREATE INDEX standing_grade_previous ON standing_grade (previous) WHERE previous IS NOT NULL",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)
        # Counted from the rows after the migrations, by today's code
        # (core/db/upkeep.py), never by importing the services (issue 18).
        await upkeep.request(engine)

    manager.add_raw(run)
    return manager
