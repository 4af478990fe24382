"""The audit lifecycle: my audits, filling in, submitting, QA moderation.

Visibility is least privilege: the allocated auditor sees their own
allocation, as do a joint audit's co-auditors (PLAT-4: they edit it too;
the lead alone submits); the practitioner and team manager of the case see it once it is
final (HAR 2.6: the report goes to them after QA); roles with
``view_all_audits`` see every audit of their organisation. Anything else is
"not found", so nobody learns that an allocation exists.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import msgspec

from core import workflow as wf
from core.calendar import to_london
from core.db import bulk
from core.db.engine import transaction
from core.db.tables import Allocation, AllocationAuditor, Deadline, Grade, Person, Review
from core.definitions.model import RELATIONS, AuditForm, Transition, Workflow
from core.forms import FormFields, SectionStatus, Window, clean, fields_of, problems_for_submit, section_statuses
from core.escalation import EscalationEvent
from core.grading import compare, rank
from core.services import escalations, month_counts, notifications, standing_grades, subjects, trail
from core.services.context import Context
from core.services.errors import Conflict, Forbidden, Invalid, NotFound

# An allocation with what the services need of its case, team, auditor,
# cycle and council, as SQL written once: Piccolo rebuilds a joined select on
# every call (≈2 ms of Python each, measured on the audit pages), and these
# are the queries every page view runs.
def _row_sql(listing: bool) -> str:
    skip = {"answers", "reason"} if listing else set()
    columns = ", ".join(f"a.{c._meta.db_column_name}" for c in Allocation._meta.columns if c._meta.db_column_name not in skip)
    return (
        # Issue 13: an audit on a person (``sp``) has no case: its team is
        # the person's, and the person is its "practitioner" (the worker
        # observed is told, and sees it once final, as a case's worker does).
        f"SELECT {columns}, c.external_id AS case_external_id, c.category AS case_category,"
        " COALESCE(c.team, sp.team) AS case_team,"
        " t.name AS case_team_name, COALESCE(sp.id, c.allocated_worker) AS practitioner_id, c.chair AS case_chair_id,"
        " c.involvement_started_on AS involvement_started_on, au.display_name AS auditor_name,"
        " sp.display_name AS subject_person_name,"
        " cy.year AS cycle_year, cy.month AS cycle_month, o.council AS council,"
        # Issue 14: an agency's return names its agency and the request it answers.
        " ag.name AS agency_name, ar.title AS request_title"
        " FROM {source} LEFT JOIN child_case c ON c.id = a.child_case"
        " LEFT JOIN agency ag ON ag.id = a.agency LEFT JOIN agency_request ar ON ar.id = a.agency_request"
        " LEFT JOIN person sp ON sp.id = a.subject_person LEFT JOIN team t ON t.id = COALESCE(c.team, sp.team)"
        " LEFT JOIN person au ON au.id = a.auditor LEFT JOIN cycle cy ON cy.id = a.cycle"
        " LEFT JOIN organisation o ON o.id = a.organisation"
    )


_ROW_SQL = _row_sql(listing=False)
_LIST_SQL = _row_sql(listing=True)


def _marks(values: list) -> str:
    return ", ".join("{}" for _ in values) or "NULL"


# Issue 19 item 1: a list named by a few ids (a person's audits, a team's
# cases') starts from those ids. Written as ``a.id IN (…)`` beside the nine
# joined tables, PostgreSQL (``join_collapse_limit`` 8) joined every final
# audit of the council first and matched the ids last: 85-440 ms at scale 1.
# ``FROM (ids) k JOIN allocation a`` fixes the order on both databases.
async def _rows(tail: str, *args, listing: bool = True, registry=None, ids: str | None = None) -> list[dict]:
    """Allocation rows ``WHERE …`` as ``tail`` says (without answers and
    reason when ``listing``), each with its subject in words (``subjects.describe``).
    ``ids``, SQL selecting allocation ids (its arguments first in ``args``),
    is where the rows start from."""
    source = "allocation a" if ids is None else f"({ids}) k JOIN allocation a ON a.id = k.id"
    head = (_LIST_SQL if listing else _ROW_SQL).replace("{source}", source, 1)
    rows = await Allocation.raw(f"{head} {tail}", *args)
    for row in rows:
        if not listing and isinstance(row["answers"], str):
            row["answers"] = json.loads(row["answers"])
        if isinstance(row.get("confirmed"), str):
            row["confirmed"] = json.loads(row["confirmed"])
        subjects.describe(row, registry)
    return rows


async def _row(allocation_id: int, registry=None) -> dict | None:
    rows = await _rows("WHERE a.id = {}", allocation_id, listing=False, registry=registry)
    return rows[0] if rows else None


class Summary(msgspec.Struct, kw_only=True, frozen=True):
    """One line of a list of audits; also the API's shape for it."""

    id: int
    case_external_id: str  # "" for an audit on a person or a meeting without a case (issue 13)
    case_category: str
    kind: str
    state: str
    state_label: str
    due_at: dt.datetime
    state_due_at: dt.datetime | None
    auditor_name: str
    cycle: str
    team_name: str
    # What it is on, for a list: the case number, the person's name, or the
    # meeting and its date (issue 13).
    subject: str = ""


@dataclass(slots=True)
class AuditView:
    row: dict
    form: AuditForm
    workflow: Workflow
    fields: FormFields
    answers: dict[str, str]
    relations: set[str]
    transitions: list[Transition]
    editable: bool
    state_label: str
    grade_chain: list[dict]
    reviews: list[dict]
    scope_from: dt.date | None
    scope_months: int | None = None  # the form's look-back ("the preceding six months", HAR 2.3)
    # PLAT-3: the window its work looks back over, in words with its dates
    # (shown where the form sets no scope of its own, ``scope_from``).
    window: str = ""
    co_auditors: tuple[dict, ...] = ()  # PLAT-4: a joint audit's co-auditors, {id, name}
    # Issue 14, PLAT-8: an agency's return's carried-forward answers
    # (``agency_requests.Carried``), None for any other audit.
    carried: object | None = None
    # Issue 17: the answers qaf fills from the record (field name: value),
    # shown, not asked; what a submission would still refuse (field name:
    # message); each section's status for the task list.
    facts: dict | None = None
    problems: dict | None = None
    task_list: tuple[SectionStatus, ...] = ()

    @property
    def audited_by(self) -> str:
        """ "Ann Lead", or "Ann Lead with Bob Co and Cat Co" for a joint audit."""
        from core.services.joint import names

        lead = self.row["auditor_name"]
        return f"{lead} with {names([c['name'] for c in self.co_auditors])}" if self.co_auditors else lead

    @property
    def id(self) -> int:
        return self.row["id"]

    @property
    def revision(self) -> int:
        return self.row["revision"]


def _namespace(row: dict) -> str:
    return row["council"]


