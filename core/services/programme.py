"""Programmes for the people of an organisation (CORE-7), and as CSV."""

from __future__ import annotations

import csv
import io

from core.db.tables import Organisation, Person
from core.definitions.registry import Registry
from core.programme import ProgrammeItem, StaffMember, expand
from core.services.context import Context
from core.services.errors import NotFound

CSV_COLUMNS = ("person", "role", "post", "activity", "due", "count", "supervisee", "optional", "note")


async def staff_of(organisation_id: int) -> list[StaffMember]:
    rows = (
        await Person.select(Person.id, Person.display_name, Person.role, Person.post, Person.line_manager)
        .where((Person.organisation == organisation_id) & (Person.active == True))  # noqa: E712
        .order_by(Person.id)
    )
    return [StaffMember(r["id"], r["display_name"], r["role"], r["post"], r["line_manager"]) for r in rows]


async def organisation_for(council: str) -> int | None:
    row = await Organisation.select(Organisation.id).where(Organisation.council == council).order_by(Organisation.id).first()
    return row["id"] if row else None


async def programme(ctx: Context, year: int, *, mine: bool = False) -> list[ProgrammeItem]:
    """The actor's organisation's programme for the year, or only their own."""
    assert ctx.actor
    from core.services.cycles import practice_weeks

    staff = await staff_of(ctx.actor.organisation_id)
    weeks = await practice_weeks(ctx.actor.organisation_id)
    items = expand(ctx.registry, ctx.actor.council, year, staff, weeks)
    if mine:
        items = [i for i in items if i.person_id == ctx.actor.person_id]
    return items


def sample_staff(registry: Registry, council: str, supervisees: int = 2) -> list[StaffMember]:
    """One person in every role of the council, each team manager with
    ``supervisees`` practitioners: a programme's shape before staff are loaded."""
    definition = registry.council(council)
    practitioner = definition.practitioner_role.split(":")[-1]
    manager = definition.team_manager_role.split(":")[-1]
    staff: list[StaffMember] = []
    for role in registry.roles_of(council):
        if role.key == practitioner:
            continue
        staff.append(StaffMember(len(staff) + 1, f"{role.label} (sample)", role.key))
        if role.key == manager:
            manager_id = staff[-1].id
            for n in range(1, supervisees + 1):
                staff.append(StaffMember(len(staff) + 1, f"Practitioner {n} (sample)", practitioner, line_manager=manager_id))
    return staff


def to_csv(items: list[ProgrammeItem]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow(
            [
                item.person,
                item.role,
                item.post,
                item.activity,
                item.due.isoformat() if item.due else "as required",
                item.count,
                item.supervisee,
                "up to" if item.optional else "",
                item.note,
            ]
        )
    return out.getvalue()


__all__ = ["NotFound", "organisation_for", "programme", "sample_staff", "staff_of", "to_csv"]
