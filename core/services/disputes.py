"""Disputes of a final audit's grades (HAR-11, HAR-9).

The practitioner or team manager of a final audit disputes it domain by
domain, citing one of the council's grading criteria documents. The dispute
then moves through the council's ``dispute`` workflow (one engine,
``core.workflow``): who may take each step, the working-day deadline of each
stage (closed and reopened as the dispute moves, swept like any other), who is
told. Resolving it either upholds the grades or amends them: an amendment
writes a ``disputed`` grade row (the grade that was disputed) and a new
``final`` row (the amended grade, by whom and why) for each changed domain, so
the grade chain shows every change and reports that take the latest final
grade use the amended one.
"""

from __future__ import annotations

from core import workflow as wf
from core.db.engine import transaction
from core.db.tables import Allocation, Deadline, Dispute, Grade, Person
from core.definitions.model import Transition, Workflow
from core.forms import fields_of
from core.grading import rank
from core.services import audits, notifications, standing_grades, trail
from core.services.context import Context
from core.services.errors import Conflict, Forbidden, Invalid, NotFound

OUTCOMES = ("upheld", "amended")


def _workflow(ctx: Context, council: str) -> Workflow:
    qualified = ctx.registry.qualify(council, "dispute", ctx.registry.workflows)
    if qualified is None:
        raise Conflict(f"{ctx.registry.council(council).name} has no dispute process")
    return ctx.registry.workflow(qualified)


def _form_fields(ctx: Context, row: dict):
    form = ctx.registry.form(row["form_key"], row["form_version"])
    return fields_of(ctx.registry, row["council"], form, row["kind"])


async def latest_final_grades(allocation_id: int) -> dict[str, str]:
    """Domain -> the final grade (the amended one after a dispute), as
    ``standing_grades`` defines it for every reader."""
    return await standing_grades.final_grades(allocation_id)


def _roles_in(workflow: Workflow) -> set[str]:
    refs: set[str] = set()
    for transition in workflow.transitions:
        refs.update(transition.by)
    for state in workflow.states:
        refs.update(state.notify)
        if state.deadline:
            refs.update(state.deadline.escalate_to)
    return {ref.split(":")[-1] for ref in refs}


async def _people_and_held(ctx: Context, dispute: dict) -> tuple[dict, dict[str, int | None], set[str]]:
    """The audit row, its people and what the actor holds; NotFound when the
    actor may see neither the audit nor (by a role the process names) the dispute."""
    assert ctx.actor
    try:
        # The audit as its page loads it (an audit of another organisation is
        # not visible either): read once, not once more before.
        row, people, held = await audits.visible(ctx, dispute["allocation"])
    except NotFound:
        row = await audits.load_row(dispute["allocation"], ctx.registry)
        if row is None or row["organisation"] != ctx.actor.organisation_id:
            raise NotFound("There is no dispute with that number that you can see") from None
        people = await audits.relations_of(ctx, row)
        return row, people, await _held_by_role(ctx, dispute, row, people)
    return row, people, _held_of_audit(ctx, people)


async def _held_by_role(ctx: Context, dispute: dict, row: dict, people: dict[str, int | None]) -> set[str]:
    """What the actor holds of a dispute whose audit they may not see: their
    role, when the process names it and they are the one it goes to;
    NotFound otherwise."""
    assert ctx.actor
    # Managers the process names by role (service manager, head of
    # service, assistant director) see the dispute without the audit.
    workflow = ctx.registry.workflow(dispute["workflow_key"], dispute["workflow_version"])
    if ctx.actor.role in people or ctx.actor.role not in _roles_in(workflow):
        raise NotFound("There is no dispute with that number that you can see")
    # ... but only the one the notifications tell (issue 16: a service
    # manager of another line read disputes whose audits gave them 404;
    # case 5: whoever is told can open it, whoever can open it is told).
    # HAR 2.11-2.15: the formal stages go up the practitioner's line, to
    # the nearest active holder of the role (an inactive holder does not
    # count). When nobody active in the line holds it, every holder in
    # the council is told and may open it (``Ladder.nearest``'s
    # fallback): a stage with a deadline must have someone to act on it.
    told = await audits.ladder_of(ctx).nearest(row["organisation"], people.get("practitioner"), ctx.actor.role)
    if ctx.actor.person_id not in told:
        raise NotFound("There is no dispute with that number that you can see")
    return {ctx.actor.role}


