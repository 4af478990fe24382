"""Standing grades: where each domain of each audit stands now.

The grade chain (``grade``) keeps every grade ever given; reports, the QA
queue's agreement rate and re-audit movement want only the latest auditor,
moderated and final grade of each domain. ``refresh`` rewrites those rows
for the audits whose grades just changed, in the caller's transaction, so the
summary can never disagree with the chain it summarises.

This is the one definition of "the final grade of an audit": the latest
``final`` grade of each domain (``set_at``, then ``id``), so the amended grade
once a dispute has amended it (HAR 2.11: "final (amended) audit report").
Re-audit selection, the re-audit comparison and its escalations, the audit
and re-audit pages, disputes and reports all read it here (``final_grades``,
``final_grade``, ``FINAL_OVERALL_JOIN``), never the ``grade`` rows of phase
``final``, of which an amended audit has more than one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from core.calendar import to_london
from core.db.counts import add_counts
from core.db.tables import AgreementMonth, AgreementYear, GradeMonth, MovementMonth, StandingGrade

# Phases that are not the auditor's own grading (HAR 2.3-2.4 are the auditor's;
# QA moderates, a grade becomes final, a dispute records what was contested).
NOT_AUDITOR_PHASES = ("moderated", "final", "disputed")

_KIND = "CASE WHEN g.phase IN ('moderated', 'final') THEN g.phase ELSE 'auditor' END"

# The latest grade of each kind per (allocation, domain), then one row each,
# then the audit's columns (joined to a third of the rows the window yields).
_SELECT = f"""
SELECT s.allocation, a.organisation, s.domain, a.due_at, a.previous, a.auditor, {{team}},
       s.auditor_level, s.moderated_level, s.final_level, s.final_rank, s.final_grade
FROM (
    SELECT k.allocation, k.domain,
           MAX(CASE WHEN k.kind = 'auditor' THEN k.level END) AS auditor_level,
           MAX(CASE WHEN k.kind = 'moderated' THEN k.level END) AS moderated_level,
           MAX(CASE WHEN k.kind = 'final' THEN k.level END) AS final_level,
           MAX(CASE WHEN k.kind = 'final' THEN k.rank END) AS final_rank,
           MAX(CASE WHEN k.kind = 'final' THEN k.id END) AS final_grade
    FROM (
        SELECT g.allocation, g.domain, g.level, g.rank, g.id, {_KIND} AS kind,
               ROW_NUMBER() OVER (PARTITION BY g.allocation, g.domain, {_KIND}
                                  ORDER BY g.set_at DESC, g.id DESC) AS nth
        FROM grade g
        WHERE g.phase <> 'disputed' {{where}}
    ) k
    WHERE k.nth = 1
    GROUP BY k.allocation, k.domain
) s JOIN allocation a ON a.id = s.allocation LEFT JOIN child_case c ON c.id = a.child_case{{join}}
"""
# Issue 13: an audit on a person has no case; it is the person's team's.
_WITH_SUBJECTS = {"team": "COALESCE(c.team, sp.team, 0)", "join": "\nLEFT JOIN person sp ON sp.id = a.subject_person"}


def _select(where: str) -> str:
    return _SELECT.format(where=where, **_WITH_SUBJECTS)


_COLUMNS = "(allocation, organisation, domain, due_at, previous, auditor, team, auditor_level, moderated_level, final_level, final_rank, final_grade)"


async def final_grades(allocation_id: int) -> dict[str, str]:
    """Domain (and ``overall``) -> the audit's final grade: the amended one
    after a dispute. Empty until QA has made the audit's grades final."""
    rows = await StandingGrade.select(StandingGrade.domain, StandingGrade.final_level).where(
        (StandingGrade.allocation == allocation_id) & StandingGrade.final_level.is_not_null()
    )
    return {r["domain"]: r["final_level"] for r in rows}


async def final_grade(allocation_id: int, domain: str = "overall") -> str | None:
    """The audit's final grade of one domain (by default its overall grade)."""
    row = await StandingGrade.select(StandingGrade.final_level).where(
        (StandingGrade.allocation == allocation_id) & (StandingGrade.domain == domain)
    ).first()  # one row at most: unique index standing_grade_allocation (allocation, domain)
    return row["final_level"] if row else None


# The same in SQL over ``allocation a``: ``f.final_level`` is the audit's final
# overall grade (index standing_grade_allocation).
FINAL_OVERALL_JOIN = " JOIN standing_grade f ON f.allocation = a.id AND f.domain = 'overall' AND f.final_level IS NOT NULL"


