"""Compliance audits before supervision (BED-4, BED-3).

Bedford s.3: "Team Managers will ensure at least 2 compliance audits for each
member of staff they supervise are completed prior to supervision. Where
remedial actions are required from these compliance audits, the manager will
add a management direction case note detailing the required actions and
timescales and will then review completion of these actions within
supervision." A manager whose council schedules compliance audits per
supervisee (``frequency.per: supervisee`` with a form) opens one on a case of
a person they supervise, fills it in on the audit page, and completes it
here: its remedial actions become ``management_direction`` actions owned by
the worker, due by each timescale and reviewed in supervision on the
supervision date; the worker is told at once, well within s.3's 48 hours.
"""

from __future__ import annotations

from core.calendar import end_of_london_day, last_working_day, london_date
from core.db.engine import transaction
from core.db.tables import Action, ChildCase, Person
from core.definitions.model import Schedule
from core.services import actions, allocations, audits, trail, work
from core.services.context import Context
from core.services.errors import Conflict, Forbidden, Invalid, NotFound


def _schedule(ctx: Context) -> Schedule | None:
    """The actor's per-supervisee schedule that names a form (the compliance audit)."""
    assert ctx.actor
    prefix = f"{ctx.actor.council}:"
    for key, supplied in ctx.registry.schedules.items():
        schedule = supplied.value
        if (
            key.startswith(prefix) and schedule.frequency.per == "supervisee" and schedule.form
            and schedule.role.split(":")[-1] == ctx.actor.role
        ):
            return schedule
    return None


def is_compliance_audit(ctx: Context, form_key: str) -> bool:
    """Whether ``form_key`` is the form of a per-supervisee compliance schedule
    of the actor's council (BED-4), whoever's schedule it is."""
    assert ctx.actor
    prefix = f"{ctx.actor.council}:"
    for key, supplied in ctx.registry.schedules.items():
        schedule = supplied.value
        if key.startswith(prefix) and schedule.frequency.per == "supervisee" and schedule.form:
            if ctx.registry.ref(ctx.actor.council, schedule.form, "forms") == form_key:
                return True
    return False


async def submit(ctx: Context, allocation_id: int, revision: int | None = None) -> list[int]:
    """Submit an audit from its own page or the API: a compliance audit with
    remedial actions is completed with its management direction in the same
    transaction (BED-4); any other audit is simply submitted."""
    row, _, _ = await audits.visible(ctx, allocation_id)
    if is_compliance_audit(ctx, row["form_key"]) and _remedial_rows(dict(row["answers"] or {})):
        return await complete(ctx, allocation_id, revision)
    await audits.submit(ctx, allocation_id, revision)
    return []


def may_start(ctx: Context) -> bool:
    return _schedule(ctx) is not None


async def supervisees(ctx: Context) -> list[dict]:
    """The people the actor supervises directly, each with their cases."""
    assert ctx.actor
    if not may_start(ctx):
        raise Forbidden("Your role does not carry out compliance audits of supervisees")
    people = await Person.select(Person.id, Person.display_name).where(
        (Person.line_manager == ctx.actor.person_id) & (Person.active == True)  # noqa: E712
    ).order_by(Person.display_name)
    for p in people:
        p["cases"] = await ChildCase.select(ChildCase.id, ChildCase.external_id).where(
            ChildCase.allocated_worker == p["id"]
        ).order_by(ChildCase.external_id)
    return people


async def start(ctx: Context, case_id: int | None) -> int:
    """Open a compliance audit of a supervisee's case, due by the month's last
    working day (before the month's supervision; BED-4 reading in schedules.yaml)."""
    assert ctx.actor
    schedule = _schedule(ctx)
    if schedule is None:
        raise Forbidden("Your role does not carry out compliance audits of supervisees")
    case = None
    if case_id is not None:
        case = await ChildCase.select().where(ChildCase.id == case_id).first()
    worker = None
    if case is not None and case["organisation"] == ctx.actor.organisation_id and case["allocated_worker"] is not None:
        worker = await Person.select().where(Person.id == case["allocated_worker"]).first()
    if worker is None or worker["line_manager"] != ctx.actor.person_id:
        raise Invalid("Choose a case", {"case": "Choose a case held by someone you supervise"})
    namespace = ctx.actor.council
    form_key = ctx.registry.ref(namespace, schedule.form, "forms")
    form = ctx.registry.form(form_key)
    workflow_key = ctx.registry.ref(namespace, form.workflow, "workflows")
    today = london_date(ctx.now)
    auditor = await Person.select().where(Person.id == ctx.actor.person_id).first()
    async with transaction():
        allocation_id = await allocations.create_allocation(
            ctx, organisation_id=ctx.actor.organisation_id, case=case, auditor=auditor, kind="audit",
            reason=f"{schedule.activity} for {worker['display_name']}", form_key=form_key, workflow_key=workflow_key,
            due_at=end_of_london_day(last_working_day(today.year, today.month)),
        )
        # One path: it counts towards this month's compliance audits for that supervisee.
        await work.count_towards(ctx, allocation_id, owner=ctx.actor.person_id, schedule_key=f"{namespace}:{schedule.key}",
                                 supervisee=worker["id"], on=today)
    return allocation_id


def _remedial_rows(answers: dict) -> list[tuple[str, str]]:
    """(action, timescale) rows of the form's remedial actions table."""
    if answers.get("answer.remedial_actions.required") != "yes":
        return []
    rows = []
    row = 1
    while f"answer.remedial_actions.actions.{row}.action" in answers or f"answer.remedial_actions.actions.{row}.timescale" in answers:
        what = str(answers.get(f"answer.remedial_actions.actions.{row}.action") or "").strip()
        when = str(answers.get(f"answer.remedial_actions.actions.{row}.timescale") or "").strip()
        if what:
            rows.append((what, when))
        row += 1
    return rows


async def direction_set(allocation_id: int) -> bool:
    return await Action.exists().where((Action.allocation == allocation_id) & (Action.kind == "management_direction"))


async def complete(ctx: Context, allocation_id: int, revision: int | None = None) -> list[int]:
    """Complete the audit before supervision; its remedial actions become a
    management direction for the worker, reviewed in supervision. Returns the
    new action ids. One transaction: the audit does not move without them.
    An audit already completed from the audit page gets its direction here."""
    row, people, held = await audits.visible(ctx, allocation_id)
    if "auditor" not in held:
        raise NotFound("There is no audit with that number that you can see")
    answers = dict(row["answers"] or {})
    worker = people.get("practitioner")
    review_on = answers.get("answer.details.supervision_date") or None
    created: list[int] = []
    # Completed from the audit page's own button already: set the direction only, once.
    submitted = row.get("submitted_at") is not None
    if submitted and (await direction_set(allocation_id) or not _remedial_rows(answers)):
        raise Conflict("This audit is complete and its management direction has already been set")
    async with transaction():
        if not submitted:
            await audits.submit(ctx, allocation_id, revision)
        for what, when in _remedial_rows(answers):
            created.append(
                await actions.create(
                    ctx, what=what, owner_id=worker, due_on=when, allocation_id=allocation_id,
                    kind="management_direction", review_on=review_on or when, one_of_many=True,
                )
            )
        await trail.record(
            ctx, organisation_id=row["organisation"], entity="allocation", entity_id=allocation_id,
            action="management_direction", changes={"actions": created, "review_on": review_on},
        )
    return created


__all__ = ["complete", "is_compliance_audit", "may_start", "start", "submit", "supervisees"]
