"""Work started by hand (issue 13 item 3; C17-3, C17-4, PLAT-2).

An ``every: as_required`` schedule has no dates, so the sweep issues it to
nobody: a thematic audit, a themed audit day, a dip sample or an independent
audit happens when it is needed. The people the schedule is for (its role,
or its named post within the role) start one themselves: a piece of work
owed by them, due on the date they give (today or later), done like any
other work (audits on the schedule's form, or a completion record). Where
the schedule is ``themed`` the person chooses one of the council's themes
(Coventry's AUDIT THEMES, C17-3), and the work carries it.

Undated "to be agreed" tasks are not started here: their process is not
agreed yet (C17-4), so qaf does not invent one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from core.calendar import last_working_day, london_date
from core.db.engine import transaction
from core.db.tables import Work
from core.definitions.model import Schedule
from core.services import trail
from core.services.context import Context
from core.services.errors import Forbidden, Invalid, NotFound
from core.services.work import WorkItem, council_year, get_work

# How far ahead work may be due: a year, so a mistyped year is caught.
FURTHEST = dt.timedelta(days=366)


@dataclass(frozen=True, slots=True)
class Startable:
    """An "as required" activity the actor may start."""

    key: str  # the schedule's local key, as in the page's address
    activity: str
    purpose: str
    form_title: str  # "" when it is done by a completion record
    count: int
    themes: tuple[tuple[str, str], ...]  # (key, label); empty unless themed


def _by_hand(schedule: Schedule) -> bool:
    return schedule.frequency.every == "as_required" and not schedule.to_be_agreed


def _themes(ctx: Context, schedule: Schedule) -> tuple[tuple[str, str], ...]:
    if not schedule.themed:
        return ()
    return tuple((theme.key, theme.label) for theme in ctx.registry.council(ctx.actor.council).themes)


def default_due(today: dt.date) -> dt.date:
    """The last working day of this month; once that has passed (a weekend or
    bank holiday at the month's end), of next month."""
    due = last_working_day(today.year, today.month)
    if due < today:
        following = (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        due = last_working_day(following.year, following.month)
    return due


async def startable(ctx: Context) -> list[Startable]:
    """The "as required" activities the actor's role (and post) let them
    start, in the framework's order: the same people ``expand`` gives them to."""
    from core.services.programme import programme

    assert ctx.actor
    council_key = ctx.actor.council
    year = council_year(ctx.registry.council(council_key), london_date(ctx.now))
    mine = {item.schedule for item in await programme(ctx, year, mine=True) if item.due is None}
    out = []
    for key, supplied in ctx.registry.schedules.items():
        schedule = supplied.value
        if not key.startswith(f"{council_key}:") or schedule.key not in mine or not _by_hand(schedule):
            continue
        form_title = ctx.registry.form(ctx.registry.ref(council_key, schedule.form, "forms")).title if schedule.form else ""
        out.append(Startable(schedule.key, schedule.activity, schedule.purpose, form_title, schedule.frequency.count,
                             _themes(ctx, schedule)))
    return out


async def startable_one(ctx: Context, key: str) -> Startable:
    """One activity the actor may start; refused when they may not."""
    assert ctx.actor
    key = key.removeprefix(f"{ctx.actor.council}:")
    supplied = ctx.registry.schedules.get(f"{ctx.actor.council}:{key}")
    if supplied is None:
        raise NotFound("There is no such activity in your council's programme")
    if not _by_hand(supplied.value):
        schedule = supplied.value
        why = "its process and timescale are still to be agreed" if schedule.to_be_agreed else "the programme issues it on its dates"
        raise Invalid(f"{schedule.activity} is not started by hand: {why}")
    for item in await startable(ctx):
        if item.key == key:
            return item
    raise Forbidden(f"{supplied.value.activity} is started by the people whose role it is; yours is not one of them")


async def start_by_hand(ctx: Context, key: str, *, due_on: dt.date | None, theme: str = "") -> WorkItem:
    """Start the "as required" activity ``key`` as work the actor owes, due on
    ``due_on``, on ``theme`` where the activity is themed. Every field's
    problem is raised at once, and nothing is written."""
    activity = await startable_one(ctx, key)
    today = london_date(ctx.now)
    errors: dict[str, str] = {}
    if due_on is None:
        errors["due_on"] = f"Enter the date it is due, for example {default_due(today):%-d %-m %Y}"
    elif due_on < today:
        errors["due_on"] = "The date it is due must be today or later"
    elif due_on > today + FURTHEST:
        errors["due_on"] = f"The date it is due must be on or before {today + FURTHEST:%-d %B %Y}"
    themes = dict(activity.themes)
    theme = theme.strip()
    if themes and not theme:
        errors["theme"] = "Choose the theme of the audit"
    elif themes and theme not in themes:
        errors["theme"] = "Choose one of the themes listed"
    elif not themes and theme:
        errors["theme"] = f"{activity.activity} has no theme"
    if errors:
        raise Invalid(f"Check the details of the {activity.activity.lower()}", errors)

    council_key = ctx.actor.council
    schedule_key = f"{council_key}:{activity.key}"
    schedule = ctx.registry.schedules[schedule_key].value
    form_key = ctx.registry.ref(council_key, schedule.form, "forms") if schedule.form else ""
    async with transaction():
        rows = await Work.insert(
            Work(
                organisation=ctx.actor.organisation_id,
                # Unique like an issued occurrence's, and never one of theirs.
                occurrence=f"{schedule_key}|{ctx.actor.person_id}||by hand {uuid.uuid4().hex}",
                schedule_key=schedule_key,
                schedule_version=schedule.version,
                activity=schedule.activity,
                owner=ctx.actor.person_id,
                supervisee=None,
                starts_on=today,
                due_on=due_on,
                needed=schedule.frequency.count,
                form_key=form_key,
                theme=theme,
                created_at=ctx.now,
            )
        ).returning(Work.id)
        work_id = rows[0]["id"]
        await trail.record(
            ctx, organisation_id=ctx.actor.organisation_id, entity="work", entity_id=work_id, action="started_by_hand",
            changes={"schedule": schedule_key, "owner": ctx.actor.person_id, "due_on": due_on.isoformat(),
                     "count": schedule.frequency.count} | ({"theme": theme} if theme else {}),
        )
        if schedule.co_auditors:  # PLAT-4: a joint activity started by its lead names its co-auditors
            from core.programme import co_auditors_of
            from core.services.joint import issue_members
            from core.services.programme import staff_of

            co = co_auditors_of(schedule, await staff_of(ctx.actor.organisation_id), ctx.actor.person_id)
            await issue_members(work_id, tuple(c.id for c in co), None)
    return await get_work(ctx, work_id)


__all__ = ["Startable", "default_due", "start_by_hand", "startable", "startable_one"]
