"""The access matrix (issue 16 item 2, PLAT-11): every route of the
application, tried by every role of all four councils, on objects of one
management line, of another line and of another council; the expected answer
for each attempt is what docs/access.md says.

The route table below is checked against the application's own route table
(`app.routes`): a new route fails `test_every_route_is_in_the_matrix` until it
is given a row here, and a removed route fails it until its row goes.

SQLite only: the matrix is about the policy, which is the same code on both
databases; the other access tests (tests/test_access.py,
tests/test_api_disputes_actions.py, tests/test_work_evidence.py ...) run on
PostgreSQL too. One app, one database and one demo of the four councils are
built for the module; each person signs in once (a session for pages, a
bearer token for the API).

It is in the suite (`.ci/run`), so it is kept cheap (about 10,000 requests,
not 22,000) by not sending an attempt whose answer another attempt already
gives: people of one class (the same capabilities and role facts) who stand
in the same place to an object, another council's object per class, open
routes by one signed-in person per council, and an allowed PDF or XLSX
rendered once per council (see "what is tried once for many" below; what is
not sent is counted). Several people's attempts run at once in the app's
event loop.

How an attempt is judged (`Expect`):
- ALLOW: the policy let it through: 2xx or 3xx; for a write (sent with an
  empty or invalid body, so that nothing changes) also 400, 409 or 422.
- SEEN: the object is visible to the person (so never 404), and the step may
  still be refused (403, 409, 422): the matrix proves visibility, the
  service's step rules are proved by the lifecycle tests.
- HIDDEN: 404, the answer for a row that does not exist (docs/access.md,
  "Another council sees nothing"; "Anyone else in the council ... 404").
- FORBIDDEN: 403, a role guard (docs/access.md, "Route guards").
- REFUSED: 403 or 404.
- CONFLICT: 409 (an audit's PDF or case note before it is final).
- ANY: only "never a 5xx": open routes (each checks what it is given, not
  who), and routes where the thing tried is absent for reasons that are not
  access (no report yet, a quarter not started).
- Never a 5xx, whatever the expectation.

Another council's object must answer 403 or 404, and for each council's
administrator exactly as a number nobody has does. Lists are scanned for
other councils' case numbers and, for roles without a council-wide view,
for other lines'. Every mismatch is collected and reported in one table; the
counts (routes, people, roles, attempts by relation and expectation, where
the time went) are printed (-s) and written to access-matrix.json in the
test's tmp dir.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.engine import bind, engine_for
from core.db.migrate import migrate
from core.db.tables import Allocation, Person
from core.plugins import load_plugins
from core.services.context import Context
from core.services.demo import load_demo
from helpers import acting, csrf_from

SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems; one SQLite database of its own

COUNCILS = ("haringey", "bedford", "coventry", "partnership")


class Expect(enum.Enum):
    ALLOW = "allowed"
    SEEN = "seen (not 404)"
    HIDDEN = "404"
    FORBIDDEN = "403"
    REFUSED = "403 or 404"
    CONFLICT = "409"
    SIGN_IN = "sign in (303 or 401)"
    ANY = "no 5xx"


def judged(expect: Expect, status: int, write: bool) -> bool:
    if status >= 500:
        return False
    if expect is Expect.ALLOW:
        return status < 400 or (write and status in (400, 409, 422))
    if expect is Expect.SEEN:
        return status != 404
    if expect is Expect.HIDDEN:
        return status == 404
    if expect is Expect.FORBIDDEN:
        return status == 403
    if expect is Expect.REFUSED:
        return status in (403, 404)
    if expect is Expect.CONFLICT:
        return status == 409
    return True


# --- who signs in -----------------------------------------------------------


@dataclass
class Who:
    username: str
    person_id: int
    council: str
    organisation: int
    role: str
    caps: frozenset[str]
    team: int | None
    above: list[int]  # their managers up the line
    agency: int | None = None
    body_roles: frozenset[str] = frozenset()  # roles sitting on the council's bodies
    compliance: bool = False  # their schedule has a per-supervisee compliance audit (BED s.4)
    scorecard: bool = False  # their council keeps a partnership scorecard and audit programme (CSCP 5.1-5.2)
    label: str = ""

    def can(self, capability: str) -> bool:
        return capability in self.caps


@dataclass
class Obj:
    """One object a route's path parameters name, with the facts the
    expectation is decided on."""

    kind: str
    council: str
    organisation: int
    label: str
    params: dict[str, object]
    facts: dict[str, object] = field(default_factory=dict)


# --- the world: four councils' demo, two lines each, objects of every kind ----


@dataclass
class World:
    client: AsyncTestClient
    registry: object
    people: list[Who]
    objects: dict[str, dict[str, list[Obj]]]  # kind -> council -> [line 1, line 2]
    case_prefix: dict[str, str]  # council -> its case numbers' prefix
    line_cases: dict[str, dict[int, set[str]]]  # council -> team -> its case numbers
    routes: set[tuple[str, str]]


async def _chain(person_id: int | None) -> list[int]:
    """Managers up the line from ``person_id`` (docs/access.md, "Line managers up the chain")."""
    out: list[int] = []
    current = person_id
    while current is not None:
        row = await Person.select(Person.line_manager).where(Person.id == current).first()
        current = row["line_manager"] if row else None
        if current is None or current in out or current == person_id:
            break
        out.append(current)
    return out


async def _told(organisation: int, start: int | None, role: str) -> set[int]:
    """Who the notifications tell, for ``role``, about something of ``start``'s
    (docs/access.md "Notifications": the nearest active holder of the role up
    the line from ``start``; if nobody active in the line holds it, every
    active holder in the council). Case 2 (a line-limited reviewer) and case 5
    (a dispute seen by role) open it to exactly these people."""
    seen: set[int] = set()
    current = start
    while current is not None and current not in seen:
        seen.add(current)
        row = await Person.select(Person.id, Person.role, Person.active, Person.line_manager).where(
            Person.id == current).first()
        if row is None:
            break
        if row["role"] == role and row["active"] and row["id"] != start:
            return {row["id"]}
        current = row["line_manager"]
    rows = await Person.select(Person.id).where(
        (Person.organisation == organisation) & (Person.role == role) & (Person.active == True))  # noqa: E712
    return {r["id"] for r in rows}


def _line_reviewers(registry, council: str) -> list[str]:
    """Roles that review without a council-wide view (docs/access.md case 2: BED head_of_service)."""
    return sorted(key.split(":")[-1] for key, role in registry.roles.items() if key.startswith(f"{council}:")
                  and "qa_review" in role.value.capabilities and "view_all_audits" not in role.value.capabilities)


async def _people(registry) -> list[Who]:
    """One person per role of each council (the first of the role), plus the
    manager of each council's second team: a second management line."""
    people: list[Who] = []
    for council in COUNCILS:
        org = (await _org(council))
        rows = await Person.select().where(Person.organisation == org).order_by(Person.id)
        seen: set[str] = set()
        tm_role = registry.council(council).team_manager_role.split(":")[-1]
        for row in rows:
            second_line = row["username"] == f"{council}.{tm_role}.2"
            if row["role"] in seen and not second_line:
                continue
            seen.add(row["role"])
            role = registry.role(f"{council}:{row['role']}")
            people.append(Who(
                username=row["username"], person_id=row["id"], council=council, organisation=org, role=row["role"],
                caps=frozenset(role.capabilities), team=row["team"], above=await _chain(row["id"]), agency=row["agency"],
                body_roles=frozenset(r.split(":")[-1] for b in registry.council(council).bodies for r in b.roles),
                scorecard=registry.qualify(council, "scorecard", registry.workflows) is not None,
                compliance=any(key.startswith(f"{council}:") and s.value.frequency.per == "supervisee" and s.value.form
                               and s.value.role.split(":")[-1] == row["role"] for key, s in registry.schedules.items()),
                label=f"{council} {row['role']}" + (" (second line)" if second_line else ""),
            ))
    return people


async def _org(council: str) -> int:
    from core.db.tables import Organisation

    return (await Organisation.select(Organisation.id).where(Organisation.council == council).first())["id"]


async def _audit_facts(registry, allocation_id: int) -> dict:
    """Who stands where to an audit (docs/access.md, "Relations")."""
    rows = await Allocation.raw(
        "SELECT a.id, a.auditor, a.state, a.workflow_key, a.workflow_version, a.agency, c.team AS team,"
        " c.allocated_worker AS practitioner, c.chair AS chair, c.external_id AS case_number, o.council AS council"
        " FROM allocation a LEFT JOIN child_case c ON c.id = a.child_case JOIN organisation o ON o.id = a.organisation"
        " WHERE a.id = {}", allocation_id)
    row = rows[0]
    org = await _org(row["council"])
    workflow = registry.workflow(row["workflow_key"], row["workflow_version"])
    final = next(s for s in workflow.states if s.key == row["state"]).final
    tm_role = registry.council(row["council"]).team_manager_role.split(":")[-1]
    tm = None
    if row["team"] is not None:
        found = await Person.select(Person.id).where(
            (Person.team == row["team"]) & (Person.role == tm_role) & (Person.active == True)  # noqa: E712
        ).order_by(Person.id).first()
        tm = found["id"] if found else None
    steps_from = {}
    for t in workflow.transitions:
        for state in t.from_:
            steps_from.setdefault(state, []).append((t.key, set(t.by)))
    return {
        "auditor": row["auditor"], "practitioner": row["practitioner"], "team_manager": tm, "case_chair": row["chair"],
        "state": row["state"], "final": final, "initial": row["state"] == workflow.initial,
        "steps": steps_from.get(row["state"], []), "agency": row["agency"], "case_number": row["case_number"],
        "above_practitioner": await _chain(row["practitioner"]), "council": row["council"],
        "above_auditor": await _chain(row["auditor"]),
        "case_note": registry.council(row["council"]).case_note is not None,
        # Case 2's fallback is anchored on the practitioner: an audit on nobody has none.
        "line_reviewers_told": {role: await _told(org, row["practitioner"], role) if row["practitioner"] else set()
                                for role in _line_reviewers(registry, row["council"])},
        "editable": row["state"] == workflow.initial
        or any("auditor" in t.by and row["state"] in t.from_ for t in workflow.transitions),
    }


