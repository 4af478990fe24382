"""Databases built once per test process and copied for each test.

Every database test used to run all the migrations (about 1.3 s) and most
loaded a demo council through the services (2–4 s) before their first
assertion: most of the suite's time. The result is the same each time, so
each test process builds it once, by the real path, and every later test
gets a copy:

- ``migrated(kind)``: a migrated, empty database (SQLite file, PostgreSQL
  database);
- ``demo(registry, council, ...)``: ``load_demo`` on the test's database,
  snapshotted after the first test that asked for it in this state (per
  database kind, plugin registry, council, options, ``now`` and the test's
  clock instant).

A copy is a real database of its own: a SQLite file copied from the
snapshot, or a PostgreSQL database created with the snapshot as its
``TEMPLATE``. Nothing is shared between tests and nothing is faked.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.calendar import utcnow
from core.db.engine import bind, current, engine_for, sqlite_path


def _sqlite_backup(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (its readers stay open)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _open_in_this_process(path: Path) -> bool:
    names = {str(path.resolve()) + suffix for suffix in ("", "-wal", "-shm")}
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") in names:
                return True
        except OSError:
            pass
    return False


def _close_bound_engine() -> None:
    engine = current()
    if getattr(engine, "engine_type", "") == "sqlite":
        engine.close()


# Every change the app or a test makes through the services adds to one of
# these; a database whose fingerprint moved since it was copied is not the
# copy any more.
_WATCHED = ("organisation", "person", "allocation", "work", "grade", "dispute", "action",
            "notification", "trail", "agency_request")


async def _fingerprint() -> tuple:
    from core.db.tables import Trail

    sql = ", ".join(f"(SELECT coalesce(max(id), 0) FROM {table}) AS {table}" for table in _WATCHED)
    sql += ", (SELECT count(*) FROM web_session) AS web_session"
    row = (await Trail.raw(f"SELECT {sql}"))[0]
    return tuple(row[table] for table in (*_WATCHED, "web_session"))


def _bound_url() -> str:
    engine = current()
    if engine.engine_type == "sqlite":
        return f"sqlite:///{engine.path}"
    return engine.config["dsn"]


@dataclass
class Snapshots:
    """One per test process."""

    folder: Path
    postgres: Any = None  # support.postgres.PostgresServer, for PostgreSQL copies
    clock: Any = None  # the running test's time-machine traveller
    instant: str = ""  # the running test's clock instant, as named
    _migrated: dict[str, str] = field(default_factory=dict)  # kind -> SQLite path or database name
    _demos: dict[tuple, tuple[str, Any, Any]] = field(default_factory=dict)
    _state: dict[str, tuple] = field(default_factory=dict)  # database URL -> the snapshots it is a copy of

    # ------------------------------------------------------------ migrated
    async def migrated(self, kind: str, target: Path | None = None) -> str:
        """A new migrated, empty database of ``kind``, bound to Piccolo; its
        URL. For "sqlite", ``target`` is the file to create."""
        from core.db.migrate import migrate

        if kind not in self._migrated:
            if kind == "sqlite":
                building = self.folder / "migrating.sqlite3"
                bind(engine_for(f"sqlite:///{building}"))
                await migrate()
                built = self.folder / "migrated.sqlite3"
                await asyncio.to_thread(_sqlite_backup, building, built)
                _close_bound_engine()
                self._migrated[kind] = str(built)
            else:
                url = await self.postgres.create_database(prefix="migrated")
                bind(engine_for(url))
                await migrate()
                self._migrated[kind] = url.rsplit("/", 1)[1]
        if kind == "sqlite":
            assert target is not None
            shutil.copyfile(self._migrated[kind], target)
            url = f"sqlite:///{target}"
        else:
            url = await self._create_from_template(self._migrated[kind])
        bind(engine_for(url))
        self._state[url] = ((), await _fingerprint())
        return url

    # ---------------------------------------------------------------- demos
    async def demo(self, registry, council: str, *, now=None, **options):
        """``load_demo`` for ``council`` on the bound database; see the module."""
        from core.services.context import Context
        from core.services.demo import load_demo

        url = _bound_url()
        before, printed = self._state.pop(url, (None, None))
        if before is not None and await _fingerprint() != printed:
            before = None
        build = lambda: load_demo(Context(registry=registry, **({"now": now} if now else {})), council, **options)  # noqa: E731
        if before is None:
            # Written to since it was copied (or not ours): build it for real.
            return await build()
        kind = "sqlite" if url.startswith("sqlite") else "postgres"
        key = (*before, (kind, id(registry), council, tuple(sorted(options.items())), str(now), self.instant))
        copied = key in self._demos
        if copied and kind == "sqlite":
            # The file is replaced: only once no connection of this process
            # has it open (one left open would keep the old WAL index, and
            # its view of the database, from every later connection here).
            _close_bound_engine()
            gc.collect()  # sqlite3 connections dropped but not yet collected
            bind(engine_for(url))
            if _open_in_this_process(sqlite_path(url)):
                copied = False  # build it for real instead
            else:
                _close_bound_engine()
        if copied:
            snapshot, result, finished = self._demos[key]
            if kind == "sqlite":
                path = sqlite_path(url)
                for suffix in ("-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                shutil.copyfile(snapshot, path)
            else:
                # The same name: the test's settings already hold its URL.
                await self._drop_postgres(url.rsplit("/", 1)[1])
                await self._create_from_template(snapshot, url.rsplit("/", 1)[1])
            bind(engine_for(url))
            # What the test writes next is later than all the demo wrote, as
            # it would have been had the demo been built now.
            if self.clock is not None and utcnow() < finished:
                self.clock.move_to(finished)
        else:
            result = await build()
            finished = utcnow()
            if key not in self._demos:
                if kind == "sqlite":
                    snapshot = str(self.folder / f"demo-{len(self._demos)}.sqlite3")
                    await asyncio.to_thread(_sqlite_backup, sqlite_path(url), Path(snapshot))
                else:
                    snapshot = (await self._create_from_template(url.rsplit("/", 1)[1])).rsplit("/", 1)[1]
                self._demos[key] = (snapshot, copy.deepcopy(result), finished)
        self._state[url] = (key, await _fingerprint())
        return copy.deepcopy(result)

    # ----------------------------------------------------------- PostgreSQL
    async def _drop_postgres(self, name: str) -> None:
        await self.postgres.drop_database(name)

    async def _create_from_template(self, template: str, name: str | None = None) -> str:
        return await self.postgres.create_database(name, prefix="qaf", template=template)


SNAPSHOTS: Snapshots | None = None


async def snapshot_demo(registry, council: str, *, now=None, **options):
    """``load_demo(Context(registry=registry, now=now), council, **options)``
    on the test's database, copied from this process's snapshot when an
    earlier test built the same (see the module)."""
    assert SNAPSHOTS is not None, "the database_url fixture sets up the snapshots"
    return await SNAPSHOTS.demo(registry, council, now=now, **options)
