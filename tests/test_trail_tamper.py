"""A trail nobody can rewrite, and that shows if it was (issue 16 items 4
and 6, PLAT-12): every SQL path that would change, remove or replace an
entry is refused on SQLite and PostgreSQL; each organisation's entries are
hash-chained and `qaf trail verify` names the first broken link once someone
with the database's own powers (triggers dropped) has altered one; the app's
PostgreSQL role may only add to and read the trail. (The data directory's
modes and the Server header: tests/test_commands.py.)"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from core.db.engine import bind, engine_for, sqlite_path, transaction
from core.db.tables import Organisation, Trail
from core.services import trail
from core.services.context import Context
from core.services.demo import load_demo

COLUMNS = "id, organisation, at, actor, request_id, entity, entity_id, action, changes, seq, hash"
FORGED = "id, organisation, at, actor, request_id, entity, entity_id, 'forged', changes, seq, hash"

# Every way one statement could rewrite an entry, on each engine.
SQLITE_TAMPERING = {
    "UPDATE": "UPDATE trail SET action = 'forged' WHERE id = 1",
    "DELETE": "DELETE FROM trail WHERE id = 1",
    # REPLACE deletes the row it replaces without firing its delete trigger.
    "INSERT OR REPLACE": f"INSERT OR REPLACE INTO trail ({COLUMNS}) SELECT {FORGED} FROM trail WHERE id = 1",
    "REPLACE onto a chain place": f"REPLACE INTO trail ({COLUMNS}) SELECT id + 100000, organisation, at, actor, "
    "request_id, entity, entity_id, 'forged', changes, seq, hash FROM trail WHERE id = 1",
    "ON CONFLICT DO UPDATE": f"INSERT INTO trail ({COLUMNS}) SELECT {FORGED} FROM trail WHERE id = 1 "
    "ON CONFLICT (id) DO UPDATE SET action = 'forged'",
    "UPDATE OR REPLACE": "UPDATE OR REPLACE trail SET id = 2 WHERE id = 1",
}
POSTGRES_TAMPERING = {
    "UPDATE": "UPDATE trail SET action = 'forged' WHERE id = 1",
    "DELETE": "DELETE FROM trail WHERE id = 1",
    "ON CONFLICT DO UPDATE": f"INSERT INTO trail ({COLUMNS}) SELECT {FORGED} FROM trail WHERE id = 1 "
    "ON CONFLICT (id) DO UPDATE SET action = 'forged'",
    "TRUNCATE": "TRUNCATE trail",
    "TRUNCATE through a cascade": "TRUNCATE organisation CASCADE",
}


class _Raw:
    """A connection of the database's own, outside the app: as an operator
    with a SQL prompt (on PostgreSQL the test cluster's superuser)."""

    def __init__(self, url: str):
        self.url = url
        self.sqlite = url.startswith("sqlite")

    async def __aenter__(self):
        if self.sqlite:
            self.db = sqlite3.connect(sqlite_path(self.url), isolation_level=None)
        else:
            self.db = await asyncpg.connect(self.url)
        return self

    async def __aexit__(self, *exc):
        if self.sqlite:
            self.db.close()
        else:
            await self.db.close()

    async def execute(self, sql: str) -> None:
        if self.sqlite:
            self.db.execute(sql)
        else:
            await self.db.execute(sql)

    async def rows(self) -> list[tuple]:
        sql = f"SELECT {COLUMNS} FROM trail ORDER BY id"
        if self.sqlite:
            return self.db.execute(sql).fetchall()
        return [tuple(r) for r in await self.db.fetch(sql)]


def _qaf(monkeypatch, capsys, tmp_path: Path, database_url: str, *args: str) -> tuple[int, str, str]:
    """`qaf ARGS` as the operator runs it, in this process (its settings
    from the environment), in a thread of its own: it runs its own loop."""
    from core.cli import main
    from core.settings import get_settings

    monkeypatch.setenv("QAF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QAF_DATABASE_URL", database_url)
    monkeypatch.setenv("QAF_SECRET_KEY", "k" * 64)
    get_settings.cache_clear()
    capsys.readouterr()
    try:
        return main(list(args)), *capsys.readouterr()
    finally:
        get_settings.cache_clear()


@pytest.mark.req("PLAT-12")
async def test_no_statement_rewrites_the_trail_and_qaf_trail_verify_names_the_entry_a_superuser_altered(
    registry, demo, database_url, monkeypatch, capsys, tmp_path
):
    async def qaf_trail_verify() -> tuple[int, str, str]:
        result = await asyncio.to_thread(_qaf, monkeypatch, capsys, tmp_path, database_url, "trail", "verify")
        bind(engine_for(database_url))  # the command bound an engine of its own
        return result

    organisation = await Organisation.select(Organisation.id, Organisation.name).first()
    entries = await Trail.count()
    assert await qaf_trail_verify() == (0, f"The trail of {entries} entries is intact (1 organisation).\n", "")

    # Eight requests append at once, each in its own transaction (as pages
    # do): each entry takes its own place, none chains onto a place taken.
    async def append(n: int) -> None:
        async with transaction():
            for action in ("noted", "closed"):
                await trail.record(Context(registry=registry), organisation_id=organisation["id"], entity="action", entity_id=n, action=action)
                await asyncio.sleep(0.005)  # hold the transaction open a moment

    await asyncio.gather(*(append(n) for n in range(8)))
    intact = await trail.verify()
    assert intact == trail.Verification(entries=entries + 16, organisations=1)

    async with _Raw(database_url) as raw:
        before = await raw.rows()
        paths = SQLITE_TAMPERING if raw.sqlite else POSTGRES_TAMPERING
        for path, sql in paths.items():
            try:
                await raw.execute(sql)
            except (sqlite3.DatabaseError, asyncpg.PostgresError) as refused:
                assert "the trail is append-only" in str(refused), (path, refused)
            else:
                pytest.fail(f"{path} rewrote the trail")
        assert await raw.rows() == before, "a refused statement changed nothing"
        assert await trail.verify() == intact

        # Someone with the database's own powers turns the triggers off and
        # improves an audit's grade in the trail: the chain shows it.
        if raw.sqlite:
            await raw.execute("DROP TRIGGER trail_no_update")
            await raw.execute("DROP TRIGGER trail_no_delete")
        else:
            await raw.execute("ALTER TABLE trail DISABLE TRIGGER trail_no_change")
        await raw.execute("""UPDATE trail SET changes = '{"grade": "outstanding"}' WHERE seq = 10""")
        code, out, err = await qaf_trail_verify()
        # Dates in London; the demo wrote its trail at the suite's instant.
        assert (code, out) == (1, "")
        assert err.startswith(f"The trail of {organisation['name']} is broken: entry 10, written Thursday 31 December 2026 at 09:30 (")
        assert err.endswith(") does not match its fingerprint: it, or the entry before it, was changed after being written.\n"
                            "9 entries before it are intact.\n")

        # An entry taken out before it: that is the first broken link now.
        await raw.execute("DELETE FROM trail WHERE seq = 4")
        removed = await trail.verify()
        assert (removed.broken.organisation, removed.broken.entry, removed.entries) == (organisation["name"], 4, 3)
        assert removed.broken.message.startswith("entry 4 is missing (removed after being written); the chain goes on at entry 5")


def _as(url: str, user: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname}:{parts.port}"))


@pytest.mark.req("PLAT-12")
async def test_the_apps_postgresql_role_may_only_add_to_and_read_the_trail(
    registry, postgres_server, tmp_path, monkeypatch, capsys
):
    """docs/trail.md: the owner runs the migrations (QAF_MIGRATE_DATABASE_URL),
    the app connects as a role that owns nothing."""
    suffix = uuid.uuid4().hex[:8]
    owner, app, database = f"qaf_owner_{suffix}", f"qaf_app_{suffix}", f"roles_{suffix}"
    admin = await asyncpg.connect(postgres_server.admin_url)
    try:
        await admin.execute(f'CREATE ROLE "{owner}" LOGIN')
        await admin.execute(f'CREATE ROLE "{app}" LOGIN')
        await admin.execute(f'CREATE DATABASE "{database}" OWNER "{owner}"')
        owner_url, app_url = (_as(postgres_server.url(database), role) for role in (owner, app))

        # `qaf migrate` as a deployment runs it: as the owner, then the
        # app's role is granted its rights.
        monkeypatch.setenv("QAF_MIGRATE_DATABASE_URL", owner_url)
        code, out, err = await asyncio.to_thread(_qaf, monkeypatch, capsys, tmp_path, app_url, "migrate")
        assert (code, err) == (0, "")
        assert out.endswith(f"The app's role {app} may read and write the records, and only add to and read the trail.\n")
        # The app's writes, as the app: staff, cases, this month's audits, the trail.
        bind(engine_for(app_url))
        await load_demo(Context(registry=registry), "haringey", issue_work=False)
        assert (await trail.verify()).broken is None

        connection = await asyncpg.connect(app_url)
        try:
            entries = await connection.fetchval("SELECT count(*) FROM trail")
            assert entries > 20
            for sql in (
                "UPDATE trail SET action = 'forged'",
                "DELETE FROM trail",
                "TRUNCATE trail",
                f"INSERT INTO trail ({COLUMNS}) SELECT {FORGED} FROM trail WHERE seq = 1 ON CONFLICT (id) DO UPDATE SET action = 'forged'",
                "UPDATE migration SET name = 'forged'",
                # The trail's sealed words (PLAT-13): emptied in place by retention, never deleted.
                "DELETE FROM trail_text",
                "TRUNCATE trail_text",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await connection.execute(sql)
            for sql in ("ALTER TABLE trail DISABLE TRIGGER trail_no_change", "DROP TRIGGER trail_no_change ON trail"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="must be owner"):
                    await connection.execute(sql)
            assert await connection.fetchval("SELECT count(*) FROM trail") == entries
            # The app's own writes to other records go on.
            assert await connection.execute("UPDATE person SET active = active") != "UPDATE 0"
        finally:
            await connection.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for role in (app, owner):
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


def test_mail_to_a_host_is_encrypted_unless_the_deployment_says_otherwise(tmp_path):
    from core.settings import settings_from_env

    base = {"QAF_DATA_DIR": str(tmp_path), "QAF_SECRET_KEY": "k" * 64}
    assert settings_from_env(base).smtp_tls == "none"  # no mail at all
    assert settings_from_env(base | {"QAF_SMTP_HOST": "smtp.council.example"}).smtp_tls == "starttls"
    assert settings_from_env(base | {"QAF_SMTP_HOST": "smtp.council.example", "QAF_SMTP_TLS": "tls"}).smtp_tls == "tls"
    assert settings_from_env(base | {"QAF_SMTP_HOST": "127.0.0.1", "QAF_SMTP_TLS": "none"}).smtp_tls == "none"
