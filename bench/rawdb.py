"""The raw driver of the bound database, for the benchmark's floors: sqlite3
for SQLite, asyncpg for PostgreSQL, one connection, no ORM.

SQL is written once with ``{}`` placeholders (as the services write raw SQL)
and turned into ``?`` or ``$n``. Timestamps go in as the ORM stores them
(SQLite: ``str(datetime)`` in UTC, "2026-11-30 23:59:59+00:00"; PostgreSQL:
an aware datetime) and come out as aware datetimes through :meth:`Raw.dt`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

UTC = dt.timezone.utc


class Raw:
    def __init__(self, kind: str, connection) -> None:
        self.kind = kind  # "sqlite" | "postgresql"
        self.db = connection
        self._sql: dict[str, str] = {}

    @classmethod
    async def open(cls) -> Raw:
        """A raw connection to the database the ORM is bound to."""
        from core.db.engine import current

        engine = current()
        if engine.engine_type == "sqlite":
            import sqlite3

            db = sqlite3.connect(engine.path, isolation_level=None, check_same_thread=False, timeout=30)
            db.row_factory = sqlite3.Row
            return cls("sqlite", db)
        import asyncpg

        return cls("postgresql", await asyncpg.connect(engine.config["dsn"]))

    async def close(self) -> None:
        if self.kind == "sqlite":
            self.db.close()
        else:
            await self.db.close()

    def _text(self, sql: str) -> str:
        out = self._sql.get(sql)
        if out is None:
            parts = sql.split("{}")
            if self.kind == "sqlite":
                out = "?".join(parts)
            else:
                out = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], start=1))
            self._sql[sql] = out
        return out

    async def all(self, sql: str, *args) -> list:
        """Rows (sqlite3.Row / asyncpg.Record: both index by column name)."""
        if self.kind == "sqlite":
            return self.db.execute(self._text(sql), args).fetchall()
        return await self.db.fetch(self._text(sql), *args)

    async def one(self, sql: str, *args):
        rows = await self.all(sql, *args)
        return rows[0] if rows else None

    def t(self, value: dt.datetime):
        """A timestamp parameter, as the ORM stores it."""
        if self.kind == "sqlite":
            return str(value.astimezone(UTC))
        return value

    def dt(self, value) -> dt.datetime | None:
        """A stored timestamp as an aware datetime."""
        if value is None or isinstance(value, dt.datetime):
            return value
        return dt.datetime.fromisoformat(value)


def _normal(rows) -> list[tuple]:
    """Rows comparable across candidates and drivers: numbers as int, sorted."""
    out = []
    for r in rows:
        out.append(tuple(int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in tuple(r)))
    return sorted(out, key=repr)


@dataclass
class Choice:
    """Which of several equivalent SQL candidates was fastest, and by how much."""

    name: str
    chosen: int = 0
    ms: list[float] = field(default_factory=list)
    agree: bool = True


class Chooser:
    """The best raw SQL for a question: every candidate (same answer, different
    plan) is timed on first use against the real data and the fastest is kept.
    Candidates that disagree are flagged (``agree`` False) in the JSON."""

    def __init__(self, raw: Raw, repeat: int = 3) -> None:
        self.raw = raw
        self.repeat = repeat
        self.choices: dict[str, Choice] = {}

    async def all(self, name: str, candidates: list[str], *args) -> list:
        choice = self.choices.get(name)
        if choice is not None:
            return await self.raw.all(candidates[choice.chosen], *args)
        choice = Choice(name)
        answers = []
        for sql in candidates:
            await self.raw.all(sql, *args)  # warm the cache and the statement
            times = []
            for _ in range(self.repeat):
                t0 = time.perf_counter()
                rows = await self.raw.all(sql, *args)
                times.append((time.perf_counter() - t0) * 1000)
            choice.ms.append(min(times))
            answers.append(_normal(rows))
        choice.chosen = min(range(len(candidates)), key=lambda i: choice.ms[i])
        choice.agree = all(a == answers[0] for a in answers)
        self.choices[name] = choice
        return await self.raw.all(candidates[choice.chosen], *args)

    def summary(self) -> list[dict]:
        return [{"query": c.name, "chosen": c.chosen, "candidate_ms": [round(m, 3) for m in c.ms], "agree": c.agree}
                for c in self.choices.values()]
