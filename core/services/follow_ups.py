"""Who a follow-up asks (CORE-11, HAR 2.13): the ``assignees`` list on the
follow-up is the record, and ``follow_up_assignee`` holds the same people one
row each, so "follow-ups awaiting me" is read from an index by person
(issue 19 item 1). Both are written here and nowhere else, in one
transaction, so the two cannot disagree; ``disagreements`` checks it."""

from __future__ import annotations

from core.db.engine import transaction
from core.db.tables import FollowUp, FollowUpAssignee, Person
from core.services import trail
from core.services.context import Context
from core.services.errors import Invalid, NotFound


def _people(people) -> list[int]:
    # Each person once, in the order given.
    return list(dict.fromkeys(int(p) for p in people))


async def open_follow_up(**values) -> int:
    """Insert a follow-up (the columns of ``FollowUp``) and its assignees' rows;
    returns its id. The caller holds the transaction (an escalation's batch)."""
    people = _people(values.pop("assignees"))
    async with transaction():
        rows = await FollowUp.insert(FollowUp(assignees=people, **values)).returning(FollowUp.id)
        follow_up_id = rows[0]["id"]
        if people:
            await FollowUpAssignee.insert(*[FollowUpAssignee(follow_up=follow_up_id, person=p) for p in people])
    return follow_up_id


async def reassign(ctx: Context, follow_up_id: int, people) -> None:
    """Ask other people to do an open follow-up: the list and the rows
    together, with a trail entry."""
    people = _people(people)
    if not people:
        raise Invalid("Choose who is to do it", {"assignees": "Choose at least one person"})
    async with transaction():
        task = await FollowUp.select(
            FollowUp.id, FollowUp.organisation, FollowUp.allocation, FollowUp.assignees, FollowUp.status
        ).where(FollowUp.id == follow_up_id).output(load_json=True).first()
        if task is None or (ctx.actor and task["organisation"] != ctx.actor.organisation_id):
            raise NotFound("There is no task with that number")
        known = await Person.select(Person.id).where(
            Person.id.is_in(people) & (Person.organisation == task["organisation"])
        )
        if len(known) != len(people):
            raise Invalid("Choose people of the council", {"assignees": "Choose people of the council"})
        await FollowUp.update({FollowUp.assignees: people}).where(FollowUp.id == follow_up_id)
        await FollowUpAssignee.delete().where(FollowUpAssignee.follow_up == follow_up_id)
        await FollowUpAssignee.insert(*[FollowUpAssignee(follow_up=follow_up_id, person=p) for p in people])
        await trail.record(
            ctx,
            organisation_id=task["organisation"],
            entity="allocation" if task["allocation"] else "follow_up",
            entity_id=task["allocation"] or follow_up_id,
            action="follow_up_reassigned",
            changes={"follow_up": follow_up_id, "assignees": [task["assignees"], people]},
        )


async def disagreements() -> list[tuple[int, list[int], list[int]]]:
    """Each follow-up whose list and rows name different people:
    (follow-up, people in the list, people in the rows). Empty when they agree."""
    listed = {
        r["id"]: sorted({int(p) for p in (r["assignees"] or [])})
        for r in await FollowUp.select(FollowUp.id, FollowUp.assignees).output(load_json=True)
    }
    rows: dict[int, list[int]] = {}
    for r in await FollowUpAssignee.select(FollowUpAssignee.follow_up, FollowUpAssignee.person).order_by(
        FollowUpAssignee.person
    ):
        rows.setdefault(r["follow_up"], []).append(r["person"])
    return [
        (f, listed.get(f, []), rows.get(f, []))
        for f in sorted(set(listed) | set(rows))
        if listed.get(f, []) != rows.get(f, [])
    ]

