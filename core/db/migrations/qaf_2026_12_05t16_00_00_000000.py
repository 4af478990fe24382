"""Sign-in sessions in the database (PLAT-14, issue 18): ``web_session``, so
several app processes share them and a backup holds them (they were files
in the data directory)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-05T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "web_session"


def _statements(engine_type: str) -> list[str]:
    blob = "BYTEA" if engine_type == "postgres" else "BLOB"
    return [
        f"""CREATE TABLE web_session (
            key VARCHAR(128) PRIMARY KEY,
            value {blob} NOT NULL,
            expires_at BIGINT NULL
        )""",
        "CREATE INDEX web_session_expires_at ON web_session (expires_at)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