# What one standing grade adds to its month: (n, changed by moderation, by dispute).
_COUNTED = (
    "SELECT organisation, due_at, domain, final_level, final_rank, COUNT(*) AS n,"
    " COALESCE(SUM(CASE WHEN moderated_level <> auditor_level THEN 1 ELSE 0 END), 0) AS by_moderation,"
    " COALESCE(SUM(CASE WHEN final_level <> moderated_level THEN 1 ELSE 0 END), 0) AS by_dispute"
    " FROM standing_grade WHERE final_level IS NOT NULL {where}"
    " GROUP BY organisation, due_at, domain, final_level, final_rank"
)

Key = tuple[int, str, str, str, int]

# What QA's moderation of one audit adds to its month, its auditor and its
# team (as they were when it was graded): domains moderated, and agreed.
_AGREEMENT = (
    "SELECT organisation, due_at, auditor, team, COUNT(*) AS moderated,"
    " COALESCE(SUM(CASE WHEN moderated_level = auditor_level THEN 1 ELSE 0 END), 0) AS agreed"
    " FROM standing_grade WHERE moderated_level IS NOT NULL {where}"
    " GROUP BY organisation, due_at, auditor, team"
)

AgreementKey = tuple[int, str, int, int]


def _tally_agreement(rows: list[dict], sign: int, into: dict[AgreementKey, list[int]]) -> dict[AgreementKey, list[int]]:
    for r in rows:
        key = (int(r["organisation"]), month_of(r["due_at"]), int(r["auditor"]), int(r["team"]))
        counts = into.setdefault(key, [0, 0])
        counts[0] += sign * int(r["moderated"])
        counts[1] += sign * int(r["agreed"])
    return into


async def _add_to_agreement(delta: dict[AgreementKey, list[int]]) -> None:
    await add_counts(AgreementMonth, ("organisation", "month", "auditor", "team"), ("moderated", "agreed"), delta)


async def _add_to_agreement_years(delta: dict[AgreementKey, list[int]]) -> None:
    """The same changes, added to their calendar years per auditor and per
    team (``agreement_year``)."""
    years: dict[tuple[int, str, str, int], list[int]] = {}
    for (organisation, month, auditor, team), (moderated, agreed) in delta.items():
        for dimension, who in (("auditor", auditor), ("team", team)):
            sums = years.setdefault((organisation, month[:4], dimension, who), [0, 0])
            sums[0] += moderated
            sums[1] += agreed
    await add_counts(AgreementYear, ("organisation", "year", "dimension", "who"), ("moderated", "agreed"), years)


# What a re-audit's final grades add to its month's movement: each domain
# against the same domain of its predecessor (rank 0 is the best grade).
_MOVED = (
    "SELECT s.organisation AS organisation, s.due_at AS due_at, s.domain AS domain,"
    " COALESCE(SUM(CASE WHEN s.final_rank < b.final_rank THEN 1 ELSE 0 END), 0) AS improved,"
    " COALESCE(SUM(CASE WHEN s.final_rank = b.final_rank THEN 1 ELSE 0 END), 0) AS same,"
    " COALESCE(SUM(CASE WHEN s.final_rank > b.final_rank THEN 1 ELSE 0 END), 0) AS downgraded"
    " FROM standing_grade s JOIN standing_grade b ON b.allocation = s.previous AND b.domain = s.domain"
    " WHERE s.previous IS NOT NULL AND s.final_rank IS NOT NULL AND b.final_rank IS NOT NULL {where}"
    " GROUP BY s.organisation, s.due_at, s.domain"
)

MovementKey = tuple[int, str, str]


def _tally_movement(rows: list[dict], sign: int, into: dict[MovementKey, list[int]]) -> dict[MovementKey, list[int]]:
    for r in rows:
        counts = into.setdefault((int(r["organisation"]), month_of(r["due_at"]), r["domain"]), [0, 0, 0])
        counts[0] += sign * int(r["improved"])
        counts[1] += sign * int(r["same"])
        counts[2] += sign * int(r["downgraded"])
    return into


async def _add_to_movement(delta: dict[MovementKey, list[int]]) -> None:
    await add_counts(MovementMonth, ("organisation", "month", "domain"), ("improved", "same", "downgraded"), delta)


