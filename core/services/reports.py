"""Reports leaders read (CORE-15, HAR-16, BED-6): completion and timeliness,
final grades by domain, re-audit movement, themes from the evidence,
escalations and follow-ups, and the trend against earlier periods.

An allocation belongs to a period when it is *due* in it (Europe/London): a
cycle's audits are due on its last working day, a re-audit at the end of the
month it was allocated, so one range on ``allocation.due_at`` covers both.

Where the figures come from:

* the whole council over whole months (every period a user can choose): the
  counts kept by month and year in the transactions that change them
  (``core.services.month_counts``, ``core.services.standing_grades``), a few
  hundred rows for ten years;
* a team, a service or a partnership's agency: that scope's own audits, from
  the allocations and the standing grades (the latest auditor, moderated and
  final grade of each domain, where a dispute's later final grade wins).

A report's figures are independent queries and run side by side.

Pseudonymised: teams and counts only; no child is named (cases are not even
listed), and no worker is named in any figure here except the moderation
table, which only the QA team sees.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

from core.calendar import LONDON, UTC, to_london
from core.db.tables import Agency, Allocation, Service, Team
from core.forms import OVERALL, fields_of
from core.services import report_access
from core.services.context import Context
from core.services.errors import Forbidden, Invalid, NotFound

PERIOD_KINDS = {
    "month": "Month",
    "quarter": "Quarter",
    "year": "Calendar year",
    "financial_year": "Financial year (April to March)",
}
SCOPE_KINDS = {"org": "Whole council", "service": "Service", "team": "Team", "agency": "Agency"}
TREND_PERIODS = 3
QUOTES_PER_DOMAIN = 3


# ----------------------------------------------------------------- periods


@dataclass(frozen=True, slots=True)
class Period:
    kind: str
    start: dt.date  # first day
    end: dt.date  # first day after

    @property
    def key(self) -> str:
        """The value the report form sends for this period: its first month."""
        return f"{self.start:%Y-%m}"

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.start:%B %Y}"
        if self.kind == "year":
            return f"{self.start:%Y}"
        if self.kind == "financial_year":
            return f"Financial year {self.start.year} to {self.start.year + 1}"
        last = _add_months(self.end, -1)
        return f"{self.start:%B} to {last:%B %Y}"

    @property
    def short_label(self) -> str:
        if self.kind == "month":
            return f"{self.start:%b %Y}"
        if self.kind == "quarter":
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year}"
        if self.kind == "financial_year":
            return f"{self.start.year}-{str(self.start.year + 1)[2:]}"
        return f"{self.start:%Y}"

    @property
    def start_at(self) -> dt.datetime:
        """London midnight starting the period, as UTC."""
        return dt.datetime.combine(self.start, dt.time(), tzinfo=LONDON).astimezone(UTC)

    @property
    def end_at(self) -> dt.datetime:
        return dt.datetime.combine(self.end, dt.time(), tzinfo=LONDON).astimezone(UTC)

    @property
    def whole_months(self) -> bool:
        """Runs from a month's first day to another's: what the monthly counts
        (``grade_month``, ``agreement_month``, ``allocation_month`` ...) can add up."""
        return self.start.day == 1 and self.end.day == 1

    @property
    def months(self) -> tuple[str, str]:
        """The monthly counts' keys: first month, and the first month after."""
        return f"{self.start:%Y-%m}", f"{self.end:%Y-%m}"

    def previous(self) -> Period:
        return period(self.kind, _add_months(self.start, -1))


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period(kind: str, day: dt.date) -> Period:
    """The period of ``kind`` that contains ``day``."""
    if kind == "month":
        start = dt.date(day.year, day.month, 1)
        return Period(kind, start, _add_months(start, 1))
    if kind == "quarter":
        start = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        return Period(kind, start, _add_months(start, 3))
    if kind == "year":
        return Period(kind, dt.date(day.year, 1, 1), dt.date(day.year + 1, 1, 1))
    if kind == "financial_year":
        year = day.year if day.month >= 4 else day.year - 1
        return Period(kind, dt.date(year, 4, 1), dt.date(year + 1, 4, 1))
    raise Invalid("Choose a period", {"period": "Choose month, quarter, year or financial year"})


def parse_period(kind: str, value: str, today: dt.date) -> Period:
    """``value`` is a month (2026-11) or a day (2026-11-15) inside the period; blank = today."""
    value = (value or "").strip()
    if not value:
        return period(kind, today)
    try:
        day = dt.date.fromisoformat(value if len(value) > 7 else f"{value}-01")
    except ValueError:
        raise Invalid("Give the month as year and month", {"date": "Give the month like 2026-11"}) from None
    return period(kind, day)


# ------------------------------------------------------------------ scopes


@dataclass(frozen=True, slots=True)
class Scope:
    kind: str  # org | service | team
    id: int | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class ScopeChoice:
    value: str  # "org", "service:3", "team:7", "agency:2"
    text: str


