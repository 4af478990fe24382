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
    start = _position(months, frequency.start_month) if frequency.start_month else 0
    every = frequency.every
    if every == "month":
        return [(ym, frequency.times) for ym in months[start:]]
    if every == "quarter":
        # Due in the last month of each quarter of the council's year.
        return [(months[i], frequency.times) for i in (2, 5, 8, 11) if i >= start]
    if every == "n_months":
        # From its start month when it has one ("to commence in June"),
        # otherwise at the end of each interval.
        first = start if frequency.start_month else frequency.interval - 1
        return [(months[i], 1) for i in range(first, 12, frequency.interval)]
    if every in ("year", "two_years"):
        if every == "two_years" and frequency.first_year is not None:
            if (months[0][0] - frequency.first_year) % 2:
                return []
        if frequency.months:
            return [(months[_position(months, m)], 1) for m in frequency.months]
        times = frequency.at_most or frequency.times
        span = 12 - start
        if frequency.start_month:
            # "To commence in June": the first falls in June, the last in the
            # year's final month, the rest evenly between (Jun, Sep, Dec).
            if times == 1:
                return [(months[start], 1)]
            return [(months[start + round(k * (span - 1) / (times - 1))], 1) for k in range(times)]
        # Spread evenly over the year: due at the end of each slice.
        return [(months[(12 * (k + 1)) // times - 1], 1) for k in range(times)]
    raise ValueError(f"no months for {every!r}")


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
    frequency = schedule.frequency
    if schedule.to_be_agreed or frequency.every == "as_required":
        return [(None, frequency.count)]
    months = year_months(council, year)
    if frequency.every == "n_weeks":
        return [(due, frequency.count) for due in _weekly_dates(frequency, months)]
    return [
        (last_working_day(y, m), frequency.count * times)
        for (y, m), times in occurrence_months(frequency, months)
        if not (frequency.replaced_by == "practice_week" and (y, m) in practice_weeks)
    ]


def expand(
    registry: Registry,
    council_key: str,
    year: int,
    staff: list[StaffMember],
    practice_weeks: frozenset[tuple[int, int]] = frozenset(),
) -> list[ProgrammeItem]:
    """Every person's dated programme for the council's year starting in ``year``."""
    council = registry.council(council_key)
    schedules = [s.value for k, s in registry.schedules.items() if k.startswith(f"{council_key}:")]
    reports: dict[int, list[StaffMember]] = {}
    for member in staff:
        if member.line_manager is not None:
            reports.setdefault(member.line_manager, []).append(member)
    items: list[ProgrammeItem] = []
    for schedule in schedules:
        role = schedule.role.split(":")[-1]
        subject = schedule.subject.split(":")[-1] if schedule.subject else None
        dates = schedule_dates(schedule, council, year, practice_weeks)
        note = _note(schedule)
        for member in staff:
            if member.role != role or (schedule.post and member.post != schedule.post):
                continue
            if subject is not None and not any(r.role == subject for r in reports.get(member.id, [])):
                continue  # nobody of the audited role reports to them (BED s.4: "their Advanced Practitioner's")
            supervisees = reports.get(member.id, []) if schedule.frequency.per == "supervisee" else [None]
            for supervisee in supervisees:
                for due, count in dates:
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
                            supervisee=supervisee.name if supervisee else "",
                            optional=schedule.frequency.at_most is not None,
                            note=note,
                        )
                    )
    items.sort(key=lambda i: (i.person, i.due or dt.date.max, i.activity, i.supervisee))
    return items


def _note(schedule: Schedule) -> str:
    frequency = schedule.frequency
    parts = []
    if schedule.to_be_agreed:
        parts.append("process and timescale to be agreed")
    elif frequency.every == "as_required":
        parts.append("as required")
    if frequency.at_most:
        parts.append(f"up to {frequency.at_most} a year")
    if frequency.look_back_months:
        parts.append(f"covers the past {frequency.look_back_months} months")
    return "; ".join(parts)
