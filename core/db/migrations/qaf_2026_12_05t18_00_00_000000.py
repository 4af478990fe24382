"""Retention (PLAT-13): ``erasure``, one row for each record ``qaf retention
--apply`` anonymised, so a record is anonymised once and what was done can be
counted (the trail holds an entry for each too); and ``trail_text``, the
words sealed out of each trail entry (by the entry's chain and number), which
retention removes while the entry, and its chain, stay as written."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-05T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "erasure: records anonymised under the retention settings; trail_text: the trail's sealed words"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    return [
        f"""CREATE TABLE erasure (
            id {key},
            organisation INTEGER NOT NULL REFERENCES organisation (id) ON DELETE RESTRICT,
            kind VARCHAR(32) NOT NULL,
            record INTEGER NOT NULL,
            erased_at TIMESTAMPTZ NOT NULL
        )""",
        "CREATE UNIQUE INDEX erasure_kind_record ON erasure (kind, record)",
        "CREATE INDEX erasure_organisation ON erasure (organisation)",
        f"""CREATE TABLE trail_text (
            id {key},
            chain INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            salt VARCHAR(32) NOT NULL DEFAULT '',
            words TEXT NOT NULL DEFAULT '',
            removed_at TIMESTAMPTZ NULL
        )""",
        "CREATE UNIQUE INDEX trail_text_chain_seq ON trail_text (chain, seq)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
