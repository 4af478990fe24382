"""The moderation log (HAR 2.6, BED-5): how often QA agreed with auditors."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.db.tables import StandingGrade
from core.services.context import Context
from core.services.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Agreement:
    domains_moderated: int
    domains_agreed: int

    @property
    def rate(self) -> float | None:
        return self.domains_agreed / self.domains_moderated if self.domains_moderated else None


# The QA queue shows the last year's rate: recent enough to act on, and a
# bounded range of the standing-grade index however many years are kept.
AGREEMENT_WINDOW = dt.timedelta(days=365)


async def agreement(ctx: Context) -> Agreement:
    """Of every domain grade QA moderated in audits due in the last 12 months,
    how many it left as the auditor gave it."""
    assert ctx.actor
    if not (ctx.actor.can("qa_review") or ctx.actor.can("view_all_audits")):
        raise Forbidden("Only the QA team sees moderation figures")
    rows = await StandingGrade.raw(
        """
        SELECT count(*) AS moderated,
               coalesce(sum(CASE WHEN s.moderated_level = s.auditor_level THEN 1 ELSE 0 END), 0) AS agreed
        FROM standing_grade s
        WHERE s.organisation = {} AND s.due_at >= {} AND s.moderated_level IS NOT NULL
        """,
        ctx.actor.organisation_id,
        ctx.now - AGREEMENT_WINDOW,
    )
    return Agreement(int(rows[0]["moderated"] or 0), int(rows[0]["agreed"] or 0))
