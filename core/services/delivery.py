"""Programme delivery (PLAT-5, issue 13): for a month, quarter or year, how
much of the programme fell due, was issued, was done, was done on time, is
overdue, and was not issued (and why), by person, team, role, activity or lens.

Where the figures come from:

* **due**: the programme itself, ``core.programme.expand`` over the
  organisation's active staff in the roles the council's schedules name, for
  the council years the period touches: every occurrence falling due in the
  period; and any work issued for the period that the programme no longer
  lists (its owner left, or changed role, after it was issued): it was due
  when it was issued. What everyone in a role and post owes alike is expanded
  once for a stand-in and shared by its holders; what depends on a holder's
  line reports (per supervisee, or of a report's records) is expanded for
  those holders with their reports. Occurrences no one can owe are due too,
  so a gap is reported, never dropped (PLAT-4): a schedule whose role or
  named post nobody holds, and months a practice week replaced (HAR 2);
* **issued, done, done on time**: the counts kept as the work is written
  (``work_month``, ``core.services.work_counts``), summed per owner and
  schedule over the period's months;
* **overdue**: issued and not done, past its due date today (London): in the
  months before this one, issued less done; in this month, its work due
  before today read from the rows (a handful: most fall due on the month's
  last working day);
* **not issued**: due less issued, per owner and schedule, put down to the
  reasons its occurrences could not have been issued (a practice week, a
  period not yet open, a person who joined after, a date before the
  programme's first run), then to the next run, then to a miss.

Counts are of pieces of work: one occurrence of a schedule owed by one
person (for a schedule done per supervisee, one per supervisee), however many
audits it asks for.

Why counts kept as rows are written: reading each piece of work with its
audits took 200 to 370 ms for a year at ``qaf-bench`` scale 1 on SQLite
(6,906 pieces of work), and expanding the programme over all 4,921 staff
another 30 to 40 ms; the counts and the stand-ins make it a few
milliseconds.

Who sees what: the QA team (``administer`` or ``view_all_audits``) sees
everyone's; anyone else sees their own work and that of the people who
report to them, down the line (a manager their line; a practitioner their
own). Occurrences nobody owes are the QA team's to see.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from core.calendar import london_date
from core.db.tables import WorkMonth
from core.definitions.model import Schedule
from core.programme import StaffMember, expand, schedule_periods
from core.services import work_counts
from core.services.context import Context
from core.services.errors import Invalid
from core.services.reports import PERIOD_KINDS, Period, parse_period
from core.services.work import council_year, period_opens

GROUPINGS = {
    "person": "Person",
    "team": "Team",
    "role": "Role",
    "activity": "Activity",
    "lens": "Lens",
}

# Why an occurrence due in the period has no work, in plain words.
REASONS = {
    "not_open": "Its period has not opened yet",
    "sweep": "Its period has opened: the next scheduled run issues it",
    "before_programme": "It fell due before the programme began issuing work",
    "joined_later": "The person joined after it fell due",
    "missed": "It was not issued while its period was open",
    "no_post": "Nobody holds the post",
    "no_role": "Nobody holds the role",
    "practice_week": "A practice week replaced it",
}
NOBODY = "Nobody"
NO_TEAM = "No team"
NO_LENS = "No lens"

COVERING = {
    "everyone": "Everyone in the council",
    "line": "You and the people who report to you, down the line",
    "own": "Your own work",
}


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    label: str
    due: int = 0
    issued: int = 0
    done: int = 0
    on_time: int = 0
    overdue: int = 0
    not_issued: int = 0
    # (reason, how many), most first
    reasons: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    period: Period
    by: str
    covering: str  # a key of COVERING
    today: dt.date
    rows: tuple[DeliveryRow, ...]
    total: DeliveryRow
    # The London date the organisation's first work was issued; None: none yet.
    programme_started: dt.date | None = None

    @property
    def by_label(self) -> str:
        return GROUPINGS[self.by]

    @property
    def covering_label(self) -> str:
        return COVERING[self.covering]


def parse_grouping(ctx: Context, value: str) -> str:
    value = (value or "person").strip()
    if value not in GROUPINGS or (value == "lens" and not ctx.registry.council(ctx.actor.council).lenses):
        raise Invalid("Choose how to group the figures", {"by": "Choose " + ", ".join(g.lower() for g in groupings(ctx).values())})
    return value


def groupings(ctx: Context) -> dict[str, str]:
    """The groupings the actor's council can use (by lens only where it has lenses, CSCP-10)."""
    lenses = bool(ctx.registry.council(ctx.actor.council).lenses)
    return {k: v for k, v in GROUPINGS.items() if k != "lens" or lenses}


