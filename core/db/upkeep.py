"""Work a migration asks for, done after the migrations with today's code
(issue 18 item 5).

A migration that adds a summary table (the monthly counts the reports read)
must not import the services to fill it: the services change with every
release, the migration must not. It asks for the summaries instead
(:func:`request`): a row in ``qaf_upkeep``, committed with the migration.
After the last migration, :func:`run_requested` rebuilds them with today's
code against today's schema, then clears the request. A run cut short
leaves the request in place; the next ``qaf migrate`` (or start) does it.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("qaf.db")

CREATE = "CREATE TABLE IF NOT EXISTS qaf_upkeep (task VARCHAR(64) PRIMARY KEY)"
SUMMARIES = "summaries"


async def request(engine, task: str = SUMMARIES, *, if_rows_in: str = "allocation") -> None:
    """Ask for ``task`` after the migrations, if ``if_rows_in`` has rows (an
    empty database has nothing to summarise). Called inside a migration."""
    rows = await engine.run_ddl(f"SELECT 1 AS present FROM {if_rows_in} LIMIT 1")
    if not rows:
        return
    await engine.run_ddl(CREATE)
    await engine.run_ddl(f"INSERT INTO qaf_upkeep (task) VALUES ('{task}') ON CONFLICT (task) DO NOTHING")


async def requested() -> list[str]:
    from core.db.engine import current

    engine = current()
    if engine.engine_type == "sqlite":
        exists = await engine.run_ddl("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'qaf_upkeep'")
    else:
        exists = (await engine.run_ddl("SELECT to_regclass('public.qaf_upkeep') IS NOT NULL AS present"))[0]["present"]
    if not exists:
        return []
    return [row["task"] for row in await engine.run_ddl("SELECT task FROM qaf_upkeep ORDER BY task")]


async def run_requested() -> str:
    """Do what the migrations asked for; returns what was done, in words."""
    from core.db.engine import current

    tasks = await requested()
    if SUMMARIES not in tasks:
        return ""
    from core.services.month_counts import rebuild_all

    began = time.monotonic()
    log.info("rebuilding the report summaries from the records")
    await rebuild_all()
    await current().run_ddl(f"DELETE FROM qaf_upkeep WHERE task = '{SUMMARIES}'")
    seconds = time.monotonic() - began
    log.info("report summaries rebuilt", extra={"seconds": round(seconds, 1)})
    return f"Report summaries rebuilt from the records in {seconds:.1f} s."