async def _allocate_like_the_demo(registry, administrator: Who, org: int, team: int, wanted: int, now) -> int:
    """``wanted`` more case audits in ``team``, made by `allocations.create_allocation`
    (as every allocation is) like the council's first demo audit; 0 if it has none."""
    from core.db.tables import ChildCase
    from core.services import allocations

    like = await Allocation.raw(
        "SELECT a.* FROM allocation a JOIN child_case c ON c.id = a.child_case"
        " WHERE a.organisation = {} AND a.agency_request IS NULL ORDER BY a.id", org)
    if not like:
        return 0
    like = like[0]
    auditor = await Person.select(Person.id, Person.display_name).where(Person.id == like["auditor"]).first()
    taken = {r["child_case"] for r in await Allocation.select(Allocation.child_case).where(Allocation.organisation == org)}
    cases = [c for c in await ChildCase.select(ChildCase.id, ChildCase.external_id, ChildCase.allocated_worker).where(
        ChildCase.team == team).order_by(ChildCase.id) if c["id"] not in taken and c["allocated_worker"] != auditor["id"]]
    ctx = await acting(registry, administrator.username)
    for case in cases[:wanted]:
        await allocations.create_allocation(
            ctx, organisation_id=org, case=case, auditor=auditor, kind=like["kind"], reason="The access matrix",
            form_key=like["form_key"], workflow_key=like["workflow_key"], due_at=now + dt.timedelta(days=28))
    return min(wanted, len(cases))


def _final_state(registry, allocation: dict) -> str:
    workflow = registry.workflow(allocation["workflow_key"], allocation["workflow_version"])
    return next(s.key for s in workflow.states if s.final)


async def _objects(registry, people: list[Who]) -> dict[str, dict[str, list[Obj]]]:
    """Two objects of each kind in each council where the demo can have them,
    one in the first team's line and one in the second's."""
    from core.db.tables import Agency, Dispute, FollowUp, Notification, Team, Work
    from core.services import action_plans, actions, evidence

    now = dt.datetime(2026, 12, 31, 9, 30, tzinfo=dt.timezone.utc)
    objects: dict[str, dict[str, list[Obj]]] = {}

    def add(kind: str, council: str, org: int, label: str, params: dict, facts: dict | None = None) -> Obj:
        obj = Obj(kind, council, org, label, params, facts or {})
        objects.setdefault(kind, {}).setdefault(council, []).append(obj)
        return obj

    for council in COUNCILS:
        org = await _org(council)
        teams = [t["id"] for t in await Team.select(Team.id).where(Team.organisation == org).order_by(Team.id)][:2]
        administrator = next(p for p in people if p.council == council and p.can("administer"))
        for line, team in enumerate(teams, start=1):
            label = f"line {line}"
            query = ("SELECT a.id, a.workflow_key, a.workflow_version FROM allocation a JOIN child_case c ON c.id = a.child_case"
                     " WHERE a.organisation = {} AND c.team = {} AND a.agency_request IS NULL ORDER BY a.id")
            found = await Allocation.raw(query, org, team)
            if len(found) < 2 and await _allocate_like_the_demo(registry, administrator, org, team, 2 - len(found), now):
                # Bedford's demo cycle gives some teams one audit: a second one, as
                # its cycle allocates (same form, workflow and auditor), so that
                # each line has a draft and a final audit.
                found = await Allocation.raw(query, org, team)
            if len(found) < 2:
                continue  # a council with no case audits (Coventry; the partnership's are agencies' returns)
            draft, final = found[0], found[1]
            await Allocation.update({Allocation.state: _final_state(registry, final), Allocation.finalised_at: now,
                                     Allocation.submitted_at: now}).where(Allocation.id == final["id"])
            # Speed (the matrix's budget): one line's draft, both lines' final audits.
            draft_obj = Obj("audit", council, org, f"{label}, draft", {"allocation_id": draft["id"]},
                            await _audit_facts(registry, draft["id"]))
            if line == 1:
                objects.setdefault("audit", {}).setdefault(council, []).append(draft_obj)
            final_obj = add("audit", council, org, f"{label}, final", {"allocation_id": final["id"]},
                            await _audit_facts(registry, final["id"]))
            # An evidence file on the draft, added by its auditor (docs/access.md, "An audit's files go with the audit").
            auditor = await Person.select(Person.username).where(Person.id == draft_obj.facts["auditor"]).first()
            ctx = await acting(registry, auditor["username"])
            file_ids = await evidence._store(
                ctx, [evidence.Checked(filename="notes.txt", media_type="text/plain", data=b"Seen at home.")],
                "allocation", draft["id"])
            add("audit_file", council, org, f"{label}, draft", {"allocation_id": draft["id"], "file_id": file_ids[0]},
                draft_obj.facts)
            # An action on the final audit for its practitioner, set by the administrator.
            owner = final_obj.facts["practitioner"]
            admin_ctx = await acting(registry, administrator.username)
            action_id = await actions.create(admin_ctx, what="Update the chronology", owner_id=owner,
                                             due_on=dt.date(2027, 1, 29), allocation_id=final["id"])
            add("action", council, org, label, {"action_id": action_id},
                {"owner": owner, "setter": administrator.person_id, "above_owner": await _chain(owner), "audit": final_obj.facts})
            # A dispute of the final audit, raised by its practitioner (inserted: the matrix is about who sees it).
            dispute_wf = registry.qualify(council, "dispute", registry.workflows)
            if dispute_wf:
                workflow = registry.workflow(dispute_wf)
                dispute = await Dispute.insert(Dispute(
                    organisation=org, allocation=final["id"], raised_by=owner, workflow_key=dispute_wf,
                    workflow_version=workflow.version, state=workflow.initial, criteria="matrix", domains={},
                    outcome="", created_at=now, updated_at=now)).returning(Dispute.id)
                # "A role the dispute workflow names": in a step's `by`, a state's
                # `notify` or a deadline's `escalate_to` (what the notifications use).
                named = {ref.split(":")[-1] for t in workflow.transitions for ref in t.by} | {
                    ref.split(":")[-1] for st in workflow.states
                    for ref in (*st.notify, *(st.deadline.escalate_to if st.deadline else ()))}
                named -= {"auditor", "practitioner", "team_manager", "case_chair"}  # relations, not roles
                add("dispute", council, org, label, {"dispute_id": dispute[0]["id"]},
                    {"audit": final_obj.facts,
                     "told": {role: await _told(org, final_obj.facts["practitioner"], role) for role in sorted(named)}})
            # A co-auditor row's person: the practitioner of the case (never a co-auditor).
            add("co_auditor", council, org, f"{label}, draft",
                {"allocation_id": draft["id"], "person_id": draft_obj.facts["practitioner"]}, draft_obj.facts)
        # People: each line's second practitioner (no one the matrix signs in as).
        practitioner = registry.council(council).practitioner_role.split(":")[-1]
        for number in (1, 2):
            row = await Person.select(Person.id).where(Person.username == f"{council}.{practitioner}.{number}2").first()
            if row:
                add("person", council, org, f"line {number}", {"person_id": row["id"]}, {"id": row["id"]})
        # Work: two pieces with different owners.
        owners: set[int] = set()
        for row in await Work.select(Work.id, Work.owner).where(Work.organisation == org).order_by(Work.id):
            if row["owner"] in owners or len(owners) == 2:
                continue
            owners.add(row["owner"])
            add("work", council, org, f"work {len(owners)}", {"work_id": row["id"]},
                {"owner": row["owner"], "above_owner": await _chain(row["owner"])})
        # Notifications: two with different recipients.
        recipients: set[int] = set()
        for row in await Notification.select(Notification.id, Notification.recipient).where(
                Notification.organisation == org).order_by(Notification.id):
            if row["recipient"] in recipients or len(recipients) == 2:
                continue
            recipients.add(row["recipient"])
            add("notification", council, org, f"notification {len(recipients)}", {"notification_id": row["id"]},
                {"recipient": row["recipient"]})
        # Follow-ups (CORE-11), where the demo has them.
        for row in await FollowUp.select().where(FollowUp.organisation == org).order_by(FollowUp.id).limit(2):
            add("follow_up", council, org, "follow-up", {"allocation_id": row["allocation"], "follow_up_id": row["id"]},
                {"assignees": set(row["assignees"] or []), "audit": await _audit_facts(registry, row["allocation"])})
        # Agencies: a partnership's two agencies with leads; the council's own otherwise.
        for row in await Agency.select().where(Agency.organisation == org).order_by(Agency.id):
            lead = await Person.select(Person.id).where((Person.agency == row["id"]) & (Person.role == "agency_lead")).first()
            if council == "partnership" and not lead:
                continue
            add("agency", council, org, row["key"], {"agency_id": row["id"]}, {"agency": row["key"], "id": row["id"]})
            if len(objects["agency"][council]) == 2:
                break
        # An action plan of each body (BED s.7: DMT; CSCP 5.5: the A&P subgroup).
        for body in registry.council(council).bodies:
            ctx = await acting(registry, administrator.username)
            plan_id = await action_plans.create(ctx, body=body.key, title="Matrix plan", source_kind="audit",
                                              source_detail="The matrix audit of December 2026")
            add("plan", council, org, body.key, {"plan_id": plan_id},
                {"body": body.key, "roles": {r.split(":")[-1] for r in body.roles}})
        # An administrator's spare API token (a person sees and revokes only their own).
        from core.services import accounts

        for holder in [p for p in people if p.council == council][:2]:
            await accounts.create_token(await acting(registry, holder.username), holder.person_id, "matrix spare")
            from core.db.tables import ApiToken

            token = await ApiToken.select(ApiToken.id).where(ApiToken.person == holder.person_id).order_by(
                ApiToken.id, ascending=False).first()
            add("token", council, org, holder.role, {"token_id": token["id"]}, {"person": holder.person_id})
        # The partnership's requests to agencies, indicator changes and audit programmes (issue 14).
        from core.db.tables import AgencyRequest, AuditProgramme, IndicatorChange

        for row in await AgencyRequest.select(AgencyRequest.id, AgencyRequest.kind).where(
                AgencyRequest.organisation == org).order_by(AgencyRequest.id).limit(2):
            add("request", council, org, row["kind"], {"request_id": row["id"]})
        for row in await IndicatorChange.select(IndicatorChange.id).where(
                IndicatorChange.organisation == org).order_by(IndicatorChange.id).limit(1):
            add("change", council, org, "indicator change", {"change_id": row["id"]})
        for row in await AuditProgramme.select(AuditProgramme.id).where(
                AuditProgramme.organisation == org).order_by(AuditProgramme.id).limit(1):
            add("programme", council, org, "audit programme", {"programme_id": row["id"]})
    return objects


