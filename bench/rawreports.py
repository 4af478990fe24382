"""The best raw SQL for every figure of a report (core.services.reports), run
through the raw driver: the floor each qaf report is measured against.

Each function answers the same question as the service (same rows, same
meaning: an allocation belongs to a period when it is due in it; the latest
final grade per allocation and domain wins, by ``set_at`` then id), written
for speed rather than copied from the service, on the same schema: the
grade figures read the ``standing_grade`` summary qaf keeps (the shapes over
the whole grade chain took seconds at scale 1). Functions returning a list
give candidates; :class:`bench.rawdb.Chooser` keeps the fastest.
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


def themes_sql(scope_kind: str = "org") -> str:
    """Per domain (not overall) and strength (best two grades or not): the
    count of latest final grades and the three latest non-blank quotes."""
    return (
        "WITH lf AS (SELECT s.domain AS domain, s.final_rank AS rank, g.evidence AS evidence, g.set_at AS set_at, g.id AS id"
        f" FROM standing_grade s JOIN grade g ON g.id = s.final_grade WHERE {_standing_where(scope_kind)}"
        " AND s.final_level IS NOT NULL AND s.domain <> 'overall'),"
        " t AS (SELECT domain, CASE WHEN rank <= 1 THEN 1 ELSE 0 END AS strong, evidence, set_at, id FROM lf)"
        " SELECT domain, strong, COUNT(*) AS n, NULL AS evidence, 0 AS q FROM t GROUP BY domain, strong"
        " UNION ALL SELECT domain, strong, 0, evidence, q FROM"
        " (SELECT domain, strong, evidence, ROW_NUMBER() OVER (PARTITION BY domain, strong ORDER BY set_at DESC, id DESC) AS q"
        " FROM t WHERE TRIM(evidence) <> '') e WHERE q <= 3"
    )


def counts_sql(periods: int, scope_kind: str = "org") -> str:
    """Completion for ``periods`` consecutive periods in one scan of the
    allocations due in the whole span: four sums per period."""
    cols = []
    for i in range(periods):
        inside = f"a.due_at >= {{}} AND a.due_at < {{}}"
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
        f" AND n.created_at >= {{}} AND n.created_at < {{}}{where}) raised GROUP BY kind ORDER BY kind"
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


def agreement_sql(by: str, scope_kind: str = "org") -> list[str]:
    """Moderated grades of the period's allocations against the auditor's latest
    grade of the domain, per auditor or team: (who, moderated, agreed)."""
    if by == "team":
        name, joins = "COALESCE(tm.name, '(no team)')", " JOIN child_case cc ON cc.id = al.child_case LEFT JOIN team tm ON tm.id = cc.team"
    else:
        name, joins = "p.display_name", " JOIN person p ON p.id = al.auditor"
    standing = (
        f"SELECT {name} AS who, COUNT(*) AS moderated,"
        " COALESCE(SUM(CASE WHEN g.moderated_level = g.auditor_level THEN 1 ELSE 0 END), 0) AS agreed"
        f" FROM standing_grade g JOIN allocation al ON al.id = g.allocation{joins}"
        f" WHERE {_standing_where(scope_kind, 'g')} AND g.moderated_level IS NOT NULL GROUP BY {name}"
    )
    return [standing]


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
        return await self.chooser.all(f"grades {scope_kind}{' overall' if overall_only else ''} {tag or p.kind}",
                                      grades_sql(scope_kind, overall_only), *self._args(org, p, scope_kind, scope_id))

    async def movement(self, org, p, scope_kind="org", scope_id=None, tag=""):
        return await self.chooser.all(f"movement {scope_kind} {tag or p.kind}", movement_sql(scope_kind),
                                      *self._args(org, p, scope_kind, scope_id))

    async def themes(self, org, p, scope_kind="org", scope_id=None):
        return await self.raw.all(themes_sql(scope_kind), *self._args(org, p, scope_kind, scope_id))

    async def counts(self, org, periods, now, span_start, span_end, scope_kind="org", scope_id=None):
        args = []
        for q in periods:
            s, e = self.raw.t(q.start_at), self.raw.t(q.end_at)
            args += [s, e, s, e, s, e, s, e, self.raw.t(min(now, q.end_at))]
        args += _set_args(self.raw, org, span_start, span_end, scope_kind, scope_id)
        return await self.raw.one(counts_sql(len(periods), scope_kind), *args)

    async def escalations(self, org, p, scope_kind="org", scope_id=None):
        args = [org, self.raw.t(p.start_at), self.raw.t(p.end_at)] + ([scope_id] if scope_kind != "org" else [])
        return await self.raw.all(escalations_sql(scope_kind), *args)

    async def follow_ups(self, org, p, now, scope_kind="org", scope_id=None):
        """The split counts, each an index range (a one-pass SUM over every
        follow-up was the slower shape on both engines)."""
        as_of = self.raw.t(min(now, p.end_at))
        s, e = self.raw.t(p.start_at), self.raw.t(p.end_at)
        extra = [scope_id] if scope_kind != "org" else []
        args = [org, s, e, *extra, org, s, e, *extra, org, as_of, as_of, *extra, org, as_of, as_of, as_of, *extra]
        return await self.raw.one(follow_ups_split_sql(scope_kind), *args)

    async def agreement(self, org, p, by, scope_kind="org", scope_id=None, tag=""):
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


async def compare_reports(registry, repeat: int = 3) -> tuple[list[dict], list[dict]]:
    """Each report and report figure through qaf's service, and through the
    best raw SQL: (rows for the table, the SQL choices made)."""
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

    async def row(name: str, qaf, floor, **extra) -> None:
        if qaf is None:
            out.append({"name": name, "ms": None, "raw_ms": None, "ratio": None,
                        "note": "qaf has no such function (renamed?)"} | extra)
            return
        await floor()  # choose the best SQL first (not timed)
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
                await reports.report(ctx, p, org_scope)
                await reports.moderation_agreement(ctx, p, org_scope, "auditor")
                await reports.moderation_agreement(ctx, p, org_scope, "team")

            await row(f"report: {label.lower()}", qaf_report, lambda p=p: rr.report(org, p, now), period=p.key,
                      audits=allocated, kind="report")
        decade = ten_years(today)
        allocated = (await reports.report(ctx, decade, org_scope, trend=0)).counts.allocated

        async def qaf_decade():
            await reports.report(ctx, decade, org_scope, trend=0)
            await reports.moderation_agreement(ctx, decade, org_scope, "auditor")
            await reports.moderation_agreement(ctx, decade, org_scope, "team")

        await row("report: ten years (no trend)", qaf_decade, lambda: rr.report(org, decade, now, trend=0, tag="ten years"),
                  period=f"{decade.start:%Y-%m}..{decade.end:%Y-%m}", audits=allocated, kind="report")

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
        await row("overdue follow-ups (now)", follow_ups and (lambda: follow_ups(ctx, org_scope, month)),
                  lambda: rr.follow_ups(org, month, now), kind="figure")
        director = await raw.one("SELECT p.username AS username, p.id AS id FROM person p WHERE p.organisation = {}"
                                 " AND p.line_manager IS NULL AND EXISTS (SELECT 1 FROM person q WHERE q.line_manager = p.id)"
                                 " ORDER BY p.id LIMIT 1", org)
        if director is not None:
            top = await _actor_ctx(registry, director["username"])
            overdue = await actions.team_overdue(top)
            await row("overdue actions (everyone below the top manager)", lambda: actions.team_overdue(top),
                      lambda: raw.all(overdue_actions_sql(), int(director["id"]), raw.t(top.now), int(director["id"])),
                      kind="figure", rows=len(overdue))
        return out, rr.chooser.summary()
    finally:
        await raw.close()
