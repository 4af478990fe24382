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
- Never a 5xx, whatever the expectation.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
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

COUNCILS = ("haringey", "bedford", "coventry", "partnership")


class Expect(enum.Enum):
    ALLOW = "allowed"
    SEEN = "seen (not 404)"
    HIDDEN = "404"
    FORBIDDEN = "403"
    REFUSED = "403 or 404"
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
                caps=frozenset(role.capabilities), team=row["team"], above=await _chain(row["id"]),
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
        "editable": row["state"] == workflow.initial
        or any("auditor" in t.by and row["state"] in t.from_ for t in workflow.transitions),
    }


def _final_state(registry, allocation: dict) -> str:
    workflow = registry.workflow(allocation["workflow_key"], allocation["workflow_version"])
    return next(s.key for s in workflow.states if s.final)


async def _objects(registry, people: list[Who]) -> dict[str, dict[str, list[Obj]]]:
    """Two objects of each kind in each council where the demo can have them,
    one in the first team's line and one in the second's."""
    from core.db.tables import Agency, ActionPlan, Dispute, FollowUp, Notification, Team, Work
    from core.services import action_plans, actions, evidence

    now = dt.datetime(2026, 12, 31, 9, 30, tzinfo=dt.timezone.utc)
    objects: dict[str, dict[str, list[Obj]]] = {}

    def add(kind: str, council: str, org: int, label: str, params: dict, facts: dict | None = None) -> Obj:
        obj = Obj(kind, council, org, label, params, facts or {})
        objects.setdefault(kind, {}).setdefault(council, []).append(obj)
        return obj

    by_name = {p.username: p for p in people}
    for council in COUNCILS:
        org = await _org(council)
        teams = [t["id"] for t in await Team.select(Team.id).where(Team.organisation == org).order_by(Team.id)][:2]
        administrator = next(p for p in people if p.council == council and p.can("administer"))
        for line, team in enumerate(teams, start=1):
            label = f"line {line}"
            found = await Allocation.raw(
                "SELECT a.id, a.workflow_key, a.workflow_version FROM allocation a JOIN child_case c ON c.id = a.child_case"
                " WHERE a.organisation = {} AND c.team = {} AND a.agency_request IS NULL ORDER BY a.id", org, team)
            if len(found) < 2:
                continue
            draft, final = found[0], found[1]
            await Allocation.update({Allocation.state: _final_state(registry, final), Allocation.finalised_at: now,
                                     Allocation.submitted_at: now}).where(Allocation.id == final["id"])
            draft_obj = add("audit", council, org, f"{label}, draft", {"allocation_id": draft["id"]},
                            await _audit_facts(registry, draft["id"]))
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
                add("dispute", council, org, label, {"dispute_id": dispute[0]["id"]},
                    {"audit": final_obj.facts, "steps": [(t.key, set(t.by)) for t in workflow.transitions
                                                         if workflow.initial in t.from_]})
            # A co-auditor row's person: the practitioner of the case (never a co-auditor).
            add("co_auditor", council, org, f"{label}, draft",
                {"allocation_id": draft["id"], "person_id": draft_obj.facts["practitioner"]}, draft_obj.facts)
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
            plan_id = await action_plans.create(ctx, body=body.key, title="Matrix plan", source_kind="audit")
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
GET  /api/v1/allocations/{allocation_id:int}/history  audit_read
GET  /audits/{allocation_id:int}/case-note.txt  audit_read
GET  /audits/{allocation_id:int}/report.pdf     audit_pdf
GET  /api/v1/allocations/{allocation_id:int}/evidence  audit_read
GET  /api/v1/allocations/{allocation_id:int}/co-auditors/candidates  audit_read
POST /audits/{allocation_id:int}                audit_edit
POST /audits/{allocation_id:int}/autosave       audit_edit
PUT  /api/v1/allocations/{allocation_id:int}/answers  audit_edit
POST /audits/{allocation_id:int}/evidence       audit_edit
POST /api/v1/allocations/{allocation_id:int}/evidence  audit_edit
POST /audits/{allocation_id:int}/co-auditors    audit_edit
POST /api/v1/allocations/{allocation_id:int}/co-auditors  audit_edit
POST /audits/{allocation_id:int}/co-auditors/{person_id:int}/remove  audit_edit
DELETE /api/v1/allocations/{allocation_id:int}/co-auditors/{person_id:int}  audit_edit
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
GET  /programme                                 signed_in
GET  /programme/mine                            signed_in
GET  /api/v1/work                               signed_in
POST /api/v1/work                               signed_in
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
POST /api/v1/disputes                           signed_in
GET  /disputes/{dispute_id:int}                 dispute_read
GET  /api/v1/disputes/{dispute_id:int}          dispute_read
POST /disputes/{dispute_id:int}/step            dispute_step
POST /api/v1/disputes/{dispute_id:int}/steps/{step:str}  dispute_step
# Actions.
GET  /actions                                   signed_in
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
GET  /compliance                                signed_in
POST /compliance                                signed_in
GET  /compliance/{allocation_id:int}            audit_read
POST /compliance/{allocation_id:int}/complete   audit_edit
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
GET  /partnership/requests                      partnership
GET  /api/v1/partnership/requests               partnership
GET  /partnership/requests/{request_id:int}     partnership_request
GET  /partnership/requests/{request_id:int}/report.pdf  partnership_request
GET  /api/v1/partnership/requests/{request_id:int}/report      partnership_request
GET  /api/v1/partnership/requests/{request_id:int}/report.pdf  partnership_request
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
POST /partnership/requests/{request_id:int}/report/steps/{step:str}  partnership_request_step
POST /api/v1/partnership/requests/{request_id:int}/report/steps/{step:str}  partnership_request_step
GET  /partnership/scorecard                     scorecard
GET  /api/v1/partnership/scorecard/indicators   scorecard
GET  /api/v1/partnership/scorecard/{year:int}/{quarter:int}  scorecard
POST /api/v1/partnership/scorecard/{year:int}/{quarter:int}  partnership_qa_list
POST /partnership/scorecard/{year:int}/{quarter:int}/open   partnership_qa_list
POST /partnership/scorecard/{year:int}/{quarter:int}/steps/{step:str}  scorecard
POST /api/v1/partnership/scorecard/{year:int}/{quarter:int}/steps/{step:str}  scorecard
GET  /partnership/scorecard/changes/new         scorecard
POST /partnership/scorecard/changes/new         scorecard
GET  /api/v1/partnership/scorecard/changes      scorecard
POST /api/v1/partnership/scorecard/changes      scorecard
GET  /partnership/scorecard/changes/{change_id:int}  change
GET  /api/v1/partnership/scorecard/changes/{change_id:int}  change
POST /partnership/scorecard/changes/{change_id:int}/steps/{step:str}  change
POST /api/v1/partnership/scorecard/changes/{change_id:int}/steps/{step:str}  change
GET  /partnership/programme                     partnership
POST /partnership/programme                     partnership_qa_list
GET  /api/v1/partnership/programmes             partnership
POST /api/v1/partnership/programmes             partnership_qa_list
GET  /api/v1/partnership/programme-check        partnership
GET  /partnership/programme/{programme_id:int}  programme
GET  /api/v1/partnership/programmes/{programme_id:int}  programme
POST /partnership/programme/{programme_id:int}/steps/{step:str}  programme
POST /api/v1/partnership/programmes/{programme_id:int}/steps/{step:str}  programme
PUT  /api/v1/partnership/programmes/{programme_id:int}/themes  programme
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


def test_every_route_is_in_the_matrix(every_council, tmp_path):
    """A new route fails here until the matrix says who may use it; a removed
    route fails until its row goes (issue 16 item 2)."""
    from web.app import create_app

    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.sqlite3'}", councils=COUNCILS), every_council)
    routes = _app_routes(app) - set(EXCLUDED)
    matrix = set(_matrix())
    missing = sorted(routes - matrix)
    gone = sorted(matrix - routes)
    assert not missing, "routes the access matrix does not cover:\n" + "\n".join(f"  {m} {p}" for m, p in missing)
    assert not gone, "matrix rows for routes that no longer exist:\n" + "\n".join(f"  {m} {p}" for m, p in gone)
