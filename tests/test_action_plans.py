"""Action plans monitored by a body until complete, with learning records
(CSCP-8: the partnership's A&P subgroup; BED-6: Bedford's DMT after a themed
audit day), through the real API, pages and services."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.calendar import UTC
from core.db.tables import Action, ActionPlan, LearningRecord, Trail
from core.plugins import load_plugins
from core.services import action_plans
from helpers import SUITE_TODAY, acting, api_token, csrf_from, person, sign_in
from support.snapshots import snapshot_demo

TODAY = SUITE_TODAY  # the suite's clock (tests/helpers.py)
SOON = TODAY + dt.timedelta(days=14)
LATER = TODAY + dt.timedelta(days=40)


def _registry(tmp_path_factory, council: str):
    return load_plugins(make_settings(tmp_path_factory.mktemp(council), "sqlite:///unused", councils=(council,))).registry


@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    return _registry(tmp_path_factory, "bedford")


async def _client_for(council: str, registry, database_url, tmp_path):
    from web.app import create_app

    await snapshot_demo(registry, council)
    settings = make_settings(tmp_path, database_url, councils=(council,))
    return AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local")


@pytest_asyncio.fixture(loop_scope="session")
async def bedford_client(bedford, database_url, tmp_path):
    async with await _client_for("bedford", bedford, database_url, tmp_path) as client:
        yield client


@pytest.mark.req("CSCP-8")
@pytest.mark.req("CORE-12")
async def test_the_ap_subgroup_monitors_a_smart_plan_until_every_action_is_closed(partnership, partnership_client):
    client = partnership_client
    member = await api_token(client, "partnership.ap_member")
    worker = await person("partnership.practitioner.11")
    lead = await person("partnership.agency_lead")

    # Someone who does not sit on A&P neither sees nor opens plans.
    lado = await api_token(client, "partnership.lado")
    assert (await client.get("/api/v1/plans", headers=lado)).status_code == 403
    refused = await client.post("/api/v1/plans", headers=lado, json={
        "body": "ap_subgroup", "title": "x", "source_kind": "multi_agency_audit", "source_detail": "x"})
    assert refused.status_code == 403

    bad = await client.post("/api/v1/plans", headers=member, json={"body": "dmt", "title": " ", "source_kind": "rumour", "source_detail": ""})
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"body", "title", "source_kind", "source_detail"}

    opened = await client.post("/api/v1/plans", headers=member, json={
        "body": "ap_subgroup", "title": "Neglect thematic audit: SMART action plan",
        "source_kind": "multi_agency_audit", "source_detail": "Q3 multi-agency thematic audit on neglect"})
    assert opened.status_code == 201, opened.text
    plan = opened.json()
    assert (plan["status"], plan["progress"]) == ("open", {"total": 0, "closed": 0, "open": 0, "overdue": 0})
    plan_id = plan["id"]

    first = await client.post(f"/api/v1/plans/{plan_id}/actions", headers=member, json={
        "what": "Brief frontline staff on the neglect toolkit", "owner_id": worker["id"], "due_on": SOON.isoformat()})
    second = await client.post(f"/api/v1/plans/{plan_id}/actions", headers=member, json={
        "what": "Add neglect to the multi-agency training programme", "owner_id": lead["id"], "due_on": LATER.isoformat()})
    assert first.status_code == second.status_code == 201, first.text
    assert first.json()["action_plan_id"] == plan_id and first.json()["due_at"]

    # Not complete while any action is open: a clear reason, not a 500.
    early = await client.post(f"/api/v1/plans/{plan_id}/complete", headers=member)
    assert early.status_code == 409
    assert early.json()["detail"] == "This plan cannot be marked complete: 2 of its 2 actions are still open. Close every action first."

    # The owner sees only their own action, never the plan.
    owner = await api_token(client, "partnership.practitioner.11")
    assert (await client.get("/api/v1/plans", headers=owner)).status_code == 403
    assert (await client.get(f"/api/v1/plans/{plan_id}", headers=owner)).status_code == 404
    theirs = (await client.get("/api/v1/actions", headers=owner)).json()["mine"]
    assert [a["what"] for a in theirs] == ["Brief frontline staff on the neglect toolkit"]
    done = await client.post(f"/api/v1/actions/{first.json()['id']}/updates", headers=owner, json={"text": "Briefed all teams", "status": "done"})
    assert done.status_code == 200 and done.json()["status"] == "done"

    # A month and a half on, the open action is overdue on the plan.
    ctx = await acting(partnership, "partnership.ap_member")
    ctx.now = dt.datetime.combine(LATER + dt.timedelta(days=5), dt.time(12), tzinfo=UTC)
    view = await action_plans.plan_view(ctx, plan_id)
    assert view["progress"] == {"total": 2, "closed": 1, "open": 1, "overdue": 1}
    assert [a["what"] for a in view["overdue"]] == ["Add neglect to the multi-agency training programme"]

    # Learning: what, how it was shared (CSCP 5.5's channels), with whom, when.
    bad = await client.post(f"/api/v1/plans/{plan_id}/learning", headers=member, json={
        "learned": "", "channel": "carrier_pigeon", "audience": "", "shared_on": (TODAY + dt.timedelta(days=3)).isoformat()})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"learned", "channel", "audience", "shared_on"}
    learned = await client.post(f"/api/v1/plans/{plan_id}/learning", headers=member, json={
        "learned": "Neglect is recognised late where no agency holds the whole picture.",
        "channel": "one_minute_guide", "audience": "All partner agencies", "shared_on": TODAY.isoformat()})
    assert learned.status_code == 201, learned.text
    record = learned.json()["learning"][0]
    assert (record["channel_label"], record["audience"], record["shared_on"]) == ("One Minute Guide", "All partner agencies", TODAY.isoformat())
    assert record["recorded_by"] == (await person("partnership.ap_member"))["display_name"]

    # The lead closes the last action; the plan can now be complete, and takes no more.
    lead_token = await api_token(client, "partnership.agency_lead")
    await client.post(f"/api/v1/actions/{second.json()['id']}/updates", headers=lead_token, json={"text": "In the spring programme", "status": "done"})
    completed = await client.post(f"/api/v1/plans/{plan_id}/complete", headers=lead_token)
    assert completed.status_code == 200, completed.text
    assert (completed.json()["status"], completed.json()["progress"]["closed"]) == ("complete", 2)
    late = await client.post(f"/api/v1/plans/{plan_id}/actions", headers=member, json={
        "what": "One more", "owner_id": worker["id"], "due_on": SOON.isoformat()})
    assert late.status_code == 409

    trail = [t["action"] for t in await Trail.select(Trail.action).where(
        (Trail.entity == "action_plan") & (Trail.entity_id == plan_id)).order_by(Trail.id)]
    assert trail == ["plan_created", "learning_recorded", "plan_completed"]
    assert await Action.count().where(Action.action_plan == plan_id) == 2
    assert await LearningRecord.count().where(LearningRecord.action_plan == plan_id) == 1


@pytest.mark.req("BED-6")
async def test_dmt_monitors_the_targeted_action_plan_of_a_themed_audit_day(bedford, bedford_client):
    client = bedford_client
    await sign_in(client, "bedford.head_of_service")  # sits on DMT
    form = await client.get("/plans/new")
    assert form.status_code == 200 and "Departmental Management Team (DMT)" in form.text

    refused = await client.post("/plans/new", data={"_csrf_token": csrf_from(form.text), "allocation_id": "abc"})
    assert refused.status_code == 422
    # Every field's error, each linked from the summary to a real field id.
    hrefs = re.findall(r'<a href="#([^"]+)">', refused.text.split('govuk-error-summary__list', 1)[1].split("</ul>", 1)[0])
    assert hrefs == ["body", "title", "source_kind", "source_detail", "allocation_id"]
    for anchor in hrefs:
        assert f'id="{anchor}"' in refused.text

    opened = await client.post("/plans/new", data={
        "_csrf_token": csrf_from(form.text), "body": "dmt", "title": "Themed audit day: drift in child in need plans",
        "source_kind": "themed_audit_day", "source_detail": "Half-day themed audit day, CiN plans"}, follow_redirects=False)
    assert opened.status_code == 303
    plan_url = opened.headers["location"]
    plan_page = await client.get(plan_url)
    assert "Action plan monitored by Departmental Management Team (DMT)" in plan_page.text
    assert "0 of 0 actions closed" in plan_page.text and "A themed audit day: Half-day themed audit day, CiN plans" in plan_page.text

    worker = await person("bedford.social_worker.11")
    added = await client.post(f"{plan_url}/actions", data={
        "_csrf_token": csrf_from(plan_page.text), "what": "Review every CiN plan older than three months",
        "owner": str(worker["id"]), "due_on-day": str(SOON.day), "due_on-month": str(SOON.month), "due_on-year": str(SOON.year)})
    assert added.status_code == 200 and "0 of 1 actions closed" in added.text
    assert "Review every CiN plan older than three months" in added.text and SOON.strftime("%-d %B %Y") in added.text

    early = await client.post(f"{plan_url}/complete", data={"_csrf_token": csrf_from(added.text)})
    assert early.status_code == 409
    assert "This plan cannot be marked complete: 1 of its 1 actions is still open. Close every action first." in early.text
    assert 'href="#complete"' in early.text and 'id="complete"' in early.text

    learned = await client.post(f"{plan_url}/learning", data={
        "_csrf_token": csrf_from(added.text), "learned": "Plans drift when review dates are not set",
        "channel": "briefing", "audience": "All social work teams",
        "shared_on-day": str(TODAY.day), "shared_on-month": str(TODAY.month), "shared_on-year": str(TODAY.year)})
    assert learned.status_code == 200 and "Briefing for the service" in learned.text

    listing = await client.get("/plans")
    assert "Themed audit day: drift in child in need plans" in listing.text and "0 of 1 actions closed" in listing.text
    assert 'href="/plans"' in listing.text and ">Action plans<" in listing.text  # in the navigation for DMT

    # The social worker owns the action but sees no plan.
    await sign_in(client, "bedford.social_worker.11")
    assert (await client.get("/plans")).status_code == 403
    assert (await client.get(plan_url)).status_code == 404
    mine = await client.get("/actions")
    assert 'href="/plans"' not in mine.text  # no navigation to what they may not open
    assert "Review every CiN plan older than three months" in mine.text
    plan = await ActionPlan.select().where(ActionPlan.title == "Themed audit day: drift in child in need plans").first()
    assert (plan["body"], plan["source_kind"], plan["status"]) == ("dmt", "themed_audit_day", "open")
