"""What a final audit produces for the people around it: the case note for
the case record (HAR-17), re-audit movement per domain (CORE-11), and the
follow-up tasks it set (HAR 2.13)."""

from __future__ import annotations

from dataclasses import dataclass

from core.calendar import to_london
from core.db.tables import Cycle, FollowUp, Person
from core.grading import compare
from core.services import audits, standing_grades
from core.services.context import Context
from core.services.errors import Conflict


@dataclass(frozen=True, slots=True)
class CaseNote:
    title: str
    note_type: str
    date: str  # dd/mm/yyyy, as Mosaic asks
    time: str  # 24-hour clock
    text: str


@dataclass(frozen=True, slots=True)
class DomainMovement:
    domain: str
    before: str
    after: str
    movement: str  # improved | same | downgraded


async def case_note(ctx: Context, allocation_id: int) -> CaseNote:
    view = await audits.audit_view(ctx, allocation_id)
    row = view.row
    council = ctx.registry.council(row["council"])
    template = council.case_note
    if template is None:
        raise Conflict(f"{council.name} has no case note template")
    if row["finalised_at"] is None:
        raise Conflict("The case note is produced once the audit is final")
    finalised = to_london(row["finalised_at"])
    month = finalised.strftime("%B")
    if row["cycle"]:
        cycle = await Cycle.select(Cycle.year, Cycle.month).where(Cycle.id == row["cycle"]).first()
        month = finalised.replace(year=cycle["year"], month=cycle["month"], day=1).strftime("%B")
    overall = ""
    level = await standing_grades.final_grade(allocation_id)
    if level and view.fields.scale:
        overall = next((lvl.label for lvl in view.fields.scale.levels if lvl.key == level), level)
    people = await audits.relations_of(ctx, row)
    alerted = ["allocated practitioner", "Team Manager"]
    if people.get("case_chair"):
        alerted.append("IRO/ CP Chair")
    alerted_text = ", ".join(alerted[:-1]) + " and " + alerted[-1] if len(alerted) > 1 else alerted[0]
    values = {
        "cycle": month,
        "overall_grade": overall.lower(),
        "alerted": alerted_text,
        "report": f"/audits/{allocation_id}",
    }
    title = template.title.format(**values)[: template.max_title_length]
    return CaseNote(
        title=title,
        note_type=template.note_type,
        date=finalised.strftime("%d/%m/%Y"),
        time=finalised.strftime("%H:%M"),
        text=template.text.format(**values),
    )


async def movement(ctx: Context, view: audits.AuditView) -> list[DomainMovement]:
    """Per domain and overall: the previous audit's final grade against this
    one's (each the amended grade if a dispute amended it)."""
    row = view.row
    if not row["previous"] or view.fields.scale is None:
        return []
    scale = view.fields.scale
    before = await standing_grades.final_grades(row["previous"])
    after = await standing_grades.final_grades(row["id"])
    labels = {lvl.key: lvl.label for lvl in scale.levels}
    out = []
    for domain, title in view.fields.domains():
        if domain in before and domain in after:
            out.append(DomainMovement(title, labels[before[domain]], labels[after[domain]], compare(scale, before[domain], after[domain])))
    return out


async def follow_ups(ctx: Context, allocation_id: int) -> list[dict]:
    await audits.visible(ctx, allocation_id)
    rows = (
        await FollowUp.select(FollowUp.all_columns(), FollowUp.done_by.display_name.as_alias("done_by_name"))
        .where(FollowUp.allocation == allocation_id)
        .order_by(FollowUp.id)
        .output(load_json=True)
    )
    names = {
        p["id"]: p["display_name"]
        for p in await Person.select(Person.id, Person.display_name).where(
            Person.id.is_in(sorted({a for r in rows for a in r["assignees"]}) or [0])
        )
    }
    for r in rows:
        r["assignee_names"] = [names.get(a, "") for a in r["assignees"]]
        r["mine"] = ctx.actor is not None and ctx.actor.person_id in r["assignees"]
        # A deadline in clock hours (BED-3's 48 hours) is shown with its time.
        rule = ctx.registry.escalations.get(r["rule"])
        r["within_hours"] = rule.value.within_hours if rule is not None else None
    return rows
