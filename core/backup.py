"""``qaf backup PATH`` and ``qaf restore PATH`` (PLAT-14).

Everything that matters is in the database: the records, the trail, the
evidence files (``evidence_file.content``) and, with the database session
store, the sign-in sessions. The data directory holds only the generated
secret key (losing it signs everyone out, nothing more) and CSV files a
person asked ``qaf programme`` to write.

* SQLite: SQLite's online backup API copies a consistent snapshot page by
  page while the server keeps serving (readers and the writer carry on; a
  write during the copy restarts the pages it changed). Restore copies the
  backup over the database file the same way.
* PostgreSQL: ``pg_dump --format=custom`` (one consistent snapshot, the
  server keeps serving) and ``pg_restore --clean --if-exists
  --single-transaction``, as the owner role when QAF_MIGRATE_DATABASE_URL is
  set, so the app role's grants come back with the tables.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings, SettingsError


class BackupError(RuntimeError):
    """A backup or restore that could not be done; the message says why."""


@dataclass(frozen=True)
class Outcome:
    path: Path
    size: int
    seconds: float
    tables: int


def _sqlite_file(settings: Settings) -> Path:
    from core.db.engine import sqlite_path

    return sqlite_path(settings.database_url)


def _owner_url(settings: Settings) -> str:
    """The URL with the right to read everything and recreate the schema."""
    return settings.migrate_database_url or settings.database_url


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed: install the PostgreSQL client tools (apt-get install postgresql-client-15)")
    return found


def _private(path: Path) -> None:
    # A backup holds children's records: the service user's alone.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    os.chmod(path, 0o600)


def backup(settings: Settings, target: Path) -> Outcome:
    target = Path(target).resolve()
    began = time.monotonic()
    if settings.is_sqlite:
        source = _sqlite_file(settings)
        if not source.exists():
            raise BackupError(f"there is no database at {source} to back up")
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        _private(partial)
        src = sqlite3.connect(source)
        dst = sqlite3.connect(partial)
        try:
            # Pages in steps, sleeping briefly between them, so the server's
            # writers are not held up for the whole copy.
            src.backup(dst, pages=4096, sleep=0.005)
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copy failed its integrity check: {check}")
            tables = _sqlite_tables(dst)
        finally:
            dst.close()
            src.close()
        partial.replace(target)
    else:
        partial = target.with_name(target.name + ".partial")
        _private(partial)
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}", f"--dbname={_owner_url(settings)}"])
        listing = _run([_tool("pg_restore"), "--list", str(partial)])
        tables = sum(1 for line in listing.splitlines() if " TABLE DATA " in line)
        partial.replace(target)
    return Outcome(target, target.stat().st_size, time.monotonic() - began, tables)


def restore(settings: Settings, source: Path, *, replace: bool = False) -> Outcome:
    """Put the database back as it was at ``source``'s backup. Refuses to
    overwrite a database holding records unless ``replace``."""
    source = Path(source).resolve()
    if not source.is_file():
        raise BackupError(f"there is no backup at {source}")
    began = time.monotonic()
    if settings.is_sqlite:
        target = _sqlite_file(settings)
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            try:
                check = backup_db.execute("PRAGMA integrity_check").fetchone()[0]
            except sqlite3.DatabaseError as error:
                raise BackupError(f"{source} is not a qaf SQLite backup ({error})") from None
            if check != "ok" or "organisation" not in _sqlite_table_names(backup_db):
                raise BackupError(f"{source} is not a qaf SQLite backup")
            if target.exists() and not replace and _sqlite_has_records(target):
                raise BackupError(f"the database at {target} holds records: stop the app and restore with --replace to overwrite it")
            _private(target)
            dst = sqlite3.connect(target)
            try:
                backup_db.backup(dst)
                tables = _sqlite_tables(dst)
            finally:
                dst.close()
        finally:
            backup_db.close()
    else:
        listing = _run([_tool("pg_restore"), "--list", str(source)], what=f"{source} is not a PostgreSQL custom-format backup")
        tables = sum(1 for line in listing.splitlines() if " TABLE DATA " in line)
        url = _owner_url(settings)
        if not replace and _postgres_has_records(url):
            raise BackupError("the database holds records: stop the app and restore with --replace to overwrite it")
        # Without the dump's grants (roles differ between clusters); the
        # app's role is granted its rights afresh, as `qaf migrate` does.
        _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-acl", "--single-transaction",
              "--exit-on-error", f"--dbname={url}", str(source)])
        if settings.migrate_database_url:
            import asyncio

            from core.db.roles import grant_app_role

            asyncio.run(grant_app_role(settings.migrate_database_url, settings.database_url))
    return Outcome(source, source.stat().st_size, time.monotonic() - began, tables)


def _run(argv: list[str], what: str | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        # The tool's own words, without the URL (it may carry a password).
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        raise BackupError(what or f"{Path(argv[0]).name} failed: {detail[0]}")
    return result.stdout


def _sqlite_table_names(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]


def _sqlite_tables(conn: sqlite3.Connection) -> int:
    return len(_sqlite_table_names(conn))


def _sqlite_has_records(path: Path) -> bool:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if "organisation" not in _sqlite_table_names(conn):
            return False
        return conn.execute("SELECT EXISTS (SELECT 1 FROM organisation)").fetchone()[0] == 1
    finally:
        conn.close()


def _postgres_has_records(url: str) -> bool:
    import asyncio

    import asyncpg

    async def check() -> bool:
        conn = await asyncpg.connect(url, timeout=30)
        try:
            if not await conn.fetchval("SELECT to_regclass('public.organisation') IS NOT NULL"):
                return False
            return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM organisation)")
        finally:
            await conn.close()

    try:
        return asyncio.run(check())
    except (OSError, asyncpg.PostgresError) as error:
        raise BackupError(f"cannot reach the database to restore into: {type(error).__name__}") from None


def describe(outcome: Outcome) -> str:
    size = outcome.size
    unit = "bytes"
    for name in ("KB", "MB", "GB"):
        if size < 1024:
            break
        size /= 1024
        unit = name
    shown = f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
    return f"{outcome.tables} tables, {shown}, in {outcome.seconds:.1f} s"


__all__ = ["BackupError", "Outcome", "backup", "restore", "describe", "SettingsError"]
