"""Issue 16's doubtful cases, decided in docs/access.md ("Decided"), through
the pages and the API a user sees:

1. a role that sees every audit but does not administer reads no draft;
2. Bedford's heads of service review only their own line's audits;
3. an action is set only for someone the setter may choose;
5. a dispute is opened by whoever its notifications tell, and no one else.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Allocation, Notification, Person
from core.plugins import load_plugins
from helpers import acting, allocation_of, api_token, audit_day, csrf_from, finalise, person, sign_in
from support.snapshots import snapshot_demo

# The rules are the same code on both databases; the suite's 15 minutes keep
# this module on SQLite (as tests/test_api_disputes_actions.py).
SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems


def plain(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def owner_choices(page: str) -> list[str]:
    """The names the owner picker of the action form offers."""
    select = page.split('name="owner"', 1)[1].split("</select>", 1)[0]
    return [plain(name) for value, name in re.findall(r'<option value="([^"]*)"[^>]*>(.*?)</option>', select, re.S) if value]


async def _second(username: str, suffix: str = "other", **changes) -> dict:
    """Another holder of ``username``'s role beside the demo's one (a second
    management line), signing in with the demo password."""
    from core.services.accounts import hash_password

    above = await person(username)
    row = dict(above, username=f"{username}.{suffix}", display_name="Other Line Manager", email=f"{suffix}@example.org",
               password_hash=hash_password("qaf-demo-2026")) | changes
    row.pop("id")
    await Person.insert(Person(**row))
    return await person(row["username"])


# ----------------------------------------------------------- Bedford (1, 2)
@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("bedford"), "sqlite:///unused", councils=("bedford",))).registry


@pytest_asyncio.fixture(loop_scope="session")
async def bedford_client(bedford, database_url, tmp_path):
    from web.app import create_app

    await snapshot_demo(bedford, "bedford")
    settings = make_settings(tmp_path, database_url, councils=("bedford",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


async def _submit(client, registry, username: str, allocation_id: int) -> None:
    """The auditor fills in and completes the audit through the API: it goes
    to "Completed: with senior manager for quality assurance" (BED s.3)."""
    from core.services import audits

    view = await audits.audit_view(await acting(registry, username), allocation_id)
    headers = await api_token(client, username)
    answers = {}
    for field in view.fields.fields:
        if field.from_record:
            continue
        if field.kind == "grade":
            answers[field.name] = "good"
        elif field.kind == "date":
            answers[field.name] = audit_day()
        elif field.options:
            answers[field.name] = field.options[0][0]
        elif field.required:
            answers[field.name] = "Evidence."
    detail = (await client.get(f"/api/v1/allocations/{allocation_id}", headers=headers)).json()
    saved = await client.put(f"/api/v1/allocations/{allocation_id}/answers",
                             json={"revision": detail["revision"], "answers": answers}, headers=headers)
    assert saved.status_code == 200, saved.text
    submitted = await client.post(f"/api/v1/allocations/{allocation_id}/submit", json={}, headers=headers)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state"] == "qa_review"


@pytest.mark.req("PLAT-11")
async def test_bedford_dmt_reads_no_draft_and_a_head_of_service_reviews_only_their_own_line(bedford, bedford_client):
    client = bedford_client
    allocation = await allocation_of("bedford.team_manager.1")
    audit = f"/audits/{allocation['id']}"
    api = f"/api/v1/allocations/{allocation['id']}"
    dmt = await api_token(client, "bedford.dmt")
    sqa = await api_token(client, "bedford.sqa_officer")

    # Case 1: a draft ("Allocated") is not DMT's (BED s.3: reports and
    # completed audits go to DMT), but the S&QA team, who allocate and chase
    # audits, open it.
    assert (await client.get(api, headers=dmt)).status_code == 404
    assert (await client.get(f"{api}/history", headers=dmt)).status_code == 404
    assert (await client.get(api, headers=sqa)).status_code == 200
    await sign_in(client, "bedford.dmt")
    refused = await client.get(audit)
    assert refused.status_code == 404 and "There is no audit with that number that you can see" in refused.text

    # A second head of service, of a line that is not the case's: only the
    # chief officer above them, nobody below.
    chief = await person("bedford.chief_officer")
    other = await _second("bedford.head_of_service", line_manager=chief["id"])
    await _submit(client, bedford, "bedford.team_manager.1", allocation["id"])

    # Out of the auditor's hands, DMT reads it.
    opened = await client.get(audit)
    assert opened.status_code == 200
    assert "Completed: with senior manager for quality assurance" in plain(opened.text)

    # Case 2: the case's own head of service has it in their QA queue ...
    await sign_in(client, "bedford.head_of_service")
    assert f'href="{audit}"' in (await client.get("/qa")).text
    assert (await client.get(audit)).status_code == 200
    # ... another line's head of service does not: not in the queue, not on
    # its page, not through the API, and cannot quality-assure it.
    await sign_in(client, other["username"])
    queue = await client.get("/qa")
    assert queue.status_code == 200 and f'href="{audit}"' not in queue.text
    assert (await client.get(audit)).status_code == 404
    theirs = await api_token(client, other["username"])
    assert allocation["id"] not in [a["id"] for a in (await client.get("/api/v1/qa/queue", headers=theirs)).json()]
    accept = await client.post(f"{api}/review", json={"decision": "accept", "reason": ""}, headers=theirs)
    assert accept.status_code == 404, accept.text
    # Nobody is in their line, so no report reaches anything of theirs (as
    # ``read_reports``): no Reports in the menu, 403 on the page.
    assert 'href="/reports"' not in queue.text
    assert (await client.get("/reports")).status_code == 403
    # The case's own head of service reads the reports of their line, which
    # in the demo is every team (all three report to them).
    await sign_in(client, "bedford.head_of_service")
    assert (await client.get("/reports")).status_code == 200
    # Every case file audit of the demo, in both its services, has its head of
    # service to review it (and the S&QA team, Chief Officer and Director).
    from core.db.tables import Team
    from core.services import audits

    hos = (await acting(bedford, "bedford.head_of_service")).actor
    ids = [a["id"] for a in await Allocation.select(Allocation.id).where(
        (Allocation.organisation == hos.organisation_id) & (Allocation.form_key == "bedford:case_file_audit"))]
    rows = [await audits.load_row(i) for i in ids]
    services = {t["service"] for t in await Team.select(Team.service).where(Team.id.is_in([r["case_team"] for r in rows]))}
    assert len(services) == 2, "the demo's audits reach both of its services"
    assert all([await audits.in_reviewers_line(hos, row) for row in rows])
    assert not any([await audits.in_reviewers_line((await acting(bedford, other["username"])).actor, row) for row in rows])


# ------------------------------------------------------------ Haringey (3, 5)
async def _case_people(allocation_id: int) -> tuple[dict, dict, dict]:
    """The practitioner of the audited case, their team manager and the
    service manager above (HAR demo: the line up to the director)."""
    row = await Allocation.select(Allocation.child_case.allocated_worker.as_alias("w")).where(Allocation.id == allocation_id).first()
    worker = await Person.select().where(Person.id == row["w"]).first()
    manager = await Person.select().where(Person.id == worker["line_manager"]).first()
    boss = await Person.select().where(Person.id == manager["line_manager"]).first()
    return worker, manager, boss


@pytest.mark.req("PLAT-11")
async def test_an_action_is_set_only_for_the_setters_line_or_the_audits_people(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    worker, manager, _ = await _case_people(allocation["id"])
    director = await person("haringey.director")
    sw = await api_token(client, worker["username"])
    due = "2027-01-15"

    # A practitioner sets no action for a director, on the API ...
    refused = await client.post("/api/v1/actions", json={
        "what": "Fund more staff", "owner_id": director["id"], "due_on": due, "allocation_id": allocation["id"]}, headers=sw)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"]["owner"] == (
        f"You cannot set an action for {director['display_name']}: choose yourself, someone in your line, "
        "or this audit's practitioner, auditor or team manager")
    # ... nor, without an audit, for their own manager (not below them).
    upward = await client.post("/api/v1/actions", json={"what": "Book supervision", "owner_id": manager["id"], "due_on": due},
                               headers=sw)
    assert upward.status_code == 422
    assert upward.json()["errors"]["owner"] == (
        f"You cannot set an action for {manager['display_name']}: choose yourself or someone in your line")
    # On the audit, its team manager is one of its people (HAR 2.13).
    made = await client.post("/api/v1/actions", json={
        "what": "Review the plan with the family", "owner_id": manager["id"], "due_on": due, "allocation_id": allocation["id"]},
        headers=sw)
    assert made.status_code == 201, made.text
    # The QA administrators set actions for anyone in the council (HAR 2.15).
    qa = await api_token(client, "haringey.qa_officer")
    assert (await client.post("/api/v1/actions", json={"what": "Present the findings", "owner_id": director["id"], "due_on": due},
                              headers=qa)).status_code == 201

    # The audit page offers the practitioner only whom they may choose.
    await sign_in(client, worker["username"])
    page = await client.get(f"/audits/{allocation['id']}")
    offered = owner_choices(page.text)
    auditor = await person("haringey.cp_chair")
    assert sorted(offered) == sorted({worker["display_name"], manager["display_name"], auditor["display_name"]})
    # A form naming someone else comes back with the words, keeping what was typed.
    posted = await client.post("/actions", data={
        "_csrf_token": csrf_from(page.text), "allocation_id": str(allocation["id"]), "back": f"/audits/{allocation['id']}",
        "what": "Fund more staff", "owner": str(director["id"]), "due_on-day": "", "due_on-month": "1", "due_on-year": "2027"})
    assert posted.status_code == 422
    text = plain(posted.text)
    assert f"You cannot set an action for {director['display_name']}" in text
    assert "The date must include a day" in text  # every field's error at once
    assert "Fund more staff" in posted.text and 'value="2027"' in posted.text
    assert director["display_name"] not in owner_choices(posted.text)


async def _to_formal_response(client, dispute_id: int, tm: dict, qa: dict) -> None:
    """HAR 2.11: informal meeting, not resolved, formal stage, the QA team's
    written response drafted (the next step sends it to the service manager)."""
    for step, body, who in (("meeting_held", {"participants": "TM, SW, auditor"}, tm),
                            ("go_formal", {"reason": "Not resolved at the meeting"}, tm),
                            ("agree_course", {}, qa)):
        moved = await client.post(f"/api/v1/disputes/{dispute_id}/steps/{step}", json=body, headers=who)
        assert moved.status_code == 200, moved.text


@pytest.mark.req("PLAT-11")
async def test_a_dispute_is_opened_by_whoever_its_notifications_tell(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    worker, manager, own_sm = await _case_people(allocation["id"])
    other_sm = await _second(own_sm["username"])
    sw, tm, qa = [await api_token(client, u) for u in (worker["username"], manager["username"], "haringey.qa_officer")]
    raised = await client.post("/api/v1/disputes", json={
        "allocation_id": allocation["id"], "criteria": "safeguarding_corporate_parenting_dct",
        "domains": {"planning": {"proposed": "good", "rationale": "Plan reviewed in time."}}}, headers=sw)
    assert raised.status_code == 201, raised.text
    dispute = raised.json()["id"]
    other = await api_token(client, other_sm["username"])
    # The case's own service manager is the one the line gives; the other
    # line's is refused.
    assert (await client.get(f"/api/v1/disputes/{dispute}", headers=await api_token(client, own_sm["username"]))).status_code == 200
    assert (await client.get(f"/api/v1/disputes/{dispute}", headers=other)).status_code == 404

    # The line's service manager leaves: an inactive holder counts for
    # nothing, so the notifications' fallback tells every active service
    # manager, and each of them can open what they are told about.
    await Person.update({Person.active: False}).where(Person.id == own_sm["id"])
    await _to_formal_response(client, dispute, tm, qa)
    sent = await client.post(f"/api/v1/disputes/{dispute}/steps/send_response",
                             json={"reason": "The grade stands: the plan was reviewed late."}, headers=qa)
    assert sent.status_code == 200, sent.text
    told = await Notification.select(Notification.link).where(Notification.recipient == other_sm["id"])
    assert f"/disputes/{dispute}" in [n["link"] for n in told]
    assert (await client.get(f"/api/v1/disputes/{dispute}", headers=other)).status_code == 200
    await sign_in(client, other_sm["username"])
    page = await client.get(f"/disputes/{dispute}")
    assert page.status_code == 200 and "Formal: written response sent" in plain(page.text)
    # The audit itself stays closed to them, and the page offers no link to it.
    assert (await client.get(f"/audits/{allocation['id']}")).status_code == 404
    assert "See the audit" not in page.text


# ------------------------------------------------------- the partnership (1)
@pytest.mark.req("PLAT-11")
async def test_the_audit_chair_opens_a_return_once_submitted_and_a_plans_actions_go_to_its_reach(partnership, partnership_client):
    from core.calendar import end_of_london_day
    from core.db.engine import transaction
    from core.services.allocations import create_allocation
    from partnership_support import issue_request

    client = partnership_client
    request_id = await issue_request(partnership, "section_11", "Section 11 audit 2027", dt.date(2027, 3, 31))
    qa = await acting(partnership, "partnership.qa_manager")
    lead = await person("partnership.agency_lead.police")
    async with transaction():
        allocation_id = await create_allocation(
            qa, organisation_id=lead["organisation"], case=None, auditor=lead, kind="audit", reason="Section 11 audit 2027",
            form_key="partnership:section_11", workflow_key="partnership:agency_response",
            due_at=end_of_london_day(dt.date(2027, 3, 31)))
        await Allocation.update({Allocation.agency: lead["agency"], Allocation.agency_request: request_id}).where(
            Allocation.id == allocation_id)
    # CSCP 5.2.2: the agency drafts its return; the Audit Chair sees what the
    # agencies send, not their drafts. The QA manager (who administers) does.
    await sign_in(client, "partnership.audit_chair")
    assert (await client.get(f"/audits/{allocation_id}")).status_code == 404
    listing = await client.get(f"/requests/{request_id}")
    assert listing.status_code == 200
    assert f'href="/audits/{allocation_id}"' not in listing.text  # listed, never a link that fails
    await sign_in(client, "partnership.qa_manager")
    assert f'href="/audits/{allocation_id}"' in (await client.get(f"/requests/{request_id}")).text
    assert (await client.get(f"/audits/{allocation_id}")).status_code == 200

    # Case 3 on a plan (CSCP 5.5: the A&P subgroup monitors it): a member sets
    # actions for the subgroup's members and those below them, not for the
    # Executive Group or the Board above it.
    member = await api_token(client, "partnership.ap_member")
    opened = await client.post("/api/v1/plans", headers=member, json={
        "body": "ap_subgroup", "title": "Neglect: SMART action plan", "source_kind": "multi_agency_audit",
        "source_detail": "Q3 multi-agency thematic audit on neglect"})
    assert opened.status_code == 201, opened.text
    plan_id = opened.json()["id"]
    board = await person("partnership.executive_group")
    worker = await person("partnership.practitioner.11")
    refused = await client.post(f"/api/v1/plans/{plan_id}/actions", headers=member, json={
        "what": "Fund the toolkit", "owner_id": board["id"], "due_on": "2027-03-01"})
    assert refused.status_code == 422
    assert refused.json()["errors"]["owner"] == (
        f"You cannot set an action for {board['display_name']}: choose yourself, someone in your line, "
        "or a member of the plan's group or someone in their line")
    made = await client.post(f"/api/v1/plans/{plan_id}/actions", headers=member, json={
        "what": "Brief frontline staff on the neglect toolkit", "owner_id": worker["id"], "due_on": "2027-03-01"})
    assert made.status_code == 201, made.text
    await sign_in(client, "partnership.ap_member")
    offered = owner_choices((await client.get(f"/plans/{plan_id}")).text)
    assert worker["display_name"] in offered and lead["display_name"] in offered
    assert board["display_name"] not in offered