async def scope_choices(ctx: Context) -> list[ScopeChoice]:
    """What the actor may choose: all of it for whoever reads the whole
    council's reports, else the services and teams they lead (``report_access``)."""
    reach = await _allowed(ctx)
    org = ctx.actor.organisation_id
    choices = [ScopeChoice("org", "Whole council")] if reach.whole else []
    for s in await Service.select(Service.id, Service.name).where(Service.organisation == org).order_by(Service.name):
        if reach.covers("service", s["id"]):
            choices.append(ScopeChoice(f"service:{s['id']}", f"Service: {s['name']}"))
    for t in await Team.select(Team.id, Team.name).where(Team.organisation == org).order_by(Team.name):
        if reach.covers("team", t["id"]):
            choices.append(ScopeChoice(f"team:{t['id']}", f"Team: {t['name']}"))
    agencies = await Agency.select(Agency.id, Agency.name).where(Agency.organisation == org).order_by(Agency.name)
    if reach.whole and len(agencies) > 1:
        # A partnership's agencies (CSCP-1): each agency's own returns. A
        # council has one agency, itself, the same as the whole council.
        for a in agencies:
            choices.append(ScopeChoice(f"agency:{a['id']}", f"Agency: {a['name']}"))
    return choices


async def parse_scope(ctx: Context, value: str) -> Scope:
    """``org``, ``service:<id>``, ``team:<id>`` or ``agency:<id>`` of the actor's own organisation.
    A manager who reads only what they lead gets, for ``org`` (the pages'
    default), the first of their own choices."""
    reach = await _allowed(ctx)
    value = (value or "org").strip()
    if value == "org" and not reach.whole:
        value = (await scope_choices(ctx))[0].value
    if value == "org":
        return Scope("org")
    kind, _, raw = value.partition(":")
    table = {"service": Service, "team": Team, "agency": Agency}.get(kind)
    if table is None or not raw.isdigit():
        raise Invalid("Choose what the report covers", {"scope": "Choose the whole council, a service, a team or an agency"})
    row = await table.select(table.id, table.name).where(
        (table.id == int(raw)) & (table.organisation == ctx.actor.organisation_id)
    ).first()
    if row is None or not reach.covers(kind, row["id"]):
        raise NotFound(f"There is no {kind} with that number that you can see")
    return Scope(kind, row["id"], row["name"])


# ------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class Counts:
    allocated: int = 0
    completed: int = 0
    on_time: int = 0
    overdue: int = 0


@dataclass(frozen=True, slots=True)
class DomainGrades:
    domain: str
    title: str
    levels: dict[str, int]  # level key -> final grades, in scale order
    changed_by_moderation: int
    changed_by_dispute: int

    @property
    def total(self) -> int:
        return sum(self.levels.values())


@dataclass(frozen=True, slots=True)
class DomainMovement:
    domain: str
    title: str
    improved: int
    same: int
    downgraded: int


@dataclass(frozen=True, slots=True)
class Theme:
    domain: str
    title: str
    count: int
    quotes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FollowUps:
    opened: int = 0
    closed: int = 0
    overdue: int = 0


@dataclass(frozen=True, slots=True)
class TrendPoint:
    period: Period
    counts: Counts
    overall: dict[str, int]  # final overall grades by level


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    scope: Scope
    levels: tuple[tuple[str, str], ...]  # (key, label) best first
    counts: Counts
    grades: tuple[DomainGrades, ...]  # the overall grade first, then each domain
    movement: tuple[DomainMovement, ...]
    strengths: tuple[Theme, ...]
    development: tuple[Theme, ...]
    escalations: tuple[tuple[str, int], ...]  # (rule, times raised)
    follow_ups: FollowUps
    trend: tuple[TrendPoint, ...]  # oldest first, this period last
    titles: dict[str, str] = field(default_factory=dict)

    @property
    def overall(self) -> DomainGrades | None:
        return next((g for g in self.grades if g.domain == OVERALL), None)


async def _allowed(ctx: Context, scope: Scope | None = None) -> report_access.Reach:
    """The one policy (``core.services.report_access``): whether the actor
    reads reports, and of ``scope``."""
    reach = await report_access.require(ctx)
    if scope is not None and not reach.covers(scope.kind, scope.id):
        raise Forbidden("Your reports are of the teams and services you lead")
    return reach


