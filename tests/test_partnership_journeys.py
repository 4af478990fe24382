"""The Coventry Safeguarding Children Partnership's journeys through the real
database, services and pages, on both databases.

An agency's return (a Multi-Agency Audit Tool, a Section 11 or Section
175/157 self-assessment, a scorecard return) is an allocation on one of the
partnership's forms moved by its ``agency_response`` workflow: the QA manager
requests it from the agency, the agency fills it in and submits it on the
audit page, the QA manager receives it. The partnership has no page that
opens a request yet, so each test opens it through the service every
allocation starts from (``create_allocation``) and takes the request step
through the service, at a fixed instant; everything after that is what
people do and see on the pages.

Expected words are the framework's (seed 004, the CSCP Quality Assurance and
Continuous Improvement Framework 2023 - 25), cited by section.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from core.calendar import UTC, end_of_london_day
from core.db.engine import transaction
from core import workflow as wf
from core.db.tables import Allocation, ChildCase, Deadline, Notification
from core.services import audits, sweep
from core.services.allocations import create_allocation
from core.services.context import Context
from helpers import acting, csrf_from, filled_answers, person, sign_in
from test_reports_agencies import move_to_agency

# On SQLite only (the suite's 15 minutes): these journeys prove the council's
# rules, which are the same code on both databases; PostgreSQL runs the
# services' own tests, the migrations, the workers and the trail's.
pytestmark = pytest.mark.asyncio(loop_scope="session")
SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems

# The last working day of December 2026 (a Thursday; 1 January is a bank holiday).
LAST_WORKING_DAY_OF_DECEMBER = dt.datetime(2026, 12, 31, 9, 30, tzinfo=UTC)

# App. 2, the Multi-Agency Audit Tool: its parts in order, its nine key lines
# of enquiry, the overall grade (best first) and the SMART actions table.
TOOL_SECTIONS = ("Audit details", "Family Composition", "Summary", "Key Lines of Enquiry", "Case Grading", "Recommended Improvement Actions", "Overall grade")
HEADER_FIELDS = (
    "Date of completion", "Name of Child", "Gender", "Date of birth", "Age", "Address",
    "Agency ID Number (LCS ID, NHS number etc)", "Case Status", "Agency completing audit",
    "Name and role of auditor", "Audit scoping period",
)
FAMILY_COLUMNS = ("Name", "Age", "Relationship to Child", "Lives in household?")
KEY_LINES_OF_ENQUIRY = (
    "Identification of risk/need", "Assessments", "Decision-making", "Plan", "Multi-Agency Working",
    "Voice of the Child", "Family/Parental Engagement", "Equality, Diversity and Identity", "Impact of involvement",
)
OVERALL_GRADE_LEVELS = ("Exceeds Good", "Meets Good", "Does Not Meet Good Yet")
GOOD_PRACTICE = "Is there any good/innovative practice that should be highlighted?"
SUGGESTIONS = "Do you have any suggestions for practice improvement for your agency or the multi-agency partnership working with children and families"
SMART_ACTION_COLUMNS = ("Action (SMART)", "By Whom", "By When", "Progress/update")


def words(page: str) -> str:
    """What a person reads on a page: its text without tags, spaces collapsed."""
    text = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text))).strip()


async def request_return(registry, auditor: str, form: str, now: dt.datetime, due_at: dt.datetime, case_index: int = 0) -> int:
    """The QA manager asks an agency for a return at ``now`` (workflow
    agency_response version 2: the return opens requested, due by the
    state's deadline, ten working days; issue 14's requests set their own)."""
    qa = await acting(registry, "partnership.qa_manager")
    qa.now = now
    who = await person(auditor)
    cases = await ChildCase.select().where(ChildCase.organisation == who["organisation"]).order_by(ChildCase.id)
    async with transaction():
        allocation_id = await create_allocation(
            qa, organisation_id=who["organisation"], case=cases[case_index], auditor=who, kind="audit",
            reason="Thematic audit (CSCP 5.2)", form_key=f"partnership:{form}", workflow_key="partnership:agency_response",
            due_at=due_at,
        )
        workflow = registry.workflow("partnership:agency_response")
        state_due = wf.due(wf.state(workflow, "requested").deadline, now)
        await Allocation.update({Allocation.state_due_at: state_due}).where(Allocation.id == allocation_id)
        await Deadline.insert(Deadline(organisation=who["organisation"], allocation=allocation_id, kind="state:requested",
                                       due_at=state_due, escalate_to=["auditor", "qa_manager"], created_at=now))
    return allocation_id


async def draft_report(registry, now: dt.datetime) -> int:
    """The QA manager's own audit report (workflow report_sign_off), opened at ``now``."""
    qa = await acting(registry, "partnership.qa_manager")
    qa.now = now
    who = await person("partnership.qa_manager")
    case = await ChildCase.select().where(ChildCase.organisation == who["organisation"]).order_by(ChildCase.id).first()
    async with transaction():
        return await create_allocation(
            qa, organisation_id=who["organisation"], case=case, auditor=who, kind="audit",
            reason="Section 11 audit report (CSCP 5.2.2)", form_key="partnership:audit_report",
            workflow_key="partnership:report_sign_off", due_at=end_of_london_day(now.date() + dt.timedelta(days=60)),
        )