def _held_of_audit(ctx: Context, people: dict[str, int | None]) -> set[str]:
    # A role named like a relation (team_manager, practitioner) counts only
    # as the relation: an auditor who is some other team's manager does not
    # hold this case's team manager's steps.
    held = {relation for relation, person in people.items() if person == ctx.actor.person_id}
    if ctx.actor.role not in people:
        held.add(ctx.actor.role)
    return held


async def _load(ctx: Context, dispute_id: int) -> dict:
    assert ctx.actor
    dispute = await Dispute.select().where(Dispute.id == dispute_id).output(load_json=True).first()
    if dispute is None or dispute["organisation"] != ctx.actor.organisation_id:
        raise NotFound("There is no dispute with that number that you can see")
    return dispute


async def raise_dispute(ctx: Context, allocation_id: int, criteria: str, domains: dict[str, dict[str, str]]) -> int:
    """Dispute a final audit's grades. ``domains`` maps each disputed domain
    (or ``overall``) to ``{"proposed": level, "rationale": text}``."""
    row, people, held = await audits.visible(ctx, allocation_id)
    if not row["finalised_at"]:
        raise Conflict("Only a final audit's grades can be disputed")
    if not held & {"practitioner", "team_manager"} or not (
        ctx.actor.person_id in (people.get("practitioner"), people.get("team_manager"))
    ):
        raise Forbidden("Only the practitioner or team manager of the case can dispute its audit")
    open_already = await Dispute.exists().where((Dispute.allocation == allocation_id) & (Dispute.outcome == ""))
    if open_already:
        raise Conflict("This audit already has a dispute in progress")
    workflow = _workflow(ctx, row["council"])
    council = ctx.registry.council(row["council"])
    form_fields = _form_fields(ctx, row)
    titles = dict(form_fields.domains())
    levels = {lvl.key for lvl in form_fields.scale.levels} if form_fields.scale else set()
    current = await latest_final_grades(allocation_id)
    errors: dict[str, str] = {}
    if criteria not in {c.key for c in council.grading_criteria}:
        errors["criteria"] = "Choose the grading criteria your dispute is based on"
    cleaned: dict[str, dict[str, str]] = {}
    for domain, wanted in (domains or {}).items():
        if domain not in titles:
            errors["domains"] = f"There is no domain {domain!r} on this audit"
            continue
        proposed = (wanted.get("proposed") or "").strip()
        rationale = (wanted.get("rationale") or "").strip()
        if proposed not in levels:
            errors[f"domains.{domain}.proposed"] = f"Choose the grade you think {titles[domain].lower()} should have"
        elif proposed == current.get(domain):
            errors[f"domains.{domain}.proposed"] = f"{titles[domain]} already has that grade"
        if not rationale:
            errors[f"domains.{domain}.rationale"] = f"Say why {titles[domain].lower()} should be graded differently, citing the criteria"
        cleaned[domain] = {"current": current.get(domain, ""), "proposed": proposed, "rationale": rationale}
    if not domains and "domains" not in errors:
        errors["domains"] = "Choose at least one grade to dispute"
    if errors:
        raise Invalid("The dispute could not be raised", errors)
    initial = wf.state(workflow, workflow.initial)
    state_due = wf.due(initial.deadline, ctx.now) if initial.deadline else None
    key = ctx.registry.qualify(row["council"], "dispute", ctx.registry.workflows)
    async with transaction():
        inserted = await Dispute.insert(
            Dispute(
                organisation=row["organisation"],
                allocation=allocation_id,
                raised_by=ctx.actor.person_id,
                workflow_key=key,
                workflow_version=workflow.version,
                state=initial.key,
                state_due_at=state_due,
                criteria=criteria,
                domains=cleaned,
                outcome="",
                created_at=ctx.now,
                updated_at=ctx.now,
            )
        ).returning(Dispute.id)
        dispute_id = inserted[0]["id"]
        if state_due is not None:
            await _open_deadline(ctx, row, dispute_id, initial.key, state_due, initial.deadline.escalate_to)
        await _notify(ctx, row, people, dispute_id, initial.notify, f"Dispute raised about the audit of {row['subject']}",
                      f"{ctx.actor.display_name} disputes {len(cleaned)} grade(s) of the audit of {row['subject']}, "
                      f"citing '{_criteria_label(ctx, row['council'], criteria)}'. Stage: {initial.label.lower()}.")
        await trail.record(
            ctx, organisation_id=row["organisation"], entity="dispute", entity_id=dispute_id, action="dispute_raised",
            changes={"allocation": allocation_id, "criteria": criteria, "domains": cleaned, "state": initial.key},
        )
        await trail.record(
            ctx, organisation_id=row["organisation"], entity="allocation", entity_id=allocation_id, action="dispute_raised",
            changes={"dispute": dispute_id, "domains": sorted(cleaned)},
        )
    return dispute_id