# --- the matrix: every route, its rule (docs/access.md section in the comment) --

# Static assets are the one exclusion: files shipped with the app, the same for
# everyone signed in or not, naming no council and no person.
EXCLUDED = {("GET", "/static/{file_path:path}"): "static assets: the same files for everyone, no data"}

# method  path  rule.  The object a route takes follows from its path
# parameters (see `_kind`); a route with none is checked by role only, and
# what it lists is checked for other councils' and other lines' case numbers.
MATRIX = """
# Open pages and machine endpoints ("Signing in, sessions and API tokens").
GET  /healthz                                   open
GET  /readyz                                    open
GET  /metrics                                   open
GET  /accessibility                             open
GET  /login                                     open
POST /login                                     open
GET  /login/second-factor                       open
POST /login/second-factor                       open
GET  /login/oidc                                open
GET  /login/oidc/callback                       open
GET  /respondents/invitation/{token:str}        open
POST /respondents/invitation/{token:str}        open
GET  /respondents/sign-in                       open
POST /respondents/sign-in                       open
GET  /respondents/sign-in/{token:str}           open
POST /respondents/sign-in/{token:str}           open
POST /api/v1/respondents/sign-in                open
POST /api/v1/auth/token                         open
GET  /api/schema                                open
GET  /api/schema/swagger                        open
GET  /api/schema/openapi.json                   open
GET  /api/schema/oauth2-redirect.html           open
GET  /api/schema/{path:str}                     open
# Signed in, nothing more: home, session, own tokens, own lists.
GET  /                                          signed_in
POST /session/keep-alive                        signed_in
POST /logout                                    signed_in
GET  /account/tokens                            signed_in
POST /account/tokens                            signed_in
GET  /api/v1/auth/tokens                        signed_in
POST /account/tokens/{token_id:int}/revoke      token
DELETE /api/v1/auth/tokens/{token_id:int}       token
# "People, invitations and deactivation": administer (the guard), and only
# people of the actor's own organisation (another council's: 404). The person
# tried is each line's second practitioner, who signs in to nothing here;
# each administrator deactivates, then reactivates them (rows in this order).
GET  /people                                    administer
GET  /api/v1/people                             administer
POST /people/invite-all                         administer
POST /api/v1/people/invite-all                  administer
POST /people/{person_id:int}/invite             person
POST /api/v1/people/{person_id:int}/invite      person
POST /people/{person_id:int}/deactivate         person
POST /people/{person_id:int}/reactivate         person
POST /api/v1/people/{person_id:int}/deactivate  person
POST /api/v1/people/{person_id:int}/reactivate  person
# The pages an emailed link opens, and a forgotten password: open ("the link is the proof").
GET  /invitation/{token:str}                    open
POST /invitation/{token:str}                    open
GET  /password-reset/{token:str}                open
POST /password-reset/{token:str}                open
GET  /login/forgot                              open
POST /login/forgot                              open
POST /api/v1/auth/password-reset                open
# "Refused sign-ins": administer.
GET  /sign-ins                                  administer
GET  /api/v1/sign-in-attempts                   administer
# Audits ("Audits, by state"): lists filter, pages follow visibility.
GET  /audits                                    signed_in
GET  /audits/completed                          signed_in
GET  /audits/of-my-cases                        signed_in
GET  /api/v1/allocations                        signed_in
GET  /audits/{allocation_id:int}                audit_read
GET  /api/v1/allocations/{allocation_id:int}    audit_read
GET  /audits/{allocation_id:int}/history        audit_read
# "Check your answers" and the concern's own page (issue 17): whoever sees the
# audit gets the page or is sent back to the audit (303); anyone else 404.
GET  /audits/{allocation_id:int}/check          audit_read
GET  /audits/{allocation_id:int}/concern        audit_read
POST /audits/{allocation_id:int}/submit         audit_step
GET  /api/v1/allocations/{allocation_id:int}/history  audit_read
GET  /audits/{allocation_id:int}/case-note.txt  case_note
GET  /audits/{allocation_id:int}/report.pdf     audit_pdf
GET  /api/v1/allocations/{allocation_id:int}/evidence  audit_read
GET  /api/v1/allocations/{allocation_id:int}/co-auditors/candidates  audit_lead
POST /audits/{allocation_id:int}                audit_edit
POST /audits/{allocation_id:int}/autosave       audit_edit
PUT  /api/v1/allocations/{allocation_id:int}/answers  audit_edit
POST /audits/{allocation_id:int}/evidence       audit_edit
POST /api/v1/allocations/{allocation_id:int}/evidence  audit_edit
POST /audits/{allocation_id:int}/co-auditors    audit_edit
POST /api/v1/allocations/{allocation_id:int}/co-auditors  audit_edit
POST /audits/{allocation_id:int}/co-auditors/{person_id:int}/remove  co_auditor_remove
DELETE /api/v1/allocations/{allocation_id:int}/co-auditors/{person_id:int}  co_auditor_remove
POST /api/v1/allocations/{allocation_id:int}/submit  audit_step
POST /audits/{allocation_id:int}/steps/{step:str}  audit_step
POST /api/v1/allocations/{allocation_id:int}/steps/{step:str}  audit_step
POST /audits/{allocation_id:int}/review         audit_step
POST /api/v1/allocations/{allocation_id:int}/review  audit_step
POST /audits/{allocation_id:int}/concern        audit_step
POST /audits/{allocation_id:int}/re-audit       audit_step
POST /audits/{allocation_id:int}/reassign       audit_step
GET  /audits/{allocation_id:int}/evidence/{file_id:int}  audit_read
GET  /api/v1/allocations/{allocation_id:int}/evidence/{file_id:int}  audit_read
POST /audits/{allocation_id:int}/follow-ups/{follow_up_id:int}  follow_up
# The QA queue: qa_review. Cycles and imports: administer ("Imports, cycles and allocation").
GET  /qa                                        qa_review
GET  /api/v1/qa/queue                           qa_review
GET  /cycles                                    administer
POST /cycles                                    administer
POST /api/v1/cycles                             administer
GET  /imports                                   administer
POST /imports/cases                             administer
POST /imports/staff                             administer
POST /api/v1/imports/cases                      administer
POST /api/v1/imports/staff                      administer
# Notifications: the recipient only.
GET  /notifications                             signed_in
GET  /api/v1/notifications                      signed_in
POST /notifications/{notification_id:int}/read  notification
# The programme, work and evidence files.
GET  /programme                                 whole_programme
GET  /programme/mine                            signed_in
GET  /api/v1/work                               signed_in
POST /api/v1/work                               body_names_it
GET  /programme/work/{work_id:int}              work_read
GET  /api/v1/work/{work_id:int}                 work_read
POST /programme/work/{work_id:int}/start        work_write
POST /programme/work/{work_id:int}/complete     work_write
POST /api/v1/work/{work_id:int}/completion      work_write
POST /programme/work/{work_id:int}/evidence     work_write
POST /api/v1/work/{work_id:int}/evidence        work_write
POST /api/v1/work/{work_id:int}/audits          work_write
POST /programme/work/{work_id:int}/step         work_step
POST /api/v1/work/{work_id:int}/steps           work_step
GET  /programme/work/{work_id:int}/evidence/{file_id:int}  work_file
GET  /api/v1/work/{work_id:int}/evidence/{file_id:int}     work_file
GET  /programme/start/{key:str}                 no_such_thing
POST /programme/start/{key:str}                 no_such_thing
GET  /programme/delivery                        signed_in
GET  /programme/delivery/export.csv             signed_in
GET  /programme/delivery/export.xlsx            signed_in
GET  /programme/delivery/report.pdf             signed_in
GET  /api/v1/delivery                           signed_in
# Disputes.
GET  /disputes/new/{allocation_id:int}          dispute_new
POST /disputes/new/{allocation_id:int}          dispute_new
POST /api/v1/disputes                           body_names_it
GET  /disputes/{dispute_id:int}                 dispute_read
GET  /api/v1/disputes/{dispute_id:int}          dispute_read
POST /disputes/{dispute_id:int}/step            dispute_step
POST /api/v1/disputes/{dispute_id:int}/steps/{step:str}  dispute_step
# Actions.
GET  /actions                                   signed_in
GET  /actions/closed                            signed_in
POST /actions                                   signed_in
GET  /api/v1/actions                            signed_in
POST /api/v1/actions                            signed_in
GET  /actions/{action_id:int}                   action_read
GET  /api/v1/actions/{action_id:int}            action_read
POST /actions/{action_id:int}                   action_write
POST /api/v1/actions/{action_id:int}/updates    action_write
# Action plans and learning records.
GET  /plans                                     plan_list
GET  /api/v1/plans                              plan_list
GET  /plans/new                                 plan_list
POST /plans/new                                 plan_list
POST /api/v1/plans                              plan_list
GET  /plans/{plan_id:int}                       plan_read
GET  /api/v1/plans/{plan_id:int}                plan_read
POST /plans/{plan_id:int}/actions               plan_read
POST /api/v1/plans/{plan_id:int}/actions        plan_read
POST /plans/{plan_id:int}/learning              plan_read
POST /api/v1/plans/{plan_id:int}/learning       plan_read
POST /plans/{plan_id:int}/complete              plan_read
POST /api/v1/plans/{plan_id:int}/complete       plan_read
# Bedford's compliance audits (an audit like any other).
GET  /compliance                                compliance
POST /compliance                                compliance
GET  /compliance/{allocation_id:int}            audit_read
POST /compliance/{allocation_id:int}/complete   compliance_complete
# Reports and exports.
GET  /reports                                   reports
GET  /reports/report.pdf                        reports
GET  /reports/export.csv                        reports
GET  /reports/export.xlsx                       reports
GET  /reports/overview                          reports
GET  /reports/overview.pdf                      reports
GET  /reports/overview/export.csv               reports
GET  /reports/overview/export.xlsx              reports
GET  /reports/questions                         reports
GET  /reports/questions.pdf                     reports
GET  /reports/questions/export.csv              reports
GET  /reports/questions/export.xlsx             reports
# Requests to agencies and their respondents.
GET  /requests                                  requests
GET  /api/v1/requests                           requests
GET  /requests/new                              administer_service
POST /requests/new                              administer_service
POST /api/v1/requests                           administer_service
GET  /requests/{request_id:int}                 request_read
GET  /api/v1/requests/{request_id:int}          request_read
GET  /agencies/{agency_id:int}/respondents      agency
POST /agencies/{agency_id:int}/respondents      agency
GET  /api/v1/agencies/{agency_id:int}/respondents   agency
POST /api/v1/agencies/{agency_id:int}/respondents   agency
POST /agencies/{agency_id:int}/respondents/{person_id:int}/remove    agency_person
POST /agencies/{agency_id:int}/respondents/{person_id:int}/withdraw  agency_person
POST /api/v1/agencies/{agency_id:int}/respondents/{person_id:int}/remove    agency_person
POST /api/v1/agencies/{agency_id:int}/respondents/{person_id:int}/withdraw  agency_person
# Partnership reports, scorecard and programme.
GET  /partnership/requests                      partnership_request
GET  /api/v1/partnership/requests               partnership_request
GET  /partnership/requests/{request_id:int}     partnership_request
GET  /partnership/requests/{request_id:int}/report.pdf  partnership_report
GET  /api/v1/partnership/requests/{request_id:int}/report      partnership_request
GET  /api/v1/partnership/requests/{request_id:int}/report.pdf  partnership_report
GET  /api/v1/partnership/requests/{request_id:int}/figures     partnership_request
GET  /api/v1/partnership/requests/{request_id:int}/side-by-side  partnership_request
POST /partnership/requests/{request_id:int}/report      partnership_qa
POST /api/v1/partnership/requests/{request_id:int}/report  partnership_qa
POST /partnership/requests/{request_id:int}/findings    partnership_qa
PUT  /api/v1/partnership/requests/{request_id:int}/findings/{line:str}  partnership_qa
POST /partnership/requests/{request_id:int}/recommendations   partnership_qa
POST /api/v1/partnership/requests/{request_id:int}/recommendations  partnership_qa
POST /partnership/requests/{request_id:int}/action-plan  partnership_qa
POST /api/v1/partnership/requests/{request_id:int}/action-plan  partnership_qa
POST /partnership/requests/{request_id:int}/report/steps/{step:str}  partnership_report
POST /api/v1/partnership/requests/{request_id:int}/report/steps/{step:str}  partnership_report
GET  /partnership/scorecard                     scorecard
GET  /api/v1/partnership/scorecard/indicators   scorecard
GET  /api/v1/partnership/scorecard/{year:int}/{quarter:int}  scorecard
POST /api/v1/partnership/scorecard/{year:int}/{quarter:int}  partnership_qa_list
POST /partnership/scorecard/{year:int}/{quarter:int}/open   partnership_qa_list
POST /partnership/scorecard/{year:int}/{quarter:int}/steps/{step:str}  scorecard_step
POST /api/v1/partnership/scorecard/{year:int}/{quarter:int}/steps/{step:str}  scorecard_step
GET  /partnership/scorecard/changes/new         scorecard
POST /partnership/scorecard/changes/new         change_propose
GET  /api/v1/partnership/scorecard/changes      changes
POST /api/v1/partnership/scorecard/changes      change_propose
GET  /partnership/scorecard/changes/{change_id:int}  change
GET  /api/v1/partnership/scorecard/changes/{change_id:int}  change
POST /partnership/scorecard/changes/{change_id:int}/steps/{step:str}  change_step
POST /api/v1/partnership/scorecard/changes/{change_id:int}/steps/{step:str}  change_step
GET  /partnership/programme                     partnership
POST /partnership/programme                     partnership_qa_list
GET  /api/v1/partnership/programmes             partnership
POST /api/v1/partnership/programmes             partnership_qa_list
GET  /api/v1/partnership/programme-check        partnership_request
GET  /partnership/programme/{programme_id:int}  programme
GET  /api/v1/partnership/programmes/{programme_id:int}  programme
POST /partnership/programme/{programme_id:int}/steps/{step:str}  programme_step
POST /api/v1/partnership/programmes/{programme_id:int}/steps/{step:str}  programme_step
PUT  /api/v1/partnership/programmes/{programme_id:int}/themes  partnership_qa
"""


