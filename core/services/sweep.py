"""The periodic sweep (CORE-10, HAR-15, PLAT-1): issue what is due (each
month's case draws, then the programme's work), then act once on every
deadline that has passed.

Each passed deadline is claimed by flipping it from ``open`` to ``missed`` in
the same transaction that writes its escalations. Two qaf processes sweeping
one database cannot both claim a row: the loser's UPDATE finds it no longer
open (PostgreSQL row lock; SQLite's single writer), so every escalation is
sent exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.calendar import to_london
from core.db import bulk
from core.db.engine import transaction
from core.db.tables import Action, Allocation, Deadline, Dispute, FollowUp, Organisation, Person
from core.escalation import EscalationEvent
from core.services import escalations, month_counts, notifications, subjects, trail, work
from core.services.context import Context

BATCH = 500

# What acting on a deadline needs to know of its allocation (as audits.load_row,
# without the answers).
_ROW = (
    Allocation.id,
    Allocation.organisation,
    Allocation.auditor,
    Allocation.form_key,
    Allocation.workflow_key,
    Allocation.workflow_version,
    Allocation.state,
    Allocation.due_at,
    Allocation.state_due_at,
    Allocation.child_case.external_id.as_alias("case_external_id"),
    Allocation.child_case.team.as_alias("case_team"),
    Allocation.child_case.allocated_worker.as_alias("practitioner_id"),
    Allocation.child_case.chair.as_alias("case_chair_id"),
    Allocation.auditor.display_name.as_alias("auditor_name"),
    Allocation.organisation.council.as_alias("council"),
    # Issue 13: an audit on a person or a meeting.
    Allocation.subject_person,
    Allocation.subject_person.display_name.as_alias("subject_person_name"),
    Allocation.subject_person.team.as_alias("subject_team"),
    Allocation.meeting_type,
    Allocation.meeting_on,
    # Issue 14: an agency's return to a partnership request.
    Allocation.agency,
    Allocation.agency.name.as_alias("agency_name"),
    Allocation.agency_request.title.as_alias("request_title"),
)


@dataclass
class SweepReport:
    cycles_issued: int = 0
    work_issued: int = 0
    work_reminded: int = 0
    work_chased: int = 0
    deadlines_missed: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


async def sweep(ctx: Context) -> SweepReport:
    report = SweepReport()
    report.cycles_issued, report.work_issued = await work.issue_due(ctx)
    report.work_reminded, report.work_chased = await work.chase(ctx)
    while True:
        # A batch of passed deadlines is claimed and acted on in one
        # transaction: the escalations commit with the claim or not at all.
        async with transaction():
            claimed = await _claim(ctx)
            if claimed:
                await _act(ctx, claimed)
        for deadline in claimed:
            report.deadlines_missed += 1
            report.by_kind[deadline["kind"]] = report.by_kind.get(deadline["kind"], 0) + 1
        if len(claimed) < BATCH:
            return report


async def _claim(ctx: Context) -> list[dict]:
    """Flip up to BATCH passed deadlines from open to missed, earliest first.
    The status test in the UPDATE is the claim: a deadline another process
    claimed first is no longer open (its row lock / SQLite's single writer)."""
    due = (
        Deadline.select(Deadline.id)
        .where((Deadline.status == "open") & (Deadline.due_at <= ctx.now))
        .order_by(Deadline.due_at)
        .order_by(Deadline.id)
        .limit(BATCH)
    )
    ids = [
        r["id"]
        for r in await Deadline.update({Deadline.status: "missed", Deadline.closed_at: ctx.now})
        .where(Deadline.id.is_in(due) & (Deadline.status == "open"))
        .returning(Deadline.id)
    ]
    if not ids:
        return []
    rows = await Deadline.select().where(Deadline.id.is_in(ids)).output(load_json=True)
    rows.sort(key=lambda d: (d["due_at"], d["id"]))
    return rows


async def _by_id(select, column, ids) -> dict[int, dict]:
    wanted = sorted({i for i in ids if i is not None})
    out: dict[int, dict] = {}
    for start in range(0, len(wanted), BATCH):
        for row in await select.where(column.is_in(wanted[start : start + BATCH])):
            out[row["id"]] = row
    return out


class _Loaded:
    """Everything the batch's deadlines refer to, a few queries in all."""

    rows: dict[int, dict]
    team_managers: dict[int, int]
    follow_ups: dict[int, dict]
    disputes: dict[int, dict]
    actions: dict[int, dict]
    councils: dict[int, str]
    missed_before: dict[int, int]


async def _load(ctx: Context, claimed: list[dict], batch: escalations.Batch) -> _Loaded:
    loaded = _Loaded()
    action_ids = [d["action"] for d in claimed if d["kind"] == "action_due"]
    loaded.actions = await _by_id(
        Action.select(
            Action.id, Action.organisation, Action.allocation, Action.owner, Action.what, Action.due_on, Action.status,
            Action.owner.display_name.as_alias("owner_name"),
        ),
        Action.id,
        action_ids,
    )
    allocation_ids = {d["allocation"] for d in claimed if d["kind"] != "action_due"}
    allocation_ids |= {a["allocation"] for a in loaded.actions.values() if a["status"] == "open"}
    loaded.rows = await _by_id(Allocation.select(*_ROW), Allocation.id, allocation_ids)
    for row in loaded.rows.values():
        # As audits' SQL: a person's audit is their team's, and they are its practitioner.
        if row["subject_person"] is not None:
            row["case_team"] = row["case_team"] if row["case_team"] is not None else row["subject_team"]
            row["practitioner_id"] = row["subject_person"]
        subjects.describe(row, ctx.registry)
    # The case team's manager, as audits.relations_of finds them: the first
    # active person with the council's team-manager role in the team.
    loaded.team_managers = {}
    by_role: dict[str, set[int]] = {}
    for row in loaded.rows.values():
        if row["case_team"] is not None:
            role = ctx.registry.council(row["council"]).team_manager_role.split(":")[-1]
            by_role.setdefault(role, set()).add(row["case_team"])
    for role, teams in by_role.items():
        wanted = sorted(teams)
        for start in range(0, len(wanted), BATCH):
            for tm in await Person.select(Person.id, Person.team).where(
                Person.team.is_in(wanted[start : start + BATCH]) & (Person.role == role) & (Person.active == True)  # noqa: E712
            ).order_by(Person.id):
                loaded.team_managers.setdefault(tm["team"], tm["id"])
    loaded.follow_ups = await _by_id(
        FollowUp.select(FollowUp.id, FollowUp.status, FollowUp.action, FollowUp.rule), FollowUp.id,
        [d["follow_up"] for d in claimed if d["kind"] == "follow_up"],
    )
    loaded.disputes = await _by_id(
        Dispute.select(Dispute.id, Dispute.workflow_key), Dispute.id, [d["dispute"] for d in claimed if d["kind"].startswith("dispute:")]
    )
    loaded.councils = {
        o["id"]: o["council"]
        for o in await Organisation.select(Organisation.id, Organisation.council).where(
            Organisation.id.is_in(sorted({a["organisation"] for a in loaded.actions.values()}) or [0])
        )
    }
    # HAR 2.15 "the same individual": allocation deadlines each auditor missed
    # before this batch; the batch's own are counted as they are acted on.
    batch_ids = [d["id"] for d in claimed]
    auditors = sorted({
        loaded.rows[d["allocation"]]["auditor"]
        for d in claimed
        if d["kind"] == "allocation_due" and d["allocation"] in loaded.rows
    })
    # From the missed audit deadlines (index deadline_missed_by_allocation) to
    # their allocations, not from every allocation these auditors ever had.
    loaded.missed_before = {}
    for start in range(0, len(auditors), BATCH):
        part = auditors[start : start + BATCH]
        for auditor, missed in await bulk.fetch(
            "SELECT a.auditor, count(*) FROM deadline d JOIN allocation a ON a.id = d.allocation"
            " WHERE d.kind = 'allocation_due' AND d.status = 'missed'"
            f" AND d.id NOT IN ({', '.join('{}' for _ in batch_ids)}) AND a.auditor IN ({', '.join('{}' for _ in part)})"
            " GROUP BY a.auditor",
            *batch_ids, *part,
        ):
            loaded.missed_before[auditor] = missed
    # Every ladder the escalations may climb, a query per rung for the batch.
    anchors = {r["auditor"] for r in loaded.rows.values()} | {r["practitioner_id"] for r in loaded.rows.values()}
    anchors |= {a["owner"] for a in loaded.actions.values()}
    await batch.ladder.load(anchors)
    return loaded


def _relations(loaded: _Loaded, row: dict) -> dict[str, int | None]:
    """As audits.relations_of, from what was loaded for the batch."""
    return {
        "auditor": row["auditor"],
        "practitioner": row["practitioner_id"],
        "team_manager": loaded.team_managers.get(row["case_team"]) if row["case_team"] is not None else None,
        "case_chair": row["case_chair_id"],
    }


async def _act(ctx: Context, claimed: list[dict]) -> None:
    batch = escalations.Batch(notifications.Outbox(ctx))
    loaded = await _load(ctx, claimed, batch)
    missed_now: dict[int, int] = {}
    for deadline in claimed:
        if deadline["kind"].startswith("dispute:"):
            await _act_on_dispute(ctx, deadline, loaded, batch)
        elif deadline["kind"] == "action_due":
            await _act_on_action(ctx, deadline, loaded, batch)
        elif deadline["allocation"] is not None:
            await _act_on_allocation(ctx, deadline, loaded, batch, missed_now)
    await batch.flush()


async def _act_on_allocation(ctx: Context, deadline: dict, loaded: _Loaded, batch: escalations.Batch, missed_now: dict[int, int]) -> None:
    row = loaded.rows.get(deadline["allocation"])
    if row is None:
        return
    people = _relations(loaded, row)
    case = row["subject"]  # "case 123", a person's name, or a meeting and its date
    link = f"/audits/{row['id']}"
    kind = deadline["kind"]
    if kind == "allocation_due":
        # HAR 2.15: liaise with the auditor's managers; a repeat goes higher.
        earlier = loaded.missed_before.get(row["auditor"], 0) + missed_now.get(row["auditor"], 0)
        missed_now[row["auditor"]] = missed_now.get(row["auditor"], 0) + 1
        batch.outbox.add(
            organisation_id=row["organisation"],
            recipients=[row["auditor"]],
            kind="allocation_overdue",
            subject=f"Your audit of {case} is overdue",
            body=f"The audit of {case} was due by {row['due_at']:%d %B %Y} and has not been submitted.",
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
            subject=f"{row['auditor_name']} has not submitted the audit of {case} in time" + (" again" if earlier else ""),
            about=case,
            link=link,
            batch=batch,
        )
    elif kind in ("response_due", "response_reminder"):
        await _act_on_response(ctx, deadline, row, people, batch)
    elif kind.startswith("state:"):
        # A workflow step not done in time: tell whoever the state names.
        state = kind.split(":", 1)[1]
        who = await escalations.recipients(row["organisation"], tuple(deadline["escalate_to"] or ()), people, row["auditor"], batch.ladder)
        label = _state_label(ctx, row, state)
        batch.outbox.add(
            organisation_id=row["organisation"],
            recipients=who,
            kind="deadline_passed",
            subject=f"Overdue: the audit of {case} is still {label}",
            body=f"The step was due by {to_london(deadline['due_at']):%-d %B %Y %H:%M} and has not been done.",
            link=link,
            allocation_id=row["id"],
        )
        # The state not done in time: its rules climb the auditor's ladder.
        await _deadline_passed(
            ctx, _passed(row, "state", state=state), row, people, row["auditor"], f"Overdue step on the audit of {case}", link, batch
        )
    elif kind == "follow_up" and deadline["follow_up"] is not None:
        task = loaded.follow_ups.get(deadline["follow_up"])
        if task is None or task["status"] != "open":
            return
        # The task's rule, and the audit's state now (HAR 2.15: "if amendments
        # are not made", the audit is still returned when the task falls due).
        event = _passed(row, "follow_up", state=row["state"], follow_up=task["rule"].split(":")[-1])
        await _deadline_passed(
            ctx, event, row, people, _follow_up_anchor(ctx, task, row, people), f"Not done in time on {case}: {task['action']}", link, batch
        )
    batch.trail_rows.append(
        trail.row(
            ctx,
            organisation_id=row["organisation"],
            entity="allocation",
            entity_id=row["id"],
            action="deadline_missed",
            changes={"deadline": deadline["id"], "kind": kind},
        )
    )


async def _act_on_response(ctx: Context, deadline: dict, row: dict, people: dict, batch: escalations.Batch) -> None:
    """Issue 14, CSCP-9: an agency's return to a partnership request, chased
    before its deadline (a reminder to the agency's lead and respondents)
    and after it (the same people and the QA manager, then the escalation
    rules: the lead and the QA manager chase it, the Audit Chair challenges
    a response still overdue)."""
    if row["state"] not in ("requested", "with_signatory"):
        return
    link = f"/audits/{row['id']}"
    due = to_london(row["due_at"])
    respondents = [p["id"] for p in await Person.select(Person.id).where(
        (Person.agency == row["agency"]) & (Person.role == "agency_respondent") & (Person.active == True)  # noqa: E712
    )] if row["agency"] else []
    what = row.get("request_title") or "the partnership's request"
    if deadline["kind"] == "response_reminder":
        batch.outbox.add(
            organisation_id=row["organisation"], recipients=[row["auditor"], *respondents], kind="response_reminder",
            subject=f"Reminder: {row['agency_name']}'s response to {what} is due by {due:%-d %B %Y}",
            body=f"{row['agency_name']}'s response to {what} is due by {due:%A %-d %B %Y}. It is not yet submitted.",
            link=link, allocation_id=row["id"],
        )
        return
    who = await escalations.recipients(row["organisation"], tuple(deadline["escalate_to"] or ()), people, row["auditor"], batch.ladder)
    batch.outbox.add(
        organisation_id=row["organisation"], recipients=[*who, *respondents], kind="deadline_passed",
        subject=f"Overdue: {row['agency_name']}'s response to {what}",
        body=f"{row['agency_name']}'s response to {what} was due by {due:%A %-d %B %Y} and has not been submitted.",
        link=link, allocation_id=row["id"],
    )
    # The request's deadline is the one of the response requested
    # (escalations.yaml: agency_response_overdue).
    await _deadline_passed(ctx, _passed(row, "state", state="requested"), row, people, row["auditor"],
                           f"Overdue: {row['agency_name']}'s response to {what}", link, batch)


def _state_label(ctx: Context, row: dict, state: str) -> str:
    """A state's label in the audit's workflow, lower case ("returned for revision")."""
    try:
        workflow = ctx.registry.workflow(row["workflow_key"], row["workflow_version"])
    except KeyError:
        return state.replace("_", " ")
    return next((s.label.lower() for s in workflow.states if s.key == state), state.replace("_", " "))


def _passed(row: dict, deadline: str, **what) -> EscalationEvent:
    """The deadline_passed event for a deadline on this audit: what passed."""
    return EscalationEvent(
        kind="deadline_passed", council=row["council"], allocation_id=row["id"], form=row["form_key"],
        deadline=deadline, workflow=what.pop("workflow", None) or row["workflow_key"], **what,
    )


def _follow_up_anchor(ctx: Context, task: dict, row: dict, people: dict) -> int | None:
    """A follow-up task not done in time climbs the ladder the escalation that
    set it climbed: the auditor's for a missed allocation or a state not done
    in time (HAR 2.15's assistant director is the auditor's), otherwise the
    practitioner's (HAR 2.13's service manager)."""
    supplied = ctx.registry.escalations.get(task["rule"])
    rule = supplied.value if supplied is not None else None
    if rule is not None and (rule.event == "allocation_missed" or (rule.event == "deadline_passed" and rule.deadline == "state")):
        return row["auditor"]
    return people.get("practitioner")


async def _deadline_passed(
    ctx: Context, event: EscalationEvent, row: dict, people: dict, anchor: int | None, subject: str, link: str, batch: escalations.Batch
) -> None:
    """Ask the plugins what a passed deadline on this audit requires (CORE-11)."""
    await escalations.fire(
        ctx,
        event,
        organisation_id=row["organisation"],
        people=people,
        anchor=anchor,
        subject=subject,
        about=row["subject"],
        link=link,
        batch=batch,
    )


async def _act_on_dispute(ctx: Context, deadline: dict, loaded: _Loaded, batch: escalations.Batch) -> None:
    """A dispute stage not done in time (HAR 2.11): tell whoever the stage's
    deadline names, found up the line-management ladder from the practitioner."""
    dispute = loaded.disputes.get(deadline["dispute"])
    row = loaded.rows.get(deadline["allocation"])
    if dispute is None or row is None:
        return
    people = _relations(loaded, row)
    stage = deadline["kind"].split(":", 1)[1]
    case = row["subject"]  # "case 123", a person's name, or a meeting and its date
    who = await escalations.recipients(row["organisation"], tuple(deadline["escalate_to"] or ()), people, people.get("practitioner"), batch.ladder)
    batch.outbox.add(
        organisation_id=row["organisation"],
        recipients=who,
        kind="dispute_overdue",
        subject=f"Overdue: the dispute about the audit of {case} is still at the {stage.replace('_', ' ')} stage",
        body=f"The stage was due by {to_london(deadline['due_at']):%-d %B %Y %H:%M} and has not moved on.",
        link=f"/disputes/{dispute['id']}",
        allocation_id=row["id"],
    )
    event = _passed(row, "dispute", workflow=dispute["workflow_key"], stage=stage)
    await _deadline_passed(
        ctx, event, row, people, people.get("practitioner"), f"Overdue dispute stage on the audit of {case}", f"/disputes/{dispute['id']}", batch
    )
    batch.trail_rows.append(
        trail.row(
            ctx,
            organisation_id=row["organisation"],
            entity="dispute",
            entity_id=dispute["id"],
            action="deadline_missed",
            changes={"deadline": deadline["id"], "kind": deadline["kind"], "notified": who},
        )
    )


async def _act_on_action(ctx: Context, deadline: dict, loaded: _Loaded, batch: escalations.Batch) -> None:
    """An action's due date passed (CORE-12): the owner and their manager are
    told, the council's escalation rules fire, and the trail records it."""
    action = loaded.actions.get(deadline["action"])
    if action is None or action["status"] != "open":
        return
    managers = await batch.ladder.chain_above(action["owner"])
    who = [action["owner"], *managers[:1]]
    batch.outbox.add(
        organisation_id=action["organisation"], recipients=who, kind="action_overdue",
        subject=f"Overdue action ({action['owner_name']}): {action['what']}"[:200],
        body=f"This action was due by {action['due_on']:%-d %B %Y} and is still open: {action['what']}",
        link=f"/actions/{action['id']}", allocation_id=action["allocation"],
    )
    people: dict[str, int | None] = {"owner": action["owner"]}
    council = None
    if action["allocation"] is not None:
        row = loaded.rows[action["allocation"]]
        people = _relations(loaded, row) | people
        council = row["council"]
    if council is None:
        council = loaded.councils[action["organisation"]]
    await escalations.fire(
        ctx,
        EscalationEvent(kind="deadline_passed", council=council, allocation_id=action["allocation"], deadline="action"),
        organisation_id=action["organisation"], people=people, anchor=action["owner"],
        subject=f"Action not done in time: {action['what']}", link=f"/actions/{action['id']}",
        batch=batch,
    )
    batch.trail_rows.append(
        trail.row(
            ctx, organisation_id=action["organisation"], entity="action", entity_id=action["id"], action="deadline_missed",
            changes={"deadline": deadline["id"], "notified": who},
        )
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
        done = await FollowUp.update(
            {FollowUp.status: "done", FollowUp.note: note.strip(), FollowUp.done_by: ctx.actor.person_id, FollowUp.done_at: ctx.now}
        ).where((FollowUp.id == follow_up_id) & (FollowUp.status == "open")).returning(FollowUp.id)
        if not done:
            return  # done by someone else just now
        await month_counts.follow_up_closed(task["organisation"], ctx.now)
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
