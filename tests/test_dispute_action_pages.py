"""Dispute and action pages, through the web (HAR-11, CORE-12)."""

from __future__ import annotations

import pytest

from core.db.tables import Person
from core.services import audits
from core.services.context import Context
from helpers import allocation_of, csrf_from, finalise, sign_in


@pytest.mark.req("HAR-11")
@pytest.mark.req("CORE-12")
async def test_a_practitioner_disputes_from_the_audit_page_and_the_team_manager_sets_an_action(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    row = await audits.load_row(allocation["id"])
    people = await audits.relations_of(Context(registry=registry), row)
    practitioner = await Person.select().where(Person.id == people["practitioner"]).first()
    manager = await Person.select().where(Person.id == people["team_manager"]).first()

    await sign_in(client, practitioner["username"])
    audit_page = await client.get(f"/audits/{allocation['id']}")
    assert "Dispute this grade" in audit_page.text
    form = await client.get(f"/disputes/new/{allocation['id']}")
    assert "Audit grading criteria: care leavers" in form.text
    refused = await client.post(f"/disputes/new/{allocation['id']}", data={"_csrf_token": csrf_from(form.text), "proposed.overall": "good"})
    assert refused.status_code == 422 and "Choose the grading criteria" in refused.text and "citing the criteria" in refused.text
    raised = await client.post(
        f"/disputes/new/{allocation['id']}",
        data={"_csrf_token": csrf_from(form.text), "criteria": "safeguarding_corporate_parenting_dct",
              "proposed.overall": "good", "rationale.overall": "The plan meets the criteria for good."},
    )
    assert raised.status_code == 200
    assert "Informal: written response and meeting" in raised.text and "The plan meets the criteria for good." in raised.text
    dispute_url = str(raised.url.path)
    assert "Dispute this grade" not in (await client.get(f"/audits/{allocation['id']}")).text

    await sign_in(client, manager["username"])
    page = await client.get(dispute_url)
    assert "Record the meeting" in page.text
    await client.post(f"{dispute_url}/step", data={"_csrf_token": csrf_from(page.text), "transition": "meeting_held", "participants": "TM, SW"})
    page = await client.get(dispute_url)
    refused = await client.post(f"{dispute_url}/step", data={"_csrf_token": csrf_from(page.text), "transition": "resolve_informally", "outcome": "amended"})
    assert refused.status_code == 422 and "Say why the grade was changed" in refused.text
    done = await client.post(
        f"{dispute_url}/step",
        data={"_csrf_token": csrf_from(page.text), "transition": "resolve_informally", "outcome": "amended", "amend.overall": "good", "reason": "Agreed at the meeting"},
    )
    assert "Grades amended: Agreed at the meeting" in done.text
    audit_page = await client.get(f"/audits/{allocation['id']}")
    assert "grades amended" in audit_page.text and "Set an action from this audit" in audit_page.text

    # The GOV.UK date input (issue 17): a part-date gets the design system's
    # message, linked at its day field, and loses nothing typed.
    part_date = await client.post(
        "/actions",
        data={"_csrf_token": csrf_from(audit_page.text), "allocation_id": str(allocation["id"]), "back": f"/audits/{allocation['id']}",
              "what": "Share the amended report with the family", "owner": str(practitioner["id"]), "due_on-day": "15", "due_on-month": "1"},
    )
    assert part_date.status_code == 422
    assert "The date must include a year" in part_date.text and 'href="#due_on-day"' in part_date.text
    assert 'name="due_on-day" type="text" value="15"' in part_date.text and "Share the amended report with the family" in part_date.text
    set_action = await client.post(
        "/actions",
        data={"_csrf_token": csrf_from(audit_page.text), "allocation_id": str(allocation["id"]), "back": f"/audits/{allocation['id']}",
              "what": "Share the amended report with the family", "owner": str(practitioner["id"]), "due_on-day": "15", "due_on-month": "1", "due_on-year": "2027"},
    )
    assert set_action.status_code == 200 and "Share the amended report with the family" in set_action.text
    assert "Actions from this audit" in set_action.text

    await sign_in(client, practitioner["username"])
    mine = await client.get("/actions")
    assert "Actions</a>" in mine.text or 'href="/actions"' in mine.text
    assert "Share the amended report with the family" in mine.text and "15 January 2027" in mine.text