def scope_audits(scope: Scope, args: list) -> str:
    """SQL condition (over ``allocation a``) choosing a scope's audits, of any
    period: a team's or service's by their cases, an agency's (CSCP-1: a
    partnership's agencies) by its auditors, the agency's own returns.

    Cases as ``a.child_case IN (...)``: found from the team by index, where a
    join let SQLite walk every audit of the period first (measured: 350 ms
    against 3 ms for a service's ten years at scale 1)."""
    args.append(scope.id)
    # Issue 13: an audit on a person (no case) is their team's. As one
    # ``a.id IN (… UNION ALL …)``: an OR of the two made SQLite walk the
    # council's audits of the period row by row (measured at scale 0.1: a
    # team's ten years 65 ms against 6 ms); the union of the team's case
    # audits (allocation_case_due) and person audits (allocation_subject_person)
    # is probed from the period's index instead (4.5 ms).
    if scope.kind == "team":
        args.append(scope.id)
        return ("a.id IN (SELECT x.id FROM allocation x WHERE x.child_case IN (SELECT c.id FROM child_case c WHERE c.team = {})"
                " UNION ALL SELECT x.id FROM allocation x WHERE x.subject_person IN (SELECT p.id FROM person p WHERE p.team = {}))")
    if scope.kind == "service":
        args.append(scope.id)
        return ("a.id IN (SELECT x.id FROM allocation x WHERE x.child_case IN"
                " (SELECT c.id FROM team t JOIN child_case c ON c.team = t.id WHERE t.service = {})"
                " UNION ALL SELECT x.id FROM allocation x WHERE x.subject_person IN"
                " (SELECT p.id FROM team t JOIN person p ON p.team = t.id WHERE t.service = {}))")
    return "a.auditor IN (SELECT p.id FROM person p WHERE p.agency = {})"


async def _raw(sql: str, args: list) -> list[dict]:
    return await Allocation.raw(sql, *args)


def _as_of(ctx: Context, p: Period) -> dt.datetime:
    return min(ctx.now, p.end_at)


def _monthly(scope: Scope, p: Period) -> bool:
    """Whether a figure can add up monthly counts: they are kept for the
    whole council (a team's or service's are counted from its rows)."""
    return scope.kind == "org" and p.whole_months


def _month_range(ctx: Context, p: Period, alias: str = "m") -> tuple[str, list]:
    """SQL conditions (over a ``*_month`` table) choosing the period's months."""
    first, after = p.months
    return (f"{alias}.organisation = {{}} AND {alias}.month >= {{}} AND {alias}.month < {{}}",
            [ctx.actor.organisation_id, first, after])


async def _counts(ctx: Context, scope: Scope, p: Period) -> Counts:
    return (await _counts_of_periods(ctx, [p]))[0] if _monthly(scope, p) else (await _counts_of_spans(ctx, scope, [p]))[0]


async def _counts_of_spans(ctx: Context, scope: Scope, periods: list[Period]) -> list[Counts]:
    """Each period's counts from the allocations, in one pass over the span
    they cover: a team's or service's audits found once from its cases
    (allocation_case_due), not once per period."""
    args: list = []
    columns = []
    for i, q in enumerate(periods):
        inside = "due_at >= {} AND due_at < {}"
        columns += [
            f"COALESCE(SUM(CASE WHEN {inside} THEN 1 ELSE 0 END), 0) AS allocated_{i}",
            f"COALESCE(SUM(CASE WHEN {inside} AND finalised_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS completed_{i}",
            f"COALESCE(SUM(CASE WHEN {inside} AND finalised_at IS NOT NULL AND submitted_at <= due_at THEN 1 ELSE 0 END), 0) AS on_time_{i}",
            f"COALESCE(SUM(CASE WHEN {inside} AND finalised_at IS NULL AND due_at < {{}} THEN 1 ELSE 0 END), 0) AS overdue_{i}",
        ]
        args += [q.start_at, q.end_at] * 4 + [_as_of(ctx, q)]
    args += [ctx.actor.organisation_id, min(q.start_at for q in periods), max(q.end_at for q in periods)]
    where = "a.organisation = {} AND a.due_at >= {} AND a.due_at < {}"
    if scope.kind != "org":
        where += f" AND {scope_audits(scope, args)}"
    row = (await _raw(f"SELECT {', '.join(columns)} FROM allocation a WHERE {where}", args))[0]
    return [
        Counts(int(row[f"allocated_{i}"]), int(row[f"completed_{i}"]), int(row[f"on_time_{i}"]), int(row[f"overdue_{i}"]))
        for i in range(len(periods))
    ]


async def _counts_of_periods(ctx: Context, periods: list[Period]) -> list[Counts]:
    """The whole council's counts for each period (a report's and its trend's,
    one read) from ``allocation_month``. Overdue is open past the due date at
    ``as_of``: every open audit of a month before ``as_of``'s month, and in
    that month those due before ``as_of``."""
    span = Period("span", min(q.start for q in periods), max(q.end for q in periods))
    where, args = _month_range(ctx, span)
    months = await _raw(
        f"SELECT m.month AS month, m.allocated AS allocated, m.completed AS completed, m.on_time AS on_time"
        f" FROM allocation_month m WHERE {where}",
        args,
    )
    return [await _counts_from_months(ctx, q, months) for q in periods]


