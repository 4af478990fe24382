"""The moderation log (HAR 2.6, BED-5): how often QA agreed with auditors."""

from __future__ import annotations

from dataclasses import dataclass

from core.db.tables import Grade
from core.services.context import Context
from core.services.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Agreement:
    domains_moderated: int
    domains_agreed: int

    @property
    def rate(self) -> float | None:
        return self.domains_agreed / self.domains_moderated if self.domains_moderated else None


async def agreement(ctx: Context) -> Agreement:
    """Of every domain grade QA moderated, how many it left as the auditor gave it."""
    assert ctx.actor
    if not (ctx.actor.can("qa_review") or ctx.actor.can("view_all_audits")):
        raise Forbidden("Only the QA team sees moderation figures")
    moderated = (
        await Grade.select(Grade.allocation, Grade.domain, Grade.level, Grade.set_at)
        .where((Grade.organisation == ctx.actor.organisation_id) & (Grade.phase == "moderated"))
    )
    if not moderated:
        return Agreement(0, 0)
    allocations = sorted({m["allocation"] for m in moderated})
    auditor = {}
    # The auditor's last grade for each domain before moderation.
    for g in (
        await Grade.select(Grade.allocation, Grade.domain, Grade.level, Grade.phase, Grade.set_at)
        .where(Grade.allocation.is_in(allocations) & Grade.phase.not_in(["moderated", "final"]))
        .order_by(Grade.set_at)
        .order_by(Grade.id)
    ):
        auditor[(g["allocation"], g["domain"])] = g["level"]
    agreed = sum(1 for m in moderated if auditor.get((m["allocation"], m["domain"])) == m["level"])
    return Agreement(len(moderated), agreed)
