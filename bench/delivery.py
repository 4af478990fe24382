"""The programme delivery report (PLAT-5) at scale: a dev tool, not shipped.

``qaf-bench generate`` makes no programme work, so this issues it through the
real service, month by month, then times ``core.services.delivery.delivery``
as the page calls it::

    export QAF_DATA_DIR=/tmp/qaf-bench            # or QAF_DATABASE_URL=postgresql://…
    qaf-bench generate --scale 1 --seed 1 --as-of 2027-04-06T06:00:00+00:00
    python -m bench.delivery issue   # 2026-01 … 2027-03: work_issued by the real issue_due_work
    python -m bench.delivery time    # each figure: wall median and min of 31 runs

It writes to the database (the work and its counts): copy it first to keep
the generated one as it was.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import sys
import time

from core.calendar import UTC, first_working_day
from core.db.engine import bind, engine_for
from core.db.tables import Person
from core.plugins import load_plugins
from core.services import delivery, reports, work
from core.services.context import Context
from core.settings import settings_from_env

MONTHS = [(2026, m) for m in range(1, 13)] + [(2027, m) for m in range(1, 4)]
AS_OF = dt.datetime(2027, 4, 6, 9, 0, tzinfo=UTC)


async def issue(registry) -> None:
    total = 0
    for year, month in MONTHS:
        day = first_working_day(year, month)
        started = time.perf_counter()
        n = await work.issue_due_work(Context(registry=registry, now=dt.datetime.combine(day, dt.time(7), tzinfo=UTC)))
        total += n
        print(f"{day}: issued {n} in {time.perf_counter() - started:.1f}s", flush=True)
    print(f"work issued: {total}")


async def _timed(label: str, make, runs: int = 31):
    wall, cpu, result = [], [], None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = await make()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    print(f"{label:62s} median {statistics.median(wall):6.1f} ms  min {min(wall):6.1f} ms"
          f"  (this process's CPU, median {statistics.median(cpu):5.1f} ms)", flush=True)
    return result


async def _acting(registry, username: str) -> Context:
    from core.services.accounts import actor

    who = await Person.select().where(Person.username == username).first()
    ctx = Context(registry=registry, now=AS_OF)
    ctx.actor = await actor(ctx, who["id"])
    return ctx


async def measure(registry) -> None:
    n = (await Person.raw("SELECT COUNT(*) AS n FROM work"))[0]["n"]
    print(f"work rows: {n}", flush=True)
    qa = await _acting(registry, "haringey.head_of_qa")
    biggest = (await Person.raw(
        "SELECT m.username AS username FROM person m JOIN person p ON p.line_manager = m.id"
        " WHERE m.role = 'head_of_service' GROUP BY m.username ORDER BY COUNT(*) DESC, m.username LIMIT 1"
    ))[0]["username"]
    head = await _acting(registry, biggest)
    manager = await _acting(registry, "haringey.team_manager.1")
    year = reports.period("year", dt.date(2026, 1, 1))
    found = None
    for by in ("person", "team", "role", "activity"):
        found = await _timed(f"QA, calendar year 2026, by {by}", lambda by=by: delivery.delivery(qa, year, by))
    print(f"    {found.total}")
    await _timed("QA, financial year 2026-27, by role", lambda: delivery.delivery(qa, reports.period("financial_year", dt.date(2026, 4, 1)), "role"))
    await _timed("QA, quarter October to December 2026, by person", lambda: delivery.delivery(qa, reports.period("quarter", dt.date(2026, 10, 1)), "person"))
    await _timed("QA, month March 2027, by person", lambda: delivery.delivery(qa, reports.period("month", dt.date(2027, 3, 1)), "person"))
    found = await _timed("a head of service's line, year 2026, by person", lambda: delivery.delivery(head, year, "person"))
    print(f"    {len(found.rows)} rows; {found.total}")
    found = await _timed("a team manager's own, year 2026, by activity", lambda: delivery.delivery(manager, year, "activity"))
    print(f"    {found.total}")


async def main(command: str) -> None:
    settings = settings_from_env()
    registry = load_plugins(settings).registry
    engine = engine_for(settings.database_url)
    bind(engine)
    if settings.database_url.startswith("postgres"):
        await engine.start_connection_pool()  # as the server does
    from core.db.migrate import migrate

    await migrate()  # work_month, counted from any work already there
    await (issue(registry) if command == "issue" else measure(registry))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "time"))
