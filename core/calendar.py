"""Working days on the England and Wales calendar (CORE-8).

Deadlines count Monday to Friday, skipping England and Wales bank holidays
as published by the ``holidays`` package (substitute days included, e.g.
Boxing Day 2026 falls on a Saturday so Monday 28 December is the holiday).
Instants are stored in UTC and shown in Europe/London.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
UTC = dt.timezone.utc


@functools.lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[dt.date]:
    # Imported on first use (issue 19 item 6): ``holidays`` loads every
    # country's calendar, ≈0.9 s of CPU. ``qaf serve`` warms it in the
    # background after start-up (core/warmup.py), not before answering.
    import holidays

    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_bank_holiday(day: dt.date) -> bool:
    return day in _bank_holidays(day.year)


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and not is_bank_holiday(day)


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date ``days`` working days after ``start`` (start itself not counted)."""
    step = 1 if days >= 0 else -1
    remaining = abs(days)
    day = start
    while remaining:
        day += dt.timedelta(days=step)
        if is_working_day(day):
            remaining -= 1
    return day


def first_working_day(year: int, month: int) -> dt.date:
    day = dt.date(year, month, 1)
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def last_working_day(year: int, month: int) -> dt.date:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    day = nxt - dt.timedelta(days=1)
    while not is_working_day(day):
        day -= dt.timedelta(days=1)
    return day


def end_of_london_day(day: dt.date) -> dt.datetime:
    """A deadline "on" a date means by the end of that day in London, as UTC."""
    local = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=LONDON)
    return local.astimezone(UTC)


def london_date(instant: dt.datetime) -> dt.date:
    return to_london(instant).date()


def to_london(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(LONDON)


def _clock_offset(value: str | None) -> dt.timedelta:
    """``QAF_CLOCK``: run this process as if it had started at that instant
    (ISO 8601 with an offset; time then moves on as usual). For demos and the
    test suite's subprocesses, which must share the suite's named instant."""
    if not value:
        return dt.timedelta(0)
    try:
        start = dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise SystemExit(f"QAF_CLOCK: {value!r} is not an ISO 8601 instant, e.g. 2026-12-31T09:30:00+00:00") from error
    if start.tzinfo is None:
        raise SystemExit(f"QAF_CLOCK: {value!r} has no UTC offset, e.g. 2026-12-31T09:30:00+00:00")
    return start - dt.datetime.now(UTC)


_OFFSET = _clock_offset(os.environ.get("QAF_CLOCK"))


def utcnow() -> dt.datetime:
    """The one clock of qaf: every "now" in core, web and the CLI comes from here."""
    return dt.datetime.now(UTC) + _OFFSET


def today() -> dt.date:
    """Today in London."""
    return london_date(utcnow())


def working_deadline(start: dt.datetime, working_days: int) -> dt.datetime:
    """Due instant ``working_days`` working days after the London date of ``start``."""
    return end_of_london_day(add_working_days(london_date(start), working_days))
