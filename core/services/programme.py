"""Programmes for the people of an organisation (CORE-7), and as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace

from core.db import bulk
from core.db.tables import Organisation, Person
from core.definitions.registry import Registry
from core.programme import ProgrammeItem, StaffMember, expand
from core.services.context import Context
from core.services.errors import NotFound

# ``post``: the post the schedule names (or the person's own, when it names
# none); ``subject``: the role whose records it audits; ``look_back_months``:
# the window the activity covers.
CSV_COLUMNS = (
    "person", "role", "post", "activity", "due", "count", "supervisee", "optional", "note", "subject", "look_back_months",
    "with", "peer",  # PLAT-4: a joint activity's co-auditors; the peer whose cases it audits
    "on",  # issue 13: what its audits are on (a case, a person, a meeting); empty without a form
)


@dataclass(frozen=True, slots=True)
class UnheldPost:
    """A schedule for a named post nobody holds (PLAT-4): it gives nobody
    any work until someone does, and the programme says so."""

    schedule: str  # the council's local key
    activity: str
    role: str  # the role's label
    post: str
    # PLAT-4: what is missing when it is not the lead's post: "co_auditor"
    # (the lead does it without them) or "peer" (a lone holder of a peer-paired
    # activity, with nobody to pair with).
    part: str = ""
    person: str = ""  # the lone peer

    @property
    def message(self) -> str:
        if self.part == "peer":
            return f"{self.activity}: {self.person} is the only {self.post or self.role}, with nobody to pair with"
        holder = f"the post {self.post} ({self.role})" if self.post else f"the role {self.role}"
        if self.part == "co_auditor":
            return f"{self.activity}: nobody holds {holder}, so it is led without that co-auditor"
        return f"{self.activity}: nobody holds {holder}"


def unheld_posts(registry: Registry, council: str, staff: list[StaffMember]) -> list[UnheldPost]:
    """The council's schedules whose named post no one in ``staff`` holds in
    the schedule's role: ``expand`` gives them no one, so they are listed."""
    held = {(member.role, member.post) for member in staff if member.post}
    out = []
    for key, supplied in registry.schedules.items():
        schedule = supplied.value
        if not key.startswith(f"{council}:") or not schedule.post:
            continue
        role_key = registry.ref(council, schedule.role, "roles")
        if (role_key.split(":")[-1], schedule.post) not in held:
            out.append(UnheldPost(schedule.key, schedule.activity, registry.role(role_key).label, schedule.post))
    return sorted(out, key=lambda u: (u.post, u.activity)) + _who_else_missing(registry, council, staff)


def _who_else_missing(registry: Registry, council: str, staff: list[StaffMember]) -> list[UnheldPost]:
    """PLAT-4: co-auditors nobody is, and peer-paired holders with nobody to pair with."""
    out = []
    for key, supplied in registry.schedules.items():
        schedule = supplied.value
        if not key.startswith(f"{council}:") or not (schedule.co_auditors or schedule.peer_pairs):
            continue
        for co in schedule.co_auditors:
            role_key = registry.ref(council, co.role, "roles")
            role = role_key.split(":")[-1]
            if not any(m.role == role and (not co.post or m.post == co.post) for m in staff):
                out.append(UnheldPost(schedule.key, schedule.activity, registry.role(role_key).label, co.post, "co_auditor"))
        if schedule.peer_pairs:
            role_key = registry.ref(council, schedule.role, "roles")
            holders = [m for m in staff if m.role == role_key.split(":")[-1] and (not schedule.post or m.post == schedule.post)]
            if len(holders) == 1:
                out.append(UnheldPost(schedule.key, schedule.activity, registry.role(role_key).label, schedule.post,
                                      "peer", holders[0].name))
    return out


async def unheld_posts_of(ctx: Context) -> list[UnheldPost]:
    """The actor's organisation's schedules for posts none of its active staff hold."""
    assert ctx.actor
    return unheld_posts(ctx.registry, ctx.actor.council, await staff_of(ctx.actor.organisation_id))


def council_programme(ctx: Context, council_key: str, year: int, staff: list[StaffMember],
                      weeks: frozenset[tuple[int, int]]) -> list[ProgrammeItem]:
    """The council's whole programme for ``year`` (``expand``), worked out
    once per context for the same staff and practice weeks: the monthly
    issue expands it for the month's case draws and again for the
    programme's work (issue 19 item 4: 0.1 s each for 4,900 staff at scale 1).
    The items are frozen; callers filter, they do not change them."""
    key = ("council_programme", council_key, year, tuple(staff), weeks)
    items = ctx.loaded.get(key)
    if items is None:
        items = ctx.loaded[key] = expand(ctx.registry, council_key, year, staff, weeks)
    return items


async def staff_of(organisation_id: int) -> list[StaffMember]:
    """The organisation's active staff, by id (tuples from the raw driver: a
    council's 4,900 people as Piccolo dicts cost 20-30 ms at scale 1)."""
    rows = await bulk.fetch(
        "SELECT id, display_name, role, post, line_manager FROM person WHERE organisation = {} AND active = {} ORDER BY id",
        organisation_id, True,
    )
    return [StaffMember(*row) for row in rows]


async def council_staff(ctx: Context, organisation_id: int) -> list[StaffMember]:
    """``staff_of``, read once per context: the monthly issue's draw and the
    programme's work both expand the programme for the same staff."""
    key = ("staff_of", organisation_id)
    staff = ctx.loaded.get(key)
    if staff is None:
        staff = ctx.loaded[key] = await staff_of(organisation_id)
    return staff


