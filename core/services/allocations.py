"""Changing who audits what: re-audits of earlier audits (CORE-9, CORE-11)
and reassignment when an auditor is on leave or sick (CORE-16, HAR 2.12)."""

from __future__ import annotations

from core import workflow as wf
from core.calendar import end_of_london_day, last_working_day, london_date, to_london
from core.db import bulk
from core.db.engine import transaction
from core.db.tables import Allocation, ChildCase, Deadline, Person
from core.services import month_counts, notifications, trail
from core.services.context import Context
from core.services.errors import Conflict, Forbidden, Invalid, NotFound

_RE_AUDITS = ("re_audit", "second_re_audit")


async def create_allocation(
    ctx: Context,
    *,
    organisation_id: int,
    case: dict,
    auditor: dict,
    kind: str,
    reason: str,
    form_key: str,
    workflow_key: str,
    due_at,
    cycle_id: int | None = None,
    previous: int | None = None,
    subject_person: dict | None = None,
    meeting_type: str = "",
    meeting_on=None,
) -> int:
    """Write one allocation with its due deadline and trail row, inside the
    caller's transaction. Every allocation, by cycle or by hand, starts here.
    ``case`` is None for an audit on a person or a meeting without a case
    (issue 13: ``subject_person``, ``meeting_type`` and ``meeting_on``)."""
    form = ctx.registry.form(form_key)
    workflow = ctx.registry.workflow(workflow_key)
    rows = await Allocation.insert(
        Allocation(
            organisation=organisation_id,
            cycle=cycle_id,
            child_case=case["id"] if case else None,
            auditor=auditor["id"],
            kind=kind,
            subject_person=subject_person["id"] if subject_person else None,
            meeting_type=meeting_type,
            meeting_on=meeting_on,
            previous=previous,
            reason=reason,
            form_key=form_key,
            form_version=form.version,
            workflow_key=workflow_key,
            workflow_version=workflow.version,
            state=workflow.initial,
            due_at=due_at,
            answers={},
            created_at=ctx.now,
            updated_at=ctx.now,
        )
    ).returning(Allocation.id)
    allocation_id = rows[0]["id"]
    # HAR 2.15: an audit not submitted in time is non-compliance; the sweep watches this.
    await Deadline.insert(
        Deadline(organisation=organisation_id, allocation=allocation_id, kind="allocation_due", due_at=due_at, created_at=ctx.now)
    )
    await month_counts.allocated(organisation_id, due_at)
    changes = {"auditor": auditor["display_name"], "auditor_id": auditor["id"]}
    # What it is on, in words the history page shows (issue 13): the case, the person or the meeting.
    if case is not None:
        changes["case"] = case["external_id"]
    if subject_person is not None:
        changes["person"] = subject_person["display_name"]
    if meeting_type:
        from core.services.subjects import meeting_label

        label = meeting_label(ctx.registry, ctx.actor.council if ctx.actor else "", meeting_type)
        changes["meeting"] = f"{label}, {meeting_on:%-d %B %Y}" if meeting_on else label
    changes |= {"kind": kind, "reason": reason}
    if previous is not None:
        changes["previous"] = previous
    await trail.record(ctx, organisation_id=organisation_id, entity="allocation", entity_id=allocation_id, action="allocated", changes=changes)
    return allocation_id


async def create_allocations(
    ctx: Context,
    *,
    organisation_id: int,
    planned: list[tuple[dict, dict, str, str, int | None]],
    form_key: str,
    workflow_key: str,
    due_at,
    cycle_id: int | None,
    trail_rows: list,
) -> list[int]:
    """``create_allocation`` for a whole list of (case, auditor, kind, reason,
    previous): the same rows, one prepared statement per table, inside the
    caller's transaction; the trail rows are appended to ``trail_rows`` for
    the caller to write. Returns the ids in list order."""
    form = ctx.registry.form(form_key)
    workflow = ctx.registry.workflow(workflow_key)
    ids = await bulk.reserve_ids("allocation", len(planned))
    now = ctx.now
    await bulk.insert(
        "allocation",
        _ALLOCATION_COLUMNS,
        [
            (allocation_id, organisation_id, cycle_id, case["id"], auditor["id"], kind, previous, reason, form_key, form.version,
             workflow_key, workflow.version, workflow.initial, due_at, None, 0, bulk.json_value({}), None, None, now, now)
            for allocation_id, (case, auditor, kind, reason, previous) in zip(ids, planned)
        ],
    )
    # HAR 2.15: an audit not submitted in time is non-compliance; the sweep watches this.
    await bulk.insert(
        "deadline",
        _DEADLINE_COLUMNS,
        [(organisation_id, allocation_id, None, None, None, "allocation_due", due_at, "open", bulk.json_value([]), now, None) for allocation_id in ids],
    )
    await month_counts.allocated(organisation_id, due_at, len(ids))
    for (case, auditor, kind, reason, previous), allocation_id in zip(planned, ids):
        changes = {"auditor": auditor["display_name"], "auditor_id": auditor["id"], "case": case["external_id"], "kind": kind, "reason": reason}
        if previous is not None:
            changes["previous"] = previous
        trail_rows.append(
            trail.row(ctx, organisation_id=organisation_id, entity="allocation", entity_id=allocation_id, action="allocated", changes=changes)
        )
    return ids


