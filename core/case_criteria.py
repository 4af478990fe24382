"""Choosing cases by what a council records of them, and by a look-back
window (PLAT-3). Pure functions: the clock is always an argument.

A council declares its case attributes (``Council.case_attributes``); the
case import stores each case's values in ``child_case.attributes`` as JSON
values (a date as ``2026-08-31``, yes/no as true/false, a whole number, a
choice's value). A schedule's ``cases.criteria`` select on them, judged on the
first day of the work's period (the day its work is issued from), never
"today": the same work gives the same answer whenever it is asked.

Whole months are counted as the calendar counts them: 18 months after
31 August 2026 would be 31 February 2028, which does not exist, so it is
1 March 2028 (as a child born on 29 February reaches an age on 1 March in a
year that has none).
"""

from __future__ import annotations

import datetime as dt

from core.definitions.model import CaseAttribute, CaseCriterion, Council, Frequency

# Which comparisons go with which type of attribute.
OPERATORS: dict[str, tuple[str, ...]] = {
    "date": ("months_ago_at_least", "months_ago_less_than", "years_ago_at_least", "years_ago_less_than"),
    "number": ("at_least", "at_most"),
    "yes_no": ("is_",),
    "choice": ("one_of",),
}
ALL_OPERATORS = tuple(op for ops in OPERATORS.values() for op in ops)
# How a comparison is written in a plugin's YAML (``is_`` is ``is``).
WRITTEN = {op: ("is" if op == "is_" else op) for op in ALL_OPERATORS}

_NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]


def number_words(n: int) -> str:
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def months_word(n: int) -> str:
    return f"{number_words(n)} month{'s' if n != 1 else ''}"


def add_months(day: dt.date, months: int) -> dt.date:
    """``months`` whole months after ``day``; a day the month does not have
    (31 February) is the first of the month after."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    try:
        return dt.date(year, month, day.day)
    except ValueError:
        return dt.date(year + month // 12, month % 12 + 1, 1)


def given(criterion: CaseCriterion) -> list[str]:
    """The comparisons a criterion gives (exactly one, once checked)."""
    out = [op for op in ALL_OPERATORS if op != "one_of" and getattr(criterion, op) is not None]
    if criterion.one_of:
        out.append("one_of")
    return out


def as_date(value) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _holds(attribute: CaseAttribute, criterion: CaseCriterion, value, on: dt.date) -> bool:
    op = given(criterion)[0]
    if attribute.type == "date":
        day = as_date(value)
        if day is None:
            return False
        months = getattr(criterion, op) * (12 if op.startswith("years") else 1)
        reached = add_months(day, months) <= on
        return reached if op.endswith("at_least") else not reached
    if attribute.type == "number":
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return value >= criterion.at_least if op == "at_least" else value <= criterion.at_most
    if attribute.type == "yes_no":
        return isinstance(value, bool) and value == criterion.is_
    return value in criterion.one_of


def describe(attribute: CaseAttribute, criterion: CaseCriterion) -> str:
    """The criterion in words: "Child protection plan started on: 18 or more months ago"."""
    op = given(criterion)[0]
    label = attribute.label
    if op == "is_":
        return f"{label}: {'yes' if criterion.is_ else 'no'}"
    if op == "one_of":
        names = {o.value: o.label for o in attribute.options}
        return f"{label}: {' or '.join(names.get(v, v) for v in criterion.one_of)}"
    n = getattr(criterion, op)
    return {
        "months_ago_at_least": f"{label}: {n} or more months ago",
        "months_ago_less_than": f"{label}: less than {n} months ago",
        "years_ago_at_least": f"{label}: {n} or more years ago",
        "years_ago_less_than": f"{label}: less than {n} years ago",
        "at_least": f"{label}: {n} or more",
        "at_most": f"{label}: {n} or fewer",
    }[op]


def failure(council: Council, criteria, attributes: dict, on: dt.date) -> str | None:
    """Why a case with these attribute values does not meet ``criteria`` on
    ``on``, in plain words, or None when it meets them all."""
    declared = {a.key: a for a in council.case_attributes}
    for criterion in criteria:
        attribute = declared[criterion.attribute]
        value = attributes.get(criterion.attribute)
        if value is None:
            return f"its {attribute.label.lower()} is not recorded ({describe(attribute, criterion)} is needed)"
        if not _holds(attribute, criterion, value, on):
            return f"it does not meet {describe(attribute, criterion)} (on {on:%-d %B %Y}, the work's first day)"
    return None


# --- the look-back window ------------------------------------------------------


def window(frequency: Frequency, due_on: dt.date) -> tuple[dt.date, dt.date] | None:
    """The days a piece of work due on ``due_on`` looks back over: the
    ``look_back_months`` whole months to the due date ("the past six
    months"), or, with ``look_back_ends_months_before``, the whole months
    ending that many months before the month it is due ("the three months
    ending two months before" March: November to January)."""
    months = frequency.look_back_months
    if not months:
        return None
    before = frequency.look_back_ends_months_before or 0
    month_index = due_on.year * 12 + due_on.month - 1 - before
    start_index = month_index - (months - 1)
    start = dt.date(start_index // 12, start_index % 12 + 1, 1)
    if not before:
        return start, due_on
    end = dt.date(month_index // 12, month_index % 12 + 1, 1)
    return start, add_months(end, 1) - dt.timedelta(days=1)


def window_rule(frequency: Frequency) -> str:
    """The window as the schedule words it: "the past six months",
    "the three months ending two months before the month it is due"."""
    months = frequency.look_back_months
    if not months:
        return ""
    before = frequency.look_back_ends_months_before
    if not before:
        return f"the past {months_word(months)}"
    return f"the {months_word(months)} ending {months_word(before)} before the month it is due"


def window_words(frequency: Frequency, due_on: dt.date) -> str:
    """The window in words with its London dates: "1 November 2027 to
    31 January 2028 (the three months ending two months before the month it
    is due)"."""
    span = window(frequency, due_on)
    if span is None:
        return ""
    return f"{span[0]:%-d %B %Y} to {span[1]:%-d %B %Y} ({window_rule(frequency)})"


def window_failure(span: tuple[dt.date, dt.date], involvement_started_on) -> str | None:
    """Why an open case had no involvement in the window, or None: its
    involvement must have begun by the window's last day."""
    began = as_date(involvement_started_on)
    if began is None:
        return "when involvement began is not recorded, so it cannot be shown to fall in the window the audit looks back over"
    if began > span[1]:
        return (f"involvement began on {began:%-d %B %Y}, after the window the audit looks back over "
                f"({span[0]:%-d %B %Y} to {span[1]:%-d %B %Y})")
    return None
