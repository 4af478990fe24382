"""Completion records through the council's workflow (PLAT-2).

A schedule without a form may name a ``workflow`` (``Schedule.workflow``):
recording the work as done puts its completion record in the workflow's
initial state, and the work is done when a final state is reached. Steps
are taken by the people the workflow names, as on audits (``core.workflow``),
with these relations on a piece of work: ``auditor`` is its owner (who does
it), ``team_manager`` the owner's line manager, ``practitioner`` the
supervisee it is for; a role key means anyone holding the role.

``Work.recorded_on`` keeps the record's date while it goes through; the
delivery counts read ``Work.done_on``, which is set from it only when a final
state is reached, so they count such work done only then (PLAT-5).
"""

from __future__ import annotations

from core import workflow as wf
from core.db.engine import transaction
from core.db.tables import Person, Work
from core.definitions.model import RELATIONS, Transition, Workflow
from core.services import trail, work_counts
from core.services.context import Context
from core.services.errors import Forbidden, Invalid


def completion_workflow(ctx: Context, schedule_key: str) -> tuple[str, Workflow] | None:
    """The workflow a schedule's completion records go through, with its key, or None."""
    supplied = ctx.registry.schedules.get(schedule_key)
    if supplied is None or not supplied.value.workflow:
        return None
    key = ctx.registry.ref(supplied.namespace, supplied.value.workflow, "workflows")
    return key, ctx.registry.workflow(key)


def entering(ctx: Context, schedule_key: str) -> tuple[Workflow | None, dict]:
    """What a completion record's row gets as it is written: the workflow,
    its version and initial state; ``done_on`` left empty until a final state."""
    found = completion_workflow(ctx, schedule_key)
    if found is None:
        return None, {}
    key, workflow = found
    flow = {Work.workflow_key: key, Work.workflow_version: workflow.version, Work.state: workflow.initial}
    if wf.state(workflow, workflow.initial).final:
        flow[Work.final_at] = ctx.now
    else:
        flow[Work.done_on] = None  # set when a final state is reached (``take_step``)
    return workflow, flow


async def work_relations(row: dict) -> dict[str, int | None]:
    """Who a completion workflow's relations mean on a piece of work."""
    manager = await Person.select(Person.line_manager).where(Person.id == row["owner"]).first()
    return {"auditor": row["owner"], "team_manager": manager["line_manager"] if manager else None,
            "practitioner": row["supervisee"], "case_chair": None}


async def held_on_work(ctx: Context, row: dict) -> set[str]:
    held = {relation for relation, who in (await work_relations(row)).items() if who == ctx.actor.person_id}
    # As on audits: a role key that is also a relation's name means the relation.
    if ctx.actor.role not in RELATIONS:
        held.add(ctx.actor.role)
    return held


async def names(ctx: Context, row: dict) -> bool:
    """The actor is named by the work's completion workflow: in a step's
    ``by`` (they must see what they sign off) or a state's ``notify``."""
    if not row["workflow_key"]:
        return False
    workflow = ctx.registry.workflow(row["workflow_key"], row["workflow_version"])
    held = await held_on_work(ctx, row)
    return any(held.intersection(t.by) for t in workflow.transitions) or any(
        held.intersection(s.notify) for s in workflow.states)


async def tell(ctx: Context, work_id: int, state_key: str, reason: str = "") -> None:
    """Tell whom the state's ``notify`` names (relations on the work, or the
    nearest holder of a role up the owner's line, as escalations find them)
    that the completion record is now in it; never the person who just moved
    it. In the caller's transaction."""
    from core.services import escalations, notifications

    row = await Work.select().where(Work.id == work_id).first()
    workflow = ctx.registry.workflow(row["workflow_key"], row["workflow_version"])
    target = wf.state(workflow, state_key)
    if not target.notify:
        return
    who = await escalations.recipients(row["organisation"], tuple(target.notify), await work_relations(row), row["owner"])
    who = [p for p in who if p != ctx.actor.person_id]
    if not who:
        return
    body = f"{row['activity']} (due {row['due_on']:%-d %B %Y}) is now: {target.label}."
    if reason.strip():
        body += f"\n\nReason given: {reason.strip()}"
    await notifications.notify(ctx, organisation_id=row["organisation"], recipients=who, kind="work_step",
                               subject=f"{row['activity']}: {target.label}"[:200], body=body,
                               link=f"/programme/work/{work_id}")


async def steps(ctx: Context, item) -> list[Transition]:
    """The steps the actor may take on this completion record now."""
    if not item.workflow_key or item.finished:
        return []
    row = await Work.select().where(Work.id == item.id).first()
    workflow = ctx.registry.workflow(row["workflow_key"], row["workflow_version"])
    return wf.available(workflow, row["state"], await held_on_work(ctx, row))


async def take_step(ctx: Context, work_id: int, step: str, reason: str = ""):
    """Move a completion record on through its workflow, by one of the people
    the step names; done when it reaches a final state. Returns the WorkItem."""
    from core.services.work import get_work

    await get_work(ctx, work_id)  # NotFound for those who may not see it
    async with transaction():
        row = await Work.select().where(Work.id == work_id).first()
        if not row["workflow_key"] or row["recorded_on"] is None:
            raise Invalid(f"{row['activity']} has no completion record going through a workflow")
        workflow = ctx.registry.workflow(row["workflow_key"], row["workflow_version"])
        if row["final_at"] is not None:
            raise Invalid(f"{row['activity']} is already done: {wf.state(workflow, row['state']).label.lower()}")
        try:
            chosen = wf.check(workflow, row["state"], step, await held_on_work(ctx, row))
        except wf.TransitionRefused as refused:
            raise Forbidden(str(refused).replace("while the audit is", "while it is")) from None
        if chosen.reason_required and not reason.strip():
            raise Invalid("Give a reason", {"reason": f"Enter the reason to '{chosen.label.lower()}'"})
        target = wf.state(workflow, chosen.to)
        # The UPDATE names the state it moves from: two people taking a step
        # at once cannot both move it.
        moved = await Work.update(
            {Work.state: chosen.to, Work.final_at: ctx.now if target.final else None,
             # Done now, on the date the record gives (the delivery counts read done_on).
             Work.done_on: row["recorded_on"] if target.final else None}
        ).where((Work.id == work_id) & (Work.state == row["state"])).returning(Work.id)
        if not moved:
            raise Invalid("Someone else moved this on first: look again")
        await trail.record(ctx, organisation_id=ctx.actor.organisation_id, entity="work", entity_id=work_id,
                           action=f"transition:{chosen.key}",
                           changes={"from": row["state"], "to": chosen.to, "reason": reason.strip()})
        await tell(ctx, work_id, chosen.to, reason)
        if target.final:
            await work_counts.completed(work_id)  # PLAT-5: counted done only now
    return await get_work(ctx, work_id)


__all__ = ["completion_workflow", "entering", "names", "steps", "take_step", "tell", "work_relations"]
