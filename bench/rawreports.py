"""The best raw SQL for every figure of a report (core.services.reports), run
through the raw driver: the floor each qaf report is measured against.

Each function answers the same question as the service (same rows, same
meaning: an allocation belongs to a period when it is due in it; the latest
final grade per allocation and domain wins, by ``set_at`` then id), written
for speed rather than copied from the service, on the same schema, reading
what qaf reads:

* the whole council (``scope_kind == "org"``) over whole months (every report
  period, and ten years) adds up the monthly counts qaf keeps with the rows:
  ``allocation_month`` for completion (plus, for the month holding ``as_of``,
  a direct count of its open audits due before ``as_of``, as qaf counts
  overdue), ``grade_month`` for grades, the trend and theme counts,
  ``movement_month``, ``escalation_month``, and ``agreement_month`` for the
  moderation tables (which qaf adds up for any scope over whole months);
* a team or service (or a period not of whole months) reads the
  ``standing_grade`` summary (the latest grade of each phase per audit and
  domain), one scan of the allocations for completion, and the
  notifications for escalations;
* the theme quotes and the follow-ups always read their rows
  (``standing_grade`` with ``grade``; ``follow_up``).

Functions returning a list give candidates (same arguments, same answer,
different plan); :class:`bench.rawdb.Chooser` keeps the fastest.
:func:`compare_reports` also checks that the floor's rows equal qaf's, so a
floor answering a different question is caught rather than timed.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

from bench.rawdb import Chooser, Raw

def _period_set(scope_kind: str = "org") -> str:
    """A CTE body: the ids of the allocations of the scope due in [start, end)."""
    sql = "SELECT a.id AS id FROM allocation a"
    if scope_kind == "team":
        sql += " JOIN child_case c ON c.id = a.child_case"
    elif scope_kind == "service":
        sql += " JOIN child_case c ON c.id = a.child_case JOIN team t ON t.id = c.team"
    sql += " WHERE a.organisation = {} AND a.due_at >= {} AND a.due_at < {}"
    if scope_kind == "team":
        sql += " AND c.team = {}"
    elif scope_kind == "service":
        sql += " AND t.service = {}"
    return sql


def _set_args(raw: Raw, org: int, start: dt.datetime, end: dt.datetime, scope_kind: str, scope_id) -> list:
    args = [org, raw.t(start), raw.t(end)]
    if scope_kind != "org":
        args.append(scope_id)
    return args


def _standing_where(scope_kind: str, alias: str = "s") -> str:
    """Conditions over ``standing_grade`` (the summary qaf keeps of the latest
    grade of each phase) for the scope's audits due in [start, end); the
    same argument order as :func:`_set_args`."""
    sql = f"{alias}.organisation = {{}} AND {alias}.due_at >= {{}} AND {alias}.due_at < {{}}"
    if scope_kind == "team":
        sql += f" AND {alias}.allocation IN (SELECT a.id FROM allocation a JOIN child_case c ON c.id = a.child_case WHERE c.team = {{}})"
    elif scope_kind == "service":
        sql += (f" AND {alias}.allocation IN (SELECT a.id FROM allocation a JOIN child_case c ON c.id = a.child_case"
                " JOIN team t ON t.id = c.team WHERE t.service = {})")
    return sql


def by_month(scope_kind: str, p) -> bool:
    """Whether the floor adds up the monthly counts: the whole council over
    whole months (as ``reports._monthly`` decides for qaf)."""
    return scope_kind == "org" and p.start.day == 1 and p.end.day == 1


# Conditions over a ``*_month`` table: organisation, first month, first month after.
_MONTHS = "m.organisation = {} AND m.month >= {} AND m.month < {}"


def _month_args(org: int, p) -> list:
    return [org, f"{p.start:%Y-%m}", f"{p.end:%Y-%m}"]


def grades_month_sql(overall_only: bool = False) -> list[str]:
    """:func:`grades_sql` for the whole council over whole months, from
    ``grade_month``: the months' rows summed (rows left at 0 by a grade that
    moved are dropped, in the HAVING or, as each row's n >= 0, the WHERE)."""
    only = " AND m.domain = 'overall'" if overall_only else ""
    sums = ("SELECT m.domain AS domain, m.final_level AS level, SUM(m.n) AS n,"
            " SUM(m.by_moderation) AS by_moderation, SUM(m.by_dispute) AS by_dispute"
            f" FROM grade_month m WHERE {_MONTHS}{only}")
    return [f"{sums} GROUP BY m.domain, m.final_level HAVING SUM(m.n) > 0",
            f"{sums} AND m.n > 0 GROUP BY m.domain, m.final_level"]