@functools.lru_cache(maxsize=4096)
def month_of(due_at) -> str:
    """The London month an audit due at ``due_at`` is reported in. (Kept for
    the instants seen last: a rebuild asks for a cycle's due instant once
    per auditor.)"""
    return to_london(due_at).strftime("%Y-%m")


def _tally(rows: list[dict], sign: int, into: dict[Key, list[int]]) -> dict[Key, list[int]]:
    for r in rows:
        key = (int(r["organisation"]), month_of(r["due_at"]), r["domain"], r["final_level"], int(r["final_rank"]))
        counts = into.setdefault(key, [0, 0, 0])
        counts[0] += sign * int(r["n"])
        counts[1] += sign * int(r["by_moderation"])
        counts[2] += sign * int(r["by_dispute"])
    return into


async def _add_to_months(delta: dict[Key, list[int]]) -> None:
    await add_counts(
        GradeMonth, ("organisation", "month", "domain", "final_level", "final_rank"), ("n", "by_moderation", "by_dispute"), delta
    )


async def refresh(allocation_ids: Iterable[int]) -> None:
    """Rewrite the standing grades of these audits from their grade chain, and
    move their monthly counts from what they were to what they are. Call
    inside the transaction that wrote the grades."""
    ids = sorted({int(i) for i in allocation_ids})
    if not ids:
        return
    marks = ", ".join("{}" for _ in ids)
    counted = _COUNTED.format(where=f"AND allocation IN ({marks})")
    agreed = _AGREEMENT.format(where=f"AND allocation IN ({marks})")
    delta = _tally(await StandingGrade.raw(counted, *ids), -1, {})
    agreement = _tally_agreement(await StandingGrade.raw(agreed, *ids), -1, {})
    # Movement changes for these audits as re-audits, and for their own
    # re-audits (a predecessor's grade amended after its re-audit was final).
    re_audits = await StandingGrade.raw(f"SELECT DISTINCT allocation FROM standing_grade WHERE previous IN ({marks})", *ids)
    moving = sorted({*ids, *(int(r["allocation"]) for r in re_audits)})
    moved = _MOVED.format(where=f"AND s.allocation IN ({', '.join('{}' for _ in moving)})")
    movement = _tally_movement(await StandingGrade.raw(moved, *moving), -1, {})
    await StandingGrade.raw(f"DELETE FROM standing_grade WHERE allocation IN ({marks})", *ids)
    await StandingGrade.raw(
        f"INSERT INTO standing_grade {_COLUMNS} " + _select(f"AND g.allocation IN ({marks})"), *ids
    )
    await _add_to_months(_tally(await StandingGrade.raw(counted, *ids), +1, delta))
    agreement = _tally_agreement(await StandingGrade.raw(agreed, *ids), +1, agreement)
    await _add_to_agreement(agreement)
    await _add_to_agreement_years(agreement)
    await _add_to_movement(_tally_movement(await StandingGrade.raw(moved, *moving), +1, movement))


def _allocations_of(batch) -> tuple[str, list]:
    """The batch's audits (``month_counts.Batch``): its organisation's, due in its years."""
    where, values = batch.bounds("due_at")
    return f"SELECT id FROM allocation WHERE organisation = {{}}{where}", [batch.organisation, *values]


async def rebuild_batch(batch) -> None:
    """The standing grades of a batch's audits from their grade chains (part
    of ``month_counts.rebuild_all``, after its ``clear``)."""
    audits, values = _allocations_of(batch)
    await StandingGrade.raw(
        f"INSERT INTO standing_grade {_COLUMNS} " + _select(f"AND g.allocation IN ({audits})"), *values
    )


async def count_batch(batch) -> None:
    """What a batch's standing grades add to the monthly grade, moderation
    and movement counts and the yearly moderation counts (part of
    ``month_counts.rebuild_all``, once every standing grade is written)."""
    where, values = batch.bounds("due_at")
    mine = f"AND organisation = {{}}{where}"
    await _add_to_months(_tally(await StandingGrade.raw(_COUNTED.format(where=mine), batch.organisation, *values), +1, {}))
    agreement = _tally_agreement(await StandingGrade.raw(_AGREEMENT.format(where=mine), batch.organisation, *values), +1, {})
    await _add_to_agreement(agreement)
    await _add_to_agreement_years(agreement)
    where, values = batch.bounds("s.due_at")
    moved = _MOVED.format(where=f"AND s.organisation = {{}}{where}")
    await _add_to_movement(_tally_movement(await StandingGrade.raw(moved, batch.organisation, *values), +1, {}))
