"""Disputes and SMART actions through the JSON API (HAR-11, CORE-12)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.db.tables import Allocation, Person
from helpers import allocation_of, api_token, finalise


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
