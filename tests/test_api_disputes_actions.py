"""Disputes and SMART actions through the JSON API (HAR-11, CORE-12)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.db.tables import Allocation, Person
from helpers import allocation_of, api_token, finalise, sign_in

# The suite's 15 minutes: this module's rules are the same code on both
# databases; PostgreSQL runs the services', migrations', workers' and trail's tests.
SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems


async def _people_of(allocation_id: int) -> tuple[dict, dict]:
    row = await Allocation.select(Allocation.child_case.allocated_worker.as_alias("w")).where(Allocation.id == allocation_id).first()
    worker = await Person.select().where(Person.id == row["w"]).first()
    manager = await Person.select().where(Person.id == worker["line_manager"]).first()
    return worker, manager


@pytest.mark.req("HAR-11")
@pytest.mark.req("CORE-12")
async def test_a_practitioner_disputes_through_the_api_and_the_manager_resolves_it_with_an_action(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    worker, manager = await _people_of(allocation["id"])
    sw = await api_token(client, worker["username"])
    tm = await api_token(client, manager["username"])

    bad = await client.post("/api/v1/disputes", json={"allocation_id": allocation["id"], "criteria": "nope", "domains": {}}, headers=sw)
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"criteria", "domains"}

    raised = await client.post(
        "/api/v1/disputes",
        json={
            "allocation_id": allocation["id"],
            "criteria": "safeguarding_corporate_parenting_dct",
            "domains": {"planning": {"proposed": "good", "rationale": "Plan reviewed in time; criteria for good met."}},
        },
        headers=sw,
    )
    assert raised.status_code == 201, raised.text
    dispute = raised.json()
    assert dispute["state"] == "informal"
    assert dispute["next_steps"] == ["meeting_held"]  # the practitioner may record the meeting too

    met = await client.post(f"/api/v1/disputes/{dispute['id']}/steps/meeting_held", json={"participants": "TM, SW, auditor"}, headers=tm)
    assert met.status_code == 200, met.text
    assert met.json()["state"] == "informal_outcome"
    resolved = await client.post(
        f"/api/v1/disputes/{dispute['id']}/steps/resolve_informally",
        json={"outcome": "amended", "amendments": {"planning": "good"}, "reason": "Agreed at the meeting"},
        headers=tm,
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"
    assert resolved.json()["final_grades"]["planning"] == "good"

    due = (dt.date.today() + dt.timedelta(days=14)).isoformat()
    action = await client.post(
        "/api/v1/actions",
        json={"what": "Update the chronology", "owner_id": worker["id"], "due_on": due, "dispute_id": dispute["id"], "allocation_id": allocation["id"]},
        headers=tm,
    )
    assert action.status_code == 201, action.text
    assert action.json()["status"] == "open" and action.json()["overdue"] is False
    mine = (await client.get("/api/v1/actions", headers=sw)).json()
    assert [a["what"] for a in mine["mine"]] == ["Update the chronology"]
    done = await client.post(f"/api/v1/actions/{action.json()['id']}/updates", json={"text": "Chronology updated 3 Dec", "status": "done"}, headers=sw)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    stranger = await api_token(client, "haringey.lado")
    assert (await client.get(f"/api/v1/disputes/{dispute['id']}", headers=stranger)).status_code == 404


async def _second_line_manager(manager_username: str, role: str) -> dict:
    """Another holder of ``role`` beside the demo's one, reporting to the same
    manager: a second management line that is not the case's."""
    from core.services.accounts import hash_password

    above = await Person.select().where(Person.username == manager_username).first()
    row = dict(above, username=f"{manager_username}.other", display_name="Other Line Manager", email="other@example.org",
               role=role, line_manager=above["line_manager"], password_hash=hash_password("qaf-demo-2026"))
    row.pop("id")
    await Person.insert(Person(**row))
    return await Person.select().where(Person.username == row["username"]).first()


async def test_seeing_an_action_is_not_owning_it_only_its_setter_and_the_owners_managers_cancel_it(client, registry):
    """Issue 16: a practitioner cancelled an action set for their manager, and
    a role that may read every audit did the same; the action's deadline was
    marked met and never escalated."""
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    worker, manager = await _people_of(allocation["id"])
    boss = await Person.select().where(Person.id == manager["line_manager"]).first()
    sw, tm, sm = [await api_token(client, u) for u in (worker["username"], manager["username"], boss["username"])]
    qa = await api_token(client, "haringey.qa_officer")
    due = "2027-01-15"
    made = await client.post(
        "/api/v1/actions",
        json={"what": "Review the plan with the family", "owner_id": manager["id"], "due_on": due, "allocation_id": allocation["id"]},
        headers=sm,
    )
    assert made.status_code == 201, made.text
    action = made.json()["id"]

    # The practitioner and QA can read it (it is on the audit), not change it.
    for who in (sw, qa):
        assert (await client.get(f"/api/v1/actions/{action}", headers=who)).status_code == 200
        refused = await client.post(f"/api/v1/actions/{action}/updates", json={"text": "Not needed", "status": "cancelled"}, headers=who)
        assert refused.status_code == 403, refused.text
        assert "owner" in refused.json()["detail"]
    # ... and its page offers them no form.
    await sign_in(client, worker["username"])
    page = await client.get(f"/actions/{action}")
    assert "Record progress" not in page.text and "is recorded by" in page.text

    # The owner records progress but cannot cancel what was set for them.
    cancel = await client.post(f"/api/v1/actions/{action}/updates", json={"text": "Not needed", "status": "cancelled"}, headers=tm)
    assert cancel.status_code == 422 and "cancel" in cancel.json()["errors"]["status"]
    progress = await client.post(f"/api/v1/actions/{action}/updates", json={"text": "Visit booked for 12 January"}, headers=tm)
    assert progress.status_code == 200 and progress.json()["status"] == "open"
    # Whoever set it may cancel it.
    cancelled = await client.post(f"/api/v1/actions/{action}/updates", json={"text": "Superseded by the plan", "status": "cancelled"}, headers=sm)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


async def test_a_dispute_is_read_only_in_the_cases_own_management_line(client, registry):
    """Issue 16: a service manager of another line read disputes (case,
    practitioner, rationale) whose audits gave them 404. HAR 2.11-2.15: the
    formal stages go up the practitioner's line."""
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    worker, manager = await _people_of(allocation["id"])
    own_sm = await Person.select().where(Person.id == manager["line_manager"]).first()
    other_sm = await _second_line_manager(own_sm["username"], own_sm["role"])
    sw = await api_token(client, worker["username"])
    raised = await client.post(
        "/api/v1/disputes",
        json={"allocation_id": allocation["id"], "criteria": "safeguarding_corporate_parenting_dct",
              "domains": {"planning": {"proposed": "good", "rationale": "Plan reviewed in time."}}},
        headers=sw,
    )
    assert raised.status_code == 201, raised.text
    dispute = raised.json()["id"]
    mine = await client.get(f"/api/v1/disputes/{dispute}", headers=await api_token(client, own_sm["username"]))
    assert mine.status_code == 200, mine.text
    other = await api_token(client, other_sm["username"])
    assert (await client.get(f"/api/v1/audits/{allocation['id']}", headers=other)).status_code == 404
    assert (await client.get(f"/api/v1/disputes/{dispute}", headers=other)).status_code == 404
