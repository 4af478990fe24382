"""A trail nobody can rewrite, and that shows if it was (PLAT-12, issue 16
item 4).

- Each trail row gets ``seq`` (its number in its organisation's chain) and
  ``hash`` (core/services/trail.py ``entry_hash``); the rows already there
  are chained here, in id order, organisation by organisation.
- A unique index on (organisation, seq): two appends can never both take
  the same place in a chain.
- SQLite: ``INSERT OR REPLACE`` deletes the row it replaces without firing
  the delete trigger (unless recursive_triggers is on), so an insert that
  would take an existing row's id or place is refused before it happens.
- PostgreSQL: ``TRUNCATE`` fires no row trigger; a statement trigger
  refuses it.
"""

import datetime as dt
import hashlib
import json

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-04T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "trail: hash chain per organisation; refuse REPLACE (SQLite) and TRUNCATE (PostgreSQL)"

REFUSED = "the trail is append-only"

SQLITE_BEFORE = [
    "ALTER TABLE trail ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE trail ADD COLUMN hash VARCHAR(64) NOT NULL DEFAULT ''",
    "DROP TRIGGER trail_no_update",  # for the chaining below; put back after it
]
SQLITE_AFTER = [
    f"""CREATE TRIGGER trail_no_update BEFORE UPDATE ON trail
       BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    "CREATE UNIQUE INDEX trail_chain ON trail (coalesce(organisation, 0), seq)",
    # INSERT OR REPLACE (or REPLACE INTO) onto an existing id or chain place.
    f"""CREATE TRIGGER trail_no_replace BEFORE INSERT ON trail
       WHEN EXISTS (SELECT 1 FROM trail WHERE id = NEW.id)
         OR EXISTS (SELECT 1 FROM trail WHERE coalesce(organisation, 0) = coalesce(NEW.organisation, 0) AND seq = NEW.seq)
       BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
]

POSTGRES_BEFORE = [
    "ALTER TABLE trail ADD COLUMN seq INTEGER NOT NULL DEFAULT 0, ADD COLUMN hash VARCHAR(64) NOT NULL DEFAULT ''",
    "ALTER TABLE trail DISABLE TRIGGER trail_no_change",  # for the chaining below
]
POSTGRES_AFTER = [
    "ALTER TABLE trail ENABLE TRIGGER trail_no_change",
    "CREATE UNIQUE INDEX trail_chain ON trail (coalesce(organisation, 0), seq)",
    """CREATE TRIGGER trail_no_truncate BEFORE TRUNCATE ON trail
       FOR EACH STATEMENT EXECUTE FUNCTION trail_append_only()""",
]


# The chain as it was defined when this migration was written
# (core/services/trail.py at 2026-12-04), frozen here: a later change to the
# service must not change what this migration writes (issue 18).
GENESIS = ""


def _at_text(at) -> str:
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _changes_value(changes):
    if changes is None:
        return {}
    if isinstance(changes, bytes):
        changes = changes.decode()
    return json.loads(changes) if isinstance(changes, str) else changes


def entry_hash(previous: str, organisation, seq, at, actor, request_id, entity, entity_id, action, changes) -> str:
    fields = [organisation, seq, _at_text(at), actor, request_id or "", entity, entity_id, action, _changes_value(changes)]
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{previous}\n{text}".encode()).hexdigest()


async def _chain_existing(engine) -> None:
    """Number and hash the rows already there, in id order per organisation."""
    connection = engine.current_transaction.get().connection
    select = (
        "SELECT id, organisation, at, actor, request_id, entity, entity_id, action, changes FROM trail ORDER BY id"
    )
    if engine.engine_type == "sqlite":
        cursor = await connection.execute(select)
        cursor._cursor.row_factory = None  # tuples
        rows = await cursor.fetchall()
        await cursor.close()
    else:
        rows = await connection.fetch(select)
    heads: dict[int, tuple[int, str]] = {}
    updates = []
    for id_, organisation, *fields in rows:
        seq, previous = heads.get(organisation or 0, (0, GENESIS))
        digest = entry_hash(previous, organisation, seq + 1, *fields)
        heads[organisation or 0] = (seq + 1, digest)
        updates.append((seq + 1, digest, id_))
    if not updates:
        return
    if engine.engine_type == "sqlite":
        await connection.executemany("UPDATE trail SET seq = ?, hash = ? WHERE id = ?", updates)
        return
    # PostgreSQL: one COPY and one UPDATE, not a round trip per row.
    await connection.execute("CREATE TEMPORARY TABLE trail_chained (seq integer, hash varchar(64), id integer) ON COMMIT DROP")
    await connection.copy_records_to_table("trail_chained", records=updates)
    await connection.execute("UPDATE trail SET seq = c.seq, hash = c.hash FROM trail_chained c WHERE trail.id = c.id")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        sqlite = engine.engine_type == "sqlite"
        for statement in SQLITE_BEFORE if sqlite else POSTGRES_BEFORE:
            await engine.run_ddl(statement)
        await _chain_existing(engine)
        for statement in SQLITE_AFTER if sqlite else POSTGRES_AFTER:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
