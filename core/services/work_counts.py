"""The programme's work counted as it is written (PLAT-5): per organisation,
due month, owner and schedule, how many pieces of work were issued, done, and
done by their due date (``work_month``). The delivery report adds these up:
a year of the largest council is a few thousand counts summed by the
database, where reading every piece of work with its audits took hundreds of
milliseconds at scale 1 (``core.services.delivery``).

Each count is a delta applied with an upsert (``core.db.counts``) in the
transaction that made the change, so it commits with the rows it counts or
not at all:

* :func:`issued`: work just inserted (``core.services.work._issue``), and
  done already when the audits linked to it as it was issued are final;
* :func:`completed`: a completion record written (``work.complete``);
* :func:`audit_final`: an audit just became final (through
  ``month_counts.finalised``, which every finalisation calls): the work it
  counts towards is done when this is the audit that brings its final audits
  to the number the work asks for.

"Done" and "done on time" are decided as ``core.services.work._items``
decides a piece of work's status: the completion record's date or, for work
done by audits, the London date of its last final audit; on time when that
date is on or before the due date. :func:`count_batch` recounts a batch of
the rows (``month_counts.rebuild_all``: the upgrade, and the tests' check that
upkeep and recount agree).
"""

from __future__ import annotations

import datetime as dt

from core.calendar import london_date
from core.db.counts import add_counts
from core.db.engine import current
from core.db.tables import WorkMonth

KEYS = ("organisation", "month", "owner", "schedule_key")
COUNTS = ("issued", "done", "on_time")


def hint() -> str:
    # SQLite: statistics gathered while every allocation.work was NULL make
    # the planner scan every audit for each piece of work instead of using
    # allocation_work (measured at scale 1: minutes, against milliseconds).
    return " INDEXED BY allocation_work" if current().engine_type == "sqlite" else ""


def state_sql(where: str) -> str:
    """Work rows with what decides their state: the completion date, and for
    work done by audits the number of its final audits and the last one's instant."""
    by_work = hint()
    return (
        "SELECT w.id AS id, w.organisation AS organisation, w.owner AS owner, w.schedule_key AS schedule_key,"
        " w.due_on AS due_on, w.done_on AS done_on, w.needed AS n, w.form_key AS form_key,"
        f" CASE WHEN w.form_key <> '' THEN (SELECT COUNT(a.finalised_at) FROM allocation a{by_work} WHERE a.work = w.id)"
        "  ELSE 0 END AS finals,"
        f" CASE WHEN w.form_key <> '' THEN (SELECT MAX(a.finalised_at) FROM allocation a{by_work} WHERE a.work = w.id)"
        "  END AS last_final"
        f" FROM work w WHERE {where}"
    )


def as_date(value) -> dt.date | None:
    """A DATE as the driver returns it (SQLite gives an expression's as text)."""
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def as_instant(value) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def done_on(row: dict) -> dt.date | None:
    """When a piece of work was done, as ``work._items`` decides it; None: not done."""
    if row["form_key"]:
        if int(row["finals"] or 0) >= int(row["n"]) and row["last_final"] is not None:
            return london_date(as_instant(row["last_final"]))
        return None
    return as_date(row["done_on"])


def _delta(rows, *, issued: bool) -> dict[tuple, list[int]]:
    delta: dict[tuple, list[int]] = {}
    for row in rows:
        due = as_date(row["due_on"])
        finished = done_on(row)
        counts = delta.setdefault((int(row["organisation"]), f"{due:%Y-%m}", int(row["owner"]), row["schedule_key"]), [0, 0, 0])
        counts[0] += int(issued)
        if finished is not None:
            counts[1] += 1
            counts[2] += int(finished <= due)
    return delta


async def _add(delta: dict[tuple, list[int]]) -> None:
    await add_counts(WorkMonth, KEYS, COUNTS, delta)


async def issued(work_ids: list[int]) -> None:
    """Work just issued: counted issued, and done if its linked audits already are."""
    for i in range(0, len(work_ids), 500):
        chunk = work_ids[i : i + 500]
        rows = await WorkMonth.raw(state_sql(f"w.id IN ({', '.join('{}' for _ in chunk)})"), *chunk)
        await _add(_delta(rows, issued=True))


async def completed(work_id: int) -> None:
    """A completion record was just written for work without a form."""
    rows = await WorkMonth.raw(state_sql("w.id = {}"), work_id)
    await _add(_delta([r for r in rows if not r["form_key"]], issued=False))


async def audit_final(allocation_id: int) -> None:
    """An audit just became final: if it counts towards work and brings that
    work's final audits to the number it asks for, the work is done."""
    link = await WorkMonth.raw("SELECT work FROM allocation WHERE id = {}", allocation_id)
    if not link or link[0]["work"] is None:
        return
    work_id = link[0]["work"]
    if current().engine_type == "postgres":
        # Two audits of one piece of work made final at once: the second waits
        # for the first, so exactly one of them sees the count reached.
        await WorkMonth.raw("SELECT id FROM work WHERE id = {} FOR UPDATE", work_id)
    rows = await WorkMonth.raw(state_sql("w.id = {}"), work_id)
    if rows and rows[0]["form_key"] and int(rows[0]["finals"] or 0) == int(rows[0]["n"]):
        await _add(_delta(rows, issued=False))


async def count_batch(batch) -> None:
    """The counts of a batch's work (``month_counts.Batch``: its organisation's,
    due in its years), added (part of ``month_counts.rebuild_all``)."""
    where, values = batch.bounds("w.due_on", dates=True)
    await _add(_delta(await WorkMonth.raw(state_sql(f"w.organisation = {{}}{where}"), batch.organisation, *values), issued=True))


__all__ = ["audit_final", "completed", "count_batch", "done_on", "issued", "state_sql"]
