"""Who does it (issue 13 item 2, PLAT-4): a lead with co-auditors (joint
audits), and peer audits in pairs, on SQLite and PostgreSQL.

Haringey's framework names "case audits and peer audits" (HAR 2.15) but not
who pairs with whom, and no bundled council names a joint audit, so this
module adds two schedules to a copy of Haringey's definitions, as a council
would write them from docs/plugins.md:

- a joint safeguarding audit led by the head of service with the IRO who
  holds the post "Lead IRO" (a post nobody holds until the staff record says
  so), its cases chosen; a joint case audit, its case drawn by the month's
  cycle (a drawn audit counts towards the first of its owner's work on its
  form, by activity: "Joint case audit" comes first); and an "as required"
  joint dip sample;
- a monthly peer case audit by the team managers in peer pairs. The demo has
  three team managers: paired by name, the odd one out makes a trio that
  audits round the ring.

The instant is Thursday 1 April 2027, 09:00 London: the first working day
of April, the week after Easter Monday.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

import councils.haringey
from conftest import make_settings
from core.db.tables import Allocation, ChildCase, Notification, Person, Work, WorkMember
from core.hookspecs import hookimpl
from core.plugins import load_plugins
from core.services import accounts, programme, work
from core.services.context import Context
from helpers import acting, csrf_from, finalise, person, sign_in
from test_report_pdf import pdf_text
from support.snapshots import snapshot_demo

APRIL_OPENS = dt.datetime(2027, 4, 1, 8, 0, tzinfo=dt.timezone.utc)  # 09:00 BST
EXTRA_SCHEDULES = """
  - key: joint_mash_audit
    role: head_of_service
    activity: "Joint safeguarding audit"
    form: case_audit
    co_auditors:
      - {role: iro, post: "Lead IRO"}
    frequency: {every: month}
  - key: joint_drawn_audit
    role: head_of_service
    activity: "Joint case audit"
    form: case_audit
    cases: {draw: random, count: 1}
    co_auditors:
      - {role: iro, post: "Lead IRO"}
    frequency: {every: month}
  - key: joint_dip_sample
    role: head_of_service
    activity: "Joint dip sample"
    co_auditors:
      - {role: iro, post: "Lead IRO"}
    frequency: {every: as_required}
  - key: peer_case_audit
    role: team_manager
    activity: "Peer case audit"
    form: case_audit
    peer_pairs: true
    frequency: {every: month}
