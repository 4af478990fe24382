"""What the partnership's own records share (issue 14 items 4-8): who reads
them, and taking a step of one of the council's workflows on a record that is
not an audit (an audit programme, a scorecard quarter, an indicator change)
with its notifications and trail.

Access (docs/access.md, "Partnership reports, scorecard and programme"): the
partnership's people read everything (``view_all_audits`` or
``read_council_reports``: the QA manager, the Audit Chair, A&P subgroup
members, the Executive Group and the Partnership Board); an agency's people
see only their own agency's figures; each step is taken only by the roles
its workflow names."""

from __future__ import annotations

import datetime as dt
import json

from core import workflow as wf
from core.db.tables import Agency, Person
from core.definitions.model import Transition, Workflow
from core.services import notifications, trail
from core.services.context import Context
from core.services.errors import Forbidden, Invalid, NotFound

QUARTER_MONTHS = {1: "April to June", 2: "July to September", 3: "October to December", 4: "January to March"}


def reads_partnership(ctx: Context) -> bool:
    assert ctx.actor
    return ctx.actor.can("view_all_audits") or ctx.actor.can("read_council_reports")


def require_reader(ctx: Context, what: str) -> None:
    if not reads_partnership(ctx):
        raise NotFound(f"There is no {what} you can see")


def require_qa_manager(ctx: Context, doing: str) -> None:
    """The partnership's QA manager (the ``administer`` capability)."""
    assert ctx.actor
    if not ctx.actor.can("administer"):
        raise Forbidden(f"Only the Quality Assurance Manager can {doing}")


async def agency_of(ctx: Context) -> dict | None:
    """The actor's agency (key, name), if they belong to one."""
    assert ctx.actor
    row = await Person.select(Person.agency.key.as_alias("key"), Person.agency.name.as_alias("name")).where(
        Person.id == ctx.actor.person_id).first()
    return row if row and row["key"] else None


async def agency_names(ctx: Context) -> dict[str, str]:
    assert ctx.actor
    rows = await Agency.select(Agency.key, Agency.name).where(Agency.organisation == ctx.actor.organisation_id)
    names = {a.key: a.label for a in ctx.registry.council(ctx.actor.council).agencies}
    names.update({r["key"]: r["name"] for r in rows})
    return names


def workflow_of(ctx: Context, key: str) -> Workflow:
    """The actor's council's workflow ``key``; a council without it (only the
    partnership runs a scorecard and an audit programme) has nothing of the
    kind to show: NotFound, never a server error."""
    assert ctx.actor
    try:
        return ctx.registry.workflow(f"{ctx.actor.council}:{key}")
    except KeyError:
        from core.services.errors import NotFound

        raise NotFound("Your council has no partnership records of this kind") from None


def quarter_of(ctx: Context, day: dt.date) -> tuple[int, int]:
    """(year, quarter) of a London date in the council's year (CSCP: April to
    March, so quarters end in June, September, December and March)."""
    assert ctx.actor
    start = ctx.registry.council(ctx.actor.council).year_start_month
    months = (day.month - start) % 12
    year = day.year if day.month >= start else day.year - 1
    return year, months // 3 + 1


def quarter_bounds(ctx: Context, year: int, quarter: int) -> tuple[dt.date, dt.date]:
    """First and last day of a quarter of the council's year."""
    assert ctx.actor
    start = ctx.registry.council(ctx.actor.council).year_start_month
    month0 = start - 1 + (quarter - 1) * 3
    first = dt.date(year + month0 // 12, month0 % 12 + 1, 1)
    after = month0 + 3
    last = dt.date(year + after // 12, after % 12 + 1, 1) - dt.timedelta(days=1)
    return first, last


def year_words(ctx: Context, year: int) -> str:
    assert ctx.actor
    start = ctx.registry.council(ctx.actor.council).year_start_month
    return str(year) if start == 1 else f"{year} to {year + 1}"


def quarter_words(ctx: Context, year: int, quarter: int) -> str:
    first, last = quarter_bounds(ctx, year, quarter)
    return f"Quarter {quarter} ({first:%B} to {last:%B %Y})"


def check_step(workflow: Workflow, state: str, key: str, held: set[str], reason: str) -> Transition:
    try:
        chosen = wf.check(workflow, state, key, held)
    except wf.TransitionRefused as refused:
        raise Forbidden(str(refused).replace("while the audit is", "while it is")) from None
    if chosen.reason_required and not reason.strip():
        raise Invalid("Give a reason", {"reason": f"Say why: '{chosen.label}' needs a reason"})
    return chosen


def steps_for(ctx: Context, workflow: Workflow, state: str, held: set[str]) -> list[Transition]:
    return wf.available(workflow, state, held)


async def tell(ctx: Context, workflow: Workflow, chosen: Transition, *, subject: str, link: str) -> None:
    """Notify the roles the new state names (inside the caller's transaction)."""
    assert ctx.actor
    target = wf.state(workflow, chosen.to)
    roles = [r.split(":")[-1] for r in target.notify]
    if not roles:
        return
    people = await Person.select(Person.id).where(
        (Person.organisation == ctx.actor.organisation_id) & Person.role.is_in(roles) & (Person.active == True)  # noqa: E712
    )
    await notifications.notify(
        ctx, organisation_id=ctx.actor.organisation_id, recipients=[p["id"] for p in people if p["id"] != ctx.actor.person_id],
        kind=f"{workflow.key}_{target.key}", subject=f"{subject}: {target.label[0].lower()}{target.label[1:]}",
        body=f"{ctx.actor.display_name}: {chosen.label}.", link=link,
    )


async def record(ctx: Context, entity: str, entity_id: int, action: str, changes: dict | None = None) -> None:
    assert ctx.actor
    await trail.record(ctx, organisation_id=ctx.actor.organisation_id, entity=entity, entity_id=entity_id, action=action,
                       changes=changes or {})


async def chain(entity: str, entity_id: int, workflow: Workflow) -> list[dict]:
    """Who took each step of a record's workflow and when (from the trail)."""
    out = []
    for entry in await trail.history(entity, entity_id):
        action = entry["action"]
        if not action.startswith("transition:"):
            continue
        try:
            transition = wf.transition(workflow, action.split(":", 1)[1])
        except KeyError:
            continue
        changes = entry["changes"]
        if isinstance(changes, str):
            changes = json.loads(changes or "{}")
        changes = changes if isinstance(changes, dict) else {}
        out.append({"step": transition.label, "state": wf.state(workflow, transition.to).label, "by": entry["actor_name"],
                    "at": entry["at"], "reason": changes.get("reason", "")})
    return out
