"""Database engines: the embedded SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, dict_factory

from core.settings import SettingsError

# Concurrent writers wait this long for the lock instead of failing with
# "database is locked" (Piccolo sets no busy timeout of its own).
SQLITE_BUSY_TIMEOUT_SECONDS = 30


# Statements outside a transaction run on this many long-lived connections.
SQLITE_READERS = 4


class QafSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine with the pragmas a web app needs, and reused
    connections.

    Piccolo opens a new aiosqlite connection (a new thread, a cold page cache
    and its pragmas) for every statement outside a transaction; measured here
    that was ~1.5 ms of each query. Those statements run instead on a few
    worker threads that each keep one connection open. Transactions still get
    a connection of their own (Piccolo's), held for their length.
    """

    def __init__(self, *args, readers: int = SQLITE_READERS, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._executor = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="qaf-sqlite")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        # An engine dropped (tests bind many) lets its threads, and with them
        # their connections, go.
        weakref.finalize(self, self._executor.shutdown, wait=False)

    async def get_connection(self):
        connection = await super().get_connection()
        # WAL lets readers run alongside the single writer; NORMAL sync is
        # safe under WAL and avoids an fsync per commit.
        await connection.execute("PRAGMA synchronous = NORMAL")
        # A REPLACE then fires the delete triggers of the rows it removes:
        # the trail's refuse it (PLAT-12; its insert guard refuses it too).
        await connection.execute("PRAGMA recursive_triggers = ON")
        return connection

    def _thread_connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # isolation_level None (Piccolo's default): each statement commits itself.
            connection = sqlite3.connect(**self.connection_kwargs, check_same_thread=False)
            connection.row_factory = dict_factory
            connection.execute("PRAGMA foreign_keys = 1")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA recursive_triggers = ON")
            self._local.connection = connection
            self._connections.append(connection)
        return connection

    def _execute(self, query: str, args: list) -> list[dict]:
        cursor = self._thread_connection().execute(query, args)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    async def _run_in_new_connection(self, query, args=None, query_type="generic", table=None):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._execute, query, list(args or []))

    def close(self) -> None:
        """Stop the worker threads and close their connections (the file can
        then be replaced: a connection left open would keep the old WAL index)."""
        self._executor.shutdown(wait=True)
        while self._connections:
            self._connections.pop().close()


def sqlite_path(url: str) -> Path:
    # sqlite:///relative/or/absolute -> the part after the third slash.
    return Path(url.split("sqlite:///", 1)[1])


def engine_for(url: str) -> Engine:
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        path = sqlite_path(url)
        # Children's records: the directory and the file (and with it SQLite's
        # -wal and -shm, made with the file's mode) private to the service user.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        # Closed here, not left to the garbage collector (a sqlite3 connection
        # is in a reference cycle with its statement cache).
        with contextlib.closing(sqlite3.connect(path)) as connection:
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