def _definitions(ctx: Context, row: dict) -> tuple[AuditForm, Workflow]:
    form = ctx.registry.form(row["form_key"], row["form_version"])
    workflow = ctx.registry.workflow(row["workflow_key"], row["workflow_version"])
    return form, workflow


async def _team_manager(ctx: Context, row: dict) -> int | None:
    council = ctx.registry.council(row["council"])
    if row["case_team"] is None:
        return None
    manager = (
        await Person.select(Person.id)
        .where(
            (Person.team == row["case_team"])
            & (Person.role == council.team_manager_role.split(":")[-1])
            & (Person.active == True)  # noqa: E712
        )
        .order_by(Person.id)
        .first()
    )
    return manager["id"] if manager else None


async def load_row(allocation_id: int, registry=None) -> dict | None:
    """An allocation with what the services need to know about its case and people."""
    return await _row(allocation_id, registry)


async def relations_of(ctx: Context, row: dict) -> dict[str, int | None]:
    return await _relations(ctx, row)


async def _relations(ctx: Context, row: dict) -> dict[str, int | None]:
    return _people(row, await _team_manager(ctx, row))


def _people(row: dict, team_manager: int | None) -> dict[str, int | None]:
    return {
        "auditor": row["auditor"],
        "practitioner": row["practitioner_id"],
        "team_manager": team_manager,
        "case_chair": row["case_chair_id"],
    }


def _held(ctx: Context, people: dict[str, int | None]) -> set[str]:
    assert ctx.actor
    held = {relation for relation, person in people.items() if person == ctx.actor.person_id}
    # A role key that is also a relation's name ("practitioner", "team_manager")
    # always means the relation in a workflow: being a team manager somewhere
    # must not make someone this case's team manager.
    if ctx.actor.role not in RELATIONS:
        held.add(ctx.actor.role)
    return held


async def _load(ctx: Context, allocation_id: int) -> tuple[dict, dict[str, int | None], set[str]]:
    """The allocation, its people and what the actor holds; NotFound if not visible."""
    assert ctx.actor
    if ctx.reads_only:
        key = ("allocation", allocation_id)
        if key not in ctx.loaded:
            ctx.loaded[key] = await _load_fresh(ctx, allocation_id)
        row, people, held = ctx.loaded[key]
        return row, people, set(held)
    return await _load_fresh(ctx, allocation_id)


async def _load_fresh(ctx: Context, allocation_id: int) -> tuple[dict, dict[str, int | None], set[str]]:
    assert ctx.actor
    row = await _row(allocation_id, ctx.registry)
    if row is None or row["organisation"] != ctx.actor.organisation_id:
        raise NotFound("There is no audit with that number that you can see")
    people = await _relations(ctx, row)
    co_auditor = False
    if "auditor" not in _held(ctx, people):
        from core.services.joint import is_co_auditor

        co_auditor = await is_co_auditor(allocation_id, ctx.actor.person_id)
    return await _judged(ctx, row, people, co_auditor)


async def visible_many(ctx: Context, allocation_ids, unseen: dict | None = None
                       ) -> dict[int, tuple[dict, dict[str, int | None], set[str]]]:
    """``visible`` for many audits at once (the QA home's open disputes, issue
    19): their rows, team managers and the actor's co-auditing in three
    queries, each then judged as ``visible`` judges one. The audits the actor
    may not see are left out (into ``unseen``, as (row, people), when given)."""
    assert ctx.actor
    ids = sorted({int(i) for i in allocation_ids})
    if not ids:
        return {}
    rows = await _rows(f"WHERE a.id IN ({_marks(ids)})", *ids, listing=False, registry=ctx.registry)
    rows = [r for r in rows if r["organisation"] == ctx.actor.organisation_id]
    if not rows:
        return {}
    # Each case team's manager as ``_team_manager`` finds one: the active
    # holder of the council's team manager role with the lowest id.
    managers: dict[tuple[str, int], int] = {}
    by_role: dict[str, set[int]] = {}
    for row in rows:
        if row["case_team"] is not None:
            role = ctx.registry.council(row["council"]).team_manager_role.split(":")[-1]
            by_role.setdefault(role, set()).add(row["case_team"])
    for role, teams in by_role.items():
        for m in await Person.select(Person.id, Person.team).where(
            Person.team.is_in(sorted(teams)) & (Person.role == role) & (Person.active == True)  # noqa: E712
        ).order_by(Person.id):
            managers.setdefault((role, m["team"]), m["id"])
    co_audited = {r["allocation"] for r in await AllocationAuditor.select(AllocationAuditor.allocation).where(
        AllocationAuditor.allocation.is_in([r["id"] for r in rows]) & (AllocationAuditor.person == ctx.actor.person_id)
    )} if ctx.actor.person_id is not None else set()
    # The lines above every practitioner and auditor, a query per rung for
    # them all, before each audit is judged (``_judged`` climbs them; not for
    # those who see every audit, whom ``sees_every_audit_in`` answers first).
    if not ctx.actor.can("view_all_audits"):
        await ladder_of(ctx).load({r[k] for r in rows for k in ("practitioner_id", "auditor")})
    out = {}
    for row in rows:
        manager = None
        if row["case_team"] is not None:
            role = ctx.registry.council(row["council"]).team_manager_role.split(":")[-1]
            manager = managers.get((role, row["case_team"]))
        people = _people(row, manager)
        try:
            out[row["id"]] = await _judged(ctx, row, people, "auditor" not in _held(ctx, people) and row["id"] in co_audited)
        except NotFound:
            if unseen is not None:
                unseen[row["id"]] = (row, people)
            continue
    return out


def ladder_of(ctx: Context) -> escalations.Ladder:
    """The people up the line, read once per page view: a GET's services
    share one Context (``web.context.request_context``), so a list judging
    200 audits climbs each line once, not once per audit (issue 19: a
    service manager's home judged 200 open disputes, 600 ms). A change gets
    a fresh one: it must see the line as it is now."""
    if not ctx.reads_only:
        return escalations.Ladder()
    return ctx.loaded.setdefault(("ladder",), escalations.Ladder())


