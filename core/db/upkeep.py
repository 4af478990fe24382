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
# "summaries indexed" once the standing grades' indexes set aside are made
# again; "summaries index: <name>" (with its definition in ``detail``) for
# each set aside meanwhile (migration 2026-12-07T09:40 added the column).
INDEXED = "indexed"
INDEX = "index: "
LOADED_FIRST = "standing_grade"


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


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def _set_indexes_aside(engine) -> None:
    """Load first, index after: drop the indexes of ``standing_grade`` that are
    not unique (the reports' six; each row written kept them all up to date,
    two thirds of the standing grades' time), keeping their definitions in
    ``qaf_upkeep`` to put back once the table is loaded. Call in the
    transaction that empties it, before emptying it."""
    if engine.engine_type == "postgres":
        rows = await engine.run_ddl(
            "SELECT indexname AS name, indexdef AS definition FROM pg_indexes"
            f" WHERE schemaname = current_schema() AND tablename = '{LOADED_FIRST}' AND indexdef NOT LIKE 'CREATE UNIQUE %'"
        )
    else:
        rows = await engine.run_ddl(
            "SELECT name, sql AS definition FROM sqlite_master WHERE type = 'index'"
            f" AND tbl_name = '{LOADED_FIRST}' AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE %'"
        )
    for row in sorted(rows, key=lambda r: r["name"]):
        await engine.run_ddl(
            f"INSERT INTO qaf_upkeep (task, detail) VALUES ({_quoted(_done_marker(INDEX + row['name']))},"
            f" {_quoted(row['definition'])}) ON CONFLICT (task) DO NOTHING"
        )
        await engine.run_ddl(f"DROP INDEX {row['name']}")


async def _put_indexes_back(engine) -> None:
    """Make again the indexes set aside (one transaction)."""
    for row in await engine.run_ddl(
        f"SELECT task, detail FROM qaf_upkeep WHERE task LIKE '{SUMMARIES} {INDEX}%' ORDER BY task"
    ):
        await engine.run_ddl(row["detail"])
        await engine.run_ddl(f"DELETE FROM qaf_upkeep WHERE task = {_quoted(row['task'])}")


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
    # The standing grades are loaded, then their indexes made, then counted.
    grades = sum(1 for batch in batches if batch.step == month_counts.GRADES)
    steps = [*(batch.key for batch in batches[:grades]), INDEXED, *(batch.key for batch in batches[grades:])]
    done = {task.removeprefix(f"{SUMMARIES} ") for task in tasks if task.startswith(f"{SUMMARIES} ")}
    done = {task for task in done if not task.startswith(INDEX)}
    if CLEARED not in done or not done - {CLEARED} <= set(steps):
        # A first run, or the records' years changed since the run that was
        # cut short (its batches no longer add up to the whole): from the start.
        async with transaction():
            await engine.run_ddl(f"DELETE FROM qaf_upkeep WHERE task LIKE '{SUMMARIES} %' AND task NOT LIKE '{SUMMARIES} {INDEX}%'")
            await _set_indexes_aside(engine)  # first: emptying the table then writes no index
            await month_counts.clear()
            await engine.run_ddl(f"INSERT INTO qaf_upkeep (task) VALUES ('{_done_marker(CLEARED)}')")
        done = {CLEARED}
        log.info("rebuilding the report summaries from the records", extra={"batches": len(steps)})
        tell(f"Rebuilding report summaries: {len(steps)} parts; the old ones cleared ({time.monotonic() - began:.1f} s)")
    else:
        log.info("resuming the rebuild of the report summaries", extra={"batch": len(done) - 1, "batches": len(steps)})
        tell(f"Rebuilding report summaries: carrying on after {len(done) - 1} of {len(steps)} parts done before")
    by_key = {batch.key: batch for batch in batches}
    for n, key in enumerate(steps, start=1):
        if key in done:
            continue
        step = time.monotonic()
        async with transaction():
            if key == INDEXED:
                await _put_indexes_back(engine)
                what = "indexes of the standing grades made"
            else:
                await month_counts.rebuild_batch(by_key[key])
                what = by_key[key].describe()
            await engine.run_ddl(f"INSERT INTO qaf_upkeep (task) VALUES ({_quoted(_done_marker(key))})")
        seconds = time.monotonic() - step
        log.info("report summaries: a batch rebuilt", extra={"batch": n, "batches": len(steps), "seconds": round(seconds, 2)})
        tell(f"Rebuilding report summaries: {n} of {len(steps)} done ({what}, {seconds:.1f} s)")
    async with transaction():
        await engine.run_ddl(f"DELETE FROM qaf_upkeep WHERE task = '{SUMMARIES}' OR task LIKE '{SUMMARIES} %'")
    seconds = time.monotonic() - began
    log.info("report summaries rebuilt", extra={"seconds": round(seconds, 1)})
    return f"Report summaries rebuilt from the records in {seconds:.1f} s."
