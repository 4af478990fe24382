"""Requests and returns for the partnership's report, scorecard and programme
tests (issue 14): a request row as ``agency_requests.issue`` writes it, and
each agency's return an allocation naming its agency and request, answered
by the named person (who may be any of the agency's people, not only its
lead, so one test can hold several cases' returns) and taken through the
agency_response workflow's own steps: submitted by its auditor, then
accepted by the QA manager's review."""

from __future__ import annotations

import datetime as dt

from core import workflow as wf
from core.calendar import end_of_london_day
from core.db.engine import transaction
from core.db.tables import AgencyRequest, Allocation, ChildCase, Person
from core.services import audits
from core.services.allocations import create_allocation
from helpers import acting, filled_answers, person

FORMS = {"thematic": "multi_agency_audit", "impromptu": "multi_agency_audit", "scorecard": "scorecard_return",
         "section_11": "section_11", "section_175": "section_175_157"}


async def issue_request(registry, kind: str, title: str, due_on: dt.date, period: str = "") -> int:
    qa = await acting(registry, "partnership.qa_manager")
    async with transaction():
        rows = await AgencyRequest.insert(AgencyRequest(
            organisation=qa.actor.organisation_id, kind=kind, title=title, period=period, form_key=f"partnership:{FORMS[kind]}",
            workflow_key="partnership:agency_response", due_on=due_on, issued_by=qa.actor.person_id, issued_at=qa.now,
            state="open", created_at=qa.now,
        )).returning(AgencyRequest.id)
    return rows[0]["id"]


async def agency_return(registry, request_id: int, auditor: str, answers: dict[str, str] | None = None, *,
                        case_index: int | None = None, grade: str | None = None, clock=None, submit_at=None) -> int:
    """An agency's return to the request: asked for, filled in and submitted
    by ``auditor`` (at ``submit_at`` if given), then accepted by the QA
    manager (the step into the workflow's final state)."""
    request = await AgencyRequest.select().where(AgencyRequest.id == request_id).first()
    qa = await acting(registry, "partnership.qa_manager")
    who = await person(auditor)
    case = None
    if case_index is not None:
        case = (await ChildCase.select().where(ChildCase.organisation == who["organisation"]).order_by(ChildCase.id))[case_index]
    async with transaction():
        allocation_id = await create_allocation(
            qa, organisation_id=who["organisation"], case=case, auditor=who, kind="audit", reason=request["title"],
            form_key=request["form_key"], workflow_key=request["workflow_key"], due_at=end_of_london_day(request["due_on"]),
        )
        await Allocation.update({Allocation.agency: who["agency"], Allocation.agency_request: request_id}).where(
            Allocation.id == allocation_id)
    workflow = registry.workflow(request["workflow_key"])
    if (await audits.load_row(allocation_id))["state"] == workflow.initial and workflow.initial == "planned":
        await audits.take_step(qa, allocation_id, "request")
    if clock is not None and submit_at is not None:
        clock.move_to(submit_at)
    ctx = await acting(registry, auditor)
    view = await audits.audit_view(ctx, allocation_id)
    filled = filled_answers(view, grade, evidence="From the agency's records.") | (answers or {})
    revision = await audits.save_answers(ctx, allocation_id, view.revision, filled)
    await audits.submit(ctx, allocation_id, revision)
    qa = await acting(registry, "partnership.qa_manager")
    await audits.review(qa, allocation_id, "accept", "")
    row = await audits.load_row(allocation_id)
    assert wf.state(workflow, row["state"]).final, row["state"]
    return allocation_id


async def agency_key_of(username: str) -> str:
    row = await Person.select(Person.agency.key.as_alias("key")).where(Person.username == username).first()
    return row["key"]