def _matrix() -> dict[tuple[str, str], str]:
    rows = {}
    for line in MATRIX.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        method, path, rule = line.split()
        assert (method, path) not in rows, f"{method} {path} is in the matrix twice"
        rows[(method, path)] = rule
    return rows


def _app_routes(app) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if method not in ("HEAD", "OPTIONS")
    }


@pytest.fixture(scope="module")
def every_council(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("matrix-plugins"), "sqlite:///unused", councils=COUNCILS))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(every_council, tmp_path_factory):
    from web.app import create_app

    place = tmp_path_factory.mktemp("matrix")
    url = f"sqlite:///{place / 'qaf.sqlite3'}"
    bind(engine_for(url))
    await migrate()
    registry = every_council.registry
    ctx = Context(registry=registry)
    for council in COUNCILS:
        await load_demo(ctx, council, examples=council == "partnership")
    people = await _people(registry)
    objects = await _objects(registry, people)
    prefix = {council: f"{council[:3].upper()}-" for council in COUNCILS}
    line_cases: dict[str, dict[int, set[str]]] = {}
    from core.db.tables import ChildCase

    for council in COUNCILS:
        org = await _org(council)
        for row in await ChildCase.select(ChildCase.team, ChildCase.external_id).where(ChildCase.organisation == org):
            line_cases.setdefault(council, {}).setdefault(row["team"], set()).add(row["external_id"])
    app = create_app(make_settings(place, url, councils=COUNCILS), every_council)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield World(client, registry, people, objects, prefix, line_cases, _app_routes(app))


@pytest.fixture(scope="module")
def bare_app(every_council, tmp_path_factory):
    """The application, not started: its route table and handlers."""
    from web.app import create_app

    place = tmp_path_factory.mktemp("matrix-routes")
    return create_app(make_settings(place, f"sqlite:///{place / 'unused.sqlite3'}", councils=COUNCILS), every_council)