async def _counts_from_months(ctx: Context, p: Period, months: list[dict]) -> Counts:
    as_of = _as_of(ctx, p)
    current = period("month", to_london(as_of).date())
    first, after = p.months
    inside = [m for m in months if first <= m["month"] < after]
    current_month = current.months[0]
    overdue = sum(int(m["allocated"]) - int(m["completed"]) for m in inside if m["month"] < current_month)
    if p.start <= current.start < p.end:
        # Open counted in the SELECT, not the WHERE: a condition on
        # finalised_at led SQLite to walk every open audit of the council
        # (allocation_finalised) instead of this month's (measured 6.5 ms
        # against 0.3 ms at scale 1).
        overdue += int((await _raw(
            "SELECT COALESCE(SUM(CASE WHEN finalised_at IS NULL THEN 1 ELSE 0 END), 0) AS n"
            " FROM allocation WHERE organisation = {} AND due_at >= {} AND due_at < {}",
            [ctx.actor.organisation_id, current.start_at, as_of],
        ))[0]["n"])
    return Counts(
        sum(int(m["allocated"]) for m in inside), sum(int(m["completed"]) for m in inside), sum(int(m["on_time"]) for m in inside), overdue
    )


async def _overall_by_month(ctx: Context, periods: list[Period]) -> list[dict]:
    """The whole council's final overall grades by month and level over the periods' span."""
    where, args = _month_range(ctx, Period("span", min(q.start for q in periods), max(q.end for q in periods)))
    return await _raw(
        "SELECT m.month AS month, m.final_level AS level, SUM(m.n) AS n FROM grade_month m"
        f" WHERE {where} AND m.domain = {{}} GROUP BY m.month, m.final_level",
        [*args, OVERALL],
    )


def _standing(ctx: Context, scope: Scope, p: Period, alias: str = "s") -> tuple[str, list]:
    """SQL conditions (over ``standing_grade``) choosing the domain grades of
    the audits in scope and period. The whole council reads one index range;
    a team or service reads its own audits of the period."""
    if scope.kind != "org":
        # A team's or service's audits of the period found from the team (its
        # cases, their audits by allocation_case_due), then their standing
        # grades by allocation: with the council's period range here as well,
        # SQLite walked every standing grade of the period instead (measured
        # at scale 1: a team's ten years 67 ms against 3 ms, a service's 92
        # against 19). An agency's the same way, from its auditors.
        args: list = []
        chosen = scope_audits(scope, args)
        args += [p.start_at, p.end_at]
        return (f"{alias}.allocation IN (SELECT a.id FROM allocation a WHERE {chosen}"
                " AND a.due_at >= {} AND a.due_at < {})"), args
    sql = f"{alias}.organisation = {{}} AND {alias}.due_at >= {{}} AND {alias}.due_at < {{}}"
    return sql, [ctx.actor.organisation_id, p.start_at, p.end_at]


async def _grades(ctx: Context, scope: Scope, p: Period) -> list[dict]:
    """Final grades per domain and level, and how many moderation or a
    dispute changed (the final differs from the grade before it)."""
    if _monthly(scope, p):
        # The whole council over whole months: add up the monthly counts
        # (grade_month), a few hundred rows for ten years.
        where, args = _month_range(ctx, p)
        return await _raw(
            "SELECT m.domain AS domain, m.final_level AS level, SUM(m.n) AS n,"
            " SUM(m.by_moderation) AS by_moderation, SUM(m.by_dispute) AS by_dispute"
            f" FROM grade_month m WHERE {where} GROUP BY m.domain, m.final_level HAVING SUM(m.n) > 0",
            args,
        )
    where, args = _standing(ctx, scope, p)
    return await _raw(
        "SELECT s.domain AS domain, s.final_level AS level, COUNT(*) AS n,"
        " COALESCE(SUM(CASE WHEN s.moderated_level <> s.auditor_level THEN 1 ELSE 0 END), 0) AS by_moderation,"
        " COALESCE(SUM(CASE WHEN s.final_level <> s.moderated_level THEN 1 ELSE 0 END), 0) AS by_dispute"
        f" FROM standing_grade s WHERE {where} AND s.final_level IS NOT NULL"
        " GROUP BY s.domain, s.final_level",
        args,
    )


async def _movement(ctx: Context, scope: Scope, p: Period) -> list[dict]:
    """Each re-audit's final grade per domain against its predecessor's."""
    if _monthly(scope, p):
        where, args = _month_range(ctx, p)
        return await _raw(
            "SELECT m.domain AS domain, SUM(m.improved) AS improved, SUM(m.same) AS same, SUM(m.downgraded) AS downgraded"
            f" FROM movement_month m WHERE {where} GROUP BY m.domain"
            " HAVING SUM(m.improved) + SUM(m.same) + SUM(m.downgraded) > 0",
            args,
        )
    where, args = _standing(ctx, scope, p)
    return await _raw(
        "SELECT s.domain AS domain,"
        " COALESCE(SUM(CASE WHEN s.final_rank < b.final_rank THEN 1 ELSE 0 END), 0) AS improved,"
        " COALESCE(SUM(CASE WHEN s.final_rank = b.final_rank THEN 1 ELSE 0 END), 0) AS same,"
        " COALESCE(SUM(CASE WHEN s.final_rank > b.final_rank THEN 1 ELSE 0 END), 0) AS downgraded"
        " FROM standing_grade s JOIN standing_grade b ON b.allocation = s.previous AND b.domain = s.domain"
        f" WHERE {where} AND s.previous IS NOT NULL AND s.final_rank IS NOT NULL AND b.final_rank IS NOT NULL"
        " GROUP BY s.domain",
        args,
    )


