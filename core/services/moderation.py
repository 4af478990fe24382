"""The moderation log (HAR 2.6, BED-5): how often QA agreed with auditors."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.calendar import LONDON, to_london
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
    # The whole London months of the window from the kept monthly counts
    # (``agreement_month``, as the reports read them); only the part of the
    # month the window starts in from the standing grades themselves: a
    # month's index range, not a year's (≈70,000 grades at scale 1).
    since = ctx.now - AGREEMENT_WINDOW
    first = to_london(since)
    after = (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    boundary = dt.datetime(after.year, after.month, 1, tzinfo=LONDON).astimezone(dt.timezone.utc)
    org = ctx.actor.organisation_id
    rows = await StandingGrade.raw(
        "SELECT (SELECT COUNT(*) FROM standing_grade s WHERE s.organisation = {} AND s.due_at >= {} AND s.due_at < {}"
        "  AND s.moderated_level IS NOT NULL)"
        " + (SELECT COALESCE(SUM(m.moderated), 0) FROM agreement_month m WHERE m.organisation = {} AND m.month >= {})"
        " AS moderated,"
        " (SELECT COALESCE(SUM(CASE WHEN s.moderated_level = s.auditor_level THEN 1 ELSE 0 END), 0) FROM standing_grade s"
        "  WHERE s.organisation = {} AND s.due_at >= {} AND s.due_at < {} AND s.moderated_level IS NOT NULL)"
        " + (SELECT COALESCE(SUM(m.agreed), 0) FROM agreement_month m WHERE m.organisation = {} AND m.month >= {})"
        " AS agreed",
        org, since, boundary, org, f"{after:%Y-%m}", org, since, boundary, org, f"{after:%Y-%m}",
    )
    return Agreement(int(rows[0]["moderated"] or 0), int(rows[0]["agreed"] or 0))
