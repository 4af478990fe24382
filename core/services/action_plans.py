"""Action plans for partnership and thematic work (CSCP-8, BED-6).

A plan groups SMART actions (core.services.actions) and belongs to a body the
council defines (``council.bodies``: the CSCP's A&P subgroup, Bedford's DMT),
which monitors it until every action is closed (CSCP 5.5: "monitored by the
A&P Subgroup until completion"; Bedford s.7: "a targeted action plan").
Learning records say what was learned and how it was shared (CSCP 5.5).

Who may see and change a plan: the people whose role sits on its body, and
the QA administrators (``administer``). Anyone else gets NotFound for a plan
and Forbidden for the list; an action's owner still sees their own action.
"""

from __future__ import annotations

import datetime as dt

from core.calendar import london_date
from core.db.engine import transaction
from core.db.tables import Action, ActionPlan, LearningRecord, Person
from core.definitions.model import Body
from core.services import actions, audits, trail
from core.services.context import Context
from core.services.errors import Conflict, Forbidden, Invalid, NotFound

# Where a plan's recommendations came from (CSCP 5.5 "at the end of each audit
# or piece of quality assurance work"; Bedford s.7 themed audit days; HAR 2.11
# a dispute's outcome).
SOURCES: dict[str, str] = {
    "audit": "An audit",
    "themed_audit_day": "A themed audit day",
    "multi_agency_audit": "A partnership (multi-agency) audit",
    "dispute_outcome": "A dispute's outcome",
}
CLOSED = ("done", "cancelled")


def _local(ref: str) -> str:
    return ref.split(":")[-1]


def bodies_for(ctx: Context) -> list[Body]:
    """The bodies the actor works with: those their role sits on, or every
    body of the council for a QA administrator."""
    assert ctx.actor
    council = ctx.registry.council(ctx.actor.council)
    if ctx.actor.can("administer"):
        return list(council.bodies)
    return [b for b in council.bodies if ctx.actor.role in {_local(r) for r in b.roles}]


def body_of(ctx: Context, key: str) -> Body | None:
    assert ctx.actor
    return next((b for b in ctx.registry.council(ctx.actor.council).bodies if b.key == key), None)


def _may_manage(ctx: Context, body_key: str) -> bool:
    return any(b.key == body_key for b in bodies_for(ctx))


async def _load(ctx: Context, plan_id: int) -> dict:
    assert ctx.actor
    plan = await ActionPlan.select().where(ActionPlan.id == plan_id).first()
    if plan is None or plan["organisation"] != ctx.actor.organisation_id or not _may_manage(ctx, plan["body"]):
        raise NotFound("There is no action plan with that number that you can see")
    return plan


async def may_see(ctx: Context, plan_id: int) -> bool:
    try:
        await _load(ctx, plan_id)
    except NotFound:
        return False
    return True


async def writable(ctx: Context, plan_id: int) -> dict:
    """A plan the actor may add to: visible and not yet complete."""
    plan = await _load(ctx, plan_id)
    if plan["status"] == "complete":
        raise Conflict("This action plan is complete: it takes no more actions or learning")
    return plan


def _date(value) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None