def may_see_all(ctx: Context) -> bool:
    return ctx.actor.can("administer") or ctx.actor.can("view_all_audits")


def choose_period(ctx: Context, kind: str, value: str) -> Period:
    """The reports' periods (month, quarter, calendar or financial year)."""
    kind = (kind or "month").strip()
    if kind not in PERIOD_KINDS:
        raise Invalid("Choose a period", {"period": "Choose month, quarter, year or financial year"})
    return parse_period(kind, value, london_date(ctx.now))


# ------------------------------------------------------------------ reading


async def _line(ctx: Context) -> set[int]:
    """The actor and everyone who reports to them, down the line (any depth;
    UNION stops at a loop in the data)."""
    rows = await WorkMonth.raw(f"{_LINE} SELECT id FROM line", ctx.actor.person_id)
    return {int(r["id"]) for r in rows}


_LINE = "WITH RECURSIVE line(id) AS (SELECT CAST({} AS INTEGER) UNION SELECT q.id FROM person q JOIN line l ON q.line_manager = l.id)"


def _in_line(column: str) -> str:
    return f" AND {column} IN ({_LINE} SELECT id FROM line)"


@dataclass(frozen=True, slots=True)
class _Holder:
    id: int
    name: str
    role: str
    post: str
    line_manager: int | None
    team: str | None
    joined: dt.date | None

    def member(self) -> StaffMember:
        return StaffMember(self.id, self.name, self.role, self.post, self.line_manager)


async def _holders(ctx: Context, p: Period, roles: list[str], everyone: bool) -> list[_Holder]:
    """The active staff in the roles the council's schedules name (the
    people the sweep expands the programme for, ``programme.staff_of``), or
    those of them in the actor's line. When they joined matters only for
    those who joined after the period began: the rest owed all of it."""
    if not roles:
        return []
    args: list = [p.start_at, ctx.actor.organisation_id, True, *roles]
    where = f"p.organisation = {{}} AND p.active = {{}} AND p.role IN ({', '.join('{}' for _ in roles)})"
    if not everyone:
        where += _in_line("p.id")
        args.append(ctx.actor.person_id)
    rows = await WorkMonth.raw(
        "SELECT p.id AS id, p.display_name AS name, p.role AS role, p.post AS post, p.line_manager AS line_manager,"
        " CASE WHEN p.created_at > {} THEN p.created_at END AS created_at, t.name AS team"
        f" FROM person p LEFT JOIN team t ON t.id = p.team WHERE {where} ORDER BY p.id",
        *args,
    )
    return [_holder(r) for r in rows]


def _holder(r: dict) -> _Holder:
    joined = work_counts.as_instant(r["created_at"]) if r["created_at"] is not None else None
    return _Holder(r["id"], r["name"], r["role"], r["post"] or "", r["line_manager"], r.get("team"),
                   london_date(joined) if joined else None)


async def _reports_of(organisation_id: int, roles: list[str]) -> list[_Holder]:
    """The active line reports of holders of these roles: whom a schedule done
    per supervisee, or of a line report's records, is owed for."""
    if not roles:
        return []
    rows = await WorkMonth.raw(
        "SELECT p.id AS id, p.display_name AS name, p.role AS role, p.post AS post, p.line_manager AS line_manager,"
        " NULL AS created_at FROM person p JOIN person m ON m.id = p.line_manager"
        f" WHERE p.organisation = {{}} AND p.active = {{}} AND m.active = {{}} AND m.role IN ({', '.join('{}' for _ in roles)})",
        organisation_id, True, True, *roles,
    )
    return [_holder(r) for r in rows]


async def _counted(ctx: Context, p: Period, everyone: bool, this_month: str) -> list[dict]:
    """Work issued, done and done on time per owner and schedule over the
    period's months (``work_month``); and open past due, for the months
    before this one (all their due dates have passed)."""
    first, after = p.months
    args: list = [this_month, ctx.actor.organisation_id, first, after]
    where = "m.organisation = {} AND m.month >= {} AND m.month < {}"
    if not everyone:
        where += _in_line("m.owner")
        args.append(ctx.actor.person_id)
    # Summed per owner and schedule first, then named.
    return await WorkMonth.raw(
        "SELECT x.owner AS owner, x.schedule_key AS schedule_key, x.issued AS issued, x.done AS done,"
        " x.on_time AS on_time, x.past_open AS past_open, p.display_name AS owner_name, t.name AS team FROM ("
        "SELECT m.owner AS owner, m.schedule_key AS schedule_key, SUM(m.issued) AS issued, SUM(m.done) AS done,"
        " SUM(m.on_time) AS on_time, SUM(CASE WHEN m.month < {} THEN m.issued - m.done ELSE 0 END) AS past_open"
        f" FROM work_month m WHERE {where} GROUP BY m.owner, m.schedule_key"
        ") x JOIN person p ON p.id = x.owner LEFT JOIN team t ON t.id = p.team",
        *args,
    )