# Strengths are the best two grades of the scale, areas for development the rest.
_STRONG = "CASE WHEN s.final_rank <= 1 THEN 1 ELSE 0 END"


async def _theme_counts(ctx: Context, scope: Scope, p: Period) -> list[dict]:
    """How many final domain grades (not overall) were strengths or areas for development."""
    if _monthly(scope, p):
        where, args = _month_range(ctx, p)
        return await _raw(
            "SELECT m.domain AS domain, CASE WHEN m.final_rank <= 1 THEN 1 ELSE 0 END AS strong, SUM(m.n) AS n"
            f" FROM grade_month m WHERE {where} AND m.domain <> 'overall'"
            " GROUP BY m.domain, CASE WHEN m.final_rank <= 1 THEN 1 ELSE 0 END HAVING SUM(m.n) > 0",
            args,
        )
    where, args = _standing(ctx, scope, p)
    return await _raw(
        f"SELECT s.domain AS domain, {_STRONG} AS strong, COUNT(*) AS n FROM standing_grade s"
        f" WHERE {where} AND s.final_level IS NOT NULL AND s.domain <> 'overall'"
        f" GROUP BY s.domain, {_STRONG}",
        args,
    )


async def _theme_quotes(ctx: Context, scope: Scope, p: Period, groups: list[tuple[str, int]]) -> list[dict]:
    """Up to QUOTES_PER_DOMAIN non-blank evidence texts of each (domain,
    strong) group, from the audits due latest: one statement, each group
    reading only as far back as it needs rather than every text of the period.

    A team's or service's groups walk the council's grades back the same way
    and keep those of its audits, found once for the statement (a
    materialised ``scope_set``; the ``+`` keeps the planner walking by date,
    not fetching every grade of the set for every group): a service's year
    went from 89 ms to a few."""
    if not groups:
        return []
    args: list = []
    prefix, member = "", ""
    if scope.kind != "org":
        chosen = scope_audits(scope, args)
        args += [p.start_at, p.end_at]
        prefix = (f"WITH scope_set AS MATERIALIZED (SELECT a.id FROM allocation a WHERE {chosen}"
                  " AND a.due_at >= {} AND a.due_at < {}) ")
        member = " AND +s.allocation IN (SELECT id FROM scope_set)"
    parts = []
    for i, (domain, strong) in enumerate(groups):
        rank = "s.final_rank <= 1" if strong else "s.final_rank >= 2"
        parts.append(
            f"SELECT * FROM (SELECT s.domain AS domain, {int(strong)} AS strong, g.evidence AS evidence"
            f" FROM standing_grade s JOIN grade g ON g.id = s.final_grade"
            f" WHERE s.organisation = {{}} AND s.due_at >= {{}} AND s.due_at < {{}}{member}"
            f" AND s.domain = {{}} AND {rank} AND TRIM(g.evidence) <> ''"
            f" ORDER BY s.due_at DESC, s.allocation DESC LIMIT {QUOTES_PER_DOMAIN}) q{i}"
        )
        args += [ctx.actor.organisation_id, p.start_at, p.end_at, domain]
    return await _raw(prefix + " UNION ALL ".join(parts), args)


async def _escalations(ctx: Context, scope: Scope, p: Period) -> list[dict]:
    """Escalations raised in the period; one raised tells several people (one
    notification each, same instant), so distinct (rule, allocation, instant)."""
    if _monthly(scope, p):
        where, args = _month_range(ctx, p)
        return await _raw(
            f"SELECT m.kind AS kind, SUM(m.raised) AS n FROM escalation_month m WHERE {where}"
            " GROUP BY m.kind HAVING SUM(m.raised) > 0 ORDER BY m.kind",
            args,
        )
    args: list = [ctx.actor.organisation_id, p.start_at, p.end_at]
    sql = (
        "SELECT kind, COUNT(*) AS n FROM (SELECT DISTINCT n.kind AS kind, n.allocation, n.created_at"
        " FROM notification n"
        " WHERE n.organisation = {} AND n.kind >= 'escalation:' AND n.kind < 'escalation;' AND n.created_at >= {} AND n.created_at < {}"
        " AND n.allocation IS NOT NULL"
    )
    sql += _scope_allocations(scope, args, "n.allocation")
    return await _raw(sql + ") raised GROUP BY kind ORDER BY kind", args)