_ALLOCATION_COLUMNS = (
    "id", "organisation", "cycle", "child_case", "auditor", "kind", "previous", "reason", "form_key", "form_version", "workflow_key",
    "workflow_version", "state", "due_at", "state_due_at", "revision", "answers", "submitted_at", "finalised_at", "created_at", "updated_at",
)
_DEADLINE_COLUMNS = ("organisation", "allocation", "follow_up", "dispute", "action", "kind", "due_at", "status", "escalate_to", "created_at", "closed_at")


async def _case_and_subject(ctx: Context, allocation: dict) -> tuple[dict | None, str]:
    """The audit's case (None for an audit on a person or meeting without
    one, issue 13) and its subject in words ("case 123", "Sam Jones")."""
    from core.services.audits import load_row

    row = await load_row(allocation["id"], ctx.registry)
    case = None
    if allocation["child_case"] is not None:
        case = await ChildCase.select().where(ChildCase.id == allocation["child_case"]).first()
    if allocation.get("subject_person") is not None:
        case = {**(case or {"allocated_worker": None, "team": None}), "subject_person": allocation["subject_person"]}
    return case, row["subject"]


def _can_allocate(ctx: Context) -> None:
    assert ctx.actor
    if not ctx.actor.can("administer"):
        raise Forbidden("Only the QA team allocates and reassigns audits")


async def _eligible_auditor(ctx: Context, person_id: int, case: dict, field: str) -> dict:
    """The person, if they may audit ``case``; otherwise Invalid naming ``field``."""
    person = await Person.select().where(Person.id == person_id).first()
    if person is None or person["organisation"] != ctx.actor.organisation_id or not person["active"]:
        raise Invalid("Choose someone from your organisation", {field: "Choose an active member of staff"})
    role = ctx.registry.role(f"{ctx.actor.council}:{person['role']}")
    if "audit" not in role.capabilities:
        raise Invalid("That person does not audit", {field: f"{person['display_name']} ({role.label}) does not carry out audits"})
    if case is None:  # an audit on a person or a meeting (issue 13): no case to hold
        return person
    if case.get("subject_person") == person_id:
        raise Invalid("Nobody audits themselves", {field: f"{person['display_name']} is the person this audit is on"})
    if case["allocated_worker"] == person_id:
        raise Invalid("Auditors never audit their own cases", {field: f"{person['display_name']} is the case's allocated worker"})
    rules = ctx.registry.council(ctx.actor.council).cycles
    if rules is not None and not rules.allow_own_team and person["team"] is not None and person["team"] == case["team"]:
        raise Invalid("Not the auditor's own team", {field: f"{person['display_name']} works in the case's own team"})
    return person