async def _judged(ctx: Context, row: dict, people: dict[str, int | None], co_auditor: bool
                  ) -> tuple[dict, dict[str, int | None], set[str]]:
    """What the actor holds of the audit ``row`` with its ``people``; NotFound if they may not see it."""
    held = _held(ctx, people)
    if co_auditor:
        held.add("co_auditor")  # PLAT-4: not "auditor": no workflow step of the lead's is theirs
    _, workflow = _definitions(ctx, row)
    is_final = wf.state(workflow, row["state"]).final
    if row.get("agency") is not None and await _of_agency(ctx, row["agency"]):
        # CSCP-1, PLAT-7: an agency's lead and respondents see (every state)
        # their own agency's returns, and no other agency's.
        held.add("agency_member")
    visible = (
        "auditor" in held
        or "co_auditor" in held
        or "agency_member" in held
        # Issue 16, case 1: every audit of the council, but drafts in progress
        # only for the QA administrators (HAR 2.12, 2.15: they allocate, chase
        # and reassign); the view-only roles (BED DMT, SLT; COV's Strategic
        # Lead; CSCP's Audit Chair) read what left the auditor's hands.
        or sees_every_audit_in(ctx.actor, workflow, row["state"])
        # By relation, not role: ``held`` also holds the role key, and every
        # practitioner's role is "practitioner".
        or (is_final and ctx.actor.person_id in (people.get("practitioner"), people.get("team_manager")))
        # Those who quality-assure see what awaits them (in this audit's own
        # workflow) and what it became; a reviewer without ``view_all_audits``
        # (BED's head of service) only in their own line (issue 16, case 2).
        or (ctx.actor.can("qa_review") and (row["state"] in _reviewable_states(workflow, ctx.actor.role) or is_final)
            and (ctx.actor.can("view_all_audits") or await in_reviewers_line(ctx.actor, row, ladder_of(ctx))))
        # Managers up the practitioner's line (service manager, head of service,
        # AD) see a final audit their escalations point them to (HAR 2.14).
        or (is_final and ctx.actor.person_id in await ladder_of(ctx).chain_above(people.get("practitioner")))
        # Whoever the workflow hands the audit to now, by a relation they hold
        # (BED-11: the case's team manager an Independent Chair escalates to).
        or any(
            t.key != "start"
            for t in wf.available(workflow, row["state"], {r for r, who in people.items() if who == ctx.actor.person_id})
        )
    )
    if not visible:
        raise NotFound("There is no audit with that number that you can see")
    return row, people, held


def sees_every_audit_in(actor, workflow: Workflow, state: str) -> bool:
    """Issue 16, case 1: ``view_all_audits`` reads every audit of the council
    in ``state``. With ``administer`` (the QA administrators, HAR 2.12, 2.15)
    in every state; without it (BED ``dmt``, ``slt``, ``chief_officer``,
    ``director``; COV ``strategic_improvement_lead``; CSCP ``audit_chair``)
    only once the audit has left the auditor's hands: never a draft in
    progress (BED s.3 sends DMT reports and completed audits, not drafts)."""
    if not actor.can("view_all_audits"):
        return False
    return actor.can("administer") or state not in _editable_states(workflow)


async def in_reviewers_line(actor, row: dict, ladder=None) -> bool:
    """Issue 16, case 2: a reviewer without ``view_all_audits`` (BED's head of
    service, BED s.3: "review the audits completed within the service")
    reviews only their own line's audits: they manage, up the line, the
    audit's practitioner (the case's worker or the person it is on) or its
    auditor.

    The one exception is the notifications' own fallback
    (``escalations.Ladder.nearest``, anchored on the practitioner as
    ``_recipients`` is): when nobody active up the practitioner's line holds
    the reviewer's role, every holder of it is told, so each may open it
    (issue 16, case 5: whoever is told can open it). The QA state itself
    always has reviewers who see the whole council (BED: the S&QA team, the
    Chief Officer and the Director). An audit on nobody (a meeting
    observation) has no practitioner's line to fall back from: only the
    auditor's line (no Bedford workflow tells a head of service about one)."""
    ladder = ladder or escalations.Ladder()
    for start in (row.get("practitioner_id"), row.get("auditor")):
        if start is not None and actor.person_id in await ladder.chain_above(start):
            return True
    if row.get("practitioner_id") is None:
        return False
    return actor.person_id in await ladder.nearest(row["organisation"], row["practitioner_id"], actor.role)


def _reviewable_states(workflow: Workflow, role: str) -> set[str]:
    """The states of ``workflow`` a step out of which is given to ``role``."""
    return {state for t in workflow.transitions if role in t.by for state in t.from_}


async def _of_agency(ctx: Context, agency_id: int) -> bool:
    from core.services.agency_requests import agency_of

    return await agency_of(ctx) == agency_id


def _may_edit(workflow: Workflow, row: dict, held: set[str]) -> bool:
    """The auditor and co-auditors while it is a draft; an agency's
    respondent while the agency drafts its return (PLAT-7: not once it is
    with the agency's signatory)."""
    if {"auditor", "co_auditor"} & held:
        return row["state"] in _editable_states(workflow)
    return "agency_member" in held and "agency_respondent" in held and row["state"] == workflow.initial


async def visible(ctx: Context, allocation_id: int) -> tuple[dict, dict[str, int | None], set[str]]:
    """The allocation, its people and what the actor holds; NotFound if not visible."""
    return await _load(ctx, allocation_id)


def _review_states(ctx: Context) -> set[str]:
    """States in which the actor's role may act on others' audits (the QA queue)."""
    assert ctx.actor
    states: set[str] = set()
    for (key, _), supplied in ctx.registry.workflows.items():
        if not key.startswith(f"{ctx.actor.council}:"):
            continue
        for transition in supplied.value.transitions:
            if ctx.actor.role in transition.by:
                states.update(transition.from_)
    return states


def _editable_states(workflow: Workflow) -> set[str]:
    states = {workflow.initial}
    for transition in workflow.transitions:
        if "auditor" in transition.by:
            states.update(transition.from_)
    return states


def _summary(ctx: Context, row: dict) -> Summary:
    _, workflow = _definitions(ctx, row)
    return Summary(
        id=row["id"],
        case_external_id=row["case_external_id"] or "",
        case_category=row["case_category"] or "",
        kind=row["kind"],
        state=row["state"],
        state_label=wf.state(workflow, row["state"]).label,
        due_at=row["due_at"],
        state_due_at=row["state_due_at"],
        auditor_name=row["auditor_name"],
        cycle=f"{row['cycle_year']}-{row['cycle_month']:02d}" if row["cycle_year"] else "",
        team_name=row["case_team_name"] or "",
        subject=row["subject_short"],
    )


# Finished audits are listed newest first, a page at a time: an auditor's ten
# years of audits is no page, and nobody reads past the first screen.
COMPLETED_PAGE = 20


class CompletedPage(msgspec.Struct, kw_only=True, frozen=True):
    """One page of finished audits, newest first; ``older`` is the cursor of the next."""

    items: list[Summary]
    older: int | None


