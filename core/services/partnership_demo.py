"""Example partnership data for ``qaf demo`` (not for the tests' demo): three
example scorecard indicators approved by a quorate A&P subgroup, the last
four quarters of the agencies' figures from accepted scorecard returns, the
year's agreed audit programme, and a thematic audit on two cases answered by
two agencies with findings, a recommendation and a drafted report.

The indicators are EXAMPLES for the demo: the framework (seed 004) names
none. Everything goes through the services people use; a step the
agencies' workflow does not offer is skipped rather than forced, so the demo
never fails on it."""

from __future__ import annotations

import datetime as dt
import logging

from core.calendar import end_of_london_day, london_date
from core.db.engine import transaction
from core.db.tables import Agency, AgencyRequest, Allocation, ChildCase, Person
from core.services import audit_programme, audits, partnership_reports, scorecard
from core.services import partnership_steps as steps
from core.services.allocations import create_allocation
from core.services.context import Context, actor_for
from core.services.errors import ServiceError

log = logging.getLogger("qaf.demo")

EXAMPLE_INDICATORS = [
    {"key": "iha_20_days", "label": "Initial health assessments within 20 working days", "priority": "priority_1", "owner_agency": "health",
     "definition": "Share of children newly in care whose initial health assessment was done within 20 working days", "direction": "higher_is_better",
     "unit": "%", "green": 90, "amber": 80, "figures": (92, 88, 79, 84)},
    {"key": "strategy_discussions_police", "label": "Strategy discussions with the police present", "priority": "priority_2",
     "owner_agency": "police", "definition": "Share of strategy discussions in the quarter the police attended", "direction": "higher_is_better",
     "unit": "%", "green": 95, "amber": 85, "figures": (97, 93, 96, 90)},
    {"key": "repeat_cp_plans", "label": "Child protection plans that are a second or later plan", "priority": "priority_3",
     "owner_agency": "local_authority", "definition": "Share of child protection plans started in the quarter that were not the child's first",
     "direction": "lower_is_better", "unit": "%", "green": 18, "amber": 23, "figures": (21, 19, 24, 17)},
]


async def _as(ctx: Context, council: str, org_id: int, role: str) -> Context:
    person = await Person.select().where((Person.organisation == org_id) & (Person.role == role)).order_by(Person.id).first()
    acting = Context(registry=ctx.registry, now=ctx.now)
    acting.actor = actor_for(ctx.registry, person, council)
    return acting


async def _return(ctx: Context, qa: Context, lead: Context, request_id: int, agency_id: int, case, answers: dict) -> None:
    request = await AgencyRequest.select().where(AgencyRequest.id == request_id).first()
    me = await Person.select().where(Person.id == lead.actor.person_id).first()
    async with transaction():
        allocation_id = await create_allocation(
            qa, organisation_id=qa.actor.organisation_id, case=case, auditor=me, kind="audit", reason=request["title"],
            form_key=request["form_key"], workflow_key=request["workflow_key"], due_at=end_of_london_day(request["due_on"]))
        await Allocation.update({Allocation.agency: agency_id, Allocation.agency_request: request_id}).where(Allocation.id == allocation_id)
    workflow = ctx.registry.workflow(request["workflow_key"])
    try:
        if workflow.initial == "planned":
            await audits.take_step(qa, allocation_id, "request")
        view = await audits.audit_view(lead, allocation_id)
        filled = {}
        for field in view.fields.fields:
            if field.kind == "grade":
                filled[field.name] = field.options[1][0] if len(field.options) > 1 else field.options[0][0]
            elif field.kind == "date":
                filled[field.name] = london_date(ctx.now).isoformat()
            elif field.options:
                filled[field.name] = field.options[0][0]
            elif field.required:
                filled[field.name] = "From the agency's records."
        revision = await audits.save_answers(lead, allocation_id, view.revision, filled | answers)
        await audits.submit(lead, allocation_id, revision)
        # The QA manager accepts it (agency_response: submitted -> accepted).
        await audits.review(qa, allocation_id, "accept", "")
    except ServiceError as refused:
        log.info("demo: a return was left unfinished: %s", refused.message)