def _scope_allocations(scope: Scope, args: list, column: str) -> str:
    """`` AND column IN (the scope's allocations, any period)``; nothing for the council."""
    if scope.kind == "org":
        return ""
    return f" AND {column} IN (SELECT a.id FROM allocation a WHERE {scope_audits(scope, args)})"


async def _follow_ups(ctx: Context, scope: Scope, p: Period) -> FollowUps:
    """Actions opened and closed in the period, and those open past their due date at its end (or now).

    Four counts, each one range of an index (``follow_up_report_*``), rather
    than one pass over every follow-up the council ever had; for the whole
    council over whole months, opened and closed add up ``follow_up_month``."""
    as_of = _as_of(ctx, p)
    org = ctx.actor.organisation_id
    args: list = []
    prefix, member = "", ""
    if scope.kind != "org":
        # The scope's audits (any period) found once for the four counts.
        prefix = f"WITH scope_set AS MATERIALIZED (SELECT a.id FROM allocation a WHERE {scope_audits(scope, args)}) "
        member = " AND f.allocation IN (SELECT id FROM scope_set)"

    def count(condition: str, *values) -> str:
        args.extend([org, *values])
        return f"(SELECT COUNT(*) FROM follow_up f WHERE f.organisation = {{}} AND {condition}{member})"

    if _monthly(scope, p):
        # The whole council over whole months: opened and closed are kept by
        # month (follow_up_month); only overdue, which depends on the day, is
        # counted from the rows.
        where, more = _month_range(ctx, p)
        args += more * 2
        opened = f"(SELECT COALESCE(SUM(m.opened), 0) FROM follow_up_month m WHERE {where})"
        closed = f"(SELECT COALESCE(SUM(m.closed), 0) FROM follow_up_month m WHERE {where})"
    else:
        opened = count("f.created_at >= {} AND f.created_at < {}", p.start_at, p.end_at)
        closed = count("f.done_at >= {} AND f.done_at < {}", p.start_at, p.end_at)
    # Overdue at ``as_of``: due before it and not done by then (still open, or done later).
    still_open = count("f.done_at IS NULL AND f.due_at < {} AND f.created_at < {}", as_of, as_of)
    done_late = count("f.done_at > {} AND f.due_at < {} AND f.created_at < {}", as_of, as_of, as_of)
    sql = f"{prefix}SELECT {opened} AS opened, {closed} AS closed, {still_open} AS still_open, {done_late} AS done_late"
    row = (await _raw(sql, args))[0]
    return FollowUps(int(row["opened"]), int(row["closed"]), int(row["still_open"]) + int(row["done_late"]))


async def _definitions(ctx: Context) -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
    """The scale levels (best first) and domain titles of the council's audit
    form: the form its monthly draw is done on, else the form its latest
    allocation used."""
    from core.programme import drawn_form

    form = None
    if (drawn := drawn_form(ctx.registry, ctx.actor.council)) is not None:
        form = ctx.registry.form(drawn)
    else:
        row = await Allocation.select(Allocation.form_key, Allocation.form_version).where(
            Allocation.organisation == ctx.actor.organisation_id
        ).order_by(Allocation.id, ascending=False).first()
        if row:
            form = ctx.registry.form(row["form_key"], row["form_version"])
    levels: tuple[tuple[str, str], ...] = ()
    titles: dict[str, str] = {}
    if form is not None:
        ff = fields_of(ctx.registry, ctx.actor.council, form)
        if ff.scale:
            levels = tuple((lvl.key, lvl.label) for lvl in ff.scale.levels)
        titles = dict(ff.domains())
    titles.setdefault(OVERALL, "Overall grade")
    return levels, titles


async def _trend(ctx: Context, scope: Scope, p: Period, earlier: list[Period]) -> tuple[list[Counts], list[list[dict]]]:
    """The counts of each earlier period and of ``p`` (last), and the overall
    grade rows (level, n) of each earlier period."""
    if _monthly(scope, p):
        # The whole council: every period's counts in one read of the monthly
        # counts, and the earlier periods' overall grades in another.
        counts, by_month = await asyncio.gather(
            _counts_of_periods(ctx, [*earlier, p]), _overall_by_month(ctx, earlier) if earlier else _no_rows()
        )
        overall = []
        for q in earlier:
            first, after = q.months
            overall.append([r for r in by_month if first <= r["month"] < after])
        return counts, overall
    counts, overall = await asyncio.gather(
        _counts_of_spans(ctx, scope, [*earlier, p]), _overall_of_periods(ctx, scope, earlier) if earlier else _no_rows()
    )
    return counts, overall or []


async def _overall_of_periods(ctx: Context, scope: Scope, periods: list[Period]) -> list[list[dict]]:
    """The final overall grades (level, n) of each of these consecutive
    periods, in one pass over the span they cover."""
    span = Period("span", periods[0].start, periods[-1].end)
    where, args = _standing(ctx, scope, span)
    which = "CASE " + " ".join("WHEN s.due_at < {} THEN %d" % i for i in range(len(periods))) + " END"
    rows = await _raw(
        f"SELECT x.period AS period, x.level AS level, COUNT(*) AS n FROM (SELECT {which} AS period, s.final_level AS level"
        f" FROM standing_grade s WHERE {where} AND s.domain = {{}} AND s.final_level IS NOT NULL) x GROUP BY x.period, x.level",
        [*(q.end_at for q in periods), *args, OVERALL],
    )
    return [[r for r in rows if int(r["period"]) == i] for i in range(len(periods))]


