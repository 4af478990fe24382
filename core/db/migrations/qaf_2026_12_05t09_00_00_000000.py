"""Requests from a partnership to its agencies (issue 14): ``agency_request``,
and on ``allocation`` the agency answering and the request it answers, so an
agency's return is an audit like any other (one form, one workflow, one
trail) that names its agency (CSCP-1, 4, 5, 9)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-05T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "agency_request; allocation.agency and allocation.agency_request"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    return [
        f"""CREATE TABLE agency_request (
            id {key},
            organisation INTEGER NOT NULL REFERENCES organisation (id) ON DELETE RESTRICT,
            kind VARCHAR(32) NOT NULL,
            title VARCHAR(300) NOT NULL,
            period VARCHAR(100) NOT NULL DEFAULT '',
            form_key VARCHAR(130) NOT NULL,
            workflow_key VARCHAR(130) NOT NULL,
            schedule_key VARCHAR(130) NOT NULL DEFAULT '',
            work INTEGER NULL REFERENCES work (id) ON DELETE RESTRICT,
            due_on DATE NOT NULL,
            issued_by INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            issued_at TIMESTAMPTZ NOT NULL,
            state VARCHAR(32) NOT NULL DEFAULT 'open',
            overlap_note TEXT NOT NULL DEFAULT '',
            created_at TIMESTAMPTZ NOT NULL
        )""",
        "CREATE INDEX agency_request_organisation ON agency_request (organisation)",
        "CREATE INDEX agency_request_work ON agency_request (work)",
        "ALTER TABLE allocation ADD COLUMN agency INTEGER NULL REFERENCES agency (id) ON DELETE RESTRICT",
        "ALTER TABLE allocation ADD COLUMN agency_request INTEGER NULL REFERENCES agency_request (id) ON DELETE RESTRICT",
        "CREATE INDEX allocation_agency ON allocation (agency)",
        "CREATE INDEX allocation_agency_request ON allocation (agency_request)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