async def create(
    ctx: Context,
    *,
    body: str,
    title: str,
    source_kind: str,
    source_detail: str = "",
    allocation_id: int | None = None,
    dispute_id: int | None = None,
) -> int:
    assert ctx.actor
    if not bodies_for(ctx):
        raise Forbidden("Only members of a body that monitors action plans can open one")
    errors: dict[str, str] = {}
    title = (title or "").strip()
    source_detail = (source_detail or "").strip()
    if not _may_manage(ctx, body or ""):
        errors["body"] = "Choose the group that will monitor the plan"
    if not title:
        errors["title"] = "Enter a title for the plan"
    elif len(title) > 200:
        errors["title"] = "The title must be 200 characters or fewer"
    if source_kind not in SOURCES:
        errors["source_kind"] = "Choose where the plan's recommendations came from"
    if not source_detail:
        errors["source_detail"] = "Say which audit, day or outcome, for example its theme and date"
    if allocation_id is not None:
        try:
            await audits.visible(ctx, allocation_id)
        except NotFound:
            errors["allocation_id"] = "There is no audit with that number that you can see"
    if dispute_id is not None:
        from core.services import disputes

        # Issue 16: the dispute as its own page decides (``_people_and_held``),
        # not only its council: a plan cannot cite a dispute its opener cannot see.
        try:
            await disputes._people_and_held(ctx, await disputes._load(ctx, dispute_id))
        except NotFound:
            errors["dispute_id"] = "There is no dispute with that number that you can see"
    if errors:
        raise Invalid("The action plan could not be opened", errors)
    async with transaction():
        rows = await ActionPlan.insert(
            ActionPlan(
                organisation=ctx.actor.organisation_id, body=body, title=title, source_kind=source_kind,
                source_detail=source_detail, allocation=allocation_id, dispute=dispute_id, status="open",
                created_by=ctx.actor.person_id, created_at=ctx.now,
            )
        ).returning(ActionPlan.id)
        plan_id = rows[0]["id"]
        await trail.record(
            ctx, organisation_id=ctx.actor.organisation_id, entity="action_plan", entity_id=plan_id, action="plan_created",
            changes={"body": body, "title": title, "source_kind": source_kind, "source_detail": source_detail,
                     "allocation": allocation_id, "dispute": dispute_id},
        )
    return plan_id


def _progress(rows: list[dict], now: dt.datetime) -> dict:
    total = len(rows)
    closed = sum(1 for r in rows if r["status"] in CLOSED)
    overdue = sum(1 for r in rows if r["status"] == "open" and r["due_at"] < now)
    return {"total": total, "closed": closed, "open": total - closed, "overdue": overdue}


async def plans(ctx: Context) -> list[dict]:
    """The plans of the bodies the actor works with, open first, with progress."""
    assert ctx.actor
    bodies = bodies_for(ctx)
    if not bodies:
        raise Forbidden("Only members of a body that monitors action plans see its plans")
    labels = {b.key: b.label for b in bodies}
    rows = await ActionPlan.select().where(
        (ActionPlan.organisation == ctx.actor.organisation_id) & ActionPlan.body.is_in(sorted(labels))
    ).order_by(ActionPlan.created_at, ascending=False).order_by(ActionPlan.id, ascending=False)
    if not rows:
        return []
    acts = await Action.select(Action.action_plan, Action.status, Action.due_at).where(
        Action.action_plan.is_in([r["id"] for r in rows])
    )
    out = []
    for r in rows:
        mine = [a for a in acts if a["action_plan"] == r["id"]]
        out.append(r | {"body_label": labels[r["body"]], "source_label": SOURCES.get(r["source_kind"], r["source_kind"]),
                        "progress": _progress(mine, ctx.now)})
    return sorted(out, key=lambda p: p["status"] == "complete")


async def plan_view(ctx: Context, plan_id: int) -> dict:
    plan = await _load(ctx, plan_id)
    body = body_of(ctx, plan["body"])
    rows = await Action.select(*actions._COLUMNS).where(Action.action_plan == plan_id).order_by(Action.due_at).order_by(Action.id)
    rows = await actions._shape(rows, ctx.now)
    channels = {c.key: c.label for c in body.learning_channels} if body else {}
    learning = await LearningRecord.select(
        LearningRecord.all_columns(), LearningRecord.recorded_by.display_name.as_alias("recorded_by_name")
    ).where(LearningRecord.action_plan == plan_id).order_by(LearningRecord.shared_on).order_by(LearningRecord.id)
    for record in learning:
        record["channel_label"] = channels.get(record["channel"], record["channel"])
    names = {}
    for who in (plan["created_by"], plan["completed_by"]):
        if who is not None:
            person = await Person.select(Person.display_name).where(Person.id == who).first()
            names[who] = person["display_name"] if person else ""
    # The links to its source only where they open for the reader.
    may_see_audit = may_see_dispute = False
    if plan["allocation"] is not None:
        try:
            await audits.visible(ctx, plan["allocation"])
            may_see_audit = True
        except NotFound:
            pass
    if plan["dispute"] is not None:
        from core.services import disputes

        may_see_dispute = await disputes.may_open(ctx, plan["dispute"])
    return {
        "plan": plan,
        "may_see_audit": may_see_audit,
        "may_see_dispute": may_see_dispute,
        "body_label": body.label if body else plan["body"],
        "source_label": SOURCES.get(plan["source_kind"], plan["source_kind"]),
        "actions": rows,
        "overdue": [r for r in rows if r["overdue"]],
        "progress": _progress(rows, ctx.now),
        "learning": learning,
        "channels": list(channels.items()),
        "created_by_name": names.get(plan["created_by"], ""),
        "completed_by_name": names.get(plan["completed_by"], ""),
        "history": await trail.history("action_plan", plan_id),
    }