def movement_month_sql() -> list[str]:
    """:func:`movement_sql` for the whole council over whole months, from ``movement_month``."""
    sums = ("SELECT m.domain AS domain, SUM(m.improved) AS improved, SUM(m.same) AS same, SUM(m.downgraded) AS downgraded"
            f" FROM movement_month m WHERE {_MONTHS}")
    return [f"{sums} GROUP BY m.domain HAVING SUM(m.improved) + SUM(m.same) + SUM(m.downgraded) > 0",
            f"{sums} AND m.improved + m.same + m.downgraded > 0 GROUP BY m.domain"]


def escalations_month_sql() -> list[str]:
    """:func:`escalations_sql` for the whole council over whole months, from ``escalation_month``."""
    return [f"SELECT m.kind AS kind, SUM(m.raised) AS n FROM escalation_month m WHERE {_MONTHS}"
            " GROUP BY m.kind HAVING SUM(m.raised) > 0 ORDER BY m.kind",
            f"SELECT m.kind AS kind, SUM(m.raised) AS n FROM escalation_month m WHERE {_MONTHS} AND m.raised > 0"
            " GROUP BY m.kind ORDER BY m.kind"]


def counts_month_sql(periods: int, current: list[bool]) -> str:
    """Completion for ``periods`` consecutive periods of whole months, from
    ``allocation_month`` in one read of the span's months: per period the
    three sums, and overdue = open audits of its months before ``as_of``'s
    month, plus (``current[i]``: that month lies inside the period) its
    open audits due before ``as_of``, counted from the rows. Arguments per
    period: first month, first month after (x3), first month, the earlier of
    the first month after and ``as_of``'s month, [org, month start, as_of];
    then org, the span's first month and first month after."""
    cols = []
    for i in range(periods):
        inside = "m.month >= {} AND m.month < {}"
        overdue = f"COALESCE(SUM(CASE WHEN {inside} THEN m.allocated - m.completed ELSE 0 END), 0)"
        if current[i]:
            # Open counted in the SELECT, not the WHERE (as qaf does: a
            # condition on finalised_at walks every open audit on SQLite).
            overdue += (" + (SELECT COALESCE(SUM(CASE WHEN a.finalised_at IS NULL THEN 1 ELSE 0 END), 0)"
                        " FROM allocation a WHERE a.organisation = {} AND a.due_at >= {} AND a.due_at < {})")
        cols += [
            f"COALESCE(SUM(CASE WHEN {inside} THEN m.allocated ELSE 0 END), 0) AS allocated_{i}",
            f"COALESCE(SUM(CASE WHEN {inside} THEN m.completed ELSE 0 END), 0) AS completed_{i}",
            f"COALESCE(SUM(CASE WHEN {inside} THEN m.on_time ELSE 0 END), 0) AS on_time_{i}",
            f"{overdue} AS overdue_{i}",
        ]
    return f"SELECT {', '.join(cols)} FROM allocation_month m WHERE {_MONTHS}"


def theme_counts_month_sql() -> str:
    """:func:`theme_counts_sql` for the whole council over whole months, from ``grade_month``."""
    return (
        "SELECT m.domain AS domain, CASE WHEN m.final_rank <= 1 THEN 1 ELSE 0 END AS strong, SUM(m.n) AS n,"
        " NULL AS evidence, 0 AS q"
        f" FROM grade_month m WHERE {_MONTHS} AND m.domain <> 'overall'"
        " GROUP BY m.domain, CASE WHEN m.final_rank <= 1 THEN 1 ELSE 0 END HAVING SUM(m.n) > 0"
    )


def quotes_sql(scope_kind: str, groups: list[tuple[str, int]]) -> str:
    """Up to three non-blank quotes of each (domain, strong) group, from the
    audits due latest (as qaf picks them): each group one index range read
    only as far as it needs (a ROW_NUMBER over every text of the period took
    14 ms for ten years at scale 0.01). Arguments per group:
    :func:`_set_args`, then the domain. Rows (domain, strong, evidence,
    due_at, allocation)."""
    parts = []
    for i, (_, strong) in enumerate(groups):
        rank = "s.final_rank <= 1" if strong else "s.final_rank >= 2"
        parts.append(
            f"SELECT * FROM (SELECT s.domain AS domain, {int(strong)} AS strong, g.evidence AS evidence,"
            " s.due_at AS due_at, s.allocation AS allocation"
            f" FROM standing_grade s JOIN grade g ON g.id = s.final_grade WHERE {_standing_where(scope_kind)}"
            f" AND s.domain = {{}} AND {rank} AND TRIM(g.evidence) <> ''"
            f" ORDER BY s.due_at DESC, s.allocation DESC LIMIT 3) q{i}"
        )
    return " UNION ALL ".join(parts)