def _criteria_label(ctx: Context, council: str, key: str) -> str:
    return next((c.label for c in ctx.registry.council(council).grading_criteria if c.key == key), key)


async def _open_deadline(ctx: Context, row: dict, dispute_id: int, state: str, due, escalate_to) -> None:
    await Deadline.insert(
        Deadline(
            organisation=row["organisation"],
            allocation=row["id"],
            dispute=dispute_id,
            kind=f"dispute:{state}",
            due_at=due,
            escalate_to=list(escalate_to),
            created_at=ctx.now,
        )
    )


async def _notify(ctx: Context, row: dict, people: dict, dispute_id: int, refs, subject: str, body: str) -> None:
    recipients = await audits._recipients(ctx, row, tuple(refs), people)
    if recipients:
        await notifications.notify(
            ctx, organisation_id=row["organisation"], recipients=recipients, kind="dispute",
            subject=subject, body=body, link=f"/disputes/{dispute_id}", allocation_id=row["id"],
        )


async def take_step(
    ctx: Context,
    dispute_id: int,
    transition_key: str,
    reason: str = "",
    *,
    outcome: str = "",
    amendments: dict[str, str] | None = None,
    participants: str = "",
) -> None:
    """Take one step of the dispute workflow. A step into the final state is
    the resolution: ``outcome`` upheld, or amended with ``amendments``
    (domain -> new level) and a reason."""
    dispute = await _load(ctx, dispute_id)
    row, people, held = await _people_and_held(ctx, dispute)
    workflow = ctx.registry.workflow(dispute["workflow_key"], dispute["workflow_version"])
    try:
        chosen: Transition = wf.check(workflow, dispute["state"], transition_key, held)
    except wf.TransitionRefused as refused:
        raise Forbidden(str(refused).replace("while the audit is", "while the dispute is")) from None
    reason = (reason or "").strip()
    target = wf.state(workflow, chosen.to)
    errors: dict[str, str] = {}
    if chosen.reason_required and not reason:
        # An escalation needs its reason; sending the written response (HAR
        # 2.11, formal stage) needs the response itself.
        errors["reason"] = "Write why the dispute goes on, or the written response you are sending"
    amended: dict[str, str] = {}
    form_fields = _form_fields(ctx, row)
    current = await latest_final_grades(row["id"])
    if target.final:
        if outcome not in OUTCOMES:
            errors["outcome"] = "Choose whether the grades are upheld or amended"
        elif outcome == "amended":
            titles = dict(form_fields.domains())
            levels = {lvl.key for lvl in form_fields.scale.levels} if form_fields.scale else set()
            for domain, level in (amendments or {}).items():
                if not level:
                    continue
                if domain not in titles or level not in levels:
                    errors[f"amend.{domain}"] = f"Choose one of the scale's grades for {titles.get(domain, domain).lower()}"
                elif level != current.get(domain):
                    amended[domain] = level
            if not amended and not any(k.startswith("amend.") for k in errors):
                errors["amendments"] = "Choose at least one new grade, or record that the grades are upheld"
            if not reason:
                errors["reason"] = "Say why the grade was changed"
    if errors:
        raise Invalid("This step could not be recorded", errors)
    state_due = wf.due(target.deadline, ctx.now) if target.deadline else None
    async with transaction():
        values = {
            Dispute.state: target.key,
            Dispute.state_due_at: state_due,
            Dispute.updated_at: ctx.now,
            Dispute.revision: dispute["revision"] + 1,
        }
        if target.final:
            values |= {Dispute.outcome: outcome, Dispute.outcome_reason: reason, Dispute.resolved_at: ctx.now}
        moved = (
            await Dispute.update(values)
            .where((Dispute.id == dispute_id) & (Dispute.state == dispute["state"]))
            .returning(Dispute.id)
        )
        if not moved:
            raise Conflict("Someone else moved this dispute on just now; reload the page to see where it is")
        await Deadline.update({Deadline.status: "met", Deadline.closed_at: ctx.now}).where(
            (Deadline.dispute == dispute_id) & (Deadline.status == "open")
        )
        if state_due is not None:
            await _open_deadline(ctx, row, dispute_id, target.key, state_due, target.deadline.escalate_to)
        if amended:
            await _amend(ctx, row, form_fields, dispute, current, amended, reason)
        case = row["subject"]
        body = f"The dispute about the audit of {case} is now at: {target.label.lower()}."
        if target.final:
            body += " Outcome: " + ("grades upheld." if outcome == "upheld" else "grades amended; the amended report is the final version.")
        if reason:
            # The reason for the step, or the written response itself (HAR 2.11).
            body += f"\n\n{ctx.actor.display_name} wrote: {reason}"
        await _notify(ctx, row, people, dispute_id, target.notify, f"Dispute about the audit of {case}: {target.label.lower()}", body)
        changes: dict = {"state": [dispute["state"], target.key]}
        if reason:
            changes["reason"] = reason
        if participants.strip():
            changes["participants"] = participants.strip()
        if target.final:
            changes["outcome"] = outcome
        if amended:
            changes["amended"] = {d: [current.get(d), level] for d, level in amended.items()}
        await trail.record(ctx, organisation_id=row["organisation"], entity="dispute", entity_id=dispute_id,
                           action=f"transition:{chosen.key}", changes=changes)