async def add_action(ctx: Context, plan_id: int, *, what: str, owner_id: int | None, due_on) -> int:
    """A SMART action on the plan (what, who, by when); its due date is swept
    like every action's."""
    return await actions.create(ctx, what=what, owner_id=owner_id, due_on=due_on, action_plan_id=plan_id)


async def record_learning(ctx: Context, plan_id: int, *, learned: str, channel: str, audience: str, shared_on) -> int:
    """CSCP 5.5: what was learned and how it was shared across the partnership."""
    plan = await _load(ctx, plan_id)
    body = body_of(ctx, plan["body"])
    channels = {c.key for c in body.learning_channels} if body else set()
    errors: dict[str, str] = {}
    learned = (learned or "").strip()
    audience = (audience or "").strip()
    if not learned:
        errors["learned"] = "Say what was learned"
    if channel not in channels:
        errors["channel"] = "Choose how the learning was shared"
    if not audience:
        errors["audience"] = "Say who it was shared with"
    elif len(audience) > 200:
        errors["audience"] = "Who it was shared with must be 200 characters or fewer"
    day = _date(shared_on)
    if day is None:
        errors["shared_on"] = "Enter the date it was shared"
    elif day > london_date(ctx.now):
        errors["shared_on"] = "The date it was shared must be today or in the past"
    if errors:
        raise Invalid("The learning could not be recorded", errors)
    async with transaction():
        rows = await LearningRecord.insert(
            LearningRecord(
                organisation=plan["organisation"], action_plan=plan_id, learned=learned, channel=channel,
                audience=audience, shared_on=day, recorded_by=ctx.actor.person_id, recorded_at=ctx.now,
            )
        ).returning(LearningRecord.id)
        record_id = rows[0]["id"]
        await trail.record(
            ctx, organisation_id=plan["organisation"], entity="action_plan", entity_id=plan_id, action="learning_recorded",
            changes={"learning_record": record_id, "channel": channel, "audience": audience, "shared_on": day.isoformat()},
        )
    return record_id


async def complete(ctx: Context, plan_id: int) -> None:
    """Mark the plan complete: only when it has actions and every one is closed."""
    plan = await writable(ctx, plan_id)
    rows = await Action.select(Action.status, Action.what).where(Action.action_plan == plan_id)
    if not rows:
        raise Conflict("This plan has no actions yet: add its SMART actions before marking it complete")
    still_open = [r for r in rows if r["status"] not in CLOSED]
    if still_open:
        raise Conflict(
            f"This plan cannot be marked complete: {len(still_open)} of its {len(rows)} actions "
            f"{'is' if len(still_open) == 1 else 'are'} still open. Close every action first."
        )
    async with transaction():
        moved = await ActionPlan.update(
            {ActionPlan.status: "complete", ActionPlan.completed_at: ctx.now, ActionPlan.completed_by: ctx.actor.person_id}
        ).where((ActionPlan.id == plan_id) & (ActionPlan.status == "open")).returning(ActionPlan.id)
        if not moved:
            raise Conflict("Someone else marked this plan complete just now")
        await trail.record(
            ctx, organisation_id=plan["organisation"], entity="action_plan", entity_id=plan_id, action="plan_completed",
            changes={"status": ["open", "complete"], "actions_closed": len(rows)},
        )


__all__ = ["SOURCES", "add_action", "bodies_for", "complete", "create", "plan_view", "plans", "record_learning"]