async def _late_this_month(ctx: Context, p: Period, everyone: bool, today: dt.date) -> list[dict]:
    """This month's work due before today (the only work of the month that
    can be overdue yet), with what decides whether it is done."""
    month_start = today.replace(day=1)
    if not (p.start <= month_start < p.end) or month_start == today:
        return []
    args: list = [ctx.actor.organisation_id, month_start, today]
    where = "w.organisation = {} AND w.due_on >= {} AND w.due_on < {}"
    if not everyone:
        where += _in_line("w.owner")
        args.append(ctx.actor.person_id)
    return await WorkMonth.raw(work_counts.state_sql(where), *args)


async def _programme_started(organisation_id: int) -> dt.date | None:
    """The London date the organisation's first work was issued."""
    row = await WorkMonth.raw("SELECT created_at FROM work WHERE organisation = {} ORDER BY id LIMIT 1", organisation_id)
    return london_date(work_counts.as_instant(row[0]["created_at"])) if row else None


async def _nothing():
    return None


def _council_years(council, p: Period) -> range:
    return range(council_year(council, p.start), council_year(council, p.end - dt.timedelta(days=1)) + 1)


# ------------------------------------------------------------------ counting

# Why an occurrence was not issued, in the order an unexplained gap is put
# down to them: what could never have been issued first, then what the next
# run will issue, then what was missed.
_NOTHING_DUE: tuple[int, Counter] = (0, Counter())  # read, never changed
_ORDER = ("practice_week", "not_open", "joined_later", "before_programme", "sweep", "missed")


@dataclass(slots=True)
class _Tally:
    label: str
    sort: tuple
    due: int = 0
    issued: int = 0
    done: int = 0
    on_time: int = 0
    overdue: int = 0
    reasons: Counter = field(default_factory=Counter)

    def row(self) -> DeliveryRow:
        not_issued = sum(self.reasons.values())
        return DeliveryRow(
            self.label, self.due, self.issued, self.done, self.on_time, self.overdue, not_issued,
            tuple((REASONS[k], n) for k, n in sorted(self.reasons.items(), key=lambda kv: (-kv[1], list(REASONS).index(kv[0])))),
        )


class _Groups:
    """Which row each piece of work (or occurrence) counts in."""

    def __init__(self, ctx: Context, by: str) -> None:
        self.ctx, self.by = ctx, by
        council = ctx.registry.council(ctx.actor.council)
        self.council_key = council.key
        self.lens_labels = {lens.key: lens.label for lens in council.lenses}
        self.tallies: dict[object, _Tally] = {}
        self._roles: dict[str, str] = {}

    def role_label(self, role: str) -> str:
        if role not in self._roles:
            qualified = f"{self.council_key}:{role.split(':')[-1]}"
            self._roles[role] = self.ctx.registry.role(qualified).label if qualified in self.ctx.registry.roles else role
        return self._roles[role]

    def tally(self, *, owner: int | None, name: str, team: str | None, schedule: Schedule | None, activity: str) -> _Tally:
        if self.by == "schedule":
            key = label = f"{self.council_key}:{schedule.key}" if schedule else activity
            sort = (False, label)
        elif self.by == "person":
            key, label, sort = owner, name if owner is not None else NOBODY, (owner is None, name, owner or 0)
        elif self.by == "team":
            label = team or (NOBODY if owner is None else NO_TEAM)
            key, sort = label, (team is None, label)
        elif self.by == "role":
            label = self.role_label(schedule.role) if schedule else ""
            key, sort = label, (False, label)
        elif self.by == "activity":
            key, label, sort = activity, activity, (False, activity)
        else:
            lens = schedule.lens if schedule else None
            label = self.lens_labels.get(lens, lens) if lens else NO_LENS
            key, sort = label, (lens is None, label)
        found = self.tallies.get(key)
        if found is None:
            found = self.tallies[key] = _Tally(label, sort)
        return found


def _special(schedule: Schedule) -> bool:
    """Owed per line report, or only by holders with a line report in a role:
    each holder's occurrences depend on their own reports."""
    return schedule.subject is not None or schedule.frequency.per == "supervisee"


