"""Sign-in sessions kept in the database (PLAT-14), so every app process,
on one machine or several, sees the same sessions, and a backup holds them.

One row a session: its key (the cookie's random id), the serialised session
and when it expires (Unix seconds on qaf's clock). Nothing is written to the
data directory.
"""

from __future__ import annotations

import datetime as dt

from litestar.stores.base import Store
from piccolo.querystring import QueryString

from core.calendar import utcnow


def _seconds(expires_in: int | dt.timedelta | None) -> int | None:
    if expires_in is None:
        return None
    return int(expires_in.total_seconds()) if isinstance(expires_in, dt.timedelta) else int(expires_in)


class DatabaseStore(Store):
    """A Litestar store on the ``web_session`` table of the bound database."""

    async def _run(self, sql: str, *args):
        from core.db.engine import current

        return await current().run_querystring(QueryString(sql, *args))

    def _now(self) -> int:
        return int(utcnow().timestamp())

    async def set(self, key: str, value: str | bytes, expires_in: int | dt.timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        seconds = _seconds(expires_in)
        expires = None if seconds is None else self._now() + seconds
        await self._run(
            "INSERT INTO web_session (key, value, expires_at) VALUES ({}, {}, {}) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            key, data, expires,
        )

    async def get(self, key: str, renew_for: int | dt.timedelta | None = None) -> bytes | None:
        rows = await self._run("SELECT value, expires_at FROM web_session WHERE key = {}", key)
        if not rows:
            return None
        row = rows[0]
        if row["expires_at"] is not None and row["expires_at"] <= self._now():
            await self.delete(key)
            return None
        seconds = _seconds(renew_for)
        if seconds and row["expires_at"] is not None:
            await self._run("UPDATE web_session SET expires_at = {} WHERE key = {}", self._now() + seconds, key)
        return bytes(row["value"])

    async def delete(self, key: str) -> None:
        await self._run("DELETE FROM web_session WHERE key = {}", key)

    async def delete_all(self) -> None:
        await self._run("DELETE FROM web_session")

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        rows = await self._run("SELECT expires_at FROM web_session WHERE key = {}", key)
        if not rows or rows[0]["expires_at"] is None:
            return None
        return max(rows[0]["expires_at"] - self._now(), 0)

    async def delete_expired(self) -> None:
        """Forget sessions whose time is up (the sweep calls this)."""
        await self._run("DELETE FROM web_session WHERE expires_at IS NOT NULL AND expires_at <= {}", self._now())