def test_every_route_is_in_the_matrix(bare_app):
    """A new route fails here until the matrix says who may use it; a removed
    route fails until its row goes (issue 16 item 2)."""
    routes = _app_routes(bare_app) - set(EXCLUDED)
    matrix = set(_matrix())
    missing = sorted(routes - matrix)
    gone = sorted(matrix - routes)
    assert not missing, "routes the access matrix does not cover:\n" + "\n".join(f"  {m} {p}" for m, p in missing)
    assert not gone, "matrix rows for routes that no longer exist:\n" + "\n".join(f"  {m} {p}" for m, p in gone)


# --- what docs/access.md says, rule by rule -----------------------------------


def audit_visible(who: Who, audit: dict) -> bool:
    """docs/access.md "Audits, by state" (`audits._load_fresh`)."""
    me = who.person_id
    held = {r for r in ("auditor", "practitioner", "team_manager", "case_chair") if audit[r] == me}
    review_states = {s for role_steps in [audit["steps"]] for _, by in role_steps for s in [audit["state"]] if who.role in by}
    # Case 2: a reviewer without view_all_audits (BED head_of_service) only in
    # their own line: above the practitioner or the auditor, or told by the
    # notifications' fallback.
    in_line = (me in audit["above_practitioner"] or me in audit["above_auditor"]
               or me in audit["line_reviewers_told"].get(who.role, ()))
    return (
        "auditor" in held
        # Case 1: view_all_audits reads drafts in progress only with administer.
        or (who.can("view_all_audits") and (who.can("administer") or not audit["editable"]))
        or (audit["final"] and me in (audit["practitioner"], audit["team_manager"]))
        or (who.can("qa_review") and (audit["final"] or bool(review_states))
            and (who.can("view_all_audits") or in_line))
        or (audit["final"] and me in audit["above_practitioner"])
        or any(key != "start" and by & held for key, by in audit["steps"])
        or (who.role in ("agency_lead", "agency_respondent") and audit["agency"] is not None and who.agency == audit["agency"])
    )


def _rule_open(who, obj):
    # Open to anyone: each does its own check of what it is given (a one-time
    # link, the monitoring address, a configured identity provider), not of who.
    return Expect.ANY


def _rule_signed_in(who, obj):
    return Expect.ALLOW


def _guard(capability):
    def rule(who, obj):
        return Expect.ALLOW if who.can(capability) else Expect.FORBIDDEN
    return rule


def _rule_reports(who, obj):
    # "Reports and exports": qa_review, view_all_audits, read_council_reports, read_reports; anyone else 403.
    return Expect.ALLOW if who.caps & {"qa_review", "view_all_audits", "read_council_reports", "read_reports"} else Expect.FORBIDDEN


def _rule_audit_read(who, obj):
    return Expect.ALLOW if audit_visible(who, obj.facts) else Expect.HIDDEN


def _rule_audit_pdf(who, obj):
    # "An audit's PDF ... is refused (409) until the audit is final."
    if not audit_visible(who, obj.facts):
        return Expect.HIDDEN
    return Expect.ALLOW if obj.facts["final"] else Expect.CONFLICT


def _rule_case_note(who, obj):
    # As the PDF, and 409 too where the council keeps no case note (HAR-17 is
    # Haringey's: `council.case_note`; reports_of_audit.case_note).
    expected = _rule_audit_pdf(who, obj)
    return Expect.CONFLICT if expected is Expect.ALLOW and not obj.facts["case_note"] else expected


def _rule_audit_edit(who, obj):
    # Answers, evidence, co-auditors: the auditor (or a co-auditor) while the audit is a draft.
    if not audit_visible(who, obj.facts):
        return Expect.HIDDEN
    if obj.facts["auditor"] == who.person_id and obj.facts["editable"]:
        return Expect.ALLOW
    return Expect.SEEN


def _rule_audit_step(who, obj):
    return Expect.SEEN if audit_visible(who, obj.facts) else Expect.HIDDEN


def _rule_follow_up(who, obj):
    # "Follow-ups can be completed only by their assignees or administer."
    if not audit_visible(who, obj.facts["audit"]):
        return Expect.HIDDEN
    return Expect.ALLOW if who.person_id in obj.facts["assignees"] or who.can("administer") else Expect.REFUSED


def _rule_notification(who, obj):
    return Expect.ALLOW if obj.facts["recipient"] == who.person_id else Expect.HIDDEN


def work_visible(who, work):
    # "The programme, work and evidence files": owner, view_all, managers up the owner's line.
    return work["owner"] == who.person_id or who.can("view_all_audits") or who.person_id in work["above_owner"]


def _rule_work_read(who, obj):
    return Expect.ALLOW if work_visible(who, obj.facts) else Expect.HIDDEN


def _rule_work_write(who, obj):
    if not work_visible(who, obj.facts):
        return Expect.HIDDEN
    return Expect.ALLOW if obj.facts["owner"] == who.person_id else Expect.SEEN


def _rule_work_step(who, obj):
    return Expect.SEEN if work_visible(who, obj.facts) else Expect.HIDDEN


def _rule_work_file(who, obj):
    # The file is an audit's, not this work's: "There is no such file" for everyone.
    return Expect.HIDDEN


def _rule_no_such_thing(who, obj):
    return Expect.HIDDEN


def _rule_token(who, obj):
    # "a person lists and revokes only their own ... someone else's token is NotFound".
    return Expect.ALLOW if obj.facts["person"] == who.person_id else Expect.HIDDEN


def action_visible(who, action):
    # "Actions": owner, setter, owner's managers, whoever sees its audit;
    # every action of the council only for view_all_audits with administer (case 1).
    return (
        who.person_id in (action["owner"], action["setter"])
        or who.person_id in action["above_owner"]
        or (who.can("view_all_audits") and who.can("administer"))
        or audit_visible(who, action["audit"])
    )


def _rule_action_read(who, obj):
    return Expect.ALLOW if action_visible(who, obj.facts) else Expect.HIDDEN


def _rule_action_write(who, obj):
    if not action_visible(who, obj.facts):
        return Expect.HIDDEN
    facts = obj.facts
    if who.person_id in (facts["owner"], facts["setter"]) or who.person_id in facts["above_owner"]:
        return Expect.ALLOW
    return Expect.FORBIDDEN


def _rule_dispute_new(who, obj):
    if not audit_visible(who, obj.facts):
        return Expect.HIDDEN
    return Expect.SEEN


def dispute_visible(who, dispute):
    """"Disputes": whoever sees the audit; a role the workflow names, only
    the one the notifications tell (case 5: the nearest active holder up the
    practitioner's line, or every holder when the line has none)."""
    if audit_visible(who, dispute["audit"]):
        return True
    return who.person_id in dispute["told"].get(who.role, ())


def _rule_dispute_read(who, obj):
    return Expect.ALLOW if dispute_visible(who, obj.facts) else Expect.HIDDEN


def _rule_dispute_step(who, obj):
    return Expect.SEEN if dispute_visible(who, obj.facts) else Expect.HIDDEN


def _rule_plan_list(who, obj):
    # "Action plans": a role on the plan's body, or administer; anyone else 403 for the list.
    # A council with no body that monitors plans (Haringey, Coventry) has no plans at all.
    if not who.body_roles:
        return Expect.FORBIDDEN
    return Expect.ALLOW if who.can("administer") or who.role in who.body_roles else Expect.FORBIDDEN


def _rule_plan_read(who, obj):
    facts = obj.facts
    return Expect.ALLOW if who.can("administer") or who.role in facts["roles"] else Expect.HIDDEN


def _rule_requests(who, obj):
    # "Requests": view_all_audits; an agency's lead or respondent; anyone else 403.
    if who.can("view_all_audits") or who.role in ("agency_lead", "agency_respondent"):
        return Expect.ALLOW
    return Expect.FORBIDDEN


def _rule_administer_service(who, obj):
    return Expect.ALLOW if who.can("administer") else Expect.FORBIDDEN


def _rule_request_read(who, obj):
    if who.can("view_all_audits") or who.role in ("agency_lead", "agency_respondent"):
        return Expect.ALLOW
    return Expect.REFUSED


def _rule_agency(who, obj):
    # "Respondents": their agency's lead or the QA manager.
    if who.can("administer") or (who.role == "agency_lead" and who.agency == obj.facts["id"]):
        return Expect.ALLOW
    return Expect.REFUSED


def _rule_agency_person(who, obj):
    # The person tried is no respondent: "no such respondent" (404) for those who manage them too.
    return Expect.ANY if _rule_agency(who, obj) is Expect.ALLOW else Expect.REFUSED


def _reads_partnership(who) -> bool:
    return bool(who.caps & {"view_all_audits", "read_council_reports"})


def _rule_partnership(who, obj):
    # "Partnership reports ...": reads_partnership; anyone else 404. A council
    # with no scorecard or audit programme has none to show: 404.
    return Expect.ALLOW if _reads_partnership(who) and who.scorecard else Expect.HIDDEN


def _rule_partnership_request(who, obj):
    return Expect.ALLOW if _reads_partnership(who) else Expect.HIDDEN