async def page_answers(client, allocation_id: int) -> tuple[str, dict[str, str]]:
    """The audit page as its auditor sees it, and the hidden fields a post needs."""
    page = await client.get(f"/audits/{allocation_id}")
    assert page.status_code == 200, page.text
    revision = re.search(r'name="revision" value="(\d+)"', page.text).group(1)
    return page.text, {"_csrf_token": csrf_from(page.text), "revision": revision}


async def take_step(client, allocation_id: int, step: str, reason: str = ""):
    page = await client.get(f"/audits/{allocation_id}")
    return await client.post(
        f"/audits/{allocation_id}/steps/{step}", data={"_csrf_token": csrf_from(page.text), "reason": reason}, follow_redirects=False
    )


async def accept(client, allocation_id: int):
    """The QA manager accepts a return (issue 14: agency_response version 2)."""
    page = await client.get(f"/audits/{allocation_id}")
    return await client.post(f"/audits/{allocation_id}/review", data={"decision": "accept", "reason": "", "_csrf_token": csrf_from(page.text)},
                             follow_redirects=False)


def step_buttons(page: str) -> list[str]:
    """The workflow steps the page offers (each a form posting to /steps/<key>)."""
    return re.findall(r'action="/audits/\d+/steps/([a-z_]+)"', page)


async def inbox(client, username: str) -> str:
    await sign_in(client, username)
    page = await client.get("/notifications")
    assert page.status_code == 200
    return words(page.text)


# --- CSCP-5: the multi-agency audit tool ------------------------------------------------