def grades_sql(scope_kind: str = "org", overall_only: bool = False) -> list[str]:
    """Final grades by domain and level, with how many moderation and a dispute
    changed: (domain, level, n, by_moderation, by_dispute)."""
    only = " AND s.domain = 'overall'" if overall_only else ""
    standing = (
        "SELECT s.domain AS domain, s.final_level AS level, COUNT(*) AS n,"
        " COALESCE(SUM(CASE WHEN s.moderated_level <> s.auditor_level THEN 1 ELSE 0 END), 0) AS by_moderation,"
        " COALESCE(SUM(CASE WHEN s.final_level <> s.moderated_level THEN 1 ELSE 0 END), 0) AS by_dispute"
        f" FROM standing_grade s WHERE {_standing_where(scope_kind)} AND s.final_level IS NOT NULL"
        f"{only} GROUP BY s.domain, s.final_level"
    )
    return [standing]


def movement_sql(scope_kind: str = "org") -> list[str]:
    """Re-audits due in the period: (domain, improved, same, downgraded), each
    re-audit's latest final rank per domain against its predecessor's."""
    standing = (
        "SELECT s.domain AS domain,"
        " COALESCE(SUM(CASE WHEN s.final_rank < b.final_rank THEN 1 ELSE 0 END), 0) AS improved,"
        " COALESCE(SUM(CASE WHEN s.final_rank = b.final_rank THEN 1 ELSE 0 END), 0) AS same,"
        " COALESCE(SUM(CASE WHEN s.final_rank > b.final_rank THEN 1 ELSE 0 END), 0) AS downgraded"
        " FROM standing_grade s JOIN standing_grade b ON b.allocation = s.previous AND b.domain = s.domain"
        f" WHERE {_standing_where(scope_kind)} AND s.previous IS NOT NULL"
        " AND s.final_rank IS NOT NULL AND b.final_rank IS NOT NULL GROUP BY s.domain"
    )
    return [standing]


def theme_counts_sql(scope_kind: str = "org") -> str:
    """Per domain (not overall) and strength (best two grades or not): the
    count of latest final grades, as (domain, strong, n, NULL, 0)."""
    return (
        "SELECT s.domain AS domain, CASE WHEN s.final_rank <= 1 THEN 1 ELSE 0 END AS strong, COUNT(*) AS n,"
        " NULL AS evidence, 0 AS q"
        f" FROM standing_grade s WHERE {_standing_where(scope_kind)} AND s.final_level IS NOT NULL AND s.domain <> 'overall'"
        " GROUP BY s.domain, CASE WHEN s.final_rank <= 1 THEN 1 ELSE 0 END"
    )


def counts_sql(periods: int, scope_kind: str = "org") -> str:
    """Completion for ``periods`` consecutive periods in one scan of the
    allocations due in the whole span: four sums per period."""
    cols = []
    for i in range(periods):
        inside = "a.due_at >= {} AND a.due_at < {}"
        cols += [
            f"COALESCE(SUM(CASE WHEN {inside} THEN 1 ELSE 0 END), 0) AS allocated_{i}",
            f"COALESCE(SUM(CASE WHEN {inside} AND a.finalised_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS completed_{i}",
            f"COALESCE(SUM(CASE WHEN {inside} AND a.finalised_at IS NOT NULL AND a.submitted_at <= a.due_at THEN 1 ELSE 0 END), 0) AS on_time_{i}",
            f"COALESCE(SUM(CASE WHEN {inside} AND a.finalised_at IS NULL AND a.due_at < {{}} THEN 1 ELSE 0 END), 0) AS overdue_{i}",
        ]
    return f"SELECT {', '.join(cols)} FROM allocation a WHERE a.id IN ({_period_set(scope_kind)})"


def _scope_joins(scope_kind: str, on: str) -> tuple[str, str]:
    if scope_kind == "org":
        return "", ""
    joins = f" JOIN allocation a ON a.id = {on} JOIN child_case c ON c.id = a.child_case"
    if scope_kind == "team":
        return joins, " AND c.team = {}"
    return joins + " JOIN team t ON t.id = c.team", " AND t.service = {}"