async def _no_rows() -> list[dict]:
    return []


async def report(ctx: Context, p: Period, scope: Scope, trend: int = TREND_PERIODS) -> Report:
    """Every figure of one report: ``scope`` (from :func:`parse_scope`) over period ``p``.

    The figures are independent queries, run side by side (each on its own
    connection: SQLite's worker threads read concurrently under WAL,
    PostgreSQL's pool), so a report takes about as long as its slowest figure
    rather than the sum of all of them."""
    await _allowed(ctx, scope)
    earlier: list[Period] = []
    q = p
    for _ in range(trend):
        q = q.previous()
        earlier.insert(0, q)
    (levels, titles), grade_rows, movement_rows, theme_rows, escalation_rows, follow_ups, (all_counts, earlier_overall) = (
        await asyncio.gather(
            _definitions(ctx),
            _grades(ctx, scope, p),
            _movement(ctx, scope, p),
            _theme_counts(ctx, scope, p),
            _escalations(ctx, scope, p),
            _follow_ups(ctx, scope, p),
            _trend(ctx, scope, p, earlier),
        )
    )
    counts_by = {(r["domain"], int(r["strong"])): int(r["n"]) for r in theme_rows}
    # The quotes need the groups that have grades: the one figure that waits.
    quote_rows = await _theme_quotes(ctx, scope, p, sorted(counts_by))

    order = {key: i for i, (key, _) in enumerate(levels)}
    by_domain: dict[str, dict] = {}
    for row in grade_rows:
        if row["level"] not in order:
            # A grade on another form's scale (a partnership's Section 11
            # return beside its audit tool's, issue 14): not this report's.
            continue
        entry = by_domain.setdefault(row["domain"], {"levels": {k: 0 for k, _ in levels}, "mod": 0, "disp": 0})
        entry["levels"][row["level"]] = entry["levels"].get(row["level"], 0) + int(row["n"])
        entry["mod"] += int(row["by_moderation"])
        entry["disp"] += int(row["by_dispute"])
    domain_order = {key: i for i, key in enumerate(titles)}

    def sort_key(domain: str) -> tuple[int, str]:
        return (-1 if domain == OVERALL else domain_order.get(domain, len(domain_order)), domain)

    grades = tuple(
        DomainGrades(
            d,
            titles.get(d, d),
            dict(sorted(e["levels"].items(), key=lambda kv: order.get(kv[0], len(order)))),
            e["mod"],
            e["disp"],
        )
        for d, e in sorted(by_domain.items(), key=lambda kv: sort_key(kv[0]))
    )
    movement = tuple(
        DomainMovement(r["domain"], titles.get(r["domain"], r["domain"]), int(r["improved"]), int(r["same"]), int(r["downgraded"]))
        for r in sorted(movement_rows, key=lambda r: sort_key(r["domain"]))
    )

    quotes_by: dict[tuple[str, int], list[str]] = {}
    for r in quote_rows:
        quotes_by.setdefault((r["domain"], int(r["strong"])), []).append(r["evidence"].strip())

    def themes(strengths: bool) -> tuple[Theme, ...]:
        out = [
            Theme(d, titles.get(d, d), n, tuple(quotes_by.get((d, strong), ())))
            for (d, strong), n in counts_by.items()
            if strong == int(strengths)
        ]
        return tuple(sorted(out, key=lambda t: (-t.count, sort_key(t.domain))))

    trend_points = []
    for q, q_counts, rows in zip(earlier, all_counts, earlier_overall):
        overall = {k: 0 for k, _ in levels}
        for row in rows:
            overall[row["level"]] = overall.get(row["level"], 0) + int(row["n"])
        trend_points.append(TrendPoint(q, q_counts, overall))
    counts = all_counts[-1]
    trend_points.append(TrendPoint(p, counts, dict(grades[0].levels) if grades and grades[0].domain == OVERALL else {k: 0 for k, _ in levels}))

    return Report(
        period=p,
        scope=scope,
        levels=levels,
        counts=counts,
        grades=grades,
        movement=movement,
        strengths=themes(True),
        development=themes(False),
        escalations=tuple((r["kind"].split(":", 1)[1], int(r["n"])) for r in escalation_rows),
        follow_ups=follow_ups,
        trend=tuple(trend_points),
        titles=titles,
    )


# ------------------------------------------------- moderation, QA managers


@dataclass(frozen=True, slots=True)
class AgreementRow:
    who: str  # an auditor's name, or a team's
    moderated: int
    agreed: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.moderated if self.moderated else None


