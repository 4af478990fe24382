"""One engine for every plugin workflow (CORE-10): which transitions an actor
may take from a state, and when the state they lead to falls due."""

from __future__ import annotations

import datetime as dt

from core.calendar import LONDON, UTC, add_working_days, is_working_day, working_deadline
from core.definitions.model import Deadline, State, Transition, Workflow


class TransitionRefused(Exception):
    pass


def state(workflow: Workflow, key: str) -> State:
    for candidate in workflow.states:
        if candidate.key == key:
            return candidate
    raise KeyError(key)


def transition(workflow: Workflow, key: str) -> Transition:
    for candidate in workflow.transitions:
        if candidate.key == key:
            return candidate
    raise KeyError(key)


def may_take(transition_: Transition, held: set[str]) -> bool:
    """``held``: the relations the actor has to the record plus their role key."""
    return bool(held.intersection(transition_.by))


def available(workflow: Workflow, current: str, held: set[str]) -> list[Transition]:
    return [t for t in workflow.transitions if current in t.from_ and may_take(t, held)]


def check(workflow: Workflow, current: str, key: str, held: set[str]) -> Transition:
    try:
        chosen = transition(workflow, key)
    except KeyError:
        raise TransitionRefused(f"{workflow.label} has no step {key!r}") from None
    if current not in chosen.from_:
        raise TransitionRefused(
            f"'{chosen.label}' cannot be done while the audit is {state(workflow, current).label.lower()}"
        )
    if not may_take(chosen, held):
        raise TransitionRefused(f"You are not one of the people who may '{chosen.label.lower()}'")
    return chosen


def due(deadline: Deadline, start: dt.datetime) -> dt.datetime:
    """The instant a deadline started at ``start`` falls due (CORE-8)."""
    if deadline.working_days is not None:
        return working_deadline(start, deadline.working_days)
    if deadline.working_hours is not None:
        return _add_working_hours(start, deadline.working_hours)
    assert deadline.calendar_months is not None
    return add_calendar_months(start, deadline.calendar_months)


def add_calendar_months(start: dt.datetime, months: int) -> dt.datetime:
    local = start.astimezone(LONDON)
    year, month = divmod(local.month - 1 + months, 12)
    year += local.year
    month += 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    moved = local.replace(year=year, month=month, day=min(local.day, last), hour=23, minute=59, second=59)
    return moved.astimezone(UTC)


def _add_working_hours(start: dt.datetime, hours: int) -> dt.datetime:
    # Counts whole hours that fall on working days, in London time.
    local = start.astimezone(LONDON)
    remaining = hours
    while remaining > 0:
        local += dt.timedelta(hours=1)
        if is_working_day(local.date()):
            remaining -= 1
    return local.astimezone(UTC)


__all__ = ["add_working_days", "available", "check", "due", "state", "transition", "TransitionRefused"]