async def _completed(ctx: Context, where: str, args: list, before: int | None, limit: int,
                     ids: str | None = None, ids_args: tuple = ()) -> CompletedPage:
    """Final audits matching ``where`` (SQL over ``a``), or among ``ids``,
    newest first, keyset-paged by (finalised_at, id) so a late page costs
    what the first does."""
    assert ctx.actor
    finals = sorted(_final_states(ctx))
    # ``where`` already names the actor's own audits or their organisation's
    # cases; repeating the organisation here would steer SQLite onto the
    # organisation-wide finalised_at index, walking every final audit.
    where = f"({where}) AND a.state IN ({_marks(finals)})" if where else f"a.state IN ({_marks(finals)})"
    args = [*args, *finals]
    if before is not None:
        anchor = await Allocation.select(Allocation.finalised_at).where(
            (Allocation.id == before) & (Allocation.organisation == ctx.actor.organisation_id)
        ).first()
        if anchor is None or anchor["finalised_at"] is None:
            raise NotFound("No such page of audits")
        where += " AND (a.finalised_at < {} OR (a.finalised_at = {} AND a.id < {}))"
        args += [anchor["finalised_at"], anchor["finalised_at"], before]
    rows = await _rows(f"WHERE {where} ORDER BY a.finalised_at DESC, a.id DESC LIMIT {int(limit) + 1}", *ids_args, *args,
                       registry=ctx.registry, ids=ids)
    items = [_summary(ctx, row) for row in rows[:limit]]
    return CompletedPage(items=items, older=items[-1].id if len(rows) > limit else None)


# The actor's audits: those they lead, and joint audits they co-audit (PLAT-4).
_MINE = "SELECT a1.id FROM allocation a1 WHERE a1.auditor = {} UNION SELECT aa.allocation FROM allocation_co_auditor aa WHERE aa.person = {}"


async def my_open(ctx: Context) -> list[Summary]:
    """The auditor's allocations still to do, soonest due first: by the
    current step's deadline where it has one (returned for revision: the
    revision's), else the allocation's."""
    assert ctx.actor
    finals = sorted(_final_states(ctx))
    rows = await _rows(
        f"WHERE a.state NOT IN ({_marks(finals)}) ORDER BY COALESCE(a.state_due_at, a.due_at), a.id",
        ctx.actor.person_id, ctx.actor.person_id, *finals, registry=ctx.registry, ids=_MINE,
    )
    return [_summary(ctx, row) for row in rows]


async def my_allocations(ctx: Context) -> list[Summary]:
    """The auditor's allocations still to do, soonest due first, then the
    most recently finished (the rest are on ``my_completed``'s pages)."""
    return await my_open(ctx) + (await my_completed(ctx)).items


async def my_completed(ctx: Context, before: int | None = None, limit: int | None = None) -> CompletedPage:
    """The auditor's own finished audits, newest first, a page at a time."""
    assert ctx.actor
    return await _completed(ctx, "a.auditor = {}", [ctx.actor.person_id], before, limit or COMPLETED_PAGE)


async def audits_of_my_cases(ctx: Context, before: int | None = None, limit: int | None = None) -> CompletedPage:
    """Final audits of cases the actor works or manages (HAR 2.6), newest first."""
    assert ctx.actor
    council = ctx.registry.council(ctx.actor.council)
    me = ctx.actor.person_id
    cases = "cc.allocated_worker = {}"
    args: list = [ctx.actor.organisation_id, me]
    if ctx.actor.role == council.team_manager_role.split(":")[-1]:
        cases += " OR cc.team = (SELECT p.team FROM person p WHERE p.id = {})"
        args.append(me)
    # The audits are found from the cases (a team's few hundred, by index)
    # and the audits on the actor themselves (issue 13: an observation of
    # their practice), by id: written as an OR beside the final states,
    # SQLite (with no statistics, as qaf runs, or with them) walked every
    # final audit of the council by ``allocation_state`` instead.
    ids = (
        "SELECT a2.id FROM allocation a2 WHERE a2.child_case IN (SELECT cc.id FROM child_case cc"
        f" WHERE cc.organisation = {{}} AND ({cases}))"
        " UNION SELECT a3.id FROM allocation a3 WHERE a3.subject_person = {}"
    )
    return await _completed(ctx, "", [], before, limit or COMPLETED_PAGE, ids=ids, ids_args=(*args, me))


def _final_states(ctx: Context) -> set[str]:
    assert ctx.actor
    return {
        state.key
        for (key, _), supplied in ctx.registry.workflows.items()
        if key.startswith(f"{ctx.actor.council}:")
        for state in supplied.value.states
        if state.final
    }


# The QA queue's page: the oldest first, the rest a page at a time (a large
# council has hundreds waiting at the month's end).
QA_PAGE = 50


def _queue_states(ctx: Context) -> list[str]:
    assert ctx.actor
    if not ctx.actor.can("qa_review"):
        raise Forbidden("Only the QA team sees the QA queue")
    return sorted(_review_states(ctx) - _editable_states_for_council(ctx))


def _queue_filtered(ctx: Context) -> bool:
    """Whether the queue shows less than every audit in its states: some
    workflow of the council gives the actor's role no step out of one of
    them, or the actor reviews only their own line (issue 16, case 2)."""
    assert ctx.actor
    if not ctx.actor.can("view_all_audits"):
        return True
    states = set(_queue_states(ctx))
    return any(
        states & {s.key for s in supplied.value.states} - _reviewable_states(supplied.value, ctx.actor.role)
        for (key, _), supplied in ctx.registry.workflows.items()
        if key.startswith(f"{ctx.actor.council}:")
    )


async def of_organisation(ctx: Context, allocation_id: int) -> bool:
    """Whether ``allocation_id`` is an audit of the actor's organisation (a
    page cursor's check: it says nothing of what the audit holds)."""
    assert ctx.actor
    return bool(await bulk.fetch("SELECT 1 FROM allocation WHERE id = {} AND organisation = {}",
                                 allocation_id, ctx.actor.organisation_id))


async def qa_queue(ctx: Context, limit: int | None = None, after: int | None = None) -> list[Summary]:
    """Audits waiting for the actor's QA decision, oldest first: all of them,
    or ``limit`` after the audit ``after`` (keyset by (updated_at, id), through
    ``allocation_org_state``).

    Only what the actor may open and review: the state is one their role
    steps out of in the audit's own workflow; a reviewer without
    ``view_all_audits`` only their own line's (issue 16, case 2). Rows are
    read a page at a time until ``limit`` of them pass."""
    states = _queue_states(ctx)
    filtered = _queue_filtered(ctx)
    ladder = escalations.Ladder()
    out: list[Summary] = []
    while True:
        where = f"WHERE a.organisation = {{}} AND a.state IN ({_marks(states)})"
        args: list = [ctx.actor.organisation_id, *states]
        if after is not None:
            where += (" AND (a.updated_at > (SELECT b.updated_at FROM allocation b WHERE b.id = {})"
                      " OR (a.updated_at = (SELECT b.updated_at FROM allocation b WHERE b.id = {}) AND a.id > {}))")
            args += [after, after, after]
        chunk = None if limit is None else max(limit, QA_PAGE) * 2
        tail = f" LIMIT {chunk}" if chunk is not None else ""
        rows = await _rows(f"{where} ORDER BY a.updated_at, a.id{tail}", *args, registry=ctx.registry)
        for row in rows:
            if filtered:
                _, workflow = _definitions(ctx, row)
                if row["state"] not in _reviewable_states(workflow, ctx.actor.role):
                    continue
                if not ctx.actor.can("view_all_audits") and not await in_reviewers_line(ctx.actor, row, ladder):
                    continue
            out.append(_summary(ctx, row))
            if limit is not None and len(out) == limit:
                return out
        if chunk is None or len(rows) < chunk:
            return out
        after = rows[-1]["id"]