"""
LEAD, CO, OTHER = "haringey.head_of_service", "haringey.iro", "haringey.cp_chair"


@pytest.fixture(scope="module")
def joint_haringey(tmp_path_factory):
    """Haringey with the two schedules added, loaded as any council is."""
    target = tmp_path_factory.mktemp("joint") / "definitions"
    shutil.copytree(Path(councils.haringey.__file__).with_name("definitions"), target)
    schedules = target / "schedules.yaml"
    schedules.write_text(schedules.read_text() + EXTRA_SCHEDULES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(councils.haringey, "qaf_definition_files", hookimpl(lambda: [target]))
        return load_plugins(make_settings(target.parent, "sqlite:///unused"))


@pytest_asyncio.fixture(loop_scope="session")
async def joint_client(joint_haringey, database_url, tmp_path, clock):
    from web.app import create_app

    clock.move_to(APRIL_OPENS)
    await snapshot_demo(joint_haringey.registry, "haringey", issue_work=False)
    settings = make_settings(tmp_path, database_url)
    async with AsyncTestClient(app=create_app(settings, joint_haringey), base_url="http://testserver.local") as client:
        yield client


async def _token(username: str) -> dict[str, str]:
    """An API token made directly (a password sign-in costs an argon2 hash)."""
    found = await person(username)
    return {"authorization": f"Bearer {await accounts.create_token(Context(registry=None), found['id'], 'test')}"}


def _words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"</?(span|a|strong)\b[^>]*>", "", html)).split())


def _to_do(page: str) -> list[str]:
    """My programme's to-do rows, as read."""
    table = page.split("My work, soonest due first", 1)[1].split("</table>", 1)[0]
    return [_words(row) for row in re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', table.split("<tbody", 1)[1], re.S)]


@pytest.mark.req("PLAT-4")
async def test_a_joint_audit_is_issued_to_its_lead_and_seen_edited_but_not_submitted_by_its_co_auditor(
    joint_haringey, joint_client, database_url, clock
):
    registry, client = joint_haringey.registry, joint_client
    lead, co, other = await person(LEAD), await person(CO), await person(OTHER)

    # Nobody holds the post "Lead IRO" yet: the programme says so (as the
    # QA programme page, `qaf programme` and the staff import show:
    # tests/test_calendar_plugin.py).
    unheld = programme.unheld_posts(registry, "haringey", await programme.staff_of(lead["organisation"]))
    assert ("Joint safeguarding audit: nobody holds the post Lead IRO (Independent reviewing officer), "
            "so it is led without that co-auditor") in [u.message for u in unheld]
    await Person.update({Person.post: "Lead IRO"}).where(Person.id == co["id"])
    assert await work.issue_due_work(Context(registry=registry)) > 0

    # The work is the head of service's, listing the IRO.
    row = await Work.select(Work.id, Work.owner).where(Work.schedule_key == "haringey:joint_mash_audit").first()
    assert row["owner"] == lead["id"]
    work_id = row["id"]

    # Each sees it on My programme: the lead "with" the IRO, the IRO "with"
    # the lead, with no Start of their own (the lead starts it).
    await sign_in(client, LEAD)
    mine = _to_do((await client.get("/programme/mine")).text)
    assert any(f"Joint safeguarding audit with {co['display_name']}" in r and "Start" in r for r in mine), mine
    co_api = await _token(CO)
    listed = (await client.get("/api/v1/work", headers=co_api)).json()
    joint_out = next(w for w in listed if w["id"] == work_id)
    assert (joint_out["owner"], joint_out["with"], joint_out["co_auditors"]) == (
        lead["display_name"], f"with {lead['display_name']}", [co["display_name"]])
    # The co-auditor cannot start it: only its lead can.
    refused = await client.post(f"/api/v1/work/{work_id}/audits", json={"case": "HAR-1001"}, headers=co_api)
    assert refused.status_code == 403, refused.text

    # The lead starts an audit from it: a joint audit; the IRO is told.
    lead_ctx = await acting(registry, LEAD)
    case = (await work.eligible_cases(lead_ctx, await work.get_work(lead_ctx, work_id)))[0]["external_id"]
    lead_api = await _token(LEAD)
    started = await client.post(f"/api/v1/work/{work_id}/audits", json={"case": case}, headers=lead_api)
    assert started.status_code == 201, started.text
    audit_id = started.json()["allocation_id"]
    told = await Notification.select(Notification.subject).where(
        (Notification.recipient == co["id"]) & (Notification.kind == "joint_audit"))
    assert f"Joint audit of case {case} with {lead['display_name']}" in [n["subject"] for n in told]

    # The co-auditor has it on My programme, "with" the lead (no Start: the
    # lead starts); opens the audit, sees both names, edits it; only the lead submits.
    await sign_in(client, CO)
    mine = _to_do((await client.get("/programme/mine")).text)
    joint_row = next(r for r in mine if "Joint safeguarding audit" in r)
    assert joint_row == (f"30 April 2027 Joint safeguarding audit with {lead['display_name']} 1 Started "
                         "View Joint safeguarding audit due 30 April 2027")
    page = await client.get(f"/audits/{audit_id}")
    assert page.status_code == 200
    assert f"Audited by {lead['display_name']} with {co['display_name']}" in _words(page.text)
    assert 'value="save"' in page.text and 'value="submit"' not in page.text
    concern = await client.post(f"/audits/{audit_id}/concern", follow_redirects=False, data={
        "description": "The child was left alone overnight.", "_csrf_token": csrf_from(page.text)})
    assert concern.status_code == 303, concern.text  # a co-auditor reads the file too (HAR 2.16)
    detail = (await client.get(f"/api/v1/allocations/{audit_id}", headers=co_api)).json()
    assert detail["editable"] is True and detail["audited_by"] == f"{lead['display_name']} with {co['display_name']}"
    saved = await client.put(f"/api/v1/allocations/{audit_id}/answers", headers=co_api,
                             json={"revision": detail["revision"], "answers": {}})
    assert saved.status_code == 200, saved.text
    refused = await client.post(f"/api/v1/allocations/{audit_id}/submit", json={}, headers=co_api)
    assert refused.status_code == 403, refused.text
    assert audit_id in [a["id"] for a in (await client.get("/api/v1/allocations", headers=co_api)).json()]

    # An auditor with no part in it sees nothing of it.
    other_api = await _token(OTHER)
    assert (await client.get(f"/api/v1/allocations/{audit_id}", headers=other_api)).status_code == 404
    assert (await client.put(f"/api/v1/allocations/{audit_id}/answers", headers=other_api,
                             json={"revision": 1, "answers": {}})).status_code == 404
    assert (await client.get(f"/api/v1/work/{work_id}", headers=other_api)).status_code == 404

    # The lead removes the co-auditor by API (who then cannot open it), and
    # adds them back on the audit page; a wrong choice is said on the page.
    removed = await client.delete(f"/api/v1/allocations/{audit_id}/co-auditors/{co['id']}", headers=lead_api)
    assert removed.status_code == 200 and removed.json()["co_auditors"] == []
    assert (await client.get(f"/api/v1/allocations/{audit_id}", headers=co_api)).status_code == 404
    assert (await client.post(f"/api/v1/allocations/{audit_id}/co-auditors", json={"person_id": lead["id"]},
                              headers=lead_api)).status_code == 422
    await sign_in(client, LEAD)
    page = await client.get(f"/audits/{audit_id}")
    assert "Audit this case jointly: add or remove a co-auditor" in page.text
    bad = await client.post(f"/audits/{audit_id}/co-auditors", data={"person": "", "_csrf_token": csrf_from(page.text)})
    assert bad.status_code == 422 and "Choose who audits this case with you" in bad.text
    added = await client.post(f"/audits/{audit_id}/co-auditors", follow_redirects=False,
                              data={"person": str(co["id"]), "_csrf_token": csrf_from(page.text)})
    assert added.status_code == 303, added.text
    assert (await client.get(f"/api/v1/allocations/{audit_id}", headers=co_api)).json()["co_auditors"] == [
        {"id": co["id"], "name": co["display_name"]}]
    history = _words((await client.get(f"/audits/{audit_id}/history")).text)
    assert f"removed {co['display_name']} as a co-auditor." in history
    assert f"added {co['display_name']} as a co-auditor." in history
    assert other["id"] not in [m["person"] for m in await WorkMember.select(WorkMember.person)]

    # Started by hand, an "as required" joint activity names its co-auditors too.
    by_hand = await client.post("/api/v1/work", json={"schedule": "joint_dip_sample"}, headers=lead_api)
    assert by_hand.status_code == 201 and by_hand.json()["with"] == f"with {co['display_name']}", by_hand.text

    # The month's draw gave the lead a case for the joint case audit: issued
    # with its work, it is a joint audit too, and the IRO was told of it.
    drawn = await Allocation.select(Allocation.id, Allocation.child_case.external_id.as_alias("case")).where(
        Allocation.work == (await Work.select(Work.id).where(Work.schedule_key == "haringey:joint_drawn_audit").first())["id"])
    assert len(drawn) == 1
    assert (await client.get(f"/api/v1/allocations/{drawn[0]['id']}", headers=co_api)).json()["audited_by"] == (
        f"{lead['display_name']} with {co['display_name']}")
    assert f"Joint audit of case {drawn[0]['case']} with {lead['display_name']}" in [
        n["subject"] for n in await Notification.select(Notification.subject).where(Notification.recipient == co["id"])]

    # The co-auditor endpoints are in the API's schema.
    paths = (await client.get("/api/schema/openapi.json")).json()["paths"]
    assert "post" in paths["/api/v1/allocations/{allocation_id}/co-auditors"]
    assert "delete" in paths["/api/v1/allocations/{allocation_id}/co-auditors/{person_id}"]

    # The lead submits; once QA accepts, the PDF for the case record names
    # both. (On one database: the PDF is the same HTML whichever it came from.)
    if database_url.startswith("sqlite"):
        await finalise(registry, LEAD, audit_id, "good")
        await sign_in(client, CO)
        assert f"Audited by {lead['display_name']} with {co['display_name']}" in pdf_text(
            await client.get(f"/audits/{audit_id}/report.pdf"))


@pytest.mark.req("PLAT-4")
# SQLite only: the joint audit above runs the same tables on PostgreSQL too,
# and pairing and case choice are the same reads on either (the suite's time).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_peers_are_paired_and_each_audits_only_the_others_cases(joint_haringey, joint_client, clock):
    registry, client = joint_haringey.registry, joint_client
    assert await work.issue_due_work(Context(registry=registry)) > 0
    managers = sorted(await Person.select(Person.id, Person.display_name, Person.username, Person.team)
                      .where(Person.role == "team_manager"), key=lambda p: (p["display_name"], p["id"]))
    assert len(managers) == 3  # the demo's three teams: a trio, round the ring (docs/plugins.md)
    first, second, third = managers
    owned = {}
    for row in await Work.select(Work.id, Work.owner).where(Work.schedule_key == "haringey:peer_case_audit"):
        member = await WorkMember.select(WorkMember.person).where(
            (WorkMember.work == row["id"]) & (WorkMember.part == "peer")).first()
        owned[row["owner"]] = (row["id"], member["person"])
    assert {owner: peer for owner, (_, peer) in owned.items()} == {
        first["id"]: second["id"], second["id"]: third["id"], third["id"]: first["id"]}

    # The first's work says whose cases: on My programme, and in the API.
    work_id = owned[first["id"]][0]
    await sign_in(client, first["username"])
    mine = _to_do((await client.get("/programme/mine")).text)
    assert any(f"Peer case audit (peer: {second['display_name']})" in r for r in mine), mine
    headers = await _token(first["username"])
    assert (await client.get(f"/api/v1/work/{work_id}", headers=headers)).json()["peer"] == second["display_name"]

    # Their own case, and a case of the third manager's team, are refused
    # with the reason; a case of the peer's team is started.
    own = await ChildCase.select(ChildCase.id, ChildCase.external_id).where(ChildCase.team == first["team"]).first()
    await ChildCase.update({ChildCase.allocated_worker: first["id"]}).where(ChildCase.id == own["id"])
    third_team = await ChildCase.select(ChildCase.external_id).where(ChildCase.team == third["team"]).first()
    own_team = await ChildCase.select(ChildCase.external_id).where(
        (ChildCase.team == first["team"]) & (ChildCase.id != own["id"])).first()
    for number, reason in [
        (own["external_id"], "You cannot audit a case you hold"),
        (third_team["external_id"], f"In a peer audit you audit your peer's cases: choose a case held by {second['display_name']} or their team"),
        (own_team["external_id"], f"choose a case held by {second['display_name']} or their team"),
    ]:
        refused = await client.post(f"/api/v1/work/{work_id}/audits", json={"case": number}, headers=headers)
        assert refused.status_code == 422 and reason in refused.text, refused.text
    page = await client.get(f"/programme/work/{work_id}")
    assert f"Peer {second['display_name']}: {first['display_name']} audits cases {second['display_name']} holds" in _words(page.text)
    refused = await client.post(f"/programme/work/{work_id}/start",
                                data={"case": third_team["external_id"], "_csrf_token": csrf_from(page.text)})
    assert refused.status_code == 422 and "choose a case held by" in refused.text
    ctx = await acting(registry, first["username"])
    choices = await work.eligible_cases(ctx, await work.get_work(ctx, work_id))
    assert choices and {c["team"] for c in choices} == {second["team"]}
    started = await client.post(f"/api/v1/work/{work_id}/audits", json={"case": choices[0]["external_id"]}, headers=headers)
    assert started.status_code == 201, started.text


def test_peers_pair_by_name_then_record_and_an_odd_one_out_makes_a_trio():
    """docs/plugins.md's pairing rule on its own: pairs in name order (ties by
    record order), the odd one out in a trio round the ring, nobody alone."""
    from core.programme import StaffMember, peer_pairs

    def people(*names: str) -> list[StaffMember]:
        return [StaffMember(number, name, "team_manager") for number, name in enumerate(names, start=1)]

    def pairs(staff: list[StaffMember]) -> dict[str, str]:
        return {next(m.name for m in staff if m.id == who): peer.name for who, peer in peer_pairs(staff).items()}

    assert pairs(people("Cat", "Ann")) == {"Ann": "Cat", "Cat": "Ann"}
    assert pairs(people("Dan", "Bob", "Ann", "Cat")) == {"Ann": "Bob", "Bob": "Ann", "Cat": "Dan", "Dan": "Cat"}
    assert pairs(people("Eve", "Dan", "Bob", "Ann", "Cat")) == {
        "Ann": "Bob", "Bob": "Ann", "Cat": "Dan", "Dan": "Eve", "Eve": "Cat"}
    assert pairs(people("Ann")) == {}
    twins = [StaffMember(7, "Ann", "team_manager"), StaffMember(3, "Ann", "team_manager"), StaffMember(5, "Bob", "team_manager")]
    assert {who: peer.id for who, peer in peer_pairs(twins).items()} == {3: 7, 7: 5, 5: 3}