@pytest.mark.req("CSCP-5")
async def test_an_agency_auditor_completes_the_multi_agency_audit_tool(partnership, partnership_client):
    client = partnership_client
    due = end_of_london_day(dt.date(2027, 1, 29))
    allocation_id = await request_return(partnership, "partnership.multi_agency_auditor", "multi_agency_audit", LAST_WORKING_DAY_OF_DECEMBER, due)
    await sign_in(client, "partnership.multi_agency_auditor")
    page, hidden = await page_answers(client, allocation_id)
    text = words(page)
    assert "Multi-Agency Audit Tool" in text and "Requested from the agency" in text

    # The tool's parts in the framework's order, each field by its own name.
    headings = [html.unescape(h) for h in re.findall(r'<h2 class="govuk-heading-m">([^<]+)</h2>', page)]
    assert [h for h in headings if h in TOOL_SECTIONS] == list(TOOL_SECTIONS)
    body = text[text.index("All sections on one page"):]  # after the task list (issue 17)
    details = body[body.index("Audit details") : body.index("Family Composition")]
    positions = [details.index(label) for label in HEADER_FIELDS]
    assert positions == sorted(positions)
    for column in FAMILY_COLUMNS:
        assert f"row 1: {column}" in text, column
    assert "Brief Case Summary" in text
    # Each of the nine key lines of enquiry asks what worked well and areas for development.
    for title in KEY_LINES_OF_ENQUIRY:
        assert f"{title}: what worked well" in text and f"{title}: areas for development" in text, title
    assert GOOD_PRACTICE in text and SUGGESTIONS in text
    for column in SMART_ACTION_COLUMNS:
        assert f"Recommended Improvement Actions, row 1: {column}" in text, column
    overall = text[text.rindex("Overall grade") :]
    positions = [overall.index(level) for level in OVERALL_GRADE_LEVELS]
    assert positions == sorted(positions)  # best first
    assert "Rationale for the overall grade" in overall

    # A grade without the auditor's rationale is refused, with the reason, and nothing moves.
    view = await audits.audit_view(await acting(partnership, "partnership.multi_agency_auditor"), allocation_id)
    answers = filled_answers(view, "meets_good", evidence="Seen in the agency's records.")
    answers |= {
        "answer.details.agency_completing_audit": "police",
        "answer.family_composition.members.1.name": "Sibling A",
        "answer.family_composition.members.1.relationship_to_child": "Brother",
        "answer.family_composition.members.1.lives_in_household": "yes",
        "answer.key_lines_of_enquiry.voice_of_the_child.worked_well": "The child's wishes were recorded at every visit.",
        "answer.key_lines_of_enquiry.voice_of_the_child.development": "Wishes were not fed back to the conference.",
        "answer.case_grading.good_innovative_practice": "Joint home visit with the school nurse.",
        "answer.recommended_improvement_actions.actions.1.action": "Feed the child's wishes into every conference report",
        "answer.recommended_improvement_actions.actions.1.by_whom": "Team manager",
        "answer.recommended_improvement_actions.actions.1.by_when": "2027-03-31",
    }
    without_rationale = {k: v for k, v in answers.items() if k != "evidence.initial.overall"}
    refused = await client.post(f"/audits/{allocation_id}", data=without_rationale | hidden | {"action": "submit"})
    assert refused.status_code == 422
    assert "Overall grade: give the rationale for the grade" in words(refused.text)
    assert 'href="#evidence-initial-overall"' in refused.text
    assert "Requested from the agency" in words(refused.text)

    page, hidden = await page_answers(client, allocation_id)
    answers["evidence.initial.overall"] = "Risk was seen early but the plan drifted for two months."
    submitted = await client.post(f"/audits/{allocation_id}", data=answers | hidden | {"action": "submit"}, follow_redirects=False)
    assert submitted.status_code == 303, words(submitted.text)[:2000]

    # What the auditor then reads: the return as submitted, no longer editable.
    done = words((await client.get(f"/audits/{allocation_id}")).text)
    assert "Submitted to the Quality Assurance Manager" in done
    assert "Overall grade Meets Good" in done
    assert "Risk was seen early but the plan drifted for two months." in done
    assert "Voice of the Child: areas for development Wishes were not fed back to the conference." in done
    assert f"{GOOD_PRACTICE} Joint home visit with the school nurse." in done
    assert "Action (SMART) Feed the child's wishes into every conference report" in done
    assert "Agency completing audit Police" in done
    assert "Submit to QA" not in done


# --- CSCP-9: an agency's late response is chased -------------------------------------------


