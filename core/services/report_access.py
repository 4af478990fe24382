"""Who reads the reports, and of what: the one policy every report page,
export and service asks (issue 17 item 2).

* Those who see every audit (``view_all_audits``: the QA team; Bedford's
  DMT and SLT, BED s.3 "reporting to DMT") read the whole council's reports.
  A reviewer without it (``qa_review`` alone: Bedford's heads of service,
  BED s.3 "review the audits completed within the service") reads their
  line's, as ``read_reports`` does (issue 16, case 2).
* ``read_council_reports``: leaders the frameworks send the whole council's
  reports to (HAR 1.9: the Quality Performance Network chaired by the
  Director; CSCP 5.1-5.2: the Partnership Board, the Executive Group and the
  A&P subgroup).
* ``read_reports``: managers who read the reports of what they lead (HAR
  1.9: "senior managers from across the service"): the teams of the people
  in their line, down the line, and each service all of whose teams those
  are. A line that covers every team is the whole council's.

Reports count audits and grades, never name a child; they name auditors
only in the QA team's moderation tables (``reports.moderation_agreement``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.db.tables import Person, Team
from core.services.context import Actor, Context
from core.services.errors import Forbidden

# The actor and everyone who reports to them, down the line (as
# ``core.services.delivery``: UNION stops at a loop in the data).
_LINE = (
    "WITH RECURSIVE line(id) AS (SELECT CAST({} AS INTEGER)"
    " UNION SELECT q.id FROM person q JOIN line l ON q.line_manager = l.id)"
)


@dataclass(frozen=True, slots=True)
class Reach:
    """What a reader's reports may cover."""

    whole: bool = False
    services: frozenset[int] = field(default_factory=frozenset)
    teams: frozenset[int] = field(default_factory=frozenset)

    @property
    def any(self) -> bool:
        return self.whole or bool(self.services or self.teams)

    def covers(self, kind: str, id_: int | None) -> bool:
        if self.whole:
            return True
        if kind == "service":
            return id_ in self.services
        if kind == "team":
            return id_ in self.teams
        return False  # the whole council, or an agency's returns


def reads_whole_council(actor: Actor | None) -> bool:
    """``view_all_audits`` or ``read_council_reports``. A reviewer without
    ``view_all_audits`` (BED's head of service, issue 16 case 2: "review the
    audits completed within the service", BED s.3) reads their line's, as
    ``read_reports`` does."""
    return actor is not None and (actor.can("view_all_audits") or actor.can("read_council_reports"))


def _reads_line(actor: Actor | None) -> bool:
    return actor is not None and (actor.can("read_reports") or actor.can("qa_review"))


def may_read_some(actor: Actor | None) -> bool:
    """Whether the role reads any report at all (before asking what it reaches)."""
    return reads_whole_council(actor) or _reads_line(actor)


async def reach(ctx: Context) -> Reach:
    """What the actor's reports may cover; nothing for a role that reads none.
    Kept on a page's Context: the navigation and the page both ask."""
    actor = ctx.actor
    if reads_whole_council(actor):
        return Reach(whole=True)
    if not _reads_line(actor):
        return Reach()
    key = ("report_reach", actor.person_id)
    if ctx.reads_only and key in ctx.loaded:
        return ctx.loaded[key]
    rows = await Person.raw(
        f"{_LINE} SELECT DISTINCT p.team AS team FROM person p JOIN line l ON l.id = p.id WHERE p.team IS NOT NULL",
        actor.person_id,
    )
    led = {int(r["team"]) for r in rows}
    teams = await Team.select(Team.id, Team.service).where(Team.organisation == actor.organisation_id)
    if teams and all(t["id"] in led for t in teams):
        found = Reach(whole=True)
    else:
        by_service: dict[int, set[int]] = {}
        for t in teams:
            if t["service"] is not None:
                by_service.setdefault(t["service"], set()).add(t["id"])
        services = frozenset(s for s, ids in by_service.items() if ids <= led)
        found = Reach(services=services, teams=frozenset(led))
    if ctx.reads_only:
        ctx.loaded[key] = found
    return found


async def require(ctx: Context) -> Reach:
    """The actor's reach; Forbidden when they may read no report."""
    found = await reach(ctx)
    if not found.any:
        raise Forbidden("Reports are for the QA team and for managers, of the teams and services they lead")
    return found
