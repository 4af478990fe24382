"""Who hears each outcome of a Haringey dispute (HAR 2.11; issue 12, defect 6).

HAR 2.11, informal stage: "Discussion summary and outcome to be shared by
Team Manager via email with the auditor and Quality Assurance and Practice
Improvement Team within 2 working days". Formal stage: "Quality Assurance and
Practice Improvement Team to provide written response to the findings and
points of disagreement to the Team Manager, Auditor and relevant Service
Manager within 5 working days".
"""

from __future__ import annotations

import pytest

from core.db.tables import Notification, Person
from core.services import audits, disputes
from core.services.context import Context
from core.services.errors import Invalid
from helpers import acting, allocation_of, finalise, person


async def _disputed(registry, auditor: str) -> tuple[int, dict, dict]:
    """A final audit by ``auditor`` disputed by its practitioner: (dispute, practitioner, team manager)."""
    allocation = (await allocation_of(auditor))["id"]
    await finalise(registry, auditor, allocation, "requires_improvement")
    people = await audits.relations_of(Context(registry=registry), await audits.load_row(allocation))
    practitioner = await Person.select().where(Person.id == people["practitioner"]).first()
    manager = await Person.select().where(Person.id == people["team_manager"]).first()
    dispute_id = await disputes.raise_dispute(
        await acting(registry, practitioner["username"]), allocation, "safeguarding_corporate_parenting_dct",
        {"overall": {"proposed": "good", "rationale": "The plan is SMART and reviewed monthly."}},
    )
    await disputes.take_step(await acting(registry, manager["username"]), dispute_id, "meeting_held", participants="TM, SW, auditor")
    return dispute_id, practitioner, manager


async def _told(step) -> dict[int, dict]:
    """Recipient -> the dispute notice the step wrote."""
    last = await Notification.select(Notification.id).order_by(Notification.id, ascending=False).first()
    await step
    rows = await Notification.select().where((Notification.id > last["id"]) & (Notification.kind == "dispute"))
    return {n["recipient"]: n for n in rows}


async def _ids(*usernames: str) -> set[int]:
    return {(await person(u))["id"] for u in usernames}


@pytest.mark.req("HAR-11")
async def test_the_informal_outcome_goes_to_the_auditor_and_qa_either_way(registry, demo):
    # Unresolved at the meeting: the team manager takes it formal.
    dispute_id, practitioner, manager = await _disputed(registry, "haringey.cp_chair")
    told = await _told(disputes.take_step(await acting(registry, manager["username"]), dispute_id, "go_formal", "No agreement on the plan"))
    assert await _ids("haringey.cp_chair", "haringey.qa_officer") <= set(told)
    assert told[(await person("haringey.cp_chair"))["id"]]["body"].endswith(f"{manager['display_name']} wrote: No agreement on the plan")
    # Not yet the service manager's business.
    assert not await _ids("haringey.service_manager") & set(told)

    # Resolved at the meeting: the outcome still reaches the auditor and QA.
    other, practitioner, manager = await _disputed(registry, "haringey.iro")
    told = await _told(disputes.take_step(await acting(registry, manager["username"]), other, "resolve_informally", "Grade explained", outcome="upheld"))
    assert await _ids("haringey.iro", "haringey.qa_officer") <= set(told)
    assert not await _ids("haringey.service_manager") & set(told)
    assert "Outcome: grades upheld." in told[(await person("haringey.iro"))["id"]]["body"]


@pytest.mark.req("HAR-11")
async def test_the_formal_written_response_goes_to_the_team_manager_auditor_and_service_manager(registry, demo):
    dispute_id, practitioner, manager = await _disputed(registry, "haringey.cp_chair")
    await disputes.take_step(await acting(registry, manager["username"]), dispute_id, "go_formal", "No agreement on the plan")
    qa = await acting(registry, "haringey.qa_officer")
    await disputes.take_step(qa, dispute_id, "agree_course")
    # The response is the step's text: it cannot be sent empty.
    with pytest.raises(Invalid) as empty:
        await disputes.take_step(qa, dispute_id, "send_response", "  ")
    assert empty.value.errors == {"reason": "Write why the dispute goes on, or the written response you are sending"}

    response = "The plan was reviewed monthly but its actions were not SMART: the grade stands."
    told = await _told(disputes.take_step(qa, dispute_id, "send_response", response))
    assert set(told) == {manager["id"], *await _ids("haringey.cp_chair", "haringey.service_manager")}
    for notice in told.values():
        assert notice["subject"].endswith(": formal: written response sent")
        assert notice["body"].endswith(f"{qa.actor.display_name} wrote: {response}")
    # Then the service manager, who now has the response, may take it further.
    view = await disputes.dispute_view(await acting(registry, "haringey.service_manager"), dispute_id)
    assert [t.key for t in view["transitions"]] == ["escalate_to_head_of_service"]