async def delivery(ctx: Context, p: Period, by: str = "person") -> Delivery:
    """The programme's delivery over ``p``, grouped ``by`` person, team, role,
    activity or lens, covering what the actor may see."""
    assert ctx.actor
    if by not in GROUPINGS:
        by = parse_grouping(ctx, by)
    return await _delivery(ctx, p, by, may_see_all(ctx))


async def due_by_schedule(ctx: Context, p: Period) -> dict[str, DeliveryRow]:
    """The whole organisation's delivery over ``p`` per schedule (qualified
    key): what a summary of some of the programme's activities adds up
    (BED-7's audits required of each role). For callers that have already
    decided the actor may see the organisation's figures."""
    found = await _delivery(ctx, p, "schedule", True)
    return {row.label: row for row in found.rows}


async def _delivery(ctx: Context, p: Period, by: str, everyone: bool) -> Delivery:
    from core.services.cycles import practice_weeks

    council = ctx.registry.council(ctx.actor.council)
    today = london_date(ctx.now)
    org = ctx.actor.organisation_id
    schedules = {
        key: supplied.value for key, supplied in ctx.registry.schedules.items() if key.startswith(f"{council.key}:")
    }
    roles = sorted({s.role.split(":")[-1] for s in schedules.values()})
    special_roles = sorted({s.role.split(":")[-1] for s in schedules.values() if _special(s)})

    # Independent reads, side by side (SQLite's reader threads, PostgreSQL's pool).
    holders, reports_of, weeks, counted, late, started, line = await asyncio.gather(
        _holders(ctx, p, roles, everyone), _reports_of(org, special_roles), practice_weeks(org),
        _counted(ctx, p, everyone, f"{today:%Y-%m}"), _late_this_month(ctx, p, everyone, today),
        _programme_started(org), _nothing() if everyone else _line(ctx),
    )
    covering = "everyone" if everyone else "line" if len(line) > 1 else "own"
    groups = _Groups(ctx, by)
    years = _council_years(council, p)

    def date_reason(schedule: Schedule, starts: dt.date, due: dt.date) -> str | None:
        """Why an occurrence could not be issued whoever owes it, if it could not."""
        if schedule.frequency.replaced_by == "practice_week" and (due.year, due.month) in weeks:
            return "practice_week"  # HAR 2: the practice week replaces that month's cycle
        if period_opens(starts) > today:
            return "not_open"
        return None

    def person_reason(due: dt.date, joined: dt.date | None) -> str:
        if joined is not None and joined > due:
            return "joined_later"
        if due < (started or today):
            # The sweep issues a period's work from its first working day to
            # its due date: what fell due before the first issue never was.
            return "before_programme"
        return "sweep" if due >= today else "missed"

    # What the programme says falls due in the period, per owner and
    # schedule: how many, and why each would not have been issued.
    expected: dict[tuple[int, str], tuple[int, Counter]] = {}
    # Schedules everyone in a role and post owes alike: the programme of one
    # stand-in per role and post, shared by its holders.
    combos = sorted({(h.role, h.post) for h in holders})
    shared: dict[tuple[str, str], dict[str, list[tuple[dt.date, str | None]]]] = {c: {} for c in combos}
    stand_ins = [StaffMember(-(i + 1), "", role, post) for i, (role, post) in enumerate(combos)]
    for year in years:
        for item in expand(ctx.registry, council.key, year, stand_ins):
            key = f"{council.key}:{item.schedule}"
            if item.due is None or not (p.start <= item.due < p.end) or _special(schedules[key]):
                continue
            shared[combos[-item.person_id - 1]].setdefault(key, []).append(
                (item.due, date_reason(schedules[key], item.starts, item.due))
            )
    common: dict[tuple[str, str, str], Counter] = {}
    for combo, by_schedule in shared.items():
        for key, occurrences in by_schedule.items():
            # For a holder here since before all of them, which is nearly everyone.
            common[(*combo, key)] = Counter(r or person_reason(due, None) for due, r in occurrences)
    for holder in holders:
        for key, occurrences in shared[(holder.role, holder.post)].items():
            if holder.joined is not None and holder.joined > min(due for due, _ in occurrences):
                reasons = Counter(r or person_reason(due, holder.joined) for due, r in occurrences)
            else:
                reasons = common[(holder.role, holder.post, key)]
            expected[(holder.id, key)] = (len(occurrences), reasons)
    # Schedules owed per line report, or by managers of someone in a role:
    # the programme of the holders themselves, with their reports.
    people = {h.id: h for h in holders}
    if special_roles:
        staff = [h.member() for h in holders if h.role in special_roles]
        staff += [r.member() for r in reports_of if r.id not in people]
        joined = {h.id: h.joined for h in holders}
        for year in years:
            for item in expand(ctx.registry, council.key, year, staff):
                key = f"{council.key}:{item.schedule}"
                if item.due is None or not (p.start <= item.due < p.end) or not _special(schedules[key]):
                    continue
                if item.person_id not in people:
                    continue
                n, reasons = expected.get((item.person_id, key), (0, Counter()))
                reasons = Counter(reasons)
                reasons[date_reason(schedules[key], item.starts, item.due) or person_reason(item.due, joined[item.person_id])] += 1
                expected[(item.person_id, key)] = (n + 1, reasons)

    # What was issued, and how it stands today.
    overdue_now: Counter = Counter()
    for row in late:
        if work_counts.done_on(row) is None:
            overdue_now[(row["owner"], row["schedule_key"])] += 1
    seen: set[tuple[int, str]] = set()
    for row in counted:
        key = (row["owner"], row["schedule_key"])
        seen.add(key)
        schedule = schedules.get(row["schedule_key"])
        tally = groups.tally(owner=row["owner"], name=row["owner_name"], team=row["team"], schedule=schedule,
                             activity=schedule.activity if schedule else row["schedule_key"])
        issued = int(row["issued"])
        tally.issued += issued
        tally.done += int(row["done"])
        tally.on_time += int(row["on_time"])
        tally.overdue += int(row["past_open"]) + overdue_now[key]
        n, reasons = expected.get(key, _NOTHING_DUE)
        tally.due += max(n, issued)
        _not_issued(tally, reasons, n - issued)
    # Due, with nothing issued.
    for (owner, key), (n, reasons) in expected.items():
        if (owner, key) in seen:
            continue
        holder = people[owner]
        schedule = schedules[key]
        tally = groups.tally(owner=owner, name=holder.name, team=holder.team, schedule=schedule, activity=schedule.activity)
        tally.due += n
        _not_issued(tally, reasons, n)

    # Occurrences nobody can owe: a role or post nobody holds (PLAT-4).
    if everyone:
        held = {(h.role, h.post) for h in holders}
        roles_held = {h.role for h in holders}
        for key, schedule in schedules.items():
            role = schedule.role.split(":")[-1]
            if ((role, schedule.post) in held) if schedule.post else (role in roles_held):
                continue
            for year in years:
                for _starts, due, _count in schedule_periods(schedule, council, year):
                    if due is None or not (p.start <= due < p.end):
                        continue
                    tally = groups.tally(owner=None, name=NOBODY, team=None, schedule=schedule, activity=schedule.activity)
                    tally.due += 1
                    tally.reasons["no_post" if schedule.post else "no_role"] += 1

    ordered = sorted(groups.tallies.values(), key=lambda t: t.sort)
    total = _Tally("Total", ())
    for t in ordered:
        total.due += t.due
        total.issued += t.issued
        total.done += t.done
        total.on_time += t.on_time
        total.overdue += t.overdue
        total.reasons.update(t.reasons)
    return Delivery(p, by, covering, today, tuple(t.row() for t in ordered), total.row(), started)