def escalations_sql(scope_kind: str = "org") -> str:
    joins, where = _scope_joins(scope_kind, "n.allocation")
    return (
        "SELECT kind, COUNT(*) AS n FROM (SELECT DISTINCT n.kind AS kind, n.allocation AS allocation, n.created_at AS created_at"
        f" FROM notification n{joins} WHERE n.organisation = {{}} AND n.kind >= 'escalation:' AND n.kind < 'escalation;'"
        f" AND n.created_at >= {{}} AND n.created_at < {{}} AND n.allocation IS NOT NULL{where}) raised GROUP BY kind ORDER BY kind"
    )


def follow_ups_split_sql(scope_kind: str = "org") -> str:
    """The same three figures as four index-range counts (opened; closed;
    overdue = still open past due, or done after ``as_of`` past due)."""
    joins, where = _scope_joins(scope_kind, "f.allocation")

    def count(condition: str) -> str:
        return f"(SELECT COUNT(*) FROM follow_up f{joins} WHERE f.organisation = {{}} AND {condition}{where})"

    return (
        f"SELECT {count('f.created_at >= {} AND f.created_at < {}')} AS opened,"
        f" {count('f.done_at >= {} AND f.done_at < {}')} AS closed,"
        f" {count('f.done_at IS NULL AND f.due_at < {} AND f.created_at < {}')}"
        f" + {count('f.done_at > {} AND f.due_at < {} AND f.created_at < {}')} AS overdue"
    )


def _named(by: str, counted: str) -> str:
    """Name the (who_id, moderated, agreed) rows of ``counted`` after adding
    them up (per id, not per name: two auditors may share a name), ordered by
    name then id as qaf orders them: (who, moderated, agreed)."""
    if by == "team":
        name, join = "COALESCE(tm.name, '(no team)')", "LEFT JOIN team tm ON tm.id = x.who_id"
    else:
        name, join = "p.display_name", "JOIN person p ON p.id = x.who_id"
    return (f"SELECT {name} AS who, x.moderated AS moderated, x.agreed AS agreed FROM ({counted}) x {join}"
            f" ORDER BY {name}, x.who_id")


def agreement_sql(by: str, scope_kind: str = "org") -> list[str]:
    """Moderated grades of the period's allocations against the auditor's latest
    grade of the domain, per auditor or team as they were when graded (the
    standing grade's own columns): (who, moderated, agreed)."""
    column = "team" if by == "team" else "auditor"
    counted = (
        f"SELECT g.{column} AS who_id, COUNT(*) AS moderated,"
        " COALESCE(SUM(CASE WHEN g.moderated_level = g.auditor_level THEN 1 ELSE 0 END), 0) AS agreed"
        f" FROM standing_grade g WHERE {_standing_where(scope_kind, 'g')} AND g.moderated_level IS NOT NULL GROUP BY g.{column}"
    )
    return [_named(by, counted)]


def agreement_month_sql(by: str, scope_kind: str = "org") -> list[str]:
    """:func:`agreement_sql` over whole months, from ``agreement_month`` (kept
    per auditor and team, so a team or service reads it too, as qaf does):
    arguments :func:`_month_args`, then the team or service id."""
    column = "team" if by == "team" else "auditor"
    where = _MONTHS
    if scope_kind == "team":
        where += " AND m.team = {}"
    elif scope_kind == "service":
        where += " AND m.team IN (SELECT t.id FROM team t WHERE t.service = {})"
    sums = f"SELECT m.{column} AS who_id, SUM(m.moderated) AS moderated, SUM(m.agreed) AS agreed FROM agreement_month m WHERE {where}"
    return [_named(by, f"{sums} GROUP BY m.{column} HAVING SUM(m.moderated) > 0"),
            _named(by, f"{sums} AND m.moderated > 0 GROUP BY m.{column}")]


def overdue_actions_sql() -> str:
    """Open SMART actions past due of everyone below a person in the line-management chain."""
    return (
        "WITH RECURSIVE below(id) AS (SELECT p.id FROM person p WHERE p.line_manager = {}"
        " UNION SELECT p.id FROM person p JOIN below b ON p.line_manager = b.id)"
        " SELECT ac.id, ac.what, ac.due_on, ac.due_at, ac.status, o.display_name AS owner_name"
        " FROM action ac JOIN below ON below.id = ac.owner JOIN person o ON o.id = ac.owner"
        " WHERE ac.status = 'open' AND ac.due_at < {} AND ac.owner <> {} ORDER BY ac.due_at"
    )


