"""A council's case attributes in the case import, and the cases a schedule's
criteria and window let through (PLAT-3).

The import takes a column per attribute, named by its key (``looked_after``),
and checks each value against the attribute's type, reporting the line and
column of every bad one; a file without the column leaves the attribute as
it was, and a blank cell clears it. ``core.case_criteria`` judges the values.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from core import case_criteria
from core.db.tables import ChildCase
from core.definitions.model import CaseAttribute, Council
from core.services.imports import CASE_COLUMNS, Column, Problem, parse_date

_TYPES = {
    "date": "a date: 2026-11-22 or 22/11/2026",
    "yes_no": "yes or no",
    "number": "a whole number",
    "choice": "one of: {options}",
}
_YES = {"yes", "y", "true", "t", "1"}
_NO = {"no", "n", "false", "f", "0"}


def columns(council: Council) -> tuple[Column, ...]:
    """The case import's columns: its own, then one per case attribute."""
    return CASE_COLUMNS + tuple(
        Column(a.key, False, f"{a.label}: {_TYPES[a.type].format(options=_options(a))}."
               + (f" {a.description}" if a.description else ""))
        for a in council.case_attributes
    )


def _options(attribute: CaseAttribute) -> str:
    return ", ".join(f"{o.value} ({o.label})" if o.label.casefold() != o.value.casefold() else o.value
                     for o in attribute.options)


def loaded(value) -> dict:
    """A case's stored attributes as a dict (SQLite hands JSON back as text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, dict) else {}


def parse(attribute: CaseAttribute, raw: str, today: dt.date) -> object:
    """A cell's value as stored, or ValueError with the plain reason."""
    if attribute.type == "date":
        day = parse_date(raw)
        if day > today:
            raise ValueError(f"{day:%-d %B %Y} is in the future")
        return day.isoformat()
    if attribute.type == "yes_no":
        word = raw.casefold()
        if word in _YES:
            return True
        if word in _NO:
            return False
        raise ValueError(f"{raw!r} is not yes or no")
    if attribute.type == "number":
        if not re.fullmatch(r"[+-]?\d{1,9}", raw):
            raise ValueError(f"{raw!r} is not a whole number")
        return int(raw)
    for option in attribute.options:
        if raw.casefold() in (option.value.casefold(), option.label.strip().casefold()):
            return option.value
    raise ValueError(f"{raw!r} is not one of the choices: {_options(attribute)}")


def parse_row(council: Council, problems: list[Problem], line: int, raw: dict[str, str], header: set[str],
              existing: dict | None, today: dt.date) -> tuple[dict, dict[str, list]]:
    """The case's attributes after this line (the existing ones, with the
    file's columns over them) and what changed, ``{key: [before, after]}``."""
    before = loaded(existing["attributes"]) if existing else {}
    after = dict(before)
    for attribute in council.case_attributes:
        if attribute.key not in header:
            continue
        cell = raw.get(attribute.key, "")
        if not cell:
            after.pop(attribute.key, None)
            continue
        try:
            after[attribute.key] = parse(attribute, cell, today)
        except ValueError as error:
            problems.append(Problem(line, attribute.key, str(error)))
    changes = {
        key: [before.get(key), after.get(key)]
        for key in [a.key for a in council.case_attributes]
        if before.get(key) != after.get(key)
    }
    return after, changes


# --- which cases qualify -----------------------------------------------------


def narrows(schedule) -> bool:
    """Whether a schedule's cases are narrowed by criteria or its window."""
    return schedule.cases is not None and bool(schedule.cases.criteria or schedule.cases.in_window)


def problem(council: Council, schedule, case: dict, starts_on: dt.date, due_on: dt.date) -> str | None:
    """Why ``case`` (with ``attributes`` and ``involvement_started_on``) does
    not qualify for the schedule's work of the period ``starts_on`` to
    ``due_on``, or None. Criteria are judged on the period's first day."""
    if not narrows(schedule):
        return None
    why = case_criteria.failure(council, schedule.cases.criteria, loaded(case.get("attributes")), starts_on)
    if why is None and schedule.cases.in_window:
        span = case_criteria.window(schedule.frequency, due_on)
        why = case_criteria.window_failure(span, case.get("involvement_started_on")) if span else None
    return why


async def qualifying(organisation_id: int, council: Council, schedule, starts_on: dt.date, due_on: dt.date) -> set[int]:
    """The ids of the organisation's open cases that qualify (one read)."""
    rows = await ChildCase.select(ChildCase.id, ChildCase.attributes, ChildCase.involvement_started_on).where(
        (ChildCase.organisation == organisation_id) & ChildCase.allocated_worker.is_not_null()
    )
    return {row["id"] for row in rows if problem(council, schedule, row, starts_on, due_on) is None}


def criteria_words(registry, schedule_key: str) -> list[str]:
    """PLAT-3: the cases a schedule's work is done on, in words, for the work page."""
    supplied = registry.schedules.get(schedule_key)
    if supplied is None or not narrows(supplied.value):
        return []
    schedule = supplied.value
    council = registry.council(schedule_key.split(":", 1)[0])
    declared = {a.key: a for a in council.case_attributes}
    out = [case_criteria.describe(declared[c.attribute], c) for c in schedule.cases.criteria]
    if schedule.cases.in_window:
        out.append(f"Involvement in the window it looks back over ({case_criteria.window_rule(schedule.frequency)})")
    return out
