"""What awaits a person outside their own audits (issue 17 item 1): audits
whose next step is theirs by a relation to the case (a team manager's
sign-off, BED-11's escalation to the case's team manager), and disputes
they raised or whose next stage is theirs (HAR 2.11).

Read from the audit and dispute services' own rules (``core.workflow``'s
available steps for what the person holds), so the home never offers a
step the audit or dispute page would refuse. No storage of its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core import workflow as wf
from core.db.tables import Dispute, Person
from core.definitions.model import RELATIONS
from core.services import audits, disputes
from core.services.context import Context

# A home lists what needs doing now; the rest is on the pages it links to.
SHOWN = 20


def _relation_refs(ctx: Context) -> set[str]:
    """The relations (not roles) the council's audit workflows hand a step to,
    other than the auditor's own."""
    refs: set[str] = set()
    for (key, _), supplied in ctx.registry.workflows.items():
        if not key.startswith(f"{ctx.actor.council}:") or key.endswith(":dispute"):
            continue
        for t in supplied.value.transitions:
            refs.update(r for r in t.by if r in ("practitioner", "team_manager", "case_chair"))
    return refs


def may_await_decisions(ctx: Context) -> bool:
    """Whether the council's audit workflows give anyone like the actor a step
    on someone else's audit: a section that can never fill is not shown."""
    council = ctx.registry.council(ctx.actor.council)
    refs = _relation_refs(ctx)
    mine = set()
    if ctx.actor.role == council.team_manager_role.split(":")[-1]:
        mine.add("team_manager")
    if ctx.actor.role == council.practitioner_role.split(":")[-1]:
        mine.add("practitioner")
    if "case_chair" in refs and ctx.actor.can("audit"):
        mine.add("case_chair")
    return bool(refs & mine)


async def awaiting_my_decision(ctx: Context) -> list[audits.Summary]:
    """Audits not mine to fill in whose next step the workflow gives me by a
    relation to the case (its practitioner, team manager or chair)."""
    assert ctx.actor
    if not may_await_decisions(ctx):
        return []
    me = ctx.actor.person_id
    finals = sorted(audits._final_states(ctx))
    team = (await Person.select(Person.team).where(Person.id == me).first() or {}).get("team")
    council = ctx.registry.council(ctx.actor.council)
    manages_team = ctx.actor.role == council.team_manager_role.split(":")[-1] and team is not None
    rows = await audits._rows(
        f"WHERE a.organisation = {{}} AND a.auditor <> {{}} AND a.state NOT IN ({audits._marks(finals)})"
        " AND (c.allocated_worker = {} OR c.chair = {}" + (" OR c.team = {}" if manages_team else "") + ")"
        " ORDER BY COALESCE(a.state_due_at, a.due_at), a.id",
        ctx.actor.organisation_id, me, *finals, me, me, *([team] if manages_team else []),
    )
    found = []
    for row in rows:
        _, workflow = audits._definitions(ctx, row)
        people = await audits.relations_of(ctx, row)
        held = {relation for relation, who in people.items() if who == me and relation != "auditor"}
        if any(t.key != "start" for t in wf.available(workflow, row["state"], held)):
            found.append(audits._summary(ctx, row))
        if len(found) >= SHOWN:
            break
    return found


@dataclass(frozen=True, slots=True)
class DisputeLine:
    id: int
    case: str
    stage: str
    awaiting_me: bool
    raised_by_me: bool
    due_at: dt.datetime | None


def has_disputes(ctx: Context) -> bool:
    """The council has a dispute process and the actor may raise a dispute
    (a case's practitioner or team manager) or is named in it."""
    council = ctx.registry.council(ctx.actor.council)
    qualified = ctx.registry.qualify(ctx.actor.council, "dispute", ctx.registry.workflows)
    if qualified is None:
        return False
    if ctx.actor.role in (council.practitioner_role.split(":")[-1], council.team_manager_role.split(":")[-1]):
        return True
    return ctx.actor.role in disputes._roles_in(ctx.registry.workflow(qualified)) or ctx.actor.can("qa_review")


async def my_disputes(ctx: Context) -> list[DisputeLine]:
    """Open disputes the actor raised or whose next stage is theirs, the
    ones awaiting them first."""
    assert ctx.actor
    if not has_disputes(ctx):
        return []
    me = ctx.actor.person_id
    qualified = ctx.registry.qualify(ctx.actor.council, "dispute", ctx.registry.workflows)
    named = set().union(*(disputes._roles_in(supplied.value) for (key, _), supplied in ctx.registry.workflows.items()
                          if key == qualified))
    if ctx.actor.role in RELATIONS or ctx.actor.role not in named:
        # The process names nobody of the actor's role: a dispute awaits them
        # only by a relation to its audit (``disputes._people_and_held``), or
        # they raised it. Only those are looked at, not every open dispute of
        # the council (each a dozen queries to check).
        team = (await Person.select(Person.team).where(Person.id == me).first() or {}).get("team")
        council = ctx.registry.council(ctx.actor.council)
        manages = ctx.actor.role == council.team_manager_role.split(":")[-1] and team is not None
        rows = await Dispute.raw(
            "SELECT d.id AS id FROM dispute d JOIN allocation a ON a.id = d.allocation"
            " LEFT JOIN child_case c ON c.id = a.child_case LEFT JOIN person sp ON sp.id = a.subject_person"
            " WHERE d.organisation = {} AND d.outcome = '' AND (d.raised_by = {} OR a.auditor = {}"
            " OR a.subject_person = {} OR c.allocated_worker = {} OR c.chair = {}"
            + (" OR COALESCE(c.team, sp.team) = {}" if manages else "") + ")"
            " ORDER BY d.state_due_at, d.id LIMIT 200",
            ctx.actor.organisation_id, me, me, me, me, me, *([team] if manages else []),
        )
        if not rows:
            return []
        order = {r["id"]: i for i, r in enumerate(rows)}
        rows = await Dispute.select().where(Dispute.id.is_in(list(order))).output(load_json=True)
        rows.sort(key=lambda r: order[r["id"]])
    else:
        rows = await Dispute.select().where(
            (Dispute.organisation == ctx.actor.organisation_id) & (Dispute.outcome == "")
        ).order_by(Dispute.state_due_at).order_by(Dispute.id).limit(200).output(load_json=True)
    found = []
    # Every open dispute's audit judged together, not five queries each (issue 19).
    for view in await disputes.standings(ctx, rows):
        awaiting = bool(view["transitions"])
        mine = view["dispute"]["raised_by"] == ctx.actor.person_id
        if awaiting or mine:
            found.append(DisputeLine(
                id=view["dispute"]["id"], case=view["row"]["case_external_id"], stage=view["state_label"],
                awaiting_me=awaiting, raised_by_me=mine, due_at=view["dispute"]["state_due_at"],
            ))
    found.sort(key=lambda d: not d.awaiting_me)
    return found[:SHOWN]