def _not_issued(tally: _Tally, reasons: Counter, missing: int) -> None:
    """Put ``missing`` occurrences down to their reasons: first those that
    could never have been issued, then what the next run issues, then missed."""
    for reason in _ORDER:
        if missing <= 0:
            return
        n = min(missing, reasons.get(reason, 0))
        if n:
            tally.reasons[reason] += n
            missing -= n


# ------------------------------------------------------------------ exports


def tables(report: Delivery) -> dict:
    """The page's tables, as ``core.exports`` writes them to CSV and XLSX."""
    from core.exports import Table

    head = [report.by_label, "Due", "Issued", "Done", "Done on time", "Overdue", "Not issued"]

    def cells(r: DeliveryRow) -> list:
        return [r.label, r.due, r.issued, r.done, r.on_time, r.overdue, r.not_issued]

    out = [
        Table("delivery", f"Delivery by {report.by_label.lower()}", head, [cells(r) for r in report.rows] + [cells(report.total)]),
        Table(
            "not_issued",
            "Due but not issued, and why",
            [report.by_label, "Why not issued", "Number"],
            [[r.label, reason, n] for r in report.rows for reason, n in r.reasons],
        ),
    ]
    return {t.key: t for t in out}


__all__ = [
    "COVERING", "Delivery", "DeliveryRow", "GROUPINGS", "REASONS", "choose_period", "delivery", "groupings",
    "may_see_all", "parse_grouping", "tables",
]