@pytest.mark.req("CSCP-9")
async def test_an_agency_response_not_made_by_its_deadline_is_chased(partnership, partnership_client):
    client = partnership_client
    # Asked on Monday 31 January 2028: ten working days on is Monday 14 February.
    asked = dt.datetime(2028, 1, 31, 10, 0, tzinfo=UTC)
    due = end_of_london_day(dt.date(2028, 3, 31))
    late = await request_return(partnership, "partnership.multi_agency_auditor", "multi_agency_audit", asked, due, case_index=0)
    on_time = await request_return(partnership, "partnership.multi_agency_auditor", "multi_agency_audit", asked, due, case_index=1)
    late_case = (await audits.load_row(late))["case_external_id"]
    on_time_case = (await audits.load_row(on_time))["case_external_id"]

    # The agency sees the deadline on the request.
    await sign_in(client, "partnership.multi_agency_auditor")
    assert "This step is due by 14 February 2028 23:59." in words((await client.get(f"/audits/{late}")).text)

    # One response arrives the day before the deadline.
    auditor = await acting(partnership, "partnership.multi_agency_auditor")
    auditor.now = dt.datetime(2028, 2, 11, 15, 0, tzinfo=UTC)
    view = await audits.audit_view(auditor, on_time)
    revision = await audits.save_answers(auditor, on_time, view.revision, filled_answers(view, "exceeds_good", day="2028-02-11"))
    await audits.submit(auditor, on_time, revision)

    async def sweep_at(instant: dt.datetime):
        return await sweep.sweep(Context(registry=partnership, now=instant))

    async def chases() -> list[dict]:
        return await Notification.select(Notification.recipient.username.as_alias("to"), Notification.kind, Notification.subject, Notification.link).where(
            Notification.kind.is_in(["deadline_passed", "escalation:agency_response_overdue"])
        ).order_by(Notification.id)

    # On the last day nobody is chased.
    assert (await sweep_at(dt.datetime(2028, 2, 14, 23, 0, tzinfo=UTC))).by_kind == {}
    assert await chases() == []

    # Half an hour after the deadline the return's auditor (for a request,
    # the agency lead) and the QA manager are told, and told to chase; only
    # the late response.
    report = await sweep_at(dt.datetime(2028, 2, 15, 0, 30, tzinfo=UTC))
    assert report.by_kind == {"state:requested": 1}
    sent = await chases()
    assert {(n["to"], n["kind"]) for n in sent} == {
        ("partnership.multi_agency_auditor", "deadline_passed"),
        ("partnership.qa_manager", "deadline_passed"),
        ("partnership.multi_agency_auditor", "escalation:agency_response_overdue"),
        ("partnership.qa_manager", "escalation:agency_response_overdue"),
    }
    assert {n["link"] for n in sent} == {f"/audits/{late}"}
    for username in ("partnership.multi_agency_auditor", "partnership.qa_manager"):
        text = await inbox(client, username)
        assert f"Overdue: the audit of case {late_case} is still requested" in text
        assert "Chase the agency's overdue response to the audit request" in text
        assert f"case {on_time_case} is still requested" not in text

    # Chased once, not again at every sweep.
    assert (await sweep_at(dt.datetime(2028, 2, 16, 9, 0, tzinfo=UTC))).by_kind == {}
    assert len(await chases()) == len(sent)


# --- CSCP-1: each agency submits and sees its own returns; the partnership sees all -------------


