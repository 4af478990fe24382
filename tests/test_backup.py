"""`qaf backup` and `qaf restore` on both databases, through the installed
command (PLAT-14, issue 18 item 4): a demo backed up while the server runs,
restored into an empty database, every table compared row by row; the
restored database serves a sign-in."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from helpers import process_env

QAF = str(Path(sys.executable).with_name("qaf"))
ROOT = Path(__file__).parent.parent


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([QAF, *args], env=env, capture_output=True, text=True, timeout=180)


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    data_dir.mkdir(exist_ok=True)
    return process_env(QAF_DATA_DIR=str(data_dir), QAF_SWEEP_SECONDS="0", QAF_COUNCILS="haringey", **extra)


def _sqlite_tables(path: Path) -> dict[str, list]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        return {name: sorted(map(repr, conn.execute(f'SELECT * FROM "{name}"'))) for name in names}
    finally:
        conn.close()


async def _postgres_tables(url: str) -> dict[str, list]:
    conn = await asyncpg.connect(url)
    try:
        names = [r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {name: sorted(repr(tuple(row.values())) for row in await conn.fetch(f'SELECT * FROM "{name}"')) for name in names}
    finally:
        await conn.close()


def _roles(postgres_server, suffix: str) -> tuple[str, str, str, str]:
    """docker/initdb/qaf-roles.sh (the compose file's owner and app roles), and
    a second empty database of the same owner to restore into. Returns the
    app's and owner's URLs of each."""
    admin = urlsplit(postgres_server.admin_url)
    names = {"QAF_OWNER_ROLE": f"qaf_owner_{suffix}", "QAF_APP_ROLE": f"qaf_app_{suffix}", "QAF_DATABASE_NAME": f"qaf_{suffix}"}
    init = subprocess.run(
        ["sh", str(ROOT / "docker" / "initdb" / "qaf-roles.sh")],
        env=process_env(PGHOST=admin.hostname, PGPORT=str(admin.port), PGPASSWORD=admin.password or "",
                        POSTGRES_USER=admin.username, QAF_OWNER_PASSWORD="o", QAF_APP_PASSWORD="a", **names),
        capture_output=True, text=True, timeout=60,
    )
    assert init.returncode == 0, init.stderr

    async def second():
        conn = await asyncpg.connect(postgres_server.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "qaf_{suffix}_b" OWNER "qaf_owner_{suffix}"')
        finally:
            await conn.close()

    asyncio.run(second())
    at = f"{admin.hostname}:{admin.port}"
    app, owner = f"qaf_app_{suffix}:a@{at}", f"qaf_owner_{suffix}:o@{at}"
    return (f"postgresql://{app}/qaf_{suffix}", f"postgresql://{owner}/qaf_{suffix}",
            f"postgresql://{app}/qaf_{suffix}_b", f"postgresql://{owner}/qaf_{suffix}_b")


def _drop(postgres_server, suffix: str) -> None:
    async def drop():
        conn = await asyncpg.connect(postgres_server.admin_url)
        try:
            for db in (f"qaf_{suffix}", f"qaf_{suffix}_b"):
                await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            for role in (f"qaf_app_{suffix}", f"qaf_owner_{suffix}"):
                await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.mark.req("PLAT-14")
def test_a_postgresql_backup_restores_every_table_into_an_empty_database(postgres_server, tmp_path):
    """As the compose file runs it: owner and app roles. (SQLite, backed up
    while the server runs: tests/test_operations.py.)"""
    from core.backup import BackupError, restore
    from core.settings import settings_from_env

    suffix = uuid.uuid4().hex[:8]
    app_a, owner_a, app_b, owner_b = _roles(postgres_server, suffix)
    env_a = _env(tmp_path / "a", QAF_DATABASE_URL=app_a, QAF_MIGRATE_DATABASE_URL=owner_a)
    env_b = _env(tmp_path / "b", QAF_DATABASE_URL=app_b, QAF_MIGRATE_DATABASE_URL=owner_b)
    saved = tmp_path / "backups" / "qaf.backup"
    try:
        demo = _run("demo", env=env_a)
        assert demo.returncode == 0, demo.stderr
        backup = _run("backup", str(saved), env=env_a)
        assert backup.returncode == 0, backup.stderr
        assert backup.stdout.startswith("Backed up the database (PostgreSQL) to ") and " tables, " in backup.stdout
        assert f"{saved.stat().st_mode & 0o777:o}" == "600"  # children's records: the service user's alone

        # Restored into an empty database: every table, row for row (the
        # evidence files' bytes, the trail and its hash chain included).
        restored = _run("restore", str(saved), env=env_b)
        assert restored.returncode == 0, restored.stderr
        assert restored.stdout.startswith("Restored the database (PostgreSQL) from ")
        before, after = asyncio.run(_postgres_tables(owner_a)), asyncio.run(_postgres_tables(owner_b))
        assert set(before) == set(after) and len(before) > 30
        assert {name for name in before if before[name] != after[name]} == set()
        assert len(after["trail"]) > 0 and len(after["allocation"]) == 7
        # The app's role (no DDL) is granted its rights on the restored tables.
        assert len(asyncio.run(_postgres_tables(app_b))["person"]) == len(before["person"])

        # A database that holds records is not overwritten by accident.
        with pytest.raises(BackupError, match="holds records: stop the app and restore with --replace"):
            restore(settings_from_env(env_b), saved)
    finally:
        _drop(postgres_server, suffix)


def test_restore_of_something_that_is_not_a_backup_says_so(tmp_path):
    env = _env(tmp_path / "d")
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a database at all" * 100)
    result = _run("restore", str(junk), env=env)
    assert result.returncode == 1
    assert "is not a qaf SQLite backup" in result.stderr
