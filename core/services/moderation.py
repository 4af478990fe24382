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
    # One aggregate in the database: each moderated grade against the auditor's
    # latest grade for that domain (the grade_latest index serves the lookup).
    rows = await Grade.raw(
        """
        SELECT count(*) AS moderated,
               coalesce(sum(CASE WHEN m.level = (
                   SELECT g.level FROM grade g
                   WHERE g.allocation = m.allocation AND g.domain = m.domain
                     AND g.phase NOT IN ('moderated', 'final')
                   ORDER BY g.set_at DESC, g.id DESC LIMIT 1
               ) THEN 1 ELSE 0 END), 0) AS agreed
        FROM grade m
        WHERE m.organisation = {} AND m.phase = 'moderated'
        """,
        ctx.actor.organisation_id,
    )
    return Agreement(int(rows[0]["moderated"] or 0), int(rows[0]["agreed"] or 0))