@pytest.mark.req("CSCP-1")
async def test_each_agency_sees_its_own_return_and_the_partnership_sees_every_agencys(partnership, partnership_client):
    client = partnership_client
    await move_to_agency(partnership, "partnership.multi_agency_auditor", "police")
    await move_to_agency(partnership, "partnership.agency_lead", "health")
    due = end_of_london_day(dt.date(2027, 1, 29))
    police = await request_return(partnership, "partnership.multi_agency_auditor", "multi_agency_audit", LAST_WORKING_DAY_OF_DECEMBER, due, case_index=0)
    health = await request_return(partnership, "partnership.agency_lead", "scorecard_return", LAST_WORKING_DAY_OF_DECEMBER, due, case_index=5)
    police_case = (await audits.load_row(police))["case_external_id"]
    health_case = (await audits.load_row(health))["case_external_id"]

    # The police's auditor submits the police's return.
    auditor = await acting(partnership, "partnership.multi_agency_auditor")
    auditor.now = dt.datetime(2027, 1, 4, 11, 0, tzinfo=UTC)
    view = await audits.audit_view(auditor, police)
    answers = filled_answers(view, "does_not_meet_good_yet") | {"answer.details.agency_completing_audit": "police"}
    await audits.submit(auditor, police, await audits.save_answers(auditor, police, view.revision, answers))

    # Health's lead sees health's request, not the police's return.
    await sign_in(client, "partnership.agency_lead")
    mine = words((await client.get("/audits")).text)
    assert health_case in mine and police_case not in mine
    refused = await client.get(f"/audits/{police}")
    assert refused.status_code == 404
    assert "There is no audit with that number that you can see" in words(refused.text)

    # ... and makes health's quarterly scorecard return (CSCP 5.1: figures with
    # "a brief narrative/commentary alongside their data"), one table per priority.
    page, hidden = await page_answers(client, health)
    text = words(page)
    for n in (1, 2, 3):
        assert f"Partnership priority {n} indicators" in text
        for column in ("Indicator", "Figure", "Narrative/commentary"):
            assert f"Indicators for priority {n}, row 1: {column}" in text
    refused = await client.post(f"/audits/{health}", data=hidden | {"action": "submit", "answer.priority_1.figures.1.figure": "many"})
    assert refused.status_code == 422
    assert "Indicators for priority 1, row 1: Figure must be a number" in words(refused.text)
    page, hidden = await page_answers(client, health)
    submitted = await client.post(f"/audits/{health}", follow_redirects=False, data=hidden | {
        "action": "submit",
        "answer.return_details.agency": "health",
        "answer.return_details.quarter": "q3",
        "answer.return_details.completed_by": "Named nurse for safeguarding",
        "answer.priority_1.figures.1.indicator": "Initial health assessments within 20 working days",
        "answer.priority_1.figures.1.figure": "87",
        "answer.priority_1.figures.1.commentary": "Down from 92: two paediatricians on leave in November.",
    })
    assert submitted.status_code == 303, words(submitted.text)[:2000]
    shown = words((await client.get(f"/audits/{health}")).text)
    assert "Submitted to the Quality Assurance Manager" in shown
    assert "Partner agency Health (NHS commissioners and providers)" in shown
    assert "Indicators for priority 1, row 1: Figure 87" in shown
    assert "Narrative/commentary Down from 92: two paediatricians on leave in November." in shown

    # The police's auditor, in turn, cannot open health's return.
    await sign_in(client, "partnership.multi_agency_auditor")
    assert (await client.get(f"/audits/{health}")).status_code == 404
    assert "Agency completing audit Police" in words((await client.get(f"/audits/{police}")).text)

    # The partnership sees both: the QA manager has both returns waiting, and
    # receives them; the Audit Chair can read either.
    await sign_in(client, "partnership.qa_manager")
    queue = words((await client.get("/qa")).text)
    assert police_case in queue and health_case in queue
    for allocation_id, agency in ((police, "Agency completing audit Police"), (health, "Partner agency Health (NHS commissioners and providers)")):
        page = (await client.get(f"/audits/{allocation_id}")).text
        assert agency in words(page)
        assert step_buttons(page) == []
        assert (await accept(client, allocation_id)).status_code == 303
        assert "Accepted by the Quality Assurance Manager" in words((await client.get(f"/audits/{allocation_id}")).text)
    await sign_in(client, "partnership.audit_chair")
    for allocation_id in (police, health):
        page = await client.get(f"/audits/{allocation_id}")
        assert page.status_code == 200 and "Accepted by the Quality Assurance Manager" in words(page.text)
        assert step_buttons(page.text) == []


# --- CSCP-4: Section 11 every two years, Section 175/157 every year, the report -----------------