def _rule_partnership_qa(who, obj):
    # Findings, recommendations, drafting, the action plan, the programme's
    # themes: the QA manager; "anyone else 403/404".
    if who.can("administer") and who.scorecard:
        return Expect.ALLOW if obj is None else Expect.ANY  # no report yet on the demo's requests: 404
    if who.can("administer") and obj is None:
        return Expect.ANY  # a council with no programme or scorecard: nothing to write (404/422)
    return Expect.REFUSED


def _agency_person(who) -> bool:
    # The scorecard shows an agency's people their own agency's indicators
    # (scorecard.AGENCY_ROLES: its lead and its respondents).
    return who.role in ("agency_lead", "agency_respondent")


def _rule_scorecard(who, obj):
    if not who.scorecard:
        # A council with no scorecard: its readers find nothing (an empty list, or 404).
        return Expect.ANY if _reads_partnership(who) else Expect.REFUSED
    if _reads_partnership(who) or _agency_person(who):
        return Expect.ALLOW
    return Expect.REFUSED


def _rule_changes(who, obj):
    # The list of indicator changes: readers of the partnership; not an agency's people (404).
    if not who.scorecard:
        return Expect.ANY if _reads_partnership(who) else Expect.REFUSED
    return Expect.ALLOW if _reads_partnership(who) else Expect.REFUSED


def _rule_body_names_it(who, obj):
    # The object is named in the body, not the path (a dispute's audit, an
    # activity's key): the matrix sends one that is not the person's to raise
    # or start; the object-level check is the GET/POST pair with the id in the
    # path (/disputes/new/{id}, /programme/start/{key}).
    return Expect.ANY


def _rule_compliance_complete(who, obj):
    # BED s.4: the compliance audit's own auditor, of a role that carries them out.
    if obj.facts["auditor"] == who.person_id:
        return Expect.SEEN  # their own audit: completing a final one is 409
    return Expect.REFUSED


def _rule_audit_lead(who, obj):
    # Co-auditors: "The lead may add any active person ..." (Decided 6): the lead, while a draft.
    if not audit_visible(who, obj.facts):
        return Expect.HIDDEN
    return Expect.ALLOW if obj.facts["auditor"] == who.person_id and obj.facts["editable"] else Expect.SEEN


def _rule_co_auditor_remove(who, obj):
    # The lead removes a co-auditor; the person tried is the case's worker, never one: 404 for the lead too.
    if not audit_visible(who, obj.facts):
        return Expect.HIDDEN
    return Expect.ANY if obj.facts["auditor"] == who.person_id else Expect.SEEN


def _rule_whole_programme(who, obj):
    # "Only the QA team sees the whole programme" (administer or view_all_audits); "My programme" for everyone.
    return Expect.ALLOW if who.caps & {"administer", "view_all_audits"} else Expect.FORBIDDEN


def _rule_compliance(who, obj):
    # BED s.4: only a role with a per-supervisee compliance audit in its schedule.
    return Expect.ALLOW if who.compliance else Expect.FORBIDDEN


def _rule_partnership_report(who, obj):
    # Readers reach the report; whether there is one yet (404 "no report") is not access.
    return Expect.ANY if _reads_partnership(who) else Expect.HIDDEN


def _rule_scorecard_step(who, obj):
    # The demo's quarter has not been started: a reader's step finds no quarter (404).
    if who.scorecard and (_reads_partnership(who) or _agency_person(who)):
        return Expect.ANY
    return Expect.REFUSED


def _rule_change(who, obj):
    # An agency's person sees changes to their own agency's indicators only.
    if _reads_partnership(who):
        return Expect.ALLOW
    return Expect.ANY if _agency_person(who) else Expect.HIDDEN


CHANGE_PROPOSERS = ("qa_manager", "audit_chair", "ap_member", "agency_lead")


def _rule_change_propose(who, obj):
    # "Indicator changes": the QA manager, the Audit Chair, A&P subgroup members and
    # agency leads propose; the Executive Group and the Board read; anyone else 404.
    if who.scorecard and who.role in CHANGE_PROPOSERS:
        return Expect.ALLOW
    return Expect.REFUSED


def _rule_change_step(who, obj):
    if _reads_partnership(who):
        return Expect.SEEN
    return Expect.ANY if _agency_person(who) else Expect.HIDDEN


def _rule_programme_step(who, obj):
    return Expect.SEEN if _reads_partnership(who) else Expect.HIDDEN


RULES = {
    "body_names_it": _rule_body_names_it,
    "compliance_complete": _rule_compliance_complete,
    "audit_lead": _rule_audit_lead,
    "co_auditor_remove": _rule_co_auditor_remove,
    "whole_programme": _rule_whole_programme,
    "compliance": _rule_compliance,
    "partnership_report": _rule_partnership_report,
    "scorecard_step": _rule_scorecard_step,
    "change_step": _rule_change_step,
    "programme_step": _rule_programme_step,
    "open": _rule_open,
    "signed_in": _rule_signed_in,
    "administer": _guard("administer"),
    "qa_review": _guard("qa_review"),
    "reports": _rule_reports,
    "audit_read": _rule_audit_read,
    "audit_pdf": _rule_audit_pdf,
    "case_note": _rule_case_note,
    "audit_edit": _rule_audit_edit,
    "audit_step": _rule_audit_step,
    "follow_up": _rule_follow_up,
    "notification": _rule_notification,
    "work_read": _rule_work_read,
    "work_write": _rule_work_write,
    "work_step": _rule_work_step,
    "work_file": _rule_work_file,
    "no_such_thing": _rule_no_such_thing,
    "token": _rule_token,
    "action_read": _rule_action_read,
    "action_write": _rule_action_write,
    "dispute_new": _rule_dispute_new,
    "dispute_read": _rule_dispute_read,
    "dispute_step": _rule_dispute_step,
    "plan_list": _rule_plan_list,
    "plan_read": _rule_plan_read,
    "requests": _rule_requests,
    "administer_service": _rule_administer_service,
    "request_read": _rule_request_read,
    "agency": _rule_agency,
    "agency_person": _rule_agency_person,
    "person": _guard("administer"),
    "partnership": _rule_partnership,
    "partnership_request": _rule_partnership_request,
    "partnership_qa": _rule_partnership_qa,
    "partnership_qa_list": _rule_partnership_qa,
    "scorecard": _rule_scorecard,
    "change": _rule_change,
    "change_propose": _rule_change_propose,
    "changes": _rule_changes,
    "programme": _rule_partnership_request,
}


# --- trying every route -----------------------------------------------------

CONSTANTS = {
    "step": "matrix-no-such-step", "line": "matrix", "year": 2026, "quarter": 4, "key": "matrix-no-such-activity",
    "token": "matrix-not-a-token", "path": "openapi.yaml",
}
OBJECT_KINDS = {
    ("allocation_id", "file_id"): "audit_file", ("allocation_id", "person_id"): "co_auditor",
    ("allocation_id", "follow_up_id"): "follow_up", ("allocation_id",): "audit", ("work_id", "file_id"): "work_file",
    ("work_id",): "work", ("dispute_id",): "dispute", ("action_id",): "action", ("plan_id",): "plan",
    ("notification_id",): "notification", ("token_id",): "token", ("request_id",): "request",
    ("change_id",): "change", ("programme_id",): "programme", ("agency_id",): "agency",
    ("agency_id", "person_id"): "agency_person", ("person_id",): "person",
}


def _kind(path: str) -> str | None:
    params = tuple(p for p in re.findall(r"{(\w+):", path) if p not in CONSTANTS)
    return OBJECT_KINDS[params] if params else None


def _url(path: str, params: dict) -> str:
    values = CONSTANTS | params
    return re.sub(r"{(\w+):[^}]+}", lambda m: str(values[m.group(1)]), path)


def _targets(world: World, who: Who, kind: str) -> list[tuple[str, Obj]]:
    """The objects ``who`` tries a route on: their own council's (a line each)
    and one of another council's."""
    objects = world.objects
    if kind == "work_file":  # a work item with a file that is not its own
        objects = {"work_file": {c: [Obj("work_file", c, w.organisation, w.label,
                                         w.params | {"file_id": world.objects["audit_file"][c][0].params["file_id"]}, w.facts)
                                     for w in works] for c, works in world.objects["work"].items()
                                 if world.objects.get("audit_file", {}).get(c)}}
    if kind == "agency_person":  # a respondent's address: the agency and one of the council's people
        objects = {"agency_person": {c: [Obj("agency_person", a.council, a.organisation, a.label,
                                             a.params | {"person_id": world.people[0].person_id}, a.facts)
                                         for a in agencies] for c, agencies in world.objects["agency"].items()}}
    by_council = objects.get(kind, {})
    out = [(f"own council, {o.label}", o) for o in by_council.get(who.council, [])]
    others = [c for c in (("bedford",) if who.council == "haringey" else ("haringey",)) + COUNCILS
              if c != who.council and by_council.get(c)]
    if others:
        out.append((f"other council ({others[0]})", by_council[others[0]][0]))
    return out