# ------------------------------------------------------------- composed


class RawReports:
    """A whole report's rows through the raw driver (what ``reports.report``
    plus the two moderation tables fetch), and its parts one at a time."""

    def __init__(self, raw: Raw, chooser: Chooser | None = None) -> None:
        self.raw = raw
        self.chooser = chooser or Chooser(raw)

    def _args(self, org, p, scope_kind, scope_id):
        return _set_args(self.raw, org, p.start_at, p.end_at, scope_kind, scope_id)

    async def grades(self, org, p, scope_kind="org", scope_id=None, overall_only=False, tag=""):
        name = f"grades {scope_kind}{' overall' if overall_only else ''}"
        if by_month(scope_kind, p):
            return await self.chooser.all(f"{name} by month {tag or p.kind}", grades_month_sql(overall_only),
                                          *_month_args(org, p))
        return await self.chooser.all(f"{name} {tag or p.kind}", grades_sql(scope_kind, overall_only),
                                      *self._args(org, p, scope_kind, scope_id))

    async def movement(self, org, p, scope_kind="org", scope_id=None, tag=""):
        if by_month(scope_kind, p):
            return await self.chooser.all(f"movement {scope_kind} by month {tag or p.kind}", movement_month_sql(),
                                          *_month_args(org, p))
        return await self.chooser.all(f"movement {scope_kind} {tag or p.kind}", movement_sql(scope_kind),
                                      *self._args(org, p, scope_kind, scope_id))

    async def themes(self, org, p, scope_kind="org", scope_id=None):
        """Rows (domain, strong, n, evidence, q): q 0 is the group's count,
        1-3 its quotes, latest due first."""
        where = self._args(org, p, scope_kind, scope_id)
        if by_month(scope_kind, p):
            counts = await self.raw.all(theme_counts_month_sql(), *_month_args(org, p))
        else:
            counts = await self.raw.all(theme_counts_sql(scope_kind), *where)
        groups = sorted((r["domain"], int(r["strong"])) for r in counts)
        if not groups:
            return counts
        args = [a for domain, _ in groups for a in (*where, domain)]
        by_group: dict[tuple[str, int], list] = {}
        for r in await self.raw.all(quotes_sql(scope_kind, groups), *args):
            by_group.setdefault((r["domain"], int(r["strong"])), []).append(r)
        quotes = [{"domain": d, "strong": s, "n": 0, "evidence": r["evidence"], "q": q}
                  for (d, s), rows in by_group.items()
                  for q, r in enumerate(sorted(rows, key=lambda r: (r["due_at"], r["allocation"]), reverse=True), start=1)]
        return [*counts, *quotes]

    async def counts(self, org, periods, now, span_start, span_end, scope_kind="org", scope_id=None):
        """One row: allocated_i, completed_i, on_time_i, overdue_i for each period i."""
        if scope_kind == "org" and all(by_month(scope_kind, q) for q in periods):
            return await self._counts_by_month(org, periods, now)
        args = []
        for q in periods:
            s, e = self.raw.t(q.start_at), self.raw.t(q.end_at)
            args += [s, e, s, e, s, e, s, e, self.raw.t(min(now, q.end_at))]
        args += _set_args(self.raw, org, span_start, span_end, scope_kind, scope_id)
        return await self.raw.one(counts_sql(len(periods), scope_kind), *args)

    async def _counts_by_month(self, org, periods, now):
        """:func:`counts_month_sql`, with ``as_of`` and its month per period as
        ``reports._counts_of_periods`` takes them."""
        from core.calendar import to_london
        from core.services.reports import period

        args, current = [], []
        for q in periods:
            first, after = f"{q.start:%Y-%m}", f"{q.end:%Y-%m}"
            as_of = min(now, q.end_at)
            month = period("month", to_london(as_of).date())
            args += [first, after] * 3 + [first, min(after, f"{month.start:%Y-%m}")]
            current.append(q.start <= month.start < q.end)
            if current[-1]:
                args += [org, self.raw.t(month.start_at), self.raw.t(as_of)]
        args += [org, f"{periods[0].start:%Y-%m}", f"{periods[-1].end:%Y-%m}"]
        return await self.raw.one(counts_month_sql(len(periods), current), *args)

    async def escalations(self, org, p, scope_kind="org", scope_id=None):
        if by_month(scope_kind, p):
            return await self.chooser.all(f"escalations {scope_kind} by month {p.kind}", escalations_month_sql(),
                                          *_month_args(org, p))
        args = [org, self.raw.t(p.start_at), self.raw.t(p.end_at)] + ([scope_id] if scope_kind != "org" else [])
        return await self.raw.all(escalations_sql(scope_kind), *args)

    async def follow_ups(self, org, p, now, scope_kind="org", scope_id=None):
        """The split counts, each an index range (a one-pass SUM over every
        follow-up was the slower shape on both engines)."""
        as_of = self.raw.t(min(now, p.end_at))
        s, e = self.raw.t(p.start_at), self.raw.t(p.end_at)
        if scope_kind == "org" and p.start.day == 1 and p.end.day == 1:
            # Opened and closed from follow_up_month; overdue from the rows.
            months = _month_args(org, p)
            sql = ("SELECT (SELECT COALESCE(SUM(m.opened), 0) FROM follow_up_month m"
                   " WHERE m.organisation = {} AND m.month >= {} AND m.month < {}) AS opened,"
                   " (SELECT COALESCE(SUM(m.closed), 0) FROM follow_up_month m"
                   " WHERE m.organisation = {} AND m.month >= {} AND m.month < {}) AS closed,"
                   " (SELECT COUNT(*) FROM follow_up f WHERE f.organisation = {} AND f.done_at IS NULL AND f.due_at < {} AND f.created_at < {})"
                   " + (SELECT COUNT(*) FROM follow_up f WHERE f.organisation = {} AND f.done_at > {} AND f.due_at < {} AND f.created_at < {})"
                   " AS overdue")
            return await self.raw.one(sql, *months, *months, org, as_of, as_of, org, as_of, as_of, as_of)
        extra = [scope_id] if scope_kind != "org" else []
        args = [org, s, e, *extra, org, s, e, *extra, org, as_of, as_of, *extra, org, as_of, as_of, as_of, *extra]
        return await self.raw.one(follow_ups_split_sql(scope_kind), *args)

    async def agreement(self, org, p, by, scope_kind="org", scope_id=None, tag=""):
        """Ordered by name, then id (as qaf orders the moderation tables)."""
        if scope_kind == "org" and p.start.day == 1 and p.end.day == 1:
            # The whole council: whole calendar years from agreement_year, the
            # months either side from agreement_month (the same split as qaf).
            from core.services.reports import _agreement_spans

            parts, args = [], []
            for table, _, first, after in _agreement_spans(p):
                if table == "agreement_year":
                    parts.append("SELECT y.who AS who_id, y.moderated AS moderated, y.agreed AS agreed FROM agreement_year y"
                                 " WHERE y.organisation = {} AND y.dimension = {} AND y.year >= {} AND y.year < {}")
                    args += [org, by, first, after]
                else:
                    parts.append(f"SELECT m.{by} AS who_id, m.moderated AS moderated, m.agreed AS agreed FROM agreement_month m"
                                 " WHERE m.organisation = {} AND m.month >= {} AND m.month < {}")
                    args += [org, first, after]
            counted = (f"SELECT u.who_id AS who_id, SUM(u.moderated) AS moderated, SUM(u.agreed) AS agreed"
                       f" FROM ({' UNION ALL '.join(parts)}) u GROUP BY u.who_id HAVING SUM(u.moderated) > 0")
            return await self.chooser.all(f"agreement by {by} org by year and month {tag or p.kind}", [_named(by, counted)], *args)
        if p.start.day == 1 and p.end.day == 1:
            extra = [scope_id] if scope_kind != "org" else []
            return await self.chooser.all(f"agreement by {by} {scope_kind} by month {tag or p.kind}",
                                          agreement_month_sql(by, scope_kind), *_month_args(org, p), *extra)
        return await self.chooser.all(f"agreement by {by} {scope_kind} {tag or p.kind}", agreement_sql(by, scope_kind),
                                      *self._args(org, p, scope_kind, scope_id))

    async def report(self, org, p, now, trend: int = 3, scope_kind="org", scope_id=None, tag="") -> dict:
        """Every row a report page needs for ``p`` (and ``trend`` earlier periods)."""
        earlier = []
        q = p
        for _ in range(trend):
            q = q.previous()
            earlier.append(q)
        periods = [*reversed(earlier), p]
        out = {
            "counts": await self.counts(org, periods, now, periods[0].start_at, p.end_at, scope_kind, scope_id),
            "grades": await self.grades(org, p, scope_kind, scope_id, tag=tag),
            "trend_grades": [await self.grades(org, q, scope_kind, scope_id, overall_only=True) for q in earlier[::-1]],
            "movement": await self.movement(org, p, scope_kind, scope_id, tag=tag),
            "themes": await self.themes(org, p, scope_kind, scope_id),
            "escalations": await self.escalations(org, p, scope_kind, scope_id),
            "follow_ups": await self.follow_ups(org, p, now, scope_kind, scope_id),
            "agreement_auditor": await self.agreement(org, p, "auditor", scope_kind, scope_id, tag=tag),
            "agreement_team": await self.agreement(org, p, "team", scope_kind, scope_id, tag=tag),
            "periods": periods,
        }
        return out