async def qa_queue_count(ctx: Context) -> int:
    """How many audits wait for the actor's QA decision: a range of
    ``allocation_org_state`` when the queue shows every audit in its states,
    else the queue itself counted."""
    if _queue_filtered(ctx):
        return len(await qa_queue(ctx))
    states = _queue_states(ctx)
    rows = await Allocation.raw(
        f"SELECT COUNT(*) AS n FROM allocation a WHERE a.organisation = {{}} AND a.state IN ({_marks(states)})",
        ctx.actor.organisation_id, *states,
    )
    return int(rows[0]["n"])


# Issue 19 item 4: a reviewer who sees part of the queue (BED's head of
# service, issue 16 case 2) has it counted by reading it, audit by audit; the
# pages read no further than this and then say "more than".
QA_COUNTED_UP_TO = 500


async def qa_queue_waiting(ctx: Context, up_to: int | None = None) -> tuple[int, bool]:
    """How many audits wait for the actor's QA decision, for a page: the
    number, and whether there are more than it (a filtered queue is read only
    until ``up_to`` + 1 audits pass; the whole queue is counted from the index)."""
    up_to = QA_COUNTED_UP_TO if up_to is None else up_to
    if _queue_filtered(ctx):
        found = len(await qa_queue(ctx, limit=up_to + 1))
        return (up_to, True) if found > up_to else (found, False)
    return await qa_queue_count(ctx), False


def _editable_states_for_council(ctx: Context) -> set[str]:
    assert ctx.actor
    out: set[str] = set()
    for (key, _), supplied in ctx.registry.workflows.items():
        if key.startswith(f"{ctx.actor.council}:"):
            out |= _editable_states(supplied.value)
    return out


async def audit_view(ctx: Context, allocation_id: int) -> AuditView:
    row, people, held = await _load(ctx, allocation_id)
    form, workflow = _definitions(ctx, row)
    state = wf.state(workflow, row["state"])
    editable = _may_edit(workflow, row, held)
    grade_chain = (
        await Grade.select(
            Grade.phase, Grade.domain, Grade.level, Grade.evidence, Grade.set_at, Grade.set_by.display_name.as_alias("set_by_name")
        )
        .where(Grade.allocation == allocation_id)
        .order_by(Grade.set_at)
        .order_by(Grade.id)
    )
    reviews = (
        await Review.select(Review.decision, Review.reason, Review.created_at, Review.reviewer.display_name.as_alias("reviewer_name"))
        .where(Review.allocation == allocation_id)
        .order_by(Review.created_at)
    )
    scope_from = None
    if form.scope_months:
        # HAR 2.3: six months before the cycle, or from when involvement began.
        start = (row["created_at"] - dt.timedelta(days=round(form.scope_months * 30.44))).date()
        began = row["involvement_started_on"]
        scope_from = max(start, began) if began else start
    form_fields = fields_of(ctx.registry, _namespace(row), form, row["kind"])
    carried = None
    if row.get("carried_from"):
        from core.services.agency_requests import carried as carried_answers

        levels = tuple((lvl.key, lvl.label) for lvl in form_fields.scale.levels) if form_fields.scale else ()
        carried = await carried_answers(row, {f.name: f for f in form_fields.fields}, levels)
    return AuditView(
        row=row,
        form=form,
        workflow=workflow,
        fields=form_fields,
        answers=dict(row["answers"] or {}),
        relations=held,
        transitions=[t for t in wf.available(workflow, row["state"], held) if t.key != "start"],
        editable=editable,
        state_label=state.label,
        grade_chain=grade_chain,
        reviews=reviews,
        scope_from=scope_from,
        scope_months=form.scope_months,
        window=await _work_window(ctx, row),
        co_auditors=tuple(await _co_auditors(allocation_id)),
        carried=carried,
        **(await _progress(ctx, row, people, form, form_fields) if editable else {}),
    )


async def _progress(ctx: Context, row: dict, people: dict, form: AuditForm, form_fields: FormFields) -> dict:
    """What an editable audit's page shows of its progress (issue 17): the
    record's facts, what a submission would refuse, each section's status."""
    facts = await record_facts(row, people, form_fields)
    answers = dict(row["answers"] or {}) | facts
    scheme = ctx.registry.scheme(ctx.registry.ref(_namespace(row), form.grading.scheme, "schemes")) if form.grading else None
    problems = problems_for_submit(form_fields, answers, scheme, await window(ctx, row))
    return {"facts": facts, "problems": problems, "task_list": tuple(section_statuses(form_fields, answers, problems, facts))}


async def _work_window(ctx: Context, row: dict) -> str:
    """PLAT-3: the look-back window of the work the audit counts towards."""
    if not row.get("work"):
        return ""
    from core.db.tables import Work
    from core.services.work import window_words

    found = await Work.select(Work.schedule_key, Work.due_on).where(Work.id == row["work"]).first()
    return window_words(ctx.registry, found["schedule_key"], found["due_on"]) if found else ""


async def _co_auditors(allocation_id: int) -> list[dict]:
    from core.services.joint import co_auditors

    return await co_auditors(allocation_id)


async def window(ctx: Context, row: dict) -> Window:
    """The days a date answer is checked against (issue 17): from the day the
    audit was allocated (nothing done for it happened before; BED App. A
    "Date of audit", HAR 2.4 "Date of the conversation") to today, in London.
    An audit started on the programme's work (an observation recorded after
    it was watched, BED App. C) counts from the start of the work's period."""
    start, since = to_london(row["created_at"]).date(), "when the audit was allocated"
    if row.get("work"):
        from core.db.tables import Work

        found = await Work.select(Work.starts_on).where(Work.id == row["work"]).first()
        if found and found["starts_on"] < start:
            start, since = found["starts_on"], "when the period of this work began"
    return Window(start=start, today=to_london(ctx.now).date(), since=since)


async def record_facts(row: dict, people: dict[str, int | None], form_fields: FormFields) -> dict[str, str]:
    """Issue 17: the answers qaf already holds, by field name, for the form's
    fields marked ``from_record`` (BED App. A section 1 asks again for the
    team, the worker, the category ...). A fact the record lacks is not
    given: the question is asked as before."""
    wanted = [f for f in form_fields.fields if f.from_record]
    if not wanted:
        return {}
    names: dict[int, str] = {}
    ids = [people.get(k) for k in ("practitioner", "team_manager") if people.get(k)]
    if ids:
        names = {p["id"]: p["display_name"] for p in await Person.select(Person.id, Person.display_name).where(Person.id.is_in(ids))}
    known = {
        "team": row.get("case_team_name") or "",
        "practitioner": names.get(people.get("practitioner") or 0, ""),
        "team_manager": names.get(people.get("team_manager") or 0, ""),
        "category": row.get("case_category") or "",
        "case_id": row.get("case_external_id") or "",
        "auditor": row.get("auditor_name") or "",
        "allocated_on": to_london(row["created_at"]).date().isoformat(),
    }
    out: dict[str, str] = {}
    for f in wanted:
        value = known[f.from_record]
        if value and (not f.options or value in {v for v, _ in f.options}):
            out[f.name] = value
    return out