def _bodies(app) -> dict[tuple[str, str], tuple[str, dict]]:
    """A smallest body the API's own schema accepts for each API write, so
    the handler runs and the policy decides (an empty body is refused by the
    schema with a 400 before anything is looked up, proving nothing). Its
    values name nothing real ("matrix", 1, 31 December 2026), so an allowed
    attempt comes back 409/422 or changes nothing that matters here."""
    schema = app.openapi_schema.to_schema()
    components = schema.get("components", {}).get("schemas", {})

    def sample(node: dict, name: str = ""):
        if "$ref" in node:
            return sample(components[node["$ref"].rsplit("/", 1)[-1]], name)
        for key in ("oneOf", "anyOf"):
            if key in node:
                options = [o for o in node[key] if o.get("type") != "null"]
                return sample(options[0], name) if options else None
        if "enum" in node:
            return node["enum"][0]
        kind = node.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if kind == "object":
            return {k: sample(v, k) for k, v in node.get("properties", {}).items() if k in node.get("required", [])}
        if kind == "array":
            return []
        if kind == "integer":
            return 1
        if kind == "number":
            return 1
        if kind == "boolean":
            return False
        if node.get("format") == "binary":
            return ("notes.txt", b"Seen at home.", "text/plain")
        if node.get("format") == "date":
            return "2026-12-31"
        if node.get("format") == "date-time":
            return "2026-12-31T09:30:00Z"
        return "matrix"

    out = {}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media, body in content.items():
                out[(method.upper(), path)] = (media, sample(body["schema"]))
    return out


@dataclass
class Attempt:
    method: str
    path: str
    who: str
    relation: str
    expected: Expect
    got: int
    note: str = ""


def _leaks(world: World, who: Who, text: str, mine: set[str]) -> str:
    """Another council's case numbers, or (for a role without a council-wide
    view) another line's, that a list shows."""
    for council, prefix in world.case_prefix.items():
        if council != who.council and re.search(re.escape(prefix) + r"\d", text):
            return f"shows {council}'s case numbers"
    # Council-wide readers; a reviewer without view_all_audits reads their line only (case 2).
    if who.caps & {"view_all_audits", "read_council_reports", "administer"}:
        return ""
    line_teams = {p.team for p in world.people if p.council == who.council and who.person_id in p.above} | {who.team}
    for team, numbers in world.line_cases.get(who.council, {}).items():
        if team in line_teams:
            continue
        shown = sorted(n for n in numbers - mine if re.search(re.escape(n) + r"\b", text))
        if shown:
            return f"shows case {shown[0]} of another line"
    return ""


# --- what is tried once for many (the suite's 15 minutes) ----------------------
#
# Every person tries every route with an object of their own council and every
# route without one, except as below; what is not sent is counted and judged
# as stated, so nothing the matrix proves is lost:
#
# - Another council's objects: once per set of capabilities and the facts the
#   rules read about a role (body member, agency person, compliance auditor):
#   another council's row is loaded with no relation to the person (every
#   loader compares the organisation first, docs/access.md "Another council
#   sees nothing"), so two people of one class get the same answer.
# - Own council's objects: once per class and relation to the object (where
#   the person stands in the object's facts: its auditor, practitioner, team
#   manager, a manager above them, its owner, setter, recipient, assignee, a
#   role its workflow's next steps name, the agency it belongs to): those are
#   all the rules read, so two people of one class standing in the same place
#   get the same answer ("roles with identical capability sets and relations
#   give identical answers").
# - Routes with no object, where the answer is not a list to read: a refusal
#   (403/404) or a write, once per class (the same capabilities and role
#   facts, the same answer). A list or page a person may read is fetched by
#   every person and scanned for other councils' and other lines' cases.
# - Open routes, signed in: by one person per council (its administrator); an
#   open route checks what it is given (a link, an address, a password, the
#   made-up name for an API token: an argon2 hash each), never who is signed in.
# - An allowed PDF or XLSX export: rendered once per council (the first
#   person allowed, on the first object allowed); for everyone else allowed, the export's handler is
#   proved (in `test_exports_decide_as_their_page`) to load through the same
#   call as its page, which that person did try and was allowed, and what is
#   left is the layout of the same tables. Refused attempts (403/404/409) are
#   always sent: they stop before any rendering.


def capability_class(who: Who) -> tuple:
    """What the rules read of a person besides where they stand to an object:
    their council, capabilities, whether their role sits on a body, is an
    agency's, carries out compliance audits or proposes indicator changes."""
    return (who.council, who.caps, who.role in who.body_roles, _agency_person(who), who.compliance, who.scorecard,
            who.role in CHANGE_PROPOSERS)


def standing(who: Who, facts) -> frozenset:
    """Where ``who`` stands in an object's facts: the paths at which their
    person id, their role or (for an agency's people) their agency appears."""
    found: set = set()

    def walk(value, path):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}")
            return
        if isinstance(value, (list, tuple, set, frozenset)):
            for v in value:
                walk(v, path)
            return
        if value == who.person_id and not isinstance(value, bool):
            found.add(("person", path))
        if value == who.role:
            found.add(("role", path))
        if who.agency is not None and value == who.agency and not isinstance(value, bool):
            found.add(("agency", path))

    walk(facts, "")
    return frozenset(found)


# export route -> (its page, the call both load their report through)
RENDERED_ONCE = {
    ("GET", "/reports/report.pdf"): (("GET", "/reports"), "await _tables(request)"),
    ("GET", "/reports/export.xlsx"): (("GET", "/reports"), "await _tables(request)"),
    ("GET", "/reports/overview.pdf"): (("GET", "/reports/overview"), "await _overview(request)"),
    ("GET", "/reports/overview/export.xlsx"): (("GET", "/reports/overview"), "await _overview(request)"),
    ("GET", "/reports/questions.pdf"): (("GET", "/reports/questions"), "await _questions(request)"),
    ("GET", "/reports/questions/export.xlsx"): (("GET", "/reports/questions"), "await _questions(request)"),
    ("GET", "/programme/delivery/report.pdf"): (("GET", "/programme/delivery"), "await _chosen(request)"),
    ("GET", "/programme/delivery/export.xlsx"): (("GET", "/programme/delivery"), "await _chosen(request)"),
    ("GET", "/audits/{allocation_id:int}/report.pdf"): (("GET", "/audits/{allocation_id:int}"), "await audits.audit_view("),
}


def _handler_source(app, method: str, path: str) -> str:
    import inspect

    for route in app.routes:
        if route.path == path:
            for handler in getattr(route, "route_handlers", ()):
                if method in handler.http_methods:
                    return inspect.getsource(handler.fn)
    raise AssertionError(f"no handler for {method} {path}")


def test_exports_decide_as_their_page(bare_app):
    """The matrix renders an allowed PDF or XLSX once per council,
    and judges the other allowed attempts by the page: that holds only while
    each export loads its report through the same call as its page (the
    access decision is made in that call; the export adds layout)."""
    app = bare_app
    for (method, path), ((page_method, page_path), call) in RENDERED_ONCE.items():
        assert call in _handler_source(app, method, path), f"{method} {path} no longer loads through {call}"
        assert call in _handler_source(app, page_method, page_path), f"{page_method} {page_path} no longer loads through {call}"


@pytest.mark.req("PLAT-11")
async def test_every_role_on_every_route_gets_what_docs_access_says(world, tmp_path):
    # The attempts run in the app's own event loop (the test client's portal),
    # several people at once: most of a request's time is spent waiting on the
    # database's threads, and AsyncTestClient's transport sends one request at a
    # time (its async send calls the blocking one). The app was started by the
    # AsyncTestClient (lifespan); each person has their own cookie jar.
    summary, wrong = world.client.blocking_portal.call(_try_everything, world)
    (Path(tmp_path) / "access-matrix.json").write_text(json.dumps(summary, indent=2))
    print(f"\naccess matrix: {json.dumps(summary, indent=1)}")
    assert not wrong, _table(wrong)


PEOPLE_AT_ONCE = 6