async def median_ms(fn, repeat: int = 3) -> tuple[float, float]:
    """(median, first) milliseconds of ``repeat`` awaited calls of ``fn()``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), times[0]


# ------------------------------------------------------- qaf against the floor


def ten_years(today: dt.date):
    """The last 120 months up to and including this one (the generated span)."""
    from core.services.reports import Period

    start = dt.date(today.year - 10, today.month, 1)
    end = dt.date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    return Period("year", start, end)


def _rows(rows) -> list[tuple]:
    """Rows of either side (dicts from qaf, driver rows from the floor) as
    sorted tuples of their values, numbers as int."""
    out = []
    for r in rows:
        values = tuple(r.values()) if isinstance(r, dict) else tuple(r)
        out.append(tuple(int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in values))
    return sorted(out, key=repr)


async def report_differences(ctx, rr: RawReports, p, trend: int, tag: str = "") -> list[str]:
    """What differs between qaf's whole-council report of ``p`` (and its two
    moderation tables) and the floor's rows shaped as the service shapes them
    (``bench.floor.build_report``): the names of the differing figures, [] when
    every figure is the same."""
    import dataclasses

    from bench.floor import build_report
    from core.services import reports

    scope = reports.Scope("org")
    qaf = await reports.report(ctx, p, scope, trend=trend)
    rows = await rr.report(ctx.actor.organisation_id, p, ctx.now, trend=trend, tag=tag)
    floor = build_report(p, scope, qaf.levels, qaf.titles, rows)
    out = [f.name for f in dataclasses.fields(qaf) if getattr(qaf, f.name) != getattr(floor, f.name)]
    for by in ("auditor", "team"):
        theirs = [(a.who, a.moderated, a.agreed) for a in await reports.moderation_agreement(ctx, p, scope, by)]
        mine = [(a["who"], int(a["moderated"]), int(a["agreed"])) for a in rows[f"agreement_{by}"]]
        if mine != theirs:
            out.append(f"agreement by {by}")
    return out


async def compare_reports(registry, repeat: int = 3) -> tuple[list[dict], list[dict]]:
    """Each report and report figure through qaf's service, and through the
    best raw SQL: (rows for the table, the SQL choices made). Each row says
    whether the floor's figures equal qaf's (``same_rows``; ``differs`` names
    those that do not): a floor answering another question is no floor."""
    import sys

    from bench.run import _actor_ctx
    from core.calendar import london_date
    from core.services import actions, reports

    ctx = await _actor_ctx(registry, "haringey.head_of_qa")
    org = ctx.actor.organisation_id
    today = london_date(ctx.now)
    now = ctx.now
    raw = await Raw.open()
    rr = RawReports(raw, Chooser(raw))
    out: list[dict] = []

    async def row(name: str, qaf, floor, differences=None, **extra) -> None:
        """``differences``: how to tell qaf's rows from the floor's (None: the
        figure rows compared after sorting; False: not compared)."""
        if qaf is None:
            out.append({"name": name, "ms": None, "raw_ms": None, "ratio": None,
                        "note": "qaf has no such function (renamed?)"} | extra)
            return
        await floor()  # choose the best SQL first (not timed)
        if differences is None:
            async def differences():
                return [] if _rows(await qaf()) == _rows(await floor()) else ["rows"]
        if differences is not False:
            differs = await differences()
            extra |= {"same_rows": not differs} | ({"differs": differs} if differs else {})
            if differs:
                print(f"qaf-bench: the floor of {name!r} differs from qaf in {', '.join(differs)}", file=sys.stderr)
        ms, first = await median_ms(qaf, repeat)
        raw_ms, _ = await median_ms(floor, repeat)
        out.append({"name": name, "ms": ms, "first_ms": first, "raw_ms": raw_ms,
                    "ratio": ms / raw_ms if raw_ms else None} | extra)

    try:
        org_scope = reports.Scope("org")
        for kind, label in reports.PERIOD_KINDS.items():
            p = reports.period(kind, today)
            allocated = (await reports.report(ctx, p, org_scope)).counts.allocated

            async def qaf_report(p=p):
                # As the report page fetches it (report_with_moderation).
                await reports.report_with_moderation(ctx, p, org_scope)

            await row(f"report: {label.lower()}", qaf_report, lambda p=p: rr.report(org, p, now),
                      lambda p=p: report_differences(ctx, rr, p, reports.TREND_PERIODS), period=p.key,
                      audits=allocated, kind="report")
        decade = ten_years(today)
        allocated = (await reports.report(ctx, decade, org_scope, trend=0)).counts.allocated

        async def qaf_decade():
            await reports.report_with_moderation(ctx, decade, org_scope, trend=0)

        await row("report: ten years (no trend)", qaf_decade, lambda: rr.report(org, decade, now, trend=0, tag="ten years"),
                  lambda: report_differences(ctx, rr, decade, 0, tag="ten years"), period=f"{decade.start:%Y-%m}..{decade.end:%Y-%m}", audits=allocated, kind="report")

        # The figures one at a time (the service's own functions the report page uses).
        grades = getattr(reports, "_grades", None)
        movement = getattr(reports, "_movement", None)
        follow_ups = getattr(reports, "_follow_ups", None)
        year = reports.period("year", today)
        biggest = {}
        for kind, sql in (("team", "SELECT c.team AS id, COUNT(*) AS n FROM allocation a JOIN child_case c ON c.id = a.child_case"
                                   " WHERE a.organisation = {} AND c.team IS NOT NULL GROUP BY c.team ORDER BY n DESC, c.team LIMIT 1"),
                          ("service", "SELECT t.service AS id, COUNT(*) AS n FROM allocation a JOIN child_case c ON c.id = a.child_case"
                                      " JOIN team t ON t.id = c.team WHERE a.organisation = {} AND t.service IS NOT NULL"
                                      " GROUP BY t.service ORDER BY n DESC, t.service LIMIT 1")):
            found = await raw.one(sql, org)
            if found is not None:
                biggest[kind] = int(found["id"])
        for label, p, tag in (("calendar year", year, "year"), ("ten years", decade, "ten years")):
            await row(f"grades by domain: {label}, whole council", grades and (lambda p=p: grades(ctx, org_scope, p)),
                      lambda p=p, tag=tag: rr.grades(org, p, tag=tag), kind="figure")
        for kind, scope_id in biggest.items():
            scope = reports.Scope(kind, scope_id)
            await row(f"grades by domain: ten years, one {kind}", grades and (lambda s=scope: grades(ctx, s, decade)),
                      lambda k=kind, i=scope_id: rr.grades(org, decade, k, i, tag="ten years"), kind="figure")
        await row("re-audit movement: ten years", movement and (lambda: movement(ctx, org_scope, decade)),
                  lambda: rr.movement(org, decade, tag="ten years"), kind="figure")
        month = reports.period("month", today)
        async def follow_ups_differ():
            fu, r = await follow_ups(ctx, org_scope, month), await rr.follow_ups(org, month, now)
            same = (fu.opened, fu.closed, fu.overdue) == (int(r["opened"]), int(r["closed"]), int(r["overdue"]))
            return [] if same else ["rows"]

        await row("overdue follow-ups (now)", follow_ups and (lambda: follow_ups(ctx, org_scope, month)),
                  lambda: rr.follow_ups(org, month, now), follow_ups_differ, kind="figure")
        director = await raw.one("SELECT p.username AS username, p.id AS id FROM person p WHERE p.organisation = {}"
                                 " AND p.line_manager IS NULL AND EXISTS (SELECT 1 FROM person q WHERE q.line_manager = p.id)"
                                 " ORDER BY p.id LIMIT 1", org)
        if director is not None:
            top = await _actor_ctx(registry, director["username"])
            overdue = await actions.team_overdue(top)
            await row("overdue actions (everyone below the top manager)", lambda: actions.team_overdue(top),
                      lambda: raw.all(overdue_actions_sql(), int(director["id"]), raw.t(top.now), int(director["id"])),
                      False, kind="figure", rows=len(overdue))
        return out, rr.chooser.summary()
    finally:
        await raw.close()
