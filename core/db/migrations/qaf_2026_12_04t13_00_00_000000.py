"""Evidence files (PLAT-6) and completion through a workflow (PLAT-2).

``evidence_file`` holds each file's bytes in the database, so a database
backup holds the evidence with the records it supports (no second store to
back up or to keep in step). A file belongs to a piece of work's completion
record or to an audit (one of the two).

``work`` gains the workflow its completion record goes through, where the
schedule names one, its current state and when a final state was reached.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-04T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "evidence_file; work.workflow_key, workflow_version, state, final_at, recorded_on"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    stamp = "TIMESTAMP WITH TIME ZONE" if engine_type == "postgres" else "TIMESTAMPTZ"
    blob = "BYTEA" if engine_type == "postgres" else "BLOB"
    return [
        f"""CREATE TABLE evidence_file (
            id {key},
            organisation INTEGER NOT NULL REFERENCES organisation (id) ON DELETE RESTRICT,
            work INTEGER NULL REFERENCES work (id) ON DELETE RESTRICT,
            allocation INTEGER NULL REFERENCES allocation (id) ON DELETE RESTRICT,
            filename VARCHAR(255) NOT NULL,
            media_type VARCHAR(100) NOT NULL,
            size INTEGER NOT NULL,
            sha256 VARCHAR(64) NOT NULL,
            content {blob} NOT NULL,
            uploaded_by INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            uploaded_at {stamp} NOT NULL
        )""",
        "CREATE INDEX evidence_file_work ON evidence_file (work)",
        "CREATE INDEX evidence_file_allocation ON evidence_file (allocation)",
        # Existing work has no workflow: done when its completion record is written, as before.
        "ALTER TABLE work ADD COLUMN workflow_key VARCHAR(130) NOT NULL DEFAULT ''",
        "ALTER TABLE work ADD COLUMN workflow_version SMALLINT NULL",
        "ALTER TABLE work ADD COLUMN state VARCHAR(64) NOT NULL DEFAULT ''",
        f"ALTER TABLE work ADD COLUMN final_at {stamp} NULL",
        # The completion record's own date while it goes through its workflow:
        # ``done_on`` (what the delivery counts read) is set from it only when
        # a final state is reached.
        "ALTER TABLE work ADD COLUMN recorded_on DATE NULL",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