async def allocate_re_audit(ctx: Context, previous_id: int, auditor_id: int, reason: str = "") -> int:
    """A re-audit of a final audit: it links to its predecessor (CORE-11); a
    re-audit of a re-audit is a second re-audit (HAR 2.5)."""
    _can_allocate(ctx)
    previous = await Allocation.select().where(Allocation.id == previous_id).first()
    if previous is None or previous["organisation"] != ctx.actor.organisation_id:
        raise NotFound("There is no audit with that number that you can see")
    if previous["finalised_at"] is None:
        raise Conflict("Only a final audit can be re-audited")
    if await Allocation.exists().where((Allocation.previous == previous_id)):
        raise Conflict("That audit already has a re-audit")
    case, subject = await _case_and_subject(ctx, previous)
    auditor = await _eligible_auditor(ctx, auditor_id, case, "auditor")
    kind = "second_re_audit" if previous["kind"] in _RE_AUDITS else "re_audit"
    form = ctx.registry.form(previous["form_key"])
    workflow_key = ctx.registry.ref(ctx.actor.council, form.workflow, "workflows")
    today = london_date(ctx.now)
    due_at = end_of_london_day(last_working_day(today.year, today.month))
    # In words, not by number: the audit page links to the earlier audit (``previous``).
    made_final = to_london(previous["finalised_at"]).strftime("%-d %B %Y")
    why = f"Re-audit of the audit of {subject} made final on {made_final}" + (f": {reason.strip()}" if reason.strip() else "")
    async with transaction():
        allocation_id = await create_allocation(
            ctx,
            organisation_id=previous["organisation"],
            case=case,
            auditor=auditor,
            kind=kind,
            reason=why,
            form_key=previous["form_key"],
            workflow_key=workflow_key,
            due_at=due_at,
            previous=previous_id,
        )
        await notifications.notify(
            ctx,
            organisation_id=previous["organisation"],
            recipients=[auditor_id],
            kind="allocated",
            subject=f"New {kind.replace('_', '-')}: {subject}",
            body=why + ".",
            link=f"/audits/{allocation_id}",
            allocation_id=allocation_id,
        )
    return allocation_id


async def reassign(ctx: Context, allocation_id: int, new_auditor_id: int, reason: str) -> None:
    """Move an allocation to another auditor, keeping the reason (CORE-16, HAR 2.12)."""
    _can_allocate(ctx)
    errors = {}
    if not reason.strip():
        errors["reason"] = "Say why the audit is moving (for example, annual leave or sickness)"
    row = await Allocation.select().where(Allocation.id == allocation_id).first()
    if row is None or row["organisation"] != ctx.actor.organisation_id:
        raise NotFound("There is no audit with that number that you can see")
    workflow = ctx.registry.workflow(row["workflow_key"], row["workflow_version"])
    if wf.state(workflow, row["state"]).final or row["submitted_at"] is not None and row["state"] != "returned":
        raise Conflict("Only an audit that has not been submitted can be reassigned")
    if new_auditor_id == row["auditor"]:
        errors["auditor"] = "Choose a different auditor"
    if errors:
        raise Invalid("The audit could not be reassigned", errors)
    case, about = await _case_and_subject(ctx, row)
    new = await _eligible_auditor(ctx, new_auditor_id, case, "auditor")
    old = await Person.select(Person.display_name).where(Person.id == row["auditor"]).first()
    async with transaction():
        moved = (
            await Allocation.update({Allocation.auditor: new_auditor_id, Allocation.updated_at: ctx.now, Allocation.revision: row["revision"] + 1})
            .where((Allocation.id == allocation_id) & (Allocation.auditor == row["auditor"]))
            .returning(Allocation.id)
        )
        if not moved:
            raise Conflict("Someone else changed this allocation just now; reload the page")
        await trail.record(
            ctx,
            organisation_id=row["organisation"],
            entity="allocation",
            entity_id=allocation_id,
            action="reassigned",
            changes={"auditor": [old["display_name"], new["display_name"]], "reason": reason.strip()},
        )
        await notifications.notify(
            ctx,
            organisation_id=row["organisation"],
            recipients=[new_auditor_id],
            kind="allocated",
            subject=f"Audit of {about} reassigned to you",
            body=f"This audit was reassigned to you from {old['display_name']}: {reason.strip()}",
            link=f"/audits/{allocation_id}",
            allocation_id=allocation_id,
        )
        await notifications.notify(
            ctx,
            organisation_id=row["organisation"],
            recipients=[row["auditor"]],
            kind="reassigned",
            subject=f"Audit of {about} reassigned to {new['display_name']}",
            body=f"Reason: {reason.strip()}",
            allocation_id=allocation_id,
        )


async def auditors(ctx: Context) -> list[dict]:
    """Everyone in the actor's organisation whose role carries out audits."""
    assert ctx.actor
    roles = [r.key for r in ctx.registry.roles_of(ctx.actor.council) if "audit" in r.capabilities]
    rows = (
        await Person.select(Person.id, Person.display_name, Person.role)
        .where((Person.organisation == ctx.actor.organisation_id) & Person.role.is_in(roles or [""]) & (Person.active == True))  # noqa: E712
        .order_by(Person.display_name)
    )
    for r in rows:
        r["role_label"] = ctx.registry.role(f"{ctx.actor.council}:{r['role']}").label
    return rows