@pytest.mark.req("CSCP-4")
async def test_section_11_every_other_year_and_section_175_157_every_year_on_my_programme(partnership, partnership_client):
    client = partnership_client
    # CSCP 5.2: "Section 11 (bi-annual) and Section 175/157 (annual)"; the
    # partnership year runs April to March, so each falls due on the last
    # working day of March: 28 March 2024 (29 March is Good Friday, 31 March a
    # Sunday), 31 March 2025, 31 March 2026.
    section_11 = "Complete the Section 11 self-assessment for the agency"
    section_175_157 = "Complete the school's Section 175/157 self-assessment"
    await sign_in(client, "partnership.agency_lead")
    years = {year: words((await client.get(f"/programme/mine?year={year}")).text) for year in (2023, 2024, 2025)}
    assert f"28 March 2024 {section_11} 1" in years[2023]
    assert "Section 11" not in years[2024]
    assert f"31 March 2026 {section_11} 1" in years[2025]
    await sign_in(client, "partnership.school_dsl")
    for year, due in ((2023, "28 March 2024"), (2024, "31 March 2025"), (2025, "31 March 2026")):
        page = words((await client.get(f"/programme/mine?year={year}")).text)
        assert f"{due} {section_175_157} 1" in page, year
        assert "Section 11" not in page


@pytest.mark.req("CSCP-4")
async def test_a_section_11_return_reports_progress_and_the_report_recommends_for_each_agency(partnership, partnership_client):
    client = partnership_client
    # Asked the day before Good Friday 2024.
    asked = dt.datetime(2024, 3, 28, 9, 0, tzinfo=UTC)
    allocation_id = await request_return(partnership, "partnership.agency_lead", "section_11", asked, end_of_london_day(dt.date(2024, 4, 30)))
    await sign_in(client, "partnership.agency_lead")
    page, hidden = await page_answers(client, allocation_id)
    text = words(page)
    assert "Section 11 self-assessment (Children Act 2004)" in text
    # CSCP 5.2.2: "report on progress of improvements to their safeguarding
    # procedures during the previous 12 months".
    progress = "Progress of improvements to your safeguarding procedures during the previous 12 months"
    assert progress in text
    view = await audits.audit_view(await acting(partnership, "partnership.agency_lead"), allocation_id)
    answers = filled_answers(view, "not_compliant", evidence="Safer recruitment checks were late for agency staff.")
    answers["answer.agency.agency"] = "police"
    without = {k: v for k, v in answers.items() if k != "answer.progress.progress_of_improvements"}
    refused = await client.post(f"/audits/{allocation_id}", data=without | hidden | {"action": "submit"})
    assert refused.status_code == 422
    assert f"Enter {progress[0].lower()}{progress[1:]}" in words(refused.text)
    page, hidden = await page_answers(client, allocation_id)
    answers["answer.progress.progress_of_improvements"] = "Training on the escalation policy reached every team."
    assert (await client.post(f"/audits/{allocation_id}", data=answers | hidden | {"action": "submit"}, follow_redirects=False)).status_code == 303
    shown = words((await client.get(f"/audits/{allocation_id}")).text)
    assert "Submitted to the Quality Assurance Manager" in shown
    assert f"{progress} Training on the escalation policy reached every team." in shown
    assert "Partner agency Police" in shown

    # The QA manager receives it and writes the Section 11 report with
    # recommendations and actions for each agency (CSCP 5.2).
    await sign_in(client, "partnership.qa_manager")
    assert (await accept(client, allocation_id)).status_code == 303
    report = await draft_report(partnership, dt.datetime(2024, 4, 2, 9, 0, tzinfo=UTC))
    page, hidden = await page_answers(client, report)
    assert "SMART Action Plan, row 1: Agency" in words(page)
    plan = {
        "answer.audit.kind": "section_11",
        "answer.audit.theme": "Section 11 self-assessments 2023/24",
        "answer.findings.findings.worked_well": "Every agency returned its self-assessment.",
        "answer.findings.findings.development": "Safer recruitment for agency staff.",
        "answer.recommendations.action_plan.1.recommendation": "Check agency staff before they start",
        "answer.recommendations.action_plan.1.agency": "police",
        "answer.recommendations.action_plan.1.action": "Audit the vetting of every agency worker",
        "answer.recommendations.action_plan.1.by_whom": "Police safeguarding lead",
        "answer.recommendations.action_plan.1.by_when": "2024-09-30",
        "answer.recommendations.action_plan.1.progress": "Not started",
        "answer.recommendations.action_plan.2.recommendation": "Report training reach by team",
        "answer.recommendations.action_plan.2.agency": "health",
        "answer.recommendations.action_plan.2.action": "Add training reach to the quarterly scorecard return",
        "answer.recommendations.action_plan.2.by_whom": "Named nurse for safeguarding",
        "answer.recommendations.action_plan.2.by_when": "2024-06-28",
    }
    assert (await client.post(f"/audits/{report}", data=plan | hidden | {"action": "submit"}, follow_redirects=False)).status_code == 303
    shown = words((await client.get(f"/audits/{report}")).text)
    assert "With the Audit Chair for sign-off" in shown
    assert "Kind of audit Section 11 audit" in shown
    assert "SMART Action Plan, row 1: Agency Police SMART Action Plan, row 1: Action (SMART) Audit the vetting of every agency worker" in shown
    assert "SMART Action Plan, row 2: Agency Health (NHS commissioners and providers)" in shown
    assert "SMART Action Plan, row 2: By When 28 June 2024" in shown


