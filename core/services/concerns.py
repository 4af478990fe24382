"""An immediate concern for a child's safety, raised during an audit
(HAR 2.10, BED-2): the team manager is told at once, not at the end."""

from __future__ import annotations

from core.db.engine import transaction
from core.db.tables import Concern
from core.escalation import EscalationEvent
from core.services import audits, escalations, notifications, trail
from core.services.context import Context
from core import limits
from core.services.errors import Invalid


async def raise_concern(ctx: Context, allocation_id: int, description: str) -> int:
    row, people, held = await audits.visible(ctx, allocation_id)
    if not {"auditor", "co_auditor"} & held and not ctx.actor.can("qa_review"):  # PLAT-4: a co-auditor reads the file too
        raise Invalid("Only the auditor or QA can raise a concern here", {"description": "Tell the auditor or the QA team"})
    description = description.strip()
    if not description:
        raise Invalid("Describe the concern", {"description": "Describe what worries you about the child's safety"})
    if message := limits.too_long(description, limits.CONCERN, "The concern"):
        raise Invalid("Shorten the concern", {"description": message})
    # "the child in case 123"; an observation names the meeting or person (issue 13).
    about = row["subject"]
    child = f"the child in {about}" if row["case_external_id"] else f"a child ({about})"
    async with transaction():
        rows = await Concern.insert(
            Concern(
                organisation=row["organisation"],
                allocation=allocation_id,
                raised_by=ctx.actor.person_id,
                description=description,
                created_at=ctx.now,
            )
        ).returning(Concern.id)
        fired = await escalations.fire(
            ctx,
            EscalationEvent(kind="child_safety_concern", council=row["council"], allocation_id=allocation_id, form=row["form_key"]),
            organisation_id=row["organisation"],
            people=people,
            anchor=people.get("practitioner"),
            subject=f"URGENT: concern for the safety of {child}",
            about=about,
            link=f"/audits/{allocation_id}",
            detail=f"Raised by {ctx.actor.display_name}: {description}",
        )
        if not fired and people.get("team_manager"):
            # A council without a rule for this still must not lose it (HAR 2.10).
            await notifications.notify(
                ctx,
                organisation_id=row["organisation"],
                recipients=[people["team_manager"]],
                kind="child_safety_concern",
                subject=f"URGENT: concern for the safety of {child}",
                body=description,
                link=f"/audits/{allocation_id}",
                allocation_id=allocation_id,
            )
        await trail.record(
            ctx,
            organisation_id=row["organisation"],
            entity="allocation",
            entity_id=allocation_id,
            action="concern_raised",
            changes={"concern": rows[0]["id"], "description": description},
        )
    return rows[0]["id"]