async def _try_everything(world: World) -> tuple[dict, list[Attempt]]:
    import asyncio

    import httpx

    from helpers import sign_in

    app = world.client.app
    started_all, cpu_started, thread_cpu_started = time.perf_counter(), time.process_time(), time.thread_time()

    def new_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://testserver.local")

    matrix = _matrix()
    ordered = sorted(matrix.items(), key=lambda item: (item[0][0] == "GET" and 0 or 1, item[0] == ("POST", "/logout")))
    attempts: list[Attempt] = []
    not_sent: Counter = Counter()
    judged_by_page: list[tuple[Attempt, tuple[str, str]]] = []
    scanned = {"lists": 0, "showing own council's case numbers": 0}

    bodies = _bodies(app)
    # A CSV export names one of its report's tables (?table=): one of each
    # report's own, read off the report's page.
    queries: dict[str, str] = {}
    async with new_client() as client:
        await sign_in(client, "haringey.head_of_qa")
        for page_path in ("/reports", "/reports/overview", "/reports/questions", "/programme/delivery"):
            found = re.search(r"export\.csv\?[^\"]*?table=([\w.-]+)", (await client.get(page_path)).text)
            assert found, f"{page_path} offers no CSV export"
            queries[f"{page_path}/export.csv"] = f"?table={found.group(1)}"
    queries["/api/v1/partnership/programme-check"] = "?on=2026-12-31"

    def body_of(method: str, path: str) -> dict:
        media, body = bodies.get((method, re.sub(r"{(\w+):[^}]+}", r"{\1}", path)), ("application/json", None))
        if media.startswith("multipart/"):
            # Evidence uploads: one small, real text file in the part named "file".
            return {"files": {"file": ("notes.txt", b"Seen at home.", "text/plain")}}
        return {"json": body if body is not None else {}}

    spent: Counter = Counter()

    async def attempt(client, method, path, url, who, relation, expected, *, api, headers=None, csrf=None):
        write = method != "GET"
        started = time.perf_counter()
        if api:
            response = await client.request(method, url, headers=headers or {}, **(body_of(method, path) if write else {}))
        elif write:
            response = await client.request(method, url, data={"_csrf_token": csrf} if csrf else {}, follow_redirects=False)
        else:
            response = await client.get(url, follow_redirects=False)
        attempts.append(Attempt(method, path, who, relation, expected, response.status_code))
        spent[f"{method} {path}"] += time.perf_counter() - started
        return response

    # Nobody signed in: pages send to sign-in, the API says 401; open routes answer.
    async with new_client() as client:
        for (method, path), rule in ordered:
            url = _url(path, {k: 1 for k in re.findall(r"{(\w+):", path) if k not in CONSTANTS})
            api = path.startswith("/api/v1/")
            response = await client.request(method, url, follow_redirects=False,
                                            **({"json": {}} if api and method != "GET" else {}))
            client.cookies.clear()
            expected = Expect.ANY if rule == "open" else Expect.SIGN_IN
            # A form post without the session's CSRF token is refused (403) before anything else.
            ok = response.status_code < 500 and (rule == "open" or response.status_code == (401 if api else 303)
                                                 or (not api and method != "GET" and response.status_code == 403))
            attempts.append(Attempt(method, path, "nobody signed in", "-", expected, response.status_code, "" if ok else "x"))

    witnesses = {next(p for p in world.people if p.council == c and p.can("administer")).username for c in COUNCILS}
    representative: dict[tuple, Who] = {}
    for who in world.people:
        representative.setdefault(capability_class(who), who)
    rendered: set[tuple] = set()  # (council, route) of the exports rendered
    outcome: dict[tuple, int] = {}  # (who, method, path, relation) -> status
    tried_by: dict[tuple, str] = {}  # (route, object, class, standing) -> who tried it

    async def as_person(who: Who) -> None:
        async with new_client() as client:
            await sign_in(client, who.username)  # the real sign-in, once per person
            csrf = csrf_from((await client.get("/account/tokens")).text)
            # The API's bearer token, made as /api/v1/auth/token makes it (signing in
            # by password twice per person would double the hashing time).
            from core.services import accounts

            token = await accounts.create_token(await acting(world.registry, who.username), who.person_id, "matrix")
            headers = {"Authorization": f"Bearer {token}"}
            mine = {r["external_id"] for r in await Allocation.raw(
                "SELECT c.external_id FROM allocation a JOIN child_case c ON c.id = a.child_case"
                " WHERE a.auditor = {} OR c.chair = {} OR c.allocated_worker = {}", who.person_id, who.person_id, who.person_id)}
            stands_for_class = representative[capability_class(who)] is who
            for (method, path), rule in ordered:
                api = path.startswith("/api/")
                kind = _kind(path)
                decide = RULES[rule]
                if rule == "open" and who.username not in witnesses:
                    not_sent["open routes, signed in (tried by each council's administrator)"] += 1
                    continue
                if kind is None:
                    expected = decide(who, None)
                    if not (method == "GET" and expected is Expect.ALLOW):
                        same = (method, path, "-", capability_class(who))
                        if same in tried_by:
                            not_sent["routes with no object, not a list to read (tried by one person per class)"] += 1
                            continue
                        tried_by[same] = who.label
                    if (method, path) in RENDERED_ONCE and expected is Expect.ALLOW:
                        key = (who.council, path)
                        if key in rendered:
                            judged_by_page.append((Attempt(method, path, who.label, "-", expected, 0),
                                                   (who.label, *RENDERED_ONCE[(method, path)][0], "-")))
                            continue
                        rendered.add(key)
                    response = await attempt(client, method, path, _url(path, {}) + queries.get(path, ""), who.label, "-",
                                             expected, api=api, headers=headers, csrf=csrf)
                    outcome[(who.label, method, path, "-")] = response.status_code
                    if (rule != "open" and method == "GET" and response.status_code == 200
                            and response.headers.get("content-type", "").startswith(("text/html", "application/json", "text/csv"))):
                        leak = _leaks(world, who, response.text, mine)
                        scanned["lists"] += 1
                        own = world.case_prefix[who.council]
                        scanned["showing own council's case numbers"] += bool(re.search(re.escape(own) + r"\d", response.text))
                        if leak:
                            attempts[-1].note = leak
                    continue
                for relation, obj in _targets(world, who, kind):
                    if obj.organisation != who.organisation:
                        if not stands_for_class:
                            not_sent["another council's objects (tried by one person per class)"] += 1
                            continue
                        # "Another council sees nothing": 404, the answer for a row that does not
                        # exist; or 403 where the role is refused whatever the object (a guard, or
                        # "anyone else 403" of requests to agencies), which says nothing of the row.
                        expected = Expect.REFUSED
                        same = None
                    else:
                        same = (method, path, relation, capability_class(who), standing(who, obj.facts))
                        if same in tried_by:
                            not_sent["own council's objects (tried by one person per class and relation)"] += 1
                            continue
                        tried_by[same] = who.label
                        expected = decide(who, obj)
                    if (method, path) in RENDERED_ONCE and expected is Expect.ALLOW:
                        key = (who.council, path)
                        if key in rendered:
                            # The page's attempt by this person's class and standing (the same as theirs).
                            page = RENDERED_ONCE[(method, path)][0] + same[2:]
                            judged_by_page.append((Attempt(method, path, who.label, relation, expected, 0), page))
                            continue
                        rendered.add(key)
                    response = await attempt(client, method, path, _url(path, obj.params), who.label, relation, expected,
                                             api=api, headers=headers, csrf=csrf)
                    if same:
                        outcome[same] = response.status_code
                    if obj.organisation != who.organisation and who.username in witnesses:
                        # "the same answer as for a row that does not exist": the council's
                        # administrator (who sees the most) tries a number nobody has.
                        missing = {k: 999999 for k in obj.params}
                        absent = await attempt(client, method, path, _url(path, missing), who.label, "a number nobody has",
                                               Expect.REFUSED, api=api, headers=headers, csrf=csrf)
                        if absent.status_code != response.status_code:
                            attempts[-1].note = f"another council's row answers {response.status_code}, a missing one {absent.status_code}"

    # Several people at once (each one's own attempts in the matrix's order: a
    # person's writes, deactivating and reactivating, signing out last).
    gate = asyncio.Semaphore(PEOPLE_AT_ONCE)

    async def gated(who: Who) -> None:
        async with gate:
            await as_person(who)

    await asyncio.gather(*(gated(who) for who in world.people))

    # An export not rendered again is judged by its page, tried by the same person on the same object.
    for a, page in judged_by_page:
        a.got = outcome.get(page, 0)
        a.note = f"judged by its page ({a.got})"

    wrong = [a for a in attempts if a.note or not judged(a.expected, a.got, a.method != "GET")]
    wrong += [a for a, _ in judged_by_page if not 200 <= a.got < 300]

    def relation(a: Attempt) -> str:
        if a.who == "nobody signed in":
            return "signed out"
        return "role only" if a.relation == "-" else a.relation.split(",")[0].split(" (")[0]

    summary = {
        "routes": len(matrix), "excluded": sorted(" ".join(r) for r in EXCLUDED), "people": len(world.people),
        "roles": len({(p.council, p.role) for p in world.people}),
        "classes (capabilities and role facts)": len(representative),
        "attempts": len(attempts),
        "by relation": dict(Counter(relation(a) for a in attempts)),
        "by line": dict(Counter(a.relation.split(", ")[1] for a in attempts if a.relation.startswith("own council, line"))),
        "by expectation": dict(Counter(a.expected.value for a in attempts)),
        "not sent, and why": dict(not_sent) | {
            "allowed exports judged by their page (rendered once per council)": len(judged_by_page)},
        "exports rendered": len(rendered),
        "audits tried (council, line, state, draft in progress?)": [
            f"{o.council} {o.label}: {o.facts['state']}{' (draft)' if o.facts['editable'] else ''}"
            for by_council in world.objects["audit"].values() for o in by_council],
        "lists scanned for other councils' and lines' case numbers": scanned,
        "slowest routes (seconds in flight, all attempts)": {k: round(v, 1) for k, v in spent.most_common(12)},
        "seconds trying routes (wall)": round(time.perf_counter() - started_all, 1),
        # CPU, which the machine's load does not inflate: the app's and the
        # test's event loop thread, and the whole process (the database's
        # threads, argon2 and WeasyPrint in theirs).
        "CPU seconds trying routes (event loop thread)": round(time.thread_time() - thread_cpu_started, 1),
        "CPU seconds trying routes (process)": round(time.process_time() - cpu_started, 1),
        "people at once": PEOPLE_AT_ONCE,
        "mismatches": len(wrong),
    }
    return summary, wrong


def _table(wrong: list[Attempt]) -> str:
    lines = [f"{len(wrong)} attempt(s) did not get what docs/access.md says:",
             f"{'route':70} {'who':38} {'relation':34} {'expected':16} got"]
    for a in wrong:
        lines.append(f"{a.method + ' ' + a.path:70} {a.who:38} {a.relation:34} {a.expected.value:16} {a.got} {a.note}")
    return "\n".join(lines)
