"""Who does it (PLAT-4): the co-auditors and peers a piece of work names,
and a joint audit's co-auditors."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-04T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "work_member and allocation_co_auditor: joint audits and peer pairs"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    # New tables: existing work and audits have no co-auditors or peers.
    return [
        f"""CREATE TABLE work_member (
            id {key},
            work INTEGER NOT NULL REFERENCES work (id) ON DELETE RESTRICT,
            person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            part VARCHAR(16) NOT NULL
        )""",
        "CREATE UNIQUE INDEX work_member_key ON work_member (work, person, part)",
        "CREATE INDEX work_member_person ON work_member (person)",
        f"""CREATE TABLE allocation_co_auditor (
            id {key},
            allocation INTEGER NOT NULL REFERENCES allocation (id) ON DELETE RESTRICT,
            person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            part VARCHAR(16) NOT NULL DEFAULT 'co_auditor',
            added_at TIMESTAMPTZ NOT NULL
        )""",
        "CREATE UNIQUE INDEX allocation_co_auditor_key ON allocation_co_auditor (allocation, person)",
        "CREATE INDEX allocation_co_auditor_person ON allocation_co_auditor (person)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
