"""Database engines: the embedded SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from core.settings import SettingsError

# Concurrent writers wait this long for the lock instead of failing with
# "database is locked" (Piccolo sets no busy timeout of its own).
SQLITE_BUSY_TIMEOUT_SECONDS = 30


class QafSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine with the pragmas a web app needs."""

    async def get_connection(self):
        connection = await super().get_connection()
        # WAL lets readers run alongside the single writer; NORMAL sync is
        # safe under WAL and avoids an fsync per commit.
        await connection.execute("PRAGMA synchronous = NORMAL")
        return connection


def sqlite_path(url: str) -> Path:
    # sqlite:///relative/or/absolute -> the part after the third slash.
    return Path(url.split("sqlite:///", 1)[1])


def engine_for(url: str) -> Engine:
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as connection:
            # journal_mode is persistent: set once, every later connection has WAL.
            connection.execute("PRAGMA journal_mode = WAL")
        return QafSQLiteEngine(path=str(path), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
    if scheme in ("postgres", "postgresql"):
        return PostgresEngine(config={"dsn": url})
    raise SettingsError(f"QAF_DATABASE_URL must start with sqlite:/// or postgresql://, not {scheme!r}")


def bind(engine: Engine) -> None:
    """Point Piccolo and every qaf table at ``engine``."""
    from piccolo.apps.migrations.tables import Migration

    from core.db import piccolo_conf
    from core.db.tables import TABLES

    piccolo_conf.DB = engine
    # Piccolo caches the engine on each table the first time it is used.
    for table in (*TABLES, Migration):
        table._meta._db = engine


def current() -> Engine:
    from core.db import piccolo_conf

    return piccolo_conf.DB


def transaction():
    """A write transaction. On SQLite it takes the write lock up front
    (BEGIN IMMEDIATE): a deferred one that upgrades later can fail with
    "database is locked" however long the busy timeout."""
    from piccolo.engine.sqlite import TransactionType

    engine = current()
    if engine.engine_type == "sqlite":
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()