async def _amend(ctx: Context, row: dict, form_fields, dispute: dict, current: dict, amended: dict[str, str], reason: str) -> None:
    scale_key = f"{row['council']}:{form_fields.scale.key}"
    rows = []
    for domain, level in amended.items():
        before = current.get(domain)
        if before is not None:
            rows.append(Grade(
                allocation=row["id"], organisation=row["organisation"], phase="disputed", domain=domain,
                scale_key=scale_key, level=before, rank=rank(form_fields.scale, before),
                evidence=(dispute["domains"].get(domain) or {}).get("rationale", ""),
                set_by=dispute["raised_by"], set_at=ctx.now,
            ))
        rows.append(Grade(
            allocation=row["id"], organisation=row["organisation"], phase="final", domain=domain,
            scale_key=scale_key, level=level, rank=rank(form_fields.scale, level),
            evidence=f"Amended after dispute: {reason}", set_by=ctx.person_id, set_at=ctx.now,
        ))
    await Grade.insert(*rows)
    await standing_grades.refresh([row["id"]])
    # The amended report is the final version: its grades are the amended ones.
    last_phase = form_fields.phases[-1] if form_fields.phases else None
    if last_phase:
        answers = dict(row["answers"] or {})
        for domain, level in amended.items():
            answers[f"grade.{last_phase}.{domain}"] = level
        await Allocation.update({Allocation.answers: answers, Allocation.revision: Allocation.revision + 1}).where(
            Allocation.id == row["id"]
        )
    await trail.record(
        ctx, organisation_id=row["organisation"], entity="allocation", entity_id=row["id"], action="grades_amended",
        changes={"dispute": dispute["id"], "grades": {d: [current.get(d), lvl] for d, lvl in amended.items()}, "reason": reason},
    )


async def dispute_view(ctx: Context, dispute_id: int) -> dict:
    """A dispute with what the actor may do next and its stage history."""
    dispute = await _load(ctx, dispute_id)
    row, people, held = await _people_and_held(ctx, dispute)
    workflow = ctx.registry.workflow(dispute["workflow_key"], dispute["workflow_version"])
    form_fields = _form_fields(ctx, row)
    raiser = await Person.select(Person.display_name).where(Person.id == dispute["raised_by"]).first()
    return {
        "dispute": dispute,
        "row": row,
        # Someone who opens the dispute by their role alone is not offered a
        # link to the audit, which would be 404 to them.
        "may_see_audit": await _may_see_audit(ctx, row["id"]),
        "workflow": workflow,
        "state_label": wf.state(workflow, dispute["state"]).label,
        "transitions": wf.available(workflow, dispute["state"], held),
        "final_states": {s.key for s in workflow.states if s.final},
        "criteria_label": _criteria_label(ctx, row["council"], dispute["criteria"]),
        "titles": dict(form_fields.domains()),
        "levels": [(lvl.key, lvl.label) for lvl in form_fields.scale.levels] if form_fields.scale else [],
        "raised_by_name": raiser["display_name"] if raiser else "",
        "history": await trail.history("dispute", dispute_id),
        "final_grades": await latest_final_grades(row["id"]),
        "grade_chain": await _chain(row["id"], list(dispute["domains"] or {})),
    }


async def standing(ctx: Context, dispute_id: int) -> dict:
    """What a list of disputes shows of one (the home's): the dispute, its
    audit's row, its stage and the steps the actor may take, checked as
    ``dispute_view`` checks them, without its history, grades and names."""
    dispute = await _load(ctx, dispute_id)
    row, _, held = await _people_and_held(ctx, dispute)
    return _standing(ctx, dispute, row, held)


