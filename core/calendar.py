"""Working days on the England and Wales calendar (CORE-8).

Deadlines count Monday to Friday, skipping England and Wales bank holidays
as published by the ``holidays`` package (substitute days included, e.g.
Boxing Day 2026 falls on a Saturday so Monday 28 December is the holiday).
Instants are stored in UTC and shown in Europe/London.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")
UTC = dt.timezone.utc


@functools.lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[dt.date]:
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


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


def working_deadline(start: dt.datetime, working_days: int) -> dt.datetime:
    """Due instant ``working_days`` working days after the London date of ``start``."""
    return end_of_london_day(add_working_days(london_date(start), working_days))
