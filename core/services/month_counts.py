"""Monthly counts a council-wide report adds up instead of its rows: audits
allocated, completed and completed on time (``allocation_month``),
escalations raised (``escalation_month``) and follow-ups opened and closed
(``follow_up_month``), by London month.

Each is a delta applied with an upsert in the transaction that made the
change (an audit allocated, an audit made final, an escalation's
notifications written), so the counts commit with the rows they count or not
at all, and two writers adding to one month both land. ``rebuild_all`` recounts
everything from the rows (the migration, bulk loads, and the tests' check
that the upkeep and a recount agree), batch by batch.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from core.calendar import to_london
from core.db.counts import add_counts
from core.db.tables import AllocationMonth, EscalationMonth, FollowUpMonth
from core.services import standing_grades, work_counts
from core.services.standing_grades import month_of

ESCALATION = "escalation:"


async def _add_allocations(delta: dict[tuple[int, str], list[int]]) -> None:
    await add_counts(AllocationMonth, ("organisation", "month"), ("allocated", "completed", "on_time"), delta)


async def _add_escalations(delta: Counter) -> None:
    await add_counts(EscalationMonth, ("organisation", "month", "kind"), ("raised",), {k: [n] for k, n in delta.items()})


async def _add_follow_ups(delta: dict[tuple[int, str], list[int]]) -> None:
    await add_counts(FollowUpMonth, ("organisation", "month"), ("opened", "closed"), delta)


async def follow_up_opened(organisation_id: int, created_at) -> None:
    """An escalation's follow-up task created at ``created_at``."""
    await _add_follow_ups({(organisation_id, month_of(created_at)): [1, 0]})


async def follow_up_closed(organisation_id: int, done_at) -> None:
    """A follow-up task recorded as done at ``done_at``."""
    await _add_follow_ups({(organisation_id, month_of(done_at)): [0, 1]})


async def allocated(organisation_id: int, due_at, n: int = 1) -> None:
    """``n`` audits allocated, due at ``due_at``."""
    await _add_allocations({(organisation_id, month_of(due_at)): [n, 0, 0]})


async def finalised(allocation_id: int) -> None:
    """The audit just became final (call after writing ``finalised_at``): one
    more completed in its due month, and on time if submitted by its due date.
    On time is decided by the database, as a report over the rows decides it."""
    rows = await AllocationMonth.raw(
        "SELECT organisation, due_at, CASE WHEN submitted_at <= due_at THEN 1 ELSE 0 END AS on_time"
        " FROM allocation WHERE id = {} AND finalised_at IS NOT NULL",
        allocation_id,
    )
    for r in rows:
        await _add_allocations({(int(r["organisation"]), month_of(r["due_at"])): [0, 1, int(r["on_time"])]})
    # The programme's work this audit counts towards may be done now (PLAT-5).
    await work_counts.audit_final(allocation_id)


async def notifications_written(rows: Iterable[tuple[int, str, int | None, object]]) -> None:
    """Count the escalations among notifications just written, given as
    (organisation, kind, allocation, created_at): one per rule, audit and
    instant, however many people were told."""
    raised = {(o, k, a, t) for o, k, a, t in rows if a is not None and k.startswith(ESCALATION)}
    delta: Counter = Counter()
    for organisation, kind, _allocation, created_at in raised:
        delta[(int(organisation), month_of(created_at), kind)] += 1
    await _add_escalations(delta)


# Rebuilding every summary from the rows (issue 18 item 5), in batches: one
# per organisation and calendar year of its audits (the first and last open
# ended, so every row falls in exactly one), each its own transaction, so an
# upgrade shows its progress and a run cut short resumes at the batch it had
# reached (core/db/upkeep.py). The counts are deltas added with upserts, so
# the batches add up to the whole whichever way the rows are split; a batch's
# rows are grouped by instant in SQL first (a cycle's audits share a due
# instant, a sweep's escalations a created instant), so a few thousand rows
# reach Python at scale. Every standing grade is written (one step per batch),
# then the indexes set aside while they were loaded are made (core/db/upkeep.py),
# before any count is, as a re-audit's movement reads its predecessor's.

SUMMARY_TABLES = ("allocation_month", "escalation_month", "movement_month", "grade_month", "agreement_month",
                  "agreement_year", "follow_up_month", "work_month", "standing_grade")
GRADES, COUNTS = "grades", "counts"


@dataclass(frozen=True)
class Batch:
    """One organisation's rows of one span of years: its standing grades
    (``GRADES``) or its counts (``COUNTS``). ``since``/``before`` are 1 January
    of a year (London and UTC agree then); None: no bound."""

    step: str
    organisation: int
    organisation_name: str
    since: int | None
    before: int | None

    @property
    def key(self) -> str:
        """The batch in a few characters, recorded when it is done (``qaf_upkeep``)."""
        return f"{self.step}:{self.organisation}:{self.since or ''}-{self.before or ''}"

    @property
    def years(self) -> str:
        if self.since is None and self.before is None:
            return "every year"
        if self.since is None:
            return f"up to {self.before - 1}"
        if self.before is None:
            return f"{self.since} onwards"
        return str(self.since) if self.before == self.since + 1 else f"{self.since} to {self.before - 1}"

    def describe(self) -> str:
        what = "standing grades" if self.step == GRADES else "monthly counts"
        return f"{self.organisation_name}, {what}, {self.years}"

    def bounds(self, column: str, *, dates: bool = False) -> tuple[str, list]:
        """SQL restricting ``column`` (an instant, or a date) to the batch's years, and its values."""
        sql, values = "", []
        for bound, op in ((self.since, ">="), (self.before, "<")):
            if bound is not None:
                sql += f" AND {column} {op} {{}}"
                values.append(dt.date(bound, 1, 1) if dates else dt.datetime(bound, 1, 1, tzinfo=dt.timezone.utc))
        return sql, values