async def load(ctx: Context, council: str, org_id: int) -> None:
    qa = await _as(ctx, council, org_id, "qa_manager")
    chair = await _as(ctx, council, org_id, "audit_chair")
    lead = await _as(ctx, council, org_id, "agency_lead")
    auditor = await _as(ctx, council, org_id, "multi_agency_auditor")
    agencies = {a["key"]: a["id"] for a in await Agency.select().where(Agency.organisation == org_id)}
    try:
        # The indicators, each approved by a quorate A&P subgroup.
        for example in EXAMPLE_INDICATORS:
            proposal = {k: v for k, v in example.items() if k != "figures"}
            change = await scorecard.propose_change(qa, indicator_id=None, proposal=proposal, why="Example indicator for the demo")
            await scorecard.take_change_step(qa, change, "table")
            await scorecard.take_change_step(chair, change, "approve", reason="Approved", quorate=True, members_present=7,
                                             minute_reference="A&P subgroup minutes, item 3 (example)")
        indicators = {i["key"]: i for i in await scorecard.indicators(qa)}
        # The last four quarters' figures from the agencies' accepted returns.
        year, quarter = steps.quarter_of(qa, london_date(ctx.now))
        span = scorecard._previous(*((year, quarter - 1) if quarter > 1 else (year - 1, 4)), 4)
        for index, (y, q) in enumerate(span):
            _, last = steps.quarter_bounds(qa, y, q)
            request_id = await _request(qa, "scorecard", f"Scorecard figures, {steps.quarter_words(qa, y, q)}", last + dt.timedelta(days=21))
            for agency_key in ("health", "police", "local_authority"):
                mine = [e for e in EXAMPLE_INDICATORS if e["owner_agency"] == agency_key]
                answers = {"answer.return_details.agency": agency_key, "answer.return_details.quarter": f"q{q}",
                           "answer.return_details.completed_by": "Agency lead"}
                for e in mine:
                    base = f"answer.{e['priority']}.figures.1"
                    answers |= {f"{base}.indicator": indicators[e["key"]]["label"], f"{base}.figure": str(e["figures"][index]),
                                f"{base}.commentary": "Example commentary from the agency for the demo."}
                await _return(ctx, qa, lead, request_id, agencies[agency_key], None, answers)
        # The year's programme, agreed; its first quarter's thematic audit on two cases.
        programme = await audit_programme.create(qa, year=year, themes={quarter: "Neglect (example theme)"})
        await audit_programme.take_step(qa, programme, "submit")
        await audit_programme.take_step(chair, programme, "agree")
        await audit_programme.check_thematic_allowed(qa)
        request_id = await _request(qa, "thematic", "Neglect (example theme): multi-agency thematic audit",
                                    london_date(ctx.now) + dt.timedelta(days=28), steps.quarter_words(qa, year, quarter))
        cases = await ChildCase.select().where(ChildCase.organisation == org_id).order_by(ChildCase.id).limit(2)
        voice = "answer.key_lines_of_enquiry.voice_of_the_child"
        for who, agency_key in ((auditor, "police"), (lead, "health")):
            for case in cases:
                await _return(ctx, qa, who, request_id, agencies[agency_key], case, {
                    f"{voice}.worked_well": "The child's wishes were recorded at each contact (example).",
                    f"{voice}.development": "The child's wishes were not shared with the other agencies (example)."})
        await partnership_reports.record_finding(qa, request_id, "key_lines_of_enquiry.voice_of_the_child",
                                                 worked_well="Every agency recorded the child's wishes.",
                                                 development="The wishes were not shared between agencies.")
        await partnership_reports.raise_recommendation(
            qa, request_id, recommendation="Share the child's wishes", agency="police",
            action="Add the child's wishes to every strategy discussion record", by_whom="Police safeguarding lead",
            by_when=london_date(ctx.now) + dt.timedelta(days=120))
        await partnership_reports.draft_report(qa, request_id)
    except ServiceError as refused:
        log.info("demo: the partnership's examples stopped early: %s", refused.message)


FORMS = {"thematic": "multi_agency_audit", "scorecard": "scorecard_return"}


async def _request(qa: Context, kind: str, title: str, due_on: dt.date, period: str = "") -> int:
    """A request as the QA manager issues it (helper `agency`'s service will issue these)."""
    async with transaction():
        rows = await AgencyRequest.insert(AgencyRequest(
            organisation=qa.actor.organisation_id, kind=kind, title=title, period=period, form_key=f"{qa.actor.council}:{FORMS[kind]}",
            workflow_key=f"{qa.actor.council}:agency_response", due_on=due_on, issued_by=qa.actor.person_id, issued_at=qa.now,
            state="open", created_at=qa.now)).returning(AgencyRequest.id)
        await steps.record(qa, "agency_request", rows[0]["id"], "request_issued", {"kind": kind, "title": title})
    return rows[0]["id"]
