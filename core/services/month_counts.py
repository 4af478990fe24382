"""Monthly counts a council-wide report adds up instead of its rows: audits
allocated, completed and completed on time (``allocation_month``),
escalations raised (``escalation_month``) and follow-ups opened and closed
(``follow_up_month``), by London month.

Each is a delta applied with an upsert in the transaction that made the
change (an audit allocated, an audit made final, an escalation's
notifications written), so the counts commit with the rows they count or not
at all, and two writers adding to one month both land. ``rebuild`` recounts
everything from the rows (the migration, bulk loads, and the tests' check
that the upkeep and a recount agree).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

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


async def rebuild() -> None:
    """Every monthly count from the rows, grouped by instant in SQL first (a
    cycle's audits share a due instant, a sweep's escalations a created
    instant), so a few thousand rows reach Python at scale."""
    from core.db.engine import current, transaction

    async with transaction():
        await current().run_ddl("DELETE FROM allocation_month")
        delta: dict[tuple[int, str], list[int]] = {}
        for r in await AllocationMonth.raw(
            "SELECT organisation, due_at, COUNT(*) AS allocated,"
            " COALESCE(SUM(CASE WHEN finalised_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS completed,"
            " COALESCE(SUM(CASE WHEN finalised_at IS NOT NULL AND submitted_at <= due_at THEN 1 ELSE 0 END), 0) AS on_time"
            " FROM allocation GROUP BY organisation, due_at"
        ):
            counts = delta.setdefault((int(r["organisation"]), month_of(r["due_at"])), [0, 0, 0])
            counts[0] += int(r["allocated"])
            counts[1] += int(r["completed"])
            counts[2] += int(r["on_time"])
        await _add_allocations(delta)

        await current().run_ddl("DELETE FROM escalation_month")
        raised: Counter = Counter()
        for r in await EscalationMonth.raw(
            "SELECT organisation, kind, created_at, COUNT(DISTINCT allocation) AS raised FROM notification"
            " WHERE kind >= 'escalation:' AND kind < 'escalation;' AND allocation IS NOT NULL"
            " GROUP BY organisation, kind, created_at"
        ):
            raised[(int(r["organisation"]), month_of(r["created_at"]), r["kind"])] += int(r["raised"])
        await _add_escalations(raised)
        await standing_grades.rebuild_movement()


async def rebuild_follow_ups() -> None:
    """``follow_up_month`` from the follow-ups (grouped by instant first)."""
    from core.db.engine import current, transaction

    async with transaction():
        await current().run_ddl("DELETE FROM follow_up_month")
        delta: dict[tuple[int, str], list[int]] = {}
        for column, i in (("created_at", 0), ("done_at", 1)):
            for r in await FollowUpMonth.raw(
                f"SELECT organisation, {column} AS at, COUNT(*) AS n FROM follow_up WHERE {column} IS NOT NULL"
                f" GROUP BY organisation, {column}"
            ):
                delta.setdefault((int(r["organisation"]), month_of(r["at"])), [0, 0])[i] += int(r["n"])
        await _add_follow_ups(delta)


async def rebuild_all() -> None:
    """Every summary the reports read, from the rows: the standing grades and
    their monthly counts, these, and the yearly moderation counts. (Each
    migration calls only the part whose tables exist by then.)"""
    await standing_grades.rebuild()
    await rebuild()
    await standing_grades.rebuild_agreement_years()
    await rebuild_follow_ups()
    await work_counts.rebuild()
