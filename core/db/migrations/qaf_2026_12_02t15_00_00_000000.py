"""The programme's work (issue 13, PLAT-1): every schedule occurrence owed by
one person, issued on its period's first working day."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-02T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "work: schedule occurrences owed by people"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    stamp = "TIMESTAMP WITH TIME ZONE" if engine_type == "postgres" else "TIMESTAMPTZ"
    return [
        f"""CREATE TABLE work (
            id {key},
            organisation INTEGER NOT NULL REFERENCES organisation (id) ON DELETE RESTRICT,
            occurrence VARCHAR(300) NOT NULL,
            schedule_key VARCHAR(130) NOT NULL,
            schedule_version SMALLINT NOT NULL,
            activity VARCHAR(300) NOT NULL,
            owner INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            supervisee INTEGER NULL REFERENCES person (id) ON DELETE RESTRICT,
            starts_on DATE NOT NULL,
            due_on DATE NOT NULL,
            needed SMALLINT NOT NULL DEFAULT 1,
            form_key VARCHAR(130) NOT NULL DEFAULT '',
            done_on DATE NULL,
            summary TEXT NOT NULL DEFAULT '',
            outcome TEXT NOT NULL DEFAULT '',
            done_by INTEGER NULL REFERENCES person (id) ON DELETE RESTRICT,
            done_at {stamp} NULL,
            reminded_at {stamp} NULL,
            missed_at {stamp} NULL,
            created_at {stamp} NOT NULL
        )""",
        # Issued exactly once, whichever process gets there first.
        "CREATE UNIQUE INDEX work_occurrence ON work (organisation, occurrence)",
        "CREATE INDEX work_owner_due ON work (owner, due_on)",
        "CREATE INDEX work_organisation_due ON work (organisation, due_on)",
        # The sweep's reminders and chases: open work by due date.
        "CREATE INDEX work_open_due ON work (due_on) WHERE done_on IS NULL AND missed_at IS NULL",
        # The audits that count towards a piece of work.
        "ALTER TABLE allocation ADD COLUMN work INTEGER NULL REFERENCES work (id) ON DELETE RESTRICT",
        "CREATE INDEX allocation_work ON allocation (work)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