def _year(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime) or (isinstance(value, str) and len(value) > 10):
        return to_london(work_counts.as_instant(value)).year
    return work_counts.as_date(value).year


async def plan() -> list[Batch]:
    """Every batch of a rebuild, in the order they run: each organisation's
    standing grades year by year, then its counts year by year."""
    organisations = await AllocationMonth.raw("SELECT id, name FROM organisation ORDER BY id")
    spans = {int(r["organisation"]): (r["first"], r["last"]) for r in await AllocationMonth.raw(
        "SELECT organisation, MIN(due_at) AS first, MAX(due_at) AS last FROM allocation GROUP BY organisation")}
    work = {int(r["organisation"]): (r["first"], r["last"]) for r in await AllocationMonth.raw(
        "SELECT organisation, MIN(due_on) AS first, MAX(due_on) AS last FROM work GROUP BY organisation")}
    batches: dict[str, list[Batch]] = {GRADES: [], COUNTS: []}
    for org in organisations:
        oid = int(org["id"])
        years = {y for span in (spans.get(oid, ()), work.get(oid, ())) for y in map(_year, span) if y is not None}
        bounds: list[tuple[int | None, int | None]] = [(None, None)]
        if years:
            first, last = min(years), max(years)
            bounds = [(None if y == first else y, None if y == last else y + 1) for y in range(first, last + 1)]
        for step in (GRADES, COUNTS):
            batches[step] += [Batch(step, oid, org["name"], since, before) for since, before in bounds]
    return batches[GRADES] + batches[COUNTS]


async def clear() -> None:
    """Empty every summary table, before the batches fill them (PostgreSQL:
    TRUNCATE, which writes nothing per row; SQLite empties a table without
    triggers as fast)."""
    from core.db.engine import current

    engine = current()
    if engine.engine_type == "postgres":
        await engine.run_ddl(f"TRUNCATE {', '.join(SUMMARY_TABLES)}")
        return
    for name in SUMMARY_TABLES:
        await engine.run_ddl(f"DELETE FROM {name}")


async def rebuild_batch(batch: Batch) -> None:
    """Write one batch's standing grades, or add its counts. Call inside a transaction."""
    if batch.step == GRADES:
        await standing_grades.rebuild_batch(batch)
        return
    await standing_grades.count_batch(batch)
    where, values = batch.bounds("due_at")
    delta: dict[tuple[int, str], list[int]] = {}
    for r in await AllocationMonth.raw(
        "SELECT organisation, due_at, COUNT(*) AS allocated,"
        " COALESCE(SUM(CASE WHEN finalised_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS completed,"
        " COALESCE(SUM(CASE WHEN finalised_at IS NOT NULL AND submitted_at <= due_at THEN 1 ELSE 0 END), 0) AS on_time"
        f" FROM allocation WHERE organisation = {{}}{where} GROUP BY organisation, due_at", batch.organisation, *values
    ):
        counts = delta.setdefault((int(r["organisation"]), month_of(r["due_at"])), [0, 0, 0])
        counts[0] += int(r["allocated"])
        counts[1] += int(r["completed"])
        counts[2] += int(r["on_time"])
    await _add_allocations(delta)

    where, values = batch.bounds("created_at")
    raised: Counter = Counter()
    for r in await EscalationMonth.raw(
        "SELECT organisation, kind, created_at, COUNT(DISTINCT allocation) AS raised FROM notification"
        f" WHERE organisation = {{}}{where} AND kind >= 'escalation:' AND kind < 'escalation;' AND allocation IS NOT NULL"
        " GROUP BY organisation, kind, created_at", batch.organisation, *values
    ):
        raised[(int(r["organisation"]), month_of(r["created_at"]), r["kind"])] += int(r["raised"])
    await _add_escalations(raised)

    follow_ups: dict[tuple[int, str], list[int]] = {}
    for column, i in (("created_at", 0), ("done_at", 1)):
        where, values = batch.bounds(column)
        for r in await FollowUpMonth.raw(
            f"SELECT organisation, {column} AS at, COUNT(*) AS n FROM follow_up"
            f" WHERE organisation = {{}} AND {column} IS NOT NULL{where} GROUP BY organisation, {column}",
            batch.organisation, *values,
        ):
            follow_ups.setdefault((int(r["organisation"]), month_of(r["at"])), [0, 0])[i] += int(r["n"])
    await _add_follow_ups(follow_ups)
    await work_counts.count_batch(batch)


async def rebuild_all() -> None:
    """Every summary the reports read, from the rows: the standing grades, the
    monthly counts of audits, grades, moderation, movement, escalations,
    follow-ups and the programme's work, and the yearly moderation counts.
    Batch by batch, as after an upgrade (core/db/upkeep.py); for bench loads
    and the tests' check that the counts kept and a recount agree."""
    from core.db import upkeep
    from core.db.engine import current

    await upkeep.request(current(), if_rows_in=None)
    await upkeep.run_requested()