# --- CSCP-6 (not yet met): the report's sign-off chain --------------------------------------------


async def test_the_report_goes_from_the_qa_manager_to_the_audit_chair_and_the_subgroup_to_the_board(partnership, partnership_client):
    """The chain runs for the QA manager and the Audit Chair (who chairs the A&P
    subgroup). Not tagged CSCP-6: A&P subgroup members and Partnership Board
    members are notified but cannot open the report (no capability lets them
    see it), so the subgroup acts only through its chair and the board cannot
    read what it receives."""
    client = partnership_client
    report = await draft_report(partnership, LAST_WORKING_DAY_OF_DECEMBER)
    await sign_in(client, "partnership.qa_manager")
    page, hidden = await page_answers(client, report)
    draft = {
        "answer.audit.kind": "thematic",
        "answer.audit.theme": "Neglect",
        "answer.findings.findings.worked_well": "Early help was offered quickly.",
        "answer.findings.findings.development": "Fathers were rarely seen.",
        "answer.recommendations.action_plan.1.recommendation": "See fathers",
        "answer.recommendations.action_plan.1.agency": "local_authority",
        "answer.recommendations.action_plan.1.action": "Invite fathers to every core group",
        "answer.recommendations.action_plan.1.by_whom": "Children's services",
        "answer.recommendations.action_plan.1.by_when": "2027-06-30",
        "answer.recommendations.action_plan.1.progress": "Not started",
    }
    assert (await client.post(f"/audits/{report}", data=draft | hidden | {"action": "submit"}, follow_redirects=False)).status_code == 303
    page = (await client.get(f"/audits/{report}")).text
    assert "With the Audit Chair for sign-off" in words(page) and step_buttons(page) == []

    # CSCP 5.2: "goes to the Audit Chair for sign-off".
    await sign_in(client, "partnership.audit_chair")
    page = (await client.get(f"/audits/{report}")).text
    assert step_buttons(page) == ["sign_off", "decline_sign_off"]
    assert (await take_step(client, report, "sign_off")).status_code == 303
    # "The report then goes to the Subgroup for their consideration and final amendments".
    page = (await client.get(f"/audits/{report}")).text
    assert "With the A&P subgroup for consideration and final amendments" in words(page)
    assert step_buttons(page) == ["request_amendments", "agree"]
    refused = await take_step(client, report, "request_amendments")
    assert refused.status_code == 422 and "needs a reason" in words(refused.text)
    assert (await take_step(client, report, "request_amendments", "Name the agencies that did not see fathers.")).status_code == 303

    await sign_in(client, "partnership.qa_manager")
    page, hidden = await page_answers(client, report)
    assert "Final amendments by the Quality Assurance Manager" in words(page)
    amended = draft | {"answer.findings.findings.development": "Fathers were rarely seen by health and the police."}
    assert (await client.post(f"/audits/{report}", data=amended | hidden | {"action": "save"})).status_code == 200
    assert (await take_step(client, report, "return_amended")).status_code == 303

    # "once agreed the final report is presented at the Partnership Board meeting".
    await sign_in(client, "partnership.audit_chair")
    assert (await take_step(client, report, "agree")).status_code == 303
    await sign_in(client, "partnership.qa_manager")
    page = (await client.get(f"/audits/{report}")).text
    assert "Agreed by the A&P subgroup" in words(page) and step_buttons(page) == ["present"]
    assert (await take_step(client, report, "present")).status_code == 303
    shown = words((await client.get(f"/audits/{report}")).text)
    assert "Presented at the Partnership Board meeting" in shown
    assert "Fathers were rarely seen by health and the police." in shown
    case = (await audits.load_row(report))["case_external_id"]
    assert f"Audit of case {case}: presented at the Partnership Board meeting" in await inbox(client, "partnership.partnership_board")


