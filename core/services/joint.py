"""Who does it together (PLAT-4): joint audits and peer pairs.

A schedule with ``co_auditors`` is a joint activity: its work is owned by
the lead (the holder of the schedule's role and post) and names the
co-auditors (``WorkMember``, part "co_auditor"); an audit started from that
work, or drawn for it, is a joint audit (``AllocationAuditor``). Its
co-auditors see and edit it as its auditor does (``core.services.audits``,
the one access policy), are named on its page and PDF ("Joe Bloggs with Ann
Smith") and are told when it is issued. The lead alone submits it: a
workflow's ``auditor`` is the lead, and the seeds name one auditor who sends
the report to QA (HAR 2.6: "the auditor needs to email the audit report").
The lead may add or remove a co-auditor by hand while the audit is open.

A schedule with ``peer_pairs`` gives each holder a peer (``WorkMember``,
part "peer"; ``core.programme.peer_pairs``): each audits the cases the other
holds (HAR 2.15 names "case audits and peer audits"; no seed says more of
how peers choose, so a peer audits its partner's cases: those the partner
holds, and those held by the people the partner line-manages, so that a team
manager's peer audits the partner's team's cases; never its own).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.db.engine import transaction
from core.db.tables import Allocation, AllocationAuditor, ChildCase, Person, WorkMember
from core.services import notifications, trail
from core.services.context import Context
from core.services.errors import Forbidden, Invalid, NotFound


def names(people: list[str] | tuple[str, ...]) -> str:
    """"Ann", "Ann and Bob", "Ann, Bob and Cat"."""
    people = list(people)
    if len(people) <= 1:
        return "".join(people)
    return f"{', '.join(people[:-1])} and {people[-1]}"


# ------------------------------------------------------------------- the work
async def issue_members(work_id: int, co_auditors: tuple[int, ...], peer: int | None) -> None:
    """The co-auditors and peer an issued piece of work names; in the issuing transaction."""
    rows = [WorkMember(work=work_id, person=person, part="co_auditor") for person in co_auditors]
    if peer is not None:
        rows.append(WorkMember(work=work_id, person=peer, part="peer"))
    if rows:
        await WorkMember.insert(*rows)


async def members_of(work_ids: list[int]) -> dict[int, dict[str, list[tuple[int, str]]]]:
    """Per piece of work: {"co_auditor": [(id, name)...], "peer": [(id, name)]}, names in order."""
    out: dict[int, dict[str, list[tuple[int, str]]]] = {}
    if not work_ids:
        return out
    for row in await WorkMember.select(
        WorkMember.work, WorkMember.person, WorkMember.part, WorkMember.person.display_name.as_alias("name")
    ).where(WorkMember.work.is_in(work_ids)).order_by(WorkMember.id):
        out.setdefault(row["work"], {}).setdefault(row["part"], []).append((row["person"], row["name"]))
    return out


async def joint_work_of(person_id: int) -> list[int]:
    """The work a person is a co-auditor of (it is on their programme too)."""
    return [r["work"] for r in await WorkMember.select(WorkMember.work).where(
        (WorkMember.person == person_id) & (WorkMember.part == "co_auditor"))]


async def is_co_auditor_of_work(work_id: int, person_id: int) -> bool:
    return bool(await WorkMember.count().where(
        (WorkMember.work == work_id) & (WorkMember.person == person_id) & (WorkMember.part == "co_auditor")))


async def peer_caseholders(peer_id: int) -> list[int]:
    """Whose cases are a peer's (PLAT-4): those the peer holds, and those held
    by the people the peer line-manages (a team manager's cases are their
    team's; a practitioner's are their own)."""
    reports = await Person.select(Person.id).where(Person.line_manager == peer_id)
    return [peer_id, *(r["id"] for r in reports)]


# ------------------------------------------------------------------ the audit
async def co_auditors(allocation_id: int) -> list[dict]:
    """A joint audit's co-auditors, {id, name}, in the order they were added."""
    return [
        {"id": r["person"], "name": r["name"]}
        for r in await AllocationAuditor.select(
            AllocationAuditor.person, AllocationAuditor.person.display_name.as_alias("name")
        ).where(AllocationAuditor.allocation == allocation_id).order_by(AllocationAuditor.id)
    ]