def _agreement_spans(p: Period) -> list[tuple[str, str, str, str]]:
    """(table, column, first, after) covering a whole-month period: the
    calendar years it holds whole from ``agreement_year``, the months before
    and after them from ``agreement_month``."""
    first_year = p.start.year if p.start.month == 1 else p.start.year + 1
    after_year = p.end.year
    if first_year >= after_year:
        return [("agreement_month", "month", *p.months)]
    spans = []
    if p.start < dt.date(first_year, 1, 1):
        spans.append(("agreement_month", "month", f"{p.start:%Y-%m}", f"{first_year}-01"))
    spans.append(("agreement_year", "year", str(first_year), str(after_year)))
    if dt.date(after_year, 1, 1) < p.end:
        spans.append(("agreement_month", "month", f"{after_year}-01", f"{p.end:%Y-%m}"))
    return spans


async def moderation_agreement(ctx: Context, p: Period, scope: Scope, by: str = "auditor") -> list[AgreementRow]:
    """How often QA left the auditor's grade as it was, per auditor or per team
    (HAR 2.6, BED-5). Names auditors: QA (``qa_review``) only."""
    if ctx.actor is None or not ctx.actor.can("qa_review"):
        raise Forbidden("Only the QA team sees moderation by auditor and team")
    # Counted against the auditor and the case's team as they were when the
    # audit was graded (a later reassignment does not move them).
    if by == "team":
        column, name, join = "team", "COALESCE(tm.name, '(no team)')", "LEFT JOIN team tm ON tm.id = x.who_id"
    else:
        column, name, join = "auditor", "p.display_name", "JOIN person p ON p.id = x.who_id"
    if p.whole_months:
        # Whole months: add up the monthly counts (agreement_month); for the
        # whole council, the calendar years the period holds whole from the
        # yearly ones (agreement_year): a year's table reads 535 rows, not 9,800.
        args = []
        parts = []
        spans = _agreement_spans(p) if scope.kind == "org" else [("agreement_month", "month", *p.months)]
        for table, period, first, after in spans:
            args += [ctx.actor.organisation_id, first, after]
            if table == "agreement_year":
                args.append(column)
                parts.append(
                    "SELECT x.who AS who_id, x.moderated AS moderated, x.agreed AS agreed FROM agreement_year x"
                    " WHERE x.organisation = {} AND x.year >= {} AND x.year < {} AND x.dimension = {}"
                )
                continue
            where = "x.organisation = {} AND x.month >= {} AND x.month < {}"
            if scope.kind == "team":
                where += " AND x.team = {}"
                args.append(scope.id)
            elif scope.kind == "service":
                where += " AND x.team IN (SELECT t.id FROM team t WHERE t.service = {})"
                args.append(scope.id)
            elif scope.kind == "agency":
                where += " AND x.auditor IN (SELECT p.id FROM person p WHERE p.agency = {})"
                args.append(scope.id)
            parts.append(f"SELECT x.{column} AS who_id, x.moderated AS moderated, x.agreed AS agreed FROM {table} x WHERE {where}")
        counted = (
            f"SELECT u.who_id AS who_id, SUM(u.moderated) AS moderated, SUM(u.agreed) AS agreed"
            f" FROM ({' UNION ALL '.join(parts)}) u GROUP BY u.who_id HAVING SUM(u.moderated) > 0"
        )
    else:
        where, args = _standing(ctx, scope, p, alias="g")
        counted = (
            f"SELECT g.{column} AS who_id, COUNT(*) AS moderated,"
            " COALESCE(SUM(CASE WHEN g.moderated_level = g.auditor_level THEN 1 ELSE 0 END), 0) AS agreed"
            f" FROM standing_grade g WHERE {where} AND g.moderated_level IS NOT NULL GROUP BY g.{column}"
        )
    # Counted per auditor or team first, then named: naming every monthly row
    # before adding them up cost 5-6 ms a table over a year at scale 1.
    rows = await _raw(
        f"SELECT {name} AS who, x.moderated AS moderated, x.agreed AS agreed FROM ({counted}) x {join}"
        f" ORDER BY {name}, x.who_id",
        args,
    )
    return [AgreementRow(r["who"], int(r["moderated"]), int(r["agreed"])) for r in rows]


async def report_with_moderation(
    ctx: Context, p: Period, scope: Scope, trend: int = TREND_PERIODS
) -> tuple[Report, dict[str, list[AgreementRow]] | None]:
    """What the report page shows: the report and, for the QA team only, its
    moderation tables by auditor and by team, fetched side by side."""
    if not (ctx.actor is not None and ctx.actor.can("qa_review")):
        return await report(ctx, p, scope, trend), None
    found, by_auditor, by_team = await asyncio.gather(
        report(ctx, p, scope, trend), moderation_agreement(ctx, p, scope, "auditor"), moderation_agreement(ctx, p, scope, "team")
    )
    return found, {"auditor": by_auditor, "team": by_team}