def _with_facts(form_fields: FormFields, facts: dict[str, str], submitted: dict[str, object]) -> tuple[dict[str, object], dict[str, str]]:
    """The answers with the record's facts in them, and an error for each
    fact the person (or an API client) gave otherwise: an answer that
    contradicts the case is never saved (issue 17)."""
    out = dict(submitted)
    errors: dict[str, str] = {}
    fields = form_fields.by_name()
    for name, value in facts.items():
        typed = out.get(name)
        if isinstance(typed, str) and typed.strip() and typed.strip().casefold() != value.casefold():
            field = fields[name]
            shown = dict(field.options).get(value, value)
            errors[name] = f"{field.label} is {shown} on the case record, so it cannot be given as anything else"
        out[name] = value
    return out, errors


async def save_answers(
    ctx: Context, allocation_id: int, revision: int, submitted: dict[str, object], section: str | None = None
) -> int:
    """Save a draft. Returns the new revision. A save that did not start from
    the latest revision is refused (Conflict), never silently merged.
    ``section``: the answers are that section's only (issue 17: a section's
    own page); every other answer is kept as it was."""
    row, people, held = await _load(ctx, allocation_id)
    form, workflow = _definitions(ctx, row)
    if not ({"auditor", "co_auditor"} & held or {"agency_member", "agency_respondent"} <= held):
        raise Forbidden("Only the allocated auditor can fill in this audit")
    if not _may_edit(workflow, row, held):
        raise Conflict(f"This audit is {wf.state(workflow, row['state']).label.lower()} and can no longer be changed")
    # PLAT-8: "confirm.<field>" says a carried-forward answer is still right.
    confirming = {k.split(".", 1)[1] for k, v in submitted.items() if k.startswith("confirm.") and v}
    submitted = {k: v for k, v in submitted.items() if not k.startswith("confirm.")}
    form_fields = fields_of(ctx.registry, _namespace(row), form, row["kind"])
    before = dict(row["answers"] or {})
    if section is not None:
        if section not in {s.key for s in form_fields.sections} | ({"overall"} if form_fields.phases else set()):
            raise Invalid("There is no such section of this form", {"section": "There is no such section of this form"})
        of_section = {f.name for f in form_fields.fields if f.section == section}
        submitted = {k: v for k, v in before.items() if k not in of_section} | submitted
    submitted, contradicted = _with_facts(form_fields, await record_facts(row, people, form_fields), submitted)
    answers, errors = clean(form_fields, submitted, await window(ctx, row))
    errors = contradicted | errors
    if errors:
        raise Invalid("Some answers could not be saved", errors)
    changes = {
        name: [before.get(name), answers.get(name)]
        for name in sorted(set(before) | set(answers))
        if before.get(name) != answers.get(name)
    }
    confirmed_before = list(row.get("confirmed") or [])
    newly_confirmed = sorted(confirming - set(confirmed_before)) if row.get("carried_from") else []
    if not changes and not newly_confirmed and revision == row["revision"] and row["state"] != workflow.initial:
        return revision  # nothing changed: no new revision, no empty trail row
    async with transaction():
        values = {
            Allocation.answers: answers,
            Allocation.revision: revision + 1,
            Allocation.updated_at: ctx.now,
        }
        if newly_confirmed:
            values[Allocation.confirmed] = confirmed_before + newly_confirmed
        start = _start_transition(workflow, row["state"])
        if start is not None:
            values[Allocation.state] = start.to
        updated = (
            await Allocation.update(values)
            .where((Allocation.id == allocation_id) & (Allocation.revision == revision))
            .returning(Allocation.id)
        )
        if not updated:
            raise Conflict(
                "This audit was saved somewhere else (another tab or window) after you opened it. "
                "Your answers have not been saved: copy anything you need, then reload the page."
            )
        if start is not None:
            await trail.record(
                ctx,
                organisation_id=row["organisation"],
                entity="allocation",
                entity_id=allocation_id,
                action=f"transition:{start.key}",
                changes={"state": [row["state"], start.to]},
            )
        await trail.record(
            ctx,
            organisation_id=row["organisation"],
            entity="allocation",
            entity_id=allocation_id,
            action="answers_saved",
            changes={"revision": [revision, revision + 1], "answers": changes,
                     **({"confirmed": newly_confirmed} if newly_confirmed else {})},
        )
    return revision + 1


def _start_transition(workflow: Workflow, current: str) -> Transition | None:
    """The auditor's first save of an untouched allocation starts it."""
    if current != workflow.initial:
        return None
    for transition in workflow.transitions:
        if current in transition.from_ and "auditor" in transition.by and transition.key != "submit":
            return transition
    return None


async def submit(ctx: Context, allocation_id: int, revision: int | None = None) -> None:
    row, people, held = await _load(ctx, allocation_id)
    form, workflow = _definitions(ctx, row)
    chosen = _check(workflow, row, "submit", held)
    if revision is not None and revision != row["revision"]:
        raise Conflict("This audit changed after you opened it; reload the page before submitting")
    form_fields = fields_of(ctx.registry, _namespace(row), form, row["kind"])
    stored = dict(row["answers"] or {})
    # What is submitted is the record's facts (a draft saved before they
    # were filled from it may hold other words: the record's replace them).
    answers, _ = _with_facts(form_fields, await record_facts(row, people, form_fields), stored)
    scheme = ctx.registry.scheme(ctx.registry.ref(_namespace(row), form.grading.scheme, "schemes")) if form.grading else None
    errors = problems_for_submit(form_fields, answers, scheme, await window(ctx, row))
    if errors:
        raise Invalid("The audit is not ready to submit", errors)
    async with transaction():
        grades = [
            _grade_row(ctx, row, form_fields, phase, domain, answers)
            for phase in form_fields.phases
            for domain, _ in form_fields.domains()
        ]
        if grades:
            await Grade.insert(*grades)
            await standing_grades.refresh([row["id"]])
        # Submitted in time or late, the allocation itself is no longer overdue.
        await Deadline.update({Deadline.status: "met", Deadline.closed_at: ctx.now}).where(
            (Deadline.allocation == row["id"]) & (Deadline.status == "open")
            # Issue 14: an agency's return's deadline and its reminder (CSCP-9).
            & Deadline.kind.is_in(["allocation_due", "response_due", "response_reminder"])
        )
        extra = {Allocation.submitted_at: ctx.now}
        if answers != stored:
            extra[Allocation.answers] = answers  # the record's facts, as submitted
        if wf.state(workflow, chosen.to).final:
            # A form whose submission ends it (a chair's monitoring form with no
            # concerns, a dip sample) is final now, as a step into a final state is.
            extra[Allocation.finalised_at] = ctx.now
        await _move(ctx, row, workflow, chosen, people, extra=extra)