async def is_co_auditor(allocation_id: int, person_id: int | None) -> bool:
    if person_id is None:
        return False
    return bool(await AllocationAuditor.count().where(
        (AllocationAuditor.allocation == allocation_id) & (AllocationAuditor.person == person_id)))


async def from_work(ctx: Context, allocation_id: int, work_id: int) -> None:
    """An audit started from, or drawn for, joint work is a joint audit: the
    work's co-auditors are recorded on it and told. In the caller's transaction."""
    members = (await members_of([work_id])).get(work_id, {}).get("co_auditor", [])
    if members:
        await _add(ctx, allocation_id, [person for person, _ in members], how="named by the programme")


async def _add(ctx: Context, allocation_id: int, people: list[int], how: str) -> None:
    row = await Allocation.select(
        Allocation.id, Allocation.organisation, Allocation.auditor.display_name.as_alias("lead"),
        Allocation.child_case.external_id.as_alias("case"), Allocation.due_at,
    ).where(Allocation.id == allocation_id).first()
    await AllocationAuditor.insert(
        *[AllocationAuditor(allocation=allocation_id, person=person, part="co_auditor", added_at=ctx.now) for person in people]
    )
    named = {p["id"]: p["display_name"] for p in await Person.select(Person.id, Person.display_name).where(Person.id.is_in(people))}
    for person in people:
        await trail.record(ctx, organisation_id=row["organisation"], entity="allocation", entity_id=allocation_id,
                           action="co_auditor_added", changes={"co-auditor": named.get(person, ""), "how": how})
    from core.calendar import to_london

    await notifications.notify(
        ctx, organisation_id=row["organisation"], recipients=[p for p in people if p != (ctx.actor.person_id if ctx.actor else None)],
        kind="joint_audit", subject=f"Joint audit of case {row['case']} with {row['lead']}",
        body=f"You are a co-auditor of the audit of case {row['case']}, led by {row['lead']}: you can open and "
        f"fill it in with them. {row['lead']} submits it. It is due by {to_london(row['due_at']):%A %-d %B %Y}.",
        link=f"/audits/{allocation_id}", allocation_id=allocation_id,
    )


async def lead_of(ctx: Context, allocation_id: int) -> dict:
    """The open audit, if the actor is its lead auditor (who alone adds and removes co-auditors)."""
    from core.services import audits

    view = await audits.audit_view(ctx, allocation_id)
    if "auditor" not in view.relations:
        raise Forbidden("Only the audit's lead auditor can change who audits it with them")
    if not view.editable:
        raise Invalid("This audit is no longer open", {"person": "Co-auditors can be changed only while the audit is being written"})
    return view.row


async def add(ctx: Context, allocation_id: int, person_id: int | None) -> None:
    """The lead adds a co-auditor by hand: someone in the organisation who may
    audit, not the lead, not already one, and not the worker of the case."""
    row = await lead_of(ctx, allocation_id)
    if person_id is None:
        raise Invalid("Choose a co-auditor", {"person": "Choose who audits this case with you"})
    person = await Person.select(Person.id, Person.display_name, Person.role, Person.active).where(
        (Person.id == person_id) & (Person.organisation == ctx.actor.organisation_id)).first()
    if person is None or not person["active"]:
        raise Invalid("Choose a co-auditor", {"person": "Choose someone from the list"})
    role = ctx.registry.roles.get(f"{ctx.actor.council}:{person['role']}")
    if role is None or "audit" not in role.value.capabilities:
        raise Invalid("Choose a co-auditor", {"person": f"{person['display_name']} does not audit cases"})
    if person_id == row["auditor"]:
        raise Invalid("Choose a co-auditor", {"person": "You lead this audit: choose someone else"})
    case = await ChildCase.select(ChildCase.allocated_worker).where(ChildCase.id == row["child_case"]).first()
    if case and case["allocated_worker"] == person_id:
        raise Invalid("Choose a co-auditor", {"person": f"{person['display_name']} holds this case"})
    if await is_co_auditor(allocation_id, person_id):
        raise Invalid("Choose a co-auditor", {"person": f"{person['display_name']} already audits this case with you"})
    async with transaction():
        await _add(ctx, allocation_id, [person_id], how="added by the lead")


