"""The periodic sweep (CORE-10, HAR-15): issue due cycles, then act once on
every deadline that has passed.

Each passed deadline is claimed by flipping it from ``open`` to ``missed`` in
the same transaction that writes its escalations. Two qaf processes sweeping
one database cannot both claim a row: the loser's UPDATE finds it no longer
open (PostgreSQL row lock; SQLite's single writer), so every escalation is
sent exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.db.engine import transaction
from core.db.tables import Allocation, Deadline, FollowUp
from core.escalation import EscalationEvent
from core.services import audits, cycles, escalations, notifications, trail
from core.services.context import Context

BATCH = 500


@dataclass
class SweepReport:
    cycles_issued: int = 0
    deadlines_missed: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


async def sweep(ctx: Context) -> SweepReport:
    report = SweepReport()
    report.cycles_issued = len(await cycles.issue_due_cycles(ctx))
    while True:
        due = (
            await Deadline.select(Deadline.id)
            .where((Deadline.status == "open") & (Deadline.due_at <= ctx.now))
            .order_by(Deadline.due_at)
            .limit(BATCH)
        )
        acted = 0
        for candidate in due:
            kind = await _claim_and_act(ctx, candidate["id"])
            if kind:
                acted += 1
                report.deadlines_missed += 1
                report.by_kind[kind] = report.by_kind.get(kind, 0) + 1
        if len(due) < BATCH or not acted:
            return report


async def _claim_and_act(ctx: Context, deadline_id: int) -> str | None:
    async with transaction():
        claimed = (
            await Deadline.update({Deadline.status: "missed", Deadline.closed_at: ctx.now})
            .where((Deadline.id == deadline_id) & (Deadline.status == "open"))
            .returning(Deadline.id)
        )
        if not claimed:
            return None  # another process has it
        deadline = await Deadline.select().where(Deadline.id == deadline_id).output(load_json=True).first()
        if deadline["kind"].startswith("dispute:"):
            await _act_on_dispute(ctx, deadline)
        elif deadline["kind"] == "action_due":
            from core.services import actions

            await actions.overdue(ctx, deadline)
        elif deadline["allocation"] is not None:
            await _act_on_allocation(ctx, deadline)
        return deadline["kind"]


async def _act_on_allocation(ctx: Context, deadline: dict) -> None:
    row = await audits.load_row(deadline["allocation"])
    people = await audits.relations_of(ctx, row)
    case = row["case_external_id"]
    link = f"/audits/{row['id']}"
    kind = deadline["kind"]
    if kind == "allocation_due":
        # HAR 2.15: liaise with the auditor's managers; a repeat goes higher.
        earlier = await Deadline.count().where(
            (Deadline.kind == "allocation_due")
            & (Deadline.status == "missed")
            & (Deadline.id != deadline["id"])
            & Deadline.allocation.is_in(
                Allocation.select(Allocation.id).where(Allocation.auditor == row["auditor"])
            )
        )
        await notifications.notify(
            ctx,
            organisation_id=row["organisation"],
            recipients=[row["auditor"]],
            kind="allocation_overdue",
            subject=f"Your audit of case {case} is overdue",
            body=f"The audit of case {case} was due by {row['due_at']:%d %B %Y} and has not been submitted.",
            link=link,
            allocation_id=row["id"],
        )
        event = EscalationEvent(kind="allocation_missed", council=row["council"], allocation_id=row["id"], form=row["form_key"], repeat=earlier > 0)
        await escalations.fire(
            ctx,
            event,
            organisation_id=row["organisation"],
            people=people,
            anchor=row["auditor"],
            subject=f"{row['auditor_name']} has not submitted the audit of case {case} in time" + (" again" if earlier else ""),
            about=f"case {case}",
            link=link,
        )
    elif kind.startswith("state:"):
        # A workflow step not done in time: tell whoever the state names.
        who = await escalations.recipients(row["organisation"], tuple(deadline["escalate_to"] or ()), people, row["auditor"])
        await notifications.notify(
            ctx,
            organisation_id=row["organisation"],
            recipients=who,
            kind="deadline_passed",
            subject=f"Overdue: the audit of case {case} is still {kind.split(':', 1)[1].replace('_', ' ')}",
            body=f"The step due by {row['state_due_at']:%d %B %Y %H:%M} UTC has not been done.",
            link=link,
            allocation_id=row["id"],
        )
        await _deadline_passed(ctx, row, people, row["auditor"], f"Overdue step on the audit of case {case}", link)
    elif kind == "follow_up" and deadline["follow_up"] is not None:
        task = await FollowUp.select().where(FollowUp.id == deadline["follow_up"]).first()
        if task is None or task["status"] != "open":
            return
        # HAR 2.13: non-compliance escalates to the service manager.
        await _deadline_passed(ctx, row, people, people.get("practitioner"), f"Not done in time on case {case}: {task['action']}", link)
    await trail.record(
        ctx,
        organisation_id=row["organisation"],
        entity="allocation",
        entity_id=row["id"],
        action="deadline_missed",
        changes={"deadline": deadline["id"], "kind": kind},
    )


async def _deadline_passed(ctx: Context, row: dict, people: dict, anchor: int | None, subject: str, link: str) -> None:
    """Ask the plugins what a passed deadline on this audit requires (CORE-11)."""
    await escalations.fire(
        ctx,
        EscalationEvent(kind="deadline_passed", council=row["council"], allocation_id=row["id"], form=row["form_key"]),
        organisation_id=row["organisation"],
        people=people,
        anchor=anchor,
        subject=subject,
        about=f"case {row['case_external_id']}",
        link=link,
    )


async def _act_on_dispute(ctx: Context, deadline: dict) -> None:
    """A dispute stage not done in time (HAR 2.11): tell whoever the stage's
    deadline names, found up the line-management ladder from the practitioner."""
    from core.db.tables import Dispute

    dispute = await Dispute.select().where(Dispute.id == deadline["dispute"]).first()
    row = await audits.load_row(deadline["allocation"])
    if dispute is None or row is None:
        return
    people = await audits.relations_of(ctx, row)
    stage = deadline["kind"].split(":", 1)[1]
    case = row["case_external_id"]
    who = await escalations.recipients(row["organisation"], tuple(deadline["escalate_to"] or ()), people, people.get("practitioner"))
    await notifications.notify(
        ctx,
        organisation_id=row["organisation"],
        recipients=who,
        kind="dispute_overdue",
        subject=f"Overdue: the dispute about the audit of case {case} is still at the {stage.replace('_', ' ')} stage",
        body=f"The stage was due by {deadline['due_at']:%d %B %Y %H:%M} UTC and has not moved on.",
        link=f"/disputes/{dispute['id']}",
        allocation_id=row["id"],
    )
    await _deadline_passed(ctx, row, people, people.get("practitioner"), f"Overdue dispute stage on the audit of case {case}", f"/disputes/{dispute['id']}")
    await trail.record(
        ctx,
        organisation_id=row["organisation"],
        entity="dispute",
        entity_id=dispute["id"],
        action="deadline_missed",
        changes={"deadline": deadline["id"], "kind": deadline["kind"], "notified": who},
    )


async def complete_follow_up(ctx: Context, follow_up_id: int, note: str) -> None:
    """Record that a required follow-up was done (HAR 2.13: the discussion is recorded)."""
    from core.services.errors import Invalid, NotFound

    assert ctx.actor
    task = await FollowUp.select().where(FollowUp.id == follow_up_id).output(load_json=True).first()
    if task is None or task["organisation"] != ctx.actor.organisation_id or (
        ctx.actor.person_id not in task["assignees"] and not ctx.actor.can("administer")
    ):
        raise NotFound("There is no task with that number for you")
    if not note.strip():
        raise Invalid("Record what was agreed", {"note": "Record what was discussed and agreed"})
    if task["status"] != "open":
        return
    async with transaction():
        await FollowUp.update({FollowUp.status: "done", FollowUp.note: note.strip(), FollowUp.done_by: ctx.actor.person_id, FollowUp.done_at: ctx.now}).where(
            (FollowUp.id == follow_up_id) & (FollowUp.status == "open")
        )
        await Deadline.update({Deadline.status: "met", Deadline.closed_at: ctx.now}).where(
            (Deadline.follow_up == follow_up_id) & (Deadline.status == "open")
        )
        await trail.record(
            ctx,
            organisation_id=task["organisation"],
            entity="allocation" if task["allocation"] else "follow_up",
            entity_id=task["allocation"] or follow_up_id,
            action="follow_up_done",
            changes={"follow_up": follow_up_id, "rule": task["rule"], "note": note.strip()},
        )