def _grade_row(ctx: Context, row: dict, form_fields: FormFields, phase: str, domain: str, answers: dict, as_phase: str | None = None) -> Grade:
    level = answers[f"grade.{phase}.{domain}"]
    return Grade(
        allocation=row["id"],
        organisation=row["organisation"],
        phase=as_phase or phase,
        domain=domain,
        scale_key=f"{_namespace(row)}:{form_fields.scale.key}",
        level=level,
        rank=rank(form_fields.scale, level),
        evidence=answers.get(f"evidence.{phase}.{domain}", ""),
        set_by=ctx.person_id,
        set_at=ctx.now,
    )


async def review(
    ctx: Context, allocation_id: int, decision: str, reason: str = "", moderated: dict[str, str] | None = None
) -> None:
    """QA accepts (the audit becomes final) or returns it for revision with reasons.

    On acceptance QA may moderate domain grades (HAR 2.6, BED-5): ``moderated``
    maps a domain (or ``overall``) to QA's grade. Every domain gets a
    ``moderated`` row (agreeing or not, so agreement can be measured), and the
    final grade is QA's. A changed grade needs a reason.
    """
    row, people, held = await _load(ctx, allocation_id)
    form, workflow = _definitions(ctx, row)
    if decision not in ("accept", "return"):
        raise Invalid("Choose accept or return", {"decision": "Choose accept or return for revision"})
    chosen = _check(workflow, row, decision, held)
    if {"auditor", "co_auditor"} & held:
        raise Forbidden("You cannot quality-assure an audit you wrote")
    reason = reason.strip()
    if chosen.reason_required and not reason:
        raise Invalid("Say what needs revising", {"reason": "Say what the auditor needs to revise"})
    form_fields = fields_of(ctx.registry, _namespace(row), form, row["kind"])
    answers = dict(row["answers"] or {})
    last_phase = form_fields.phases[-1] if form_fields.phases else None
    auditor_grades = {d: answers.get(f"grade.{last_phase}.{d}") for d, _ in form_fields.domains()} if last_phase else {}
    moderated = {k: v for k, v in (moderated or {}).items() if v}
    if moderated and decision == "accept":
        levels = {lvl.key for lvl in form_fields.scale.levels} if form_fields.scale else set()
        errors = {
            f"moderated.{domain}": f"Choose one of the scale's grades for {form_fields.titles.get(domain, domain).lower()}"
            for domain, level in moderated.items()
            if domain not in auditor_grades or level not in levels
        }
        changed = [d for d, level in moderated.items() if auditor_grades.get(d) != level]
        if changed and not reason:
            errors["reason"] = "Say why you changed the auditor's grade"
        if errors:
            raise Invalid("The moderated grades could not be recorded", errors)
    async with transaction():
        await Review.insert(
            Review(
                allocation=allocation_id,
                reviewer=ctx.person_id,
                decision="accepted" if decision == "accept" else "returned",
                reason=reason,
                created_at=ctx.now,
            )
        )
        extra = {}
        target = wf.state(workflow, chosen.to)
        if target.final:
            extra[Allocation.finalised_at] = ctx.now
        if target.final and last_phase:
            # The grade chain: auditor phases as submitted, QA's moderation of
            # each domain, then the final grade that reports use.
            final_answers = dict(answers)
            for domain, level in moderated.items():
                final_answers[f"grade.{last_phase}.{domain}"] = level
            rows = []
            for domain, _ in form_fields.domains():
                rows.append(_grade_row(ctx, row, form_fields, last_phase, domain, final_answers, as_phase="moderated"))
                rows.append(_grade_row(ctx, row, form_fields, last_phase, domain, final_answers, as_phase="final"))
            await Grade.insert(*rows)
            await standing_grades.refresh([row["id"]])
            if moderated:
                row = {**row, "answers": final_answers}
        await _move(ctx, row, workflow, chosen, people, extra=extra, reason=reason)
        if target.final:
            await _after_final(ctx, row, form_fields, people)
            if row.get("agency_request") and row.get("agency"):
                # Issue 14: the request is answered once every agency's return is accepted.
                from core.services.agency_requests import close_if_answered

                await close_if_answered(ctx, row["agency_request"])


async def _after_final(ctx: Context, row: dict, form_fields: FormFields, people: dict[str, int | None]) -> None:
    """Fire the escalation events a final audit causes (HAR 2.6, 2.13, 2.14).
    Both audits' overall grades are their final grades as they stand now
    (``standing_grades``): the predecessor's amended grade if a dispute
    amended it."""
    overall = await standing_grades.final_grade(row["id"]) if form_fields.phases else None
    label = next((lvl.label for lvl in form_fields.scale.levels if lvl.key == overall), "") if form_fields.scale else ""
    base = dict(
        council=row["council"],
        allocation_id=row["id"],
        form=row["form_key"],
        overall_grade=overall,
    )
    subject = f"Audit of {row['subject']} is final" + (f": {label}" if label else "")
    await escalations.fire(
        ctx,
        EscalationEvent(kind="grade_final", **base),
        organisation_id=row["organisation"],
        people=people,
        anchor=people.get("practitioner"),
        subject=subject,
        about=row["subject"],
        link=f"/audits/{row['id']}",
    )
    if row["kind"] in ("re_audit", "second_re_audit") and row["previous"] and overall and form_fields.scale:
        before = await standing_grades.final_grade(row["previous"])
        previous = await Allocation.select(Allocation.kind).where(Allocation.id == row["previous"]).first()
        if before:
            movement = compare(form_fields.scale, before, overall)
            await escalations.fire(
                ctx,
                EscalationEvent(
                    kind="reaudit_compared",
                    movement=movement,
                    repeat=previous["kind"] in ("re_audit", "second_re_audit"),
                    **base,
                ),
                organisation_id=row["organisation"],
                people=people,
                anchor=people.get("practitioner"),
                subject=f"Re-audit of {row['subject']}: {movement} ({label})",
                about=row["subject"],
                link=f"/audits/{row['id']}",
            )


# Steps with logic of their own; every other transition of a council's
# workflow is taken generically by take_step (CORE-10).
_SPECIAL_STEPS = {"start", "submit", "accept", "return"}