async def remove(ctx: Context, allocation_id: int, person_id: int | None) -> None:
    """The lead removes a co-auditor by hand."""
    await lead_of(ctx, allocation_id)
    if person_id is None or not await is_co_auditor(allocation_id, person_id):
        raise NotFound("That person is not a co-auditor of this audit")
    person = await Person.select(Person.display_name).where(Person.id == person_id).first()
    async with transaction():
        await AllocationAuditor.delete().where(
            (AllocationAuditor.allocation == allocation_id) & (AllocationAuditor.person == person_id))
        await trail.record(ctx, organisation_id=ctx.actor.organisation_id, entity="allocation", entity_id=allocation_id,
                           action="co_auditor_removed", changes={"co-auditor": person["display_name"]})


# A search by name lists at most this many people.
FOUND_SHOWN = 50


@dataclass(frozen=True, slots=True)
class Candidates:
    """Who the lead may add, as the page lists them: ``near`` says which
    ("service": the lead's service; "role": others in the lead's role, for a
    lead in no team; "name": those whose name has ``name`` in it)."""

    people: list[dict]
    near: str
    name: str = ""
    more: bool = False  # a search found more than FOUND_SHOWN


async def candidates(ctx: Context, allocation_id: int, row: dict, name: str = "") -> Candidates:
    """Who the lead may add: active people of the organisation whose role audits,
    other than the lead, the case's worker and those already co-auditing.
    Not all of them (≈600 in a large council, issue 19): those of the lead's
    own service (or, for a lead in no team, of the lead's role), or those whose
    name has ``name`` in it."""
    auditing = {r for r, value in ctx.registry.roles.items() if r.startswith(f"{ctx.actor.council}:")
                and "audit" in value.value.capabilities}
    roles = sorted(r.split(":", 1)[1] for r in auditing)
    # Words as typed, without control characters (PostgreSQL refuses NUL in text).
    name = " ".join("".join(c for c in name if c.isprintable()).split())[:100]
    if not roles:
        return Candidates(people=[], near="name" if name else "service", name=name)
    where = (Person.organisation == ctx.actor.organisation_id) & (Person.active == True)  # noqa: E712
    where &= Person.role.is_in(roles)
    limit = None
    if name:
        near = "name"
        where &= Person.display_name.ilike(f"%{name}%")
        limit = FOUND_SHOWN + 1
    else:
        lead = await Person.select(Person.role, Person.team.service.as_alias("service")).where(
            Person.id == row["auditor"]).first() or {}
        if lead.get("service") is not None:
            near = "service"
            where &= Person.team.service == lead["service"]
        else:
            near = "role"
            where &= Person.role == lead.get("role", "")
    query = Person.select(Person.id, Person.display_name, Person.role).where(where).order_by(
        Person.display_name).order_by(Person.id)
    if limit:
        query = query.limit(limit + 3)  # the lead, the worker and co-auditors may be among them
    people = await query
    already = {c["id"] for c in await co_auditors(allocation_id)}
    found = [
        {"id": p["id"], "name": p["display_name"],
         "role": ctx.registry.role(f"{ctx.actor.council}:{p['role']}").label}
        for p in people
        if f"{ctx.actor.council}:{p['role']}" in auditing and p["id"] not in already
        and p["id"] not in (row["auditor"], row.get("practitioner_id"))
    ]
    more = bool(limit) and len(found) > FOUND_SHOWN
    return Candidates(people=found[:FOUND_SHOWN] if limit else found, near=near, name=name, more=more)


__all__ = [
    "add", "candidates", "co_auditors", "from_work", "is_co_auditor", "is_co_auditor_of_work", "issue_members",
    "joint_work_of", "members_of", "names", "remove",
]
