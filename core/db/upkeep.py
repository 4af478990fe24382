"""Work a migration asks for, done after the migrations with today's code
(issue 18 item 5).

A migration that adds a summary table (the monthly counts the reports read)
must not import the services to fill it: the services change with every
release, the migration must not. It asks for the summaries instead
(:func:`request`): a row in ``qaf_upkeep``, committed with the migration.
After the last migration, :func:`run_requested` rebuilds them with today's
code against today's schema, batch by batch (an organisation's year at a
time, each its own transaction, recorded in ``qaf_upkeep`` as it is done),
printing its progress, then clears the request. A run cut short leaves the
request and the batches done in place; the next ``qaf migrate`` (or
``qaf upkeep``, or a start) carries on from the next batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("qaf.db")

CREATE = "CREATE TABLE IF NOT EXISTS qaf_upkeep (task VARCHAR(64) PRIMARY KEY)"
SUMMARIES = "summaries"
# Recorded (as "summaries cleared") once the summary tables are emptied for a
# rebuild; each batch done adds "summaries <batch key>" (month_counts.Batch.key).
CLEARED = "cleared"


async def request(engine, task: str = SUMMARIES, *, if_rows_in: str | None = "allocation") -> None:
    """Ask for ``task`` after the migrations, if ``if_rows_in`` has rows (an
    empty database has nothing to summarise; None: whatever it holds).
    Called inside a migration (and by ``qaf upkeep --rebuild-summaries``)."""
    if if_rows_in is not None and not await engine.run_ddl(f"SELECT 1 AS present FROM {if_rows_in} LIMIT 1"):
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


def _done_marker(key: str) -> str:
    return f"{SUMMARIES} {key}"


async def run_requested(progress: Callable[[str], None] | None = None) -> str:
    """Do what the migrations asked for; returns what was done, in words.

    The summaries are rebuilt in batches (``month_counts.plan``: per
    organisation and year), each in its own transaction with a row in
    ``qaf_upkeep`` saying it is done, so a run cut short resumes at the batch
    it had reached. ``progress`` is told, in words, as each batch ends."""
    from core.db.engine import current, transaction

    tasks = await requested()
    if SUMMARIES not in tasks:
        return ""
    from core.services import month_counts

    tell = progress or (lambda words: None)
    began = time.monotonic()
    engine = current()
    batches = await month_counts.plan()
    keys = {batch.key for batch in batches}
    done = {task.removeprefix(f"{SUMMARIES} ") for task in tasks if task.startswith(f"{SUMMARIES} ")}
    if CLEARED not in done or not done - {CLEARED} <= keys:
        # A first run, or the records' years changed since the run that was
        # cut short (its batches no longer add up to the whole): from the start.
        async with transaction():
            await engine.run_ddl(f"DELETE FROM qaf_upkeep WHERE task LIKE '{SUMMARIES} %'")
            await month_counts.clear()
            await engine.run_ddl(f"INSERT INTO qaf_upkeep (task) VALUES ('{_done_marker(CLEARED)}')")
        done = {CLEARED}
        log.info("rebuilding the report summaries from the records", extra={"batches": len(batches)})
    else:
        log.info("resuming the rebuild of the report summaries", extra={"batch": len(done) - 1, "batches": len(batches)})
        tell(f"Rebuilding report summaries: resuming after {len(done) - 1} of {len(batches)} parts done before")
    for n, batch in enumerate(batches, start=1):
        if batch.key in done:
            continue
        step = time.monotonic()
        async with transaction():
            await month_counts.rebuild_batch(batch)
            await engine.run_ddl(f"INSERT INTO qaf_upkeep (task) VALUES ('{_done_marker(batch.key)}')")
        log.info("report summaries: a batch rebuilt", extra={"batch": n, "batches": len(batches),
                                                             "seconds": round(time.monotonic() - step, 2)})
        tell(f"Rebuilding report summaries: {n} of {len(batches)} done ({batch.describe()}, {time.monotonic() - step:.1f} s)")
    async with transaction():
        await engine.run_ddl(f"DELETE FROM qaf_upkeep WHERE task = '{SUMMARIES}' OR task LIKE '{SUMMARIES} %'")
    seconds = time.monotonic() - began
    log.info("report summaries rebuilt", extra={"seconds": round(seconds, 1)})
    return f"Report summaries rebuilt from the records in {seconds:.1f} s."
