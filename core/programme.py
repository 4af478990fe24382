"""Programme expansion (CORE-7): a council's role schedules, a year and a
staff list become every person's dated programme of activities.

Pure: no database. Months are counted from the council's year start
(``year_start_month``: 1 for a calendar year, 4 for a financial year), and an
activity falls due on the last working day of the month it falls in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.calendar import is_working_day, last_working_day
from core.definitions.model import Council, Frequency, Schedule
from core.definitions.registry import Registry


@dataclass(frozen=True, slots=True)
class StaffMember:
    id: int
    name: str
    role: str  # the council's local role key
    post: str = ""
    line_manager: int | None = None


@dataclass(frozen=True, slots=True)
class ProgrammeItem:
    person_id: int
    person: str
    role: str
    post: str
    schedule: str
    activity: str
    due: dt.date | None  # None: as required, or to be agreed
    count: int
    supervisee: str = ""
    optional: bool = False  # "up to n a year": a ceiling, not a target
    note: str = ""
    starts: dt.date | None = None  # the first day of the occurrence's period
    supervisee_id: int | None = None
    form: str = ""  # the schedule's form, as the council wrote it (unqualified)
    # PLAT-4: a joint activity's co-auditors (this person leads), and the
    # peer whose cases this person audits in a peer pair.
    co_auditor_ids: tuple[int, ...] = ()
    co_auditors: tuple[str, ...] = ()
    peer_id: int | None = None
    peer: str = ""

    @property
    def month(self) -> str:
        return f"{self.due:%Y-%m}" if self.due else ""


def year_months(council: Council, year: int) -> list[tuple[int, int]]:
    """The twelve (year, month) pairs of the council's year that starts in ``year``."""
    out = []
    for offset in range(12):
        index = council.year_start_month - 1 + offset
        out.append((year + index // 12, index % 12 + 1))
    return out


def _position(months: list[tuple[int, int]], month: int) -> int:
    return next(i for i, (_, m) in enumerate(months) if m == month)


def occurrence_months(frequency: Frequency, months: list[tuple[int, int]]) -> list[tuple[tuple[int, int], int]]:
    """((year, month), how many) for each occurrence in the year."""
    return [(months[due], times) for _, due, times in _occurrences(frequency, months)]


def _occurrences(frequency: Frequency, months: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(first month, due month, how many) of each occurrence, as positions in
    the council's year. An occurrence's period runs from the month after the
    one before it (the year's start, or its start month, for the first) to
    the month it falls due in; a named month ("in October") is its own period."""
    start = _position(months, frequency.start_month) if frequency.start_month else 0
    every = frequency.every
    if every == "month":
        return [(i, i, frequency.times) for i in range(start, 12)]
    if every == "quarter":
        # Due in the last month of each quarter of the council's year.
        dues = [(i, frequency.times) for i in (2, 5, 8, 11) if i >= start]
    elif every == "n_months":
        # From its start month when it has one ("to commence in June"),
        # otherwise at the end of each interval.
        first = start if frequency.start_month else frequency.interval - 1
        dues = [(i, 1) for i in range(first, 12, frequency.interval)]
    elif every in ("year", "two_years"):
        if every == "two_years" and frequency.first_year is not None:
            if (months[0][0] - frequency.first_year) % 2:
                return []
        if frequency.months:
            return [(i, i, 1) for i in (_position(months, m) for m in frequency.months)]
        times = frequency.at_most or frequency.times
        span = 12 - start
        if frequency.start_month:
            # "To commence in June": the first falls in June, the last in the
            # year's final month, the rest evenly between (Jun, Sep, Dec).
            if times == 1:
                return [(start, start, 1)]
            dues = [(start + round(k * (span - 1) / (times - 1)), 1) for k in range(times)]
            return [(start if k == 0 else dues[k - 1][0] + 1, due, n) for k, (due, n) in enumerate(dues)]
        # Spread evenly over the year: due at the end of each slice.
        dues = [((12 * (k + 1)) // times - 1, 1) for k in range(times)]
    else:
        raise ValueError(f"no months for {every!r}")
    out, first = [], start
    for due, times in dues:
        out.append((min(first, due), due, times))
        first = due + 1
    return out


def _weekly_dates(frequency: Frequency, months: list[tuple[int, int]]) -> list[dt.date]:
    start = _position(months, frequency.start_month) if frequency.start_month else 0
    first = dt.date(*months[start], 1)
    end = dt.date(*months[-1], 28) + dt.timedelta(days=4)
    end = end - dt.timedelta(days=end.day)  # last day of the year's last month
    dates, day = [], first + dt.timedelta(weeks=frequency.interval) - dt.timedelta(days=1)
    while day <= end:
        due = day
        while not is_working_day(due):
            due -= dt.timedelta(days=1)
        dates.append(due)
        day += dt.timedelta(weeks=frequency.interval)
    return dates


def schedule_dates(
    schedule: Schedule, council: Council, year: int, practice_weeks: frozenset[tuple[int, int]] = frozenset()
) -> list[tuple[dt.date | None, int]]:
    """(due date, count) for each occurrence of one schedule in one year.

    ``practice_weeks``: (year, month) pairs with a practice week, which
    replace the occurrences of schedules marked ``replaced_by: practice_week``.
    """
    return [(due, count) for _, due, count in schedule_periods(schedule, council, year, practice_weeks)]


def schedule_periods(
    schedule: Schedule, council: Council, year: int, practice_weeks: frozenset[tuple[int, int]] = frozenset()
) -> list[tuple[dt.date | None, dt.date | None, int]]:
    """(first day of its period, due date, count) for each occurrence: the
    work of an occurrence is issued on its period's first working day."""
    frequency = schedule.frequency
    if schedule.to_be_agreed or frequency.every == "as_required":
        return [(None, None, frequency.count)]
    months = year_months(council, year)
    if frequency.every == "n_weeks":
        dues = _weekly_dates(frequency, months)
        first = dt.date(*months[_position(months, frequency.start_month) if frequency.start_month else 0], 1)
        return [
            (first if k == 0 else dues[k - 1] + dt.timedelta(days=1), due, frequency.count) for k, due in enumerate(dues)
        ]
    return [
        (dt.date(*months[first], 1), last_working_day(*months[due]), frequency.count * times)
        for first, due, times in _occurrences(frequency, months)
        if not (frequency.replaced_by == "practice_week" and months[due] in practice_weeks)
    ]


def expand(
    registry: Registry,
    council_key: str,
    year: int,
    staff: list[StaffMember],
    practice_weeks: frozenset[tuple[int, int]] = frozenset(),
    only: int | None = None,
) -> list[ProgrammeItem]:
    """Every person's dated programme for the council's year starting in ``year``;
    with ``only`` a person's id, just the items that person leads or
    co-audits (the same items, without expanding the rest of the council's)."""
    council = registry.council(council_key)
    me = next((m for m in staff if m.id == only), None) if only is not None else None
    schedules = [s.value for k, s in registry.schedules.items() if k.startswith(f"{council_key}:")]
    reports: dict[int, list[StaffMember]] = {}
    # Each role's holders in staff order (a schedule looks at its role's only).
    by_role: dict[str, list[StaffMember]] = {}
    for member in staff:
        if member.line_manager is not None:
            reports.setdefault(member.line_manager, []).append(member)
        by_role.setdefault(member.role, []).append(member)
    items: list[ProgrammeItem] = []
    for schedule in schedules:
        role = schedule.role.split(":")[-1]
        subject = schedule.subject.split(":")[-1] if schedule.subject else None
        dates = schedule_periods(schedule, council, year, practice_weeks)
        note = _note(schedule)
        # PLAT-4: peers are paired among the holders (a peer-paired schedule has no subject).
        holders = [m for m in by_role.get(role, ()) if not schedule.post or m.post == schedule.post]
        peers = peer_pairs(holders) if schedule.peer_pairs else {}
        # ``only``: another holder's item is theirs too when they co-audit it.
        co_audits = me is not None and any(
            me.role == co.role.split(":")[-1] and (not co.post or me.post == co.post) for co in schedule.co_auditors)
        for member in holders:
            if only is not None and member.id != only and not co_audits:
                continue
            if subject is not None and not any(r.role == subject for r in reports.get(member.id, [])):
                continue  # nobody of the audited role reports to them (BED s.4: "their Advanced Practitioner's")
            if schedule.peer_pairs and member.id not in peers:
                continue  # a lone holder has nobody to pair with: reported (unpaired)
            co = co_auditors_of(schedule, staff, member.id)
            supervisees = reports.get(member.id, []) if schedule.frequency.per == "supervisee" else [None]
            for supervisee in supervisees:
                for starts, due, count in dates:
                    items.append(
                        ProgrammeItem(
                            person_id=member.id,
                            person=member.name,
                            role=role,
                            post=member.post,
                            schedule=schedule.key,
                            activity=schedule.activity,
                            due=due,
                            count=count,
                            starts=starts,
                            supervisee_id=supervisee.id if supervisee else None,
                            form=schedule.form or "",
                            supervisee=supervisee.name if supervisee else "",
                            optional=schedule.frequency.at_most is not None,
                            note=note,
                            co_auditor_ids=tuple(c.id for c in co),
                            co_auditors=tuple(c.name for c in co),
                            peer_id=peers[member.id].id if member.id in peers else None,
                            peer=peers[member.id].name if member.id in peers else "",
                        )
                    )
    items.sort(key=lambda i: (i.person, i.due or dt.date.max, i.activity, i.supervisee))
    return items


def co_auditors_of(schedule: Schedule, staff: list[StaffMember], lead: int) -> list[StaffMember]:
    """A joint activity's co-auditors for one lead (PLAT-4): every holder of
    each co-auditor's role (and post, where it names one) other than the lead,
    in a stable order."""
    out: list[StaffMember] = []
    seen: set[int] = set()
    for co in schedule.co_auditors:
        role = co.role.split(":")[-1]
        for m in staff:
            if m.role == role and (not co.post or m.post == co.post) and m.id != lead and m.id not in seen:
                seen.add(m.id)
                out.append(m)
    return sorted(out, key=lambda m: (m.name, m.id))


def peer_pairs(holders: list[StaffMember]) -> dict[int, StaffMember]:
    """Peer pairs (PLAT-4): whose cases each holder audits. Holders are
    paired in a stable order, by name then id: the first with the second, the
    third with the fourth, and so on, each auditing the other's cases. An odd
    one out joins the last pair as a trio that audits round the ring (A the
    cases of B, B of C, C of A), so nobody audits alone and nobody audits
    their own cases. A lone holder has nobody to pair with (not in the result:
    ``core.services.programme.unheld_posts`` reports them)."""
    ordered = sorted(holders, key=lambda m: (m.name, m.id))
    if len(ordered) < 2:
        return {}
    groups = [ordered[i:i + 2] for i in range(0, len(ordered) - len(ordered) % 2, 2)]
    if len(ordered) % 2:
        groups[-1] = groups[-1] + [ordered[-1]]
    out: dict[int, StaffMember] = {}
    for group in groups:
        for index, member in enumerate(group):
            out[member.id] = group[(index + 1) % len(group)]
    return out


def _note(schedule: Schedule) -> str:
    frequency = schedule.frequency
    parts = []
    if schedule.to_be_agreed:
        parts.append("process and timescale to be agreed")
    elif frequency.every == "as_required":
        parts.append("as required")
    if frequency.at_most:
        parts.append(f"up to {frequency.at_most} a year")
    if frequency.look_back_ends_months_before:
        # PLAT-3: "covers the 3 months ending 2 months before the month it is due".
        parts.append(f"covers the {frequency.look_back_months} months ending {frequency.look_back_ends_months_before} "
                     "months before the month it is due")
    elif frequency.look_back_months:
        parts.append(f"covers the past {frequency.look_back_months} months")
    return "; ".join(parts)


def drawn_form(registry: Registry, council_key: str) -> str | None:
    """The qualified key of the form a council's monthly case draw is done on
    (the form of its first schedule that draws cases at random), or None."""
    for key, supplied in registry.schedules.items():
        schedule = supplied.value
        if key.startswith(f"{council_key}:") and schedule.cases is not None and schedule.cases.draw == "random":
            return registry.ref(council_key, schedule.form, "forms")
    return None