# --- CSCP-2, CSCP-3, CSCP-7 (not yet met): what the programme shows ----------------------------


async def test_the_programme_shows_quarterly_returns_four_thematic_audits_at_most_and_impromptu_as_required(partnership, partnership_client):
    """Not tagged: the programme shows the framework's rhythm, but no record
    runs the indicator-change, audit-programme or impromptu-audit workflows,
    so nothing records an approval or agreement, or stops an audit before it."""
    client = partnership_client
    await sign_in(client, "partnership.qa_manager")
    page = (await client.get("/programme?year=2027")).text
    assert "QA programme 2027" in words(page)
    # Months April 2027 to March 2028; quarters end in June, September, December and March.
    quarterly = ["", "", "1", "", "", "1", "", "", "1", "", "", "1"]
    april = ["1"] + [""] * 11

    rows = {
        (html.unescape(role), html.unescape(activity)): re.findall(r"<td[^>]*>([^<]*)</td>", cells)
        for role, activity, cells in re.findall(
            r'<th scope="row" class="govuk-table__header">([^<]*)</th>\s*<td[^>]*>([^<]*)</td>(.*?)</tr>', page, re.S
        )
    }

    def row(role: str, activity: str) -> list[str]:
        assert (role, activity) in rows, (role, activity)
        return rows[(role, activity)]

    # CSCP 5.2: "a maximum of 4 multi-agency thematic audits each year (one per quarter)".
    assert row("Quality Assurance Manager", "Co-ordinate a multi-agency thematic audit and write the audit report (up to)") == ["1", *quarterly, ""]
    # "agreed by the A&P Subgroup before any audits commence".
    assert row("Audit Chair (chair of the A&P subgroup)", "Discuss and agree the annual audit programme (A&P subgroup)") == ["1", *april, ""]
    # CSCP 5.1: each partner's scorecard data, every quarter: from each of
    # the demo's three agency leads (local authority, police, health; issue 14).
    assert row(
        "Agency lead (partner agency's A&P subgroup representative)", "Submit the agency's scorecard data with a brief narrative/commentary"
    ) == ["3", *[v and "3" for v in quarterly], ""]
    # CSCP 5.3: "The CSCP may decide to undertake an impromptu audit at any time".
    assert row(
        "Quality Assurance Manager", "Impromptu audit (after a Rapid Review, Safeguarding Practice Review or other information)"
    ) == ["1", *[""] * 12, "1"]