async def standings(ctx: Context, rows: list[dict]) -> list[dict]:
    """``standing`` of each dispute of ``rows`` (whole dispute rows of the
    actor's organisation) the actor may see, in their order: the audits of
    them all judged together (``audits.visible_many``), so a list of 28
    disputes costs a few queries, not five each (issue 19). A dispute whose
    audit the actor may not see goes the one-at-a-time way, where the
    managers the process names see it by role."""
    assert ctx.actor
    unseen: dict[int, tuple[dict, dict]] = {}
    seen = await audits.visible_many(ctx, [d["allocation"] for d in rows], unseen=unseen)
    out = []
    for dispute in rows:
        if dispute["organisation"] != ctx.actor.organisation_id:
            continue
        if dispute["allocation"] in seen:
            row, people, _ = seen[dispute["allocation"]]
            out.append(_standing(ctx, dispute, row, _held_of_audit(ctx, people)))
            continue
        if dispute["allocation"] not in unseen:
            continue  # another organisation's audit
        row, people = unseen[dispute["allocation"]]
        try:
            held = await _held_by_role(ctx, dispute, row, people)
        except NotFound:
            continue
        out.append(_standing(ctx, dispute, row, held))
    return out


def _standing(ctx: Context, dispute: dict, row: dict, held: set[str]) -> dict:
    workflow = ctx.registry.workflow(dispute["workflow_key"], dispute["workflow_version"])
    return {
        "dispute": dispute,
        "row": row,
        "state_label": wf.state(workflow, dispute["state"]).label,
        "transitions": wf.available(workflow, dispute["state"], held),
    }


async def _may_see_audit(ctx: Context, allocation_id: int) -> bool:
    try:
        await audits.visible(ctx, allocation_id)
    except NotFound:
        return False
    return True


async def may_open(ctx: Context, dispute_id: int) -> bool:
    """Whether the actor may open the dispute (its page's own rule)."""
    try:
        await _people_and_held(ctx, await _load(ctx, dispute_id))
    except NotFound:
        return False
    return True


async def _chain(allocation_id: int, domains: list[str]) -> list[dict]:
    """Every grade the disputed domains were given, in order, with who and why
    (the evidence or rationale each was given with): HAR 2.11's amended report."""
    if not domains:
        return []
    return (
        await Grade.select(
            Grade.domain, Grade.phase, Grade.level, Grade.evidence, Grade.set_at, Grade.set_by.display_name.as_alias("set_by_name")
        )
        .where((Grade.allocation == allocation_id) & Grade.domain.is_in(domains) & Grade.phase.is_in(["final", "disputed"]))
        .order_by(Grade.set_at)
        .order_by(Grade.id)
    )


async def disputes_of(ctx: Context, allocation_id: int) -> list[dict]:
    """The disputes of an audit the actor can see, newest first."""
    row, people, held = await audits.visible(ctx, allocation_id)
    rows = await Dispute.select().where(Dispute.allocation == allocation_id).order_by(Dispute.id, ascending=False).output(load_json=True)
    out = []
    for d in rows:
        workflow = ctx.registry.workflow(d["workflow_key"], d["workflow_version"])
        out.append(d | {"state_label": wf.state(workflow, d["state"]).label})
    return out


async def may_dispute(ctx: Context, allocation_id: int) -> bool:
    row, people, held = await audits.visible(ctx, allocation_id)
    if not row["finalised_at"] or ctx.actor.person_id not in (people.get("practitioner"), people.get("team_manager")):
        return False
    if ctx.registry.qualify(row["council"], "dispute", ctx.registry.workflows) is None:
        return False
    return not await Dispute.exists().where((Dispute.allocation == allocation_id) & (Dispute.outcome == ""))


async def counts(ctx: Context) -> dict[str, int]:
    """For reports: disputes raised and resolved, grades disputed and changed."""
    assert ctx.actor
    rows = await Dispute.select(Dispute.domains, Dispute.outcome).where(Dispute.organisation == ctx.actor.organisation_id).output(load_json=True)
    changed = await Grade.count().where((Grade.organisation == ctx.actor.organisation_id) & (Grade.phase == "disputed"))
    return {
        "disputes": len(rows),
        "resolved": sum(1 for r in rows if r["outcome"]),
        "grades_disputed": sum(len(r["domains"] or {}) for r in rows),
        "grades_changed": changed,
    }


__all__ = ["counts", "dispute_view", "disputes_of", "latest_final_grades", "may_dispute", "raise_dispute", "take_step"]