async def staff_for(registry, council_key: str, organisation_id: int, person_id: int, role: str) -> list[StaffMember]:
    """The staff ``expand(only=person_id)`` needs for one person's own
    programme (the same items as from ``staff_of``): the person and their
    line reports; for the schedules they lead, the holders of its
    co-auditors' roles and, if it pairs peers, of their own role; for the
    schedules they co-audit, the leads (with their reports, its subject's
    role and its other co-auditors). Not the whole council's staff."""
    roles: set[str] = set()
    leads: set[str] = set()
    for key, supplied in registry.schedules.items():
        if not key.startswith(f"{council_key}:"):
            continue
        schedule = supplied.value
        lead = schedule.role.split(":")[-1]
        co_roles = {co.role.split(":")[-1] for co in schedule.co_auditors}
        if lead == role:
            roles |= co_roles
            if schedule.peer_pairs:
                roles.add(lead)
        if role in co_roles:
            leads.add(lead)
            roles |= co_roles | {lead}
            if schedule.subject:
                roles.add(schedule.subject.split(":")[-1])
    marks = lambda values: ", ".join("{}" for _ in values) or "NULL"  # noqa: E731
    rows = await Person.raw(
        "SELECT p.id AS id, p.display_name AS display_name, p.role AS role, p.post AS post, p.line_manager AS line_manager"
        " FROM person p WHERE p.organisation = {} AND p.active = {} AND (p.id = {} OR p.line_manager = {}"
        f" OR p.role IN ({marks(roles)})"
        f" OR p.line_manager IN (SELECT q.id FROM person q WHERE q.organisation = {{}} AND q.role IN ({marks(leads)})))"
        " ORDER BY p.id",
        organisation_id, True, person_id, person_id, *sorted(roles), organisation_id, *sorted(leads),
    )
    return [StaffMember(r["id"], r["display_name"], r["role"], r["post"] or "", r["line_manager"]) for r in rows]


async def organisation_for(council: str) -> int | None:
    row = await Organisation.select(Organisation.id).where(Organisation.council == council).order_by(Organisation.id).first()
    return row["id"] if row else None


async def programme(ctx: Context, year: int, *, mine: bool = False) -> list[ProgrammeItem]:
    """The actor's organisation's programme for the year, or only their own."""
    assert ctx.actor
    from core.services.cycles import practice_weeks

    # A page GET asks for the programme more than once (this year's and the
    # next, the home's cards): the staff and practice weeks are read once.
    # One's own programme needs only the staff around them (``staff_for``).
    key = ("programme_inputs", ctx.actor.organisation_id, mine)
    if key not in ctx.loaded or not ctx.reads_only:
        org = ctx.actor.organisation_id
        staff = (await staff_for(ctx.registry, ctx.actor.council, org, ctx.actor.person_id, ctx.actor.role) if mine
                 else await staff_of(org))
        ctx.loaded[key] = (staff, await practice_weeks(org))
    staff, weeks = ctx.loaded[key]
    items = expand(ctx.registry, ctx.actor.council, year, staff, weeks, only=ctx.actor.person_id if mine else None)
    if mine:
        # PLAT-4: a joint activity is on each co-auditor's programme too.
        items = [i for i in items if i.person_id == ctx.actor.person_id or ctx.actor.person_id in i.co_auditor_ids]
    return items


def sample_staff(registry: Registry, council: str, supervisees: int = 2) -> list[StaffMember]:
    """One person in every role of the council, each line-managed by the
    person in the role it escalates to, each team manager with
    ``supervisees`` practitioners: a programme's shape before staff are loaded
    (so schedules with a ``subject`` show too)."""
    definition = registry.council(council)
    practitioner = definition.practitioner_role.split(":")[-1]
    manager = definition.team_manager_role.split(":")[-1]
    staff: list[StaffMember] = []
    holder: dict[str, int] = {}
    for role in registry.roles_of(council):
        if role.key == practitioner:
            continue
        staff.append(StaffMember(len(staff) + 1, f"{role.label} (sample)", role.key))
        holder[role.key] = staff[-1].id
        if role.key == manager:
            manager_id = staff[-1].id
            for n in range(1, supervisees + 1):
                staff.append(StaffMember(len(staff) + 1, f"Practitioner {n} (sample)", practitioner, line_manager=manager_id))
    escalates = {role.key: (role.escalates_to or "").split(":")[-1] for role in registry.roles_of(council)}
    return [
        replace(member, line_manager=holder.get(escalates.get(member.role, "")))
        if member.line_manager is None else member
        for member in staff
    ]


def _on(schedule) -> str:
    """What the schedule's audits are on, as the CSV says it."""
    if schedule.form is None:
        return ""
    if schedule.about == "person":
        return {"supervisee": "the supervisee", "line": "a line report", "team": "someone in the team"}[schedule.person_from]
    if schedule.about == "meeting":
        return "a meeting" + (f" ({', '.join(schedule.meeting_types)})" if schedule.meeting_types else "")
    return "a case"


def to_csv(items: list[ProgrammeItem], registry: Registry, council: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        schedule = registry.schedules[f"{council}:{item.schedule}"].value
        writer.writerow(
            [
                item.person,
                item.role,
                schedule.post or item.post,
                item.activity,
                item.due.isoformat() if item.due else "as required",
                item.count,
                item.supervisee,
                "up to" if item.optional else "",
                item.note,
                schedule.subject.split(":")[-1] if schedule.subject else "",
                schedule.frequency.look_back_months or "",
                "; ".join(item.co_auditors),
                item.peer,
                _on(schedule),
            ]
        )
    return out.getvalue()


__all__ = [
    "CSV_COLUMNS", "NotFound", "UnheldPost", "organisation_for", "programme", "sample_staff", "staff_of", "to_csv",
    "unheld_posts", "unheld_posts_of",
]
