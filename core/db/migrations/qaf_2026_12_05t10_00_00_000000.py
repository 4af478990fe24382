"""Agency respondents and their returns (issue 14, PLAT-6, PLAT-7, PLAT-8):
``one_time_link`` (an emailed, single-use, expiring link: only the sha256 of
its token is kept), an evidence file's answer (``evidence_file.field``), and
on ``allocation`` the return its answers were carried forward from and the
carried answers an agency has confirmed are still right."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-05T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one_time_link; evidence_file.field; allocation.carried_from and allocation.confirmed"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    return [
        f"""CREATE TABLE one_time_link (
            id {key},
            organisation INTEGER NULL REFERENCES organisation (id) ON DELETE RESTRICT,
            purpose VARCHAR(32) NOT NULL,
            token_hash VARCHAR(64) NOT NULL UNIQUE,
            person INTEGER NULL REFERENCES person (id) ON DELETE RESTRICT,
            email VARCHAR(254) NOT NULL DEFAULT '',
            expires_at TIMESTAMPTZ NOT NULL,
            used_at TIMESTAMPTZ NULL,
            revoked_at TIMESTAMPTZ NULL,
            created_by INTEGER NULL REFERENCES person (id) ON DELETE RESTRICT,
            created_at TIMESTAMPTZ NOT NULL
        )""",
        "CREATE INDEX one_time_link_person ON one_time_link (person)",
        "ALTER TABLE evidence_file ADD COLUMN field VARCHAR(200) NOT NULL DEFAULT ''",
        "ALTER TABLE allocation ADD COLUMN carried_from INTEGER NULL REFERENCES allocation (id) ON DELETE RESTRICT",
        "ALTER TABLE allocation ADD COLUMN confirmed JSON NOT NULL DEFAULT '[]'",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