async def take_step(ctx: Context, allocation_id: int, key: str, reason: str = "") -> None:
    """Take any other transition the council's workflow defines (for example
    Bedford's "offer a shared reflective discussion" or "commission an
    independent audit"), with its deadline, notifications and trail."""
    row, people, held = await _load(ctx, allocation_id)
    form, workflow = _definitions(ctx, row)
    if key in _SPECIAL_STEPS:
        raise Invalid("Use the audit form for that step", {"step": "Use the audit form's own buttons for that step"})
    chosen = _check(workflow, row, key, held)
    reason = reason.strip()
    if chosen.reason_required and not reason:
        raise Invalid("Give a reason", {"reason": f"Say why: '{chosen.label}' needs a reason"})
    async with transaction():
        extra = {}
        if wf.state(workflow, chosen.to).final:
            extra[Allocation.finalised_at] = ctx.now
        await _move(ctx, row, workflow, chosen, people, extra=extra, reason=reason)


def _check(workflow: Workflow, row: dict, key: str, held: set[str]) -> Transition:
    try:
        return wf.check(workflow, row["state"], key, held)
    except wf.TransitionRefused as refused:
        raise Forbidden(str(refused)) from None


async def _move(
    ctx: Context,
    row: dict,
    workflow: Workflow,
    chosen: Transition,
    people: dict[str, int | None],
    extra: dict | None = None,
    reason: str = "",
) -> None:
    """Take a transition inside the caller's transaction: state, deadlines,
    notifications and trail together."""
    target = wf.state(workflow, chosen.to)
    state_due = wf.due(target.deadline, ctx.now) if target.deadline else None
    values = {
        Allocation.state: target.key,
        Allocation.state_due_at: state_due,
        Allocation.updated_at: ctx.now,
        Allocation.revision: row["revision"] + 1,
        **(extra or {}),
    }
    moved = (
        await Allocation.update(values)
        .where((Allocation.id == row["id"]) & (Allocation.state == row["state"]))
        .returning(Allocation.id)
    )
    if not moved:
        raise Conflict("Someone else moved this audit on just now; reload the page to see where it is")
    if any(column is Allocation.finalised_at for column in values):
        await month_counts.finalised(row["id"])
    await Deadline.update({Deadline.status: "met", Deadline.closed_at: ctx.now}).where(
        (Deadline.allocation == row["id"]) & (Deadline.status == "open") & Deadline.kind.like("state:%")
    )
    if state_due is not None:
        await Deadline.insert(
            Deadline(
                organisation=row["organisation"],
                allocation=row["id"],
                kind=f"state:{target.key}",
                due_at=state_due,
                escalate_to=list(target.deadline.escalate_to),
                created_at=ctx.now,
            )
        )
    recipients = await _recipients(ctx, row, _told(ctx, row, workflow, chosen), people)
    if recipients:
        await notifications.notify(
            ctx,
            organisation_id=row["organisation"],
            recipients=recipients,
            kind=f"audit_{target.key}",
            subject=f"Audit of {row['subject']}: {_lower_first(target.label)}",
            body=_message(row, workflow, chosen, target.label, reason, state_due),
            link=f"/audits/{row['id']}",
            allocation_id=row["id"],
        )
    await trail.record(
        ctx,
        organisation_id=row["organisation"],
        entity="allocation",
        entity_id=row["id"],
        action=f"transition:{chosen.key}",
        changes={"state": [row["state"], target.key], **({"reason": reason} if reason else {})},
    )


def _told(ctx: Context, row: dict, workflow: Workflow, chosen: Transition) -> tuple[str, ...]:
    """Whom a step tells: those the new state's ``notify`` names, and always

    - the auditor, when someone else's step hands the audit back to them to
      revise (HAR 2.15: QA sends it "back to the auditor with clear details");
    - QA, when the audit arrives where QA acts on it (the QA queue) and the
      council's ``notify`` names none of them: the roles with the
      ``qa_review`` capability that the workflow lets take the next step
      (HAR 2.6: the report goes to the QA and Practice Improvement Team)."""
    target = wf.state(workflow, chosen.to)
    told = list(target.notify)
    named = {ref.split(":")[-1] for ref in told}
    editable = _editable_states(workflow)
    if target.key in editable and "auditor" not in chosen.by:
        told.append("auditor")
    elif target.key not in editable:
        reviewers = _reviewers(ctx, row, workflow, target.key)
        if not named & set(reviewers):
            told.extend(reviewers)
    return tuple(dict.fromkeys(told))


def _reviewers(ctx: Context, row: dict, workflow: Workflow, state_key: str) -> list[str]:
    """The roles (not relations) with ``qa_review`` that may take a step out of ``state_key``."""
    council = _namespace(row)
    out: list[str] = []
    for transition in workflow.transitions:
        if state_key not in transition.from_:
            continue
        for ref in transition.by:
            if ref in RELATIONS:
                continue
            role = ctx.registry.roles.get(f"{council}:{ref.split(':')[-1]}")
            if role is not None and "qa_review" in role.value.capabilities:
                out.append(ref)
    return list(dict.fromkeys(out))


def _lower_first(label: str) -> str:
    """A state's label inside a sentence: "With QA" -> "with QA", "Returned
    for revision" -> "returned for revision"; an acronym first stays as it is."""
    first = label.split(" ", 1)[0]
    return label if len(first) > 1 and first.isupper() else label[:1].lower() + label[1:]


def _message(row: dict, workflow: Workflow, chosen: Transition, target_label: str, reason: str, due: dt.datetime | None = None) -> str:
    text = f"The {workflow.label.lower()} of {row['subject']} is now {_lower_first(target_label)}."
    if due is not None:
        # The step's own deadline (HAR 2.6: QA within a working day; 2.15: revised within 2-3 days).
        text += f" The next step is due by {to_london(due):%A %-d %B %Y}."
    if reason:
        text += f"\n\nReason given: {reason}"
    return text


async def _recipients(ctx: Context, row: dict, refs: tuple[str, ...], people: dict[str, int | None]) -> list[int]:
    """Whom a state's ``notify`` names: relations, or roles found up the
    practitioner's ladder (the same rule escalations use)."""
    out = await escalations.recipients(row["organisation"], refs, people, people.get("practitioner"))
    if "auditor" in refs:
        # PLAT-4: what the workflow tells the auditor, a joint audit's co-auditors are told too.
        out += [c["id"] for c in await _co_auditors(row["id"]) if c["id"] not in out]
    if ctx.actor:
        # Nobody needs telling about what they just did themselves.
        out = [p for p in out if p != ctx.actor.person_id]
    return out


async def history(ctx: Context, allocation_id: int) -> list[dict]:
    await _load(ctx, allocation_id)
    return await trail.history("allocation", allocation_id)


__all__ = [
    "AuditView",
    "Summary",
    "audit_view",
    "audits_of_my_cases",
    "history",
    "my_allocations",
    "my_completed",
    "my_open",
    "CompletedPage",
    "qa_queue",
    "qa_queue_count",
    "qa_queue_waiting",
    "review",
    "save_answers",
    "submit",
]
