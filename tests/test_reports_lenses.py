"""The partnership's reports cut by lens (CSCP-10): every source of assurance
is classified by the lens its schedules name, and a report can be restricted
to one lens. Audits are driven through the real services, on both databases."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from core.calendar import end_of_london_day, london_date
from core.db.engine import transaction
from core.db.tables import ChildCase
from core.services import audits, qa_overview, reports
from core.services.allocations import create_allocation
from helpers import acting, filled_answers, person, sign_in

# The suite's 15 minutes: this module's rules are the same code on both
# databases; PostgreSQL runs the services', migrations', workers' and trail's tests.
SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def agency_return(registry, auditor: str, form: str, due_at, grade: str | None, *, complete: bool = True) -> int:
    """An audit request to an agency (workflow agency_response): requested by
    the QA manager, filled in and submitted by the agency, accepted
    (issue 14: the request opens the return; the QA manager accepts it)."""
    qa = await acting(registry, "partnership.qa_manager")
    who = await person(auditor)
    case = await ChildCase.select().where(ChildCase.organisation == who["organisation"]).order_by(ChildCase.id).first()
    async with transaction():
        allocation_id = await create_allocation(
            qa, organisation_id=who["organisation"], case=case, auditor=who, kind="audit", reason="Thematic audit (5.2)",
            form_key=f"partnership:{form}", workflow_key="partnership:agency_response", due_at=due_at,
        )
    if not complete:
        return allocation_id
    ctx = await acting(registry, auditor)
    view = await audits.audit_view(ctx, allocation_id)
    answers = filled_answers(view, grade, evidence="From the agency's records.")
    revision = await audits.save_answers(ctx, allocation_id, view.revision, answers)
    await audits.submit(ctx, allocation_id, revision)
    await audits.review(qa, allocation_id, "accept")
    return allocation_id


async def partnership_quarter(registry) -> reports.Period:
    """Three multi-agency audit returns (professional lens: two graded, one
    still with the agency) and two scorecard returns (independent lens)."""
    today = london_date(dt.datetime.now(dt.timezone.utc))
    due_at = end_of_london_day(today + dt.timedelta(days=1))
    await agency_return(registry, "partnership.multi_agency_auditor", "multi_agency_audit", due_at, "meets_good")
    await agency_return(registry, "partnership.multi_agency_auditor", "multi_agency_audit", due_at, "does_not_meet_good_yet")
    await agency_return(registry, "partnership.multi_agency_auditor", "multi_agency_audit", due_at, None, complete=False)
    await agency_return(registry, "partnership.agency_lead", "scorecard_return", due_at, None)
    await agency_return(registry, "partnership.agency_lead", "scorecard_return", due_at, None)
    return reports.period("month", london_date(due_at))


@pytest.mark.req("CSCP-10")
async def test_every_source_of_assurance_has_its_lens(partnership, partnership_demo):
    qa = await acting(partnership, "partnership.qa_manager")
    assert [k for k, _ in qa_overview.lenses(qa)] == ["independent", "provider", "professional", "citizen"]
    lens_of = qa_overview.lens_of_forms(qa)
    assert lens_of == {
        "partnership:multi_agency_audit": "professional",
        "partnership:section_11": "professional",
        "partnership:section_175_157": "professional",
        "partnership:scorecard_return": "independent",
        "partnership:audit_report": "professional",
    }


@pytest.mark.req("CSCP-10")
async def test_the_report_cut_by_lens_and_restricted_to_one(partnership, partnership_demo):
    month = await partnership_quarter(partnership)
    qa = await acting(partnership, "partnership.qa_manager")
    ov = await qa_overview.overview(qa, month, reports.Scope("org"))
    lenses = {r.key: r for r in ov.by_lens}
    assert list(lenses) == ["independent", "provider", "professional", "citizen"]
    professional = lenses["professional"]
    assert professional.title == "Professional Lens"
    assert (professional.allocated, professional.completed, professional.on_time, professional.overdue) == (3, 2, 2, 0)
    assert professional.grades["partnership:three_level"] == {"exceeds_good": 0, "meets_good": 1, "does_not_meet_good_yet": 1}
    independent = lenses["independent"]
    assert (independent.allocated, independent.completed, independent.on_time) == (2, 2, 2)
    assert (lenses["provider"].allocated, lenses["citizen"].allocated) == (0, 0)

    only = await qa_overview.overview(qa, month, reports.Scope("org"), qa_overview.parse_lens(qa, "independent"))
    assert [r.key for r in only.activities] == ["partnership:scorecard_return"]
    assert (only.total.allocated, only.total.completed) == (2, 2)
    assert [r.key for r in only.by_lens] == ["independent"]

    # Once the due day has passed, the return still with its agency is overdue.
    qa.now = month.end_at + dt.timedelta(days=1)
    later = await qa_overview.overview(qa, month, reports.Scope("org"), qa_overview.parse_lens(qa, "professional"))
    assert (later.total.allocated, later.total.completed, later.total.overdue) == (3, 2, 1)


@pytest.mark.req("CSCP-10")
async def test_the_lens_cut_on_the_report_page_and_in_its_exports(partnership, partnership_client):
    from openpyxl import load_workbook

    from test_report_pdf import pdf_text

    month = await partnership_quarter(partnership)
    query = f"period=month&date={month.key}&scope=org"
    client = partnership_client
    await sign_in(client, "partnership.qa_manager")

    page = await client.get(f"/reports?{query}")
    assert page.status_code == 200, page.text
    assert 'name="lens"' in page.text and "By lens" in page.text
    rows = list(csv.reader(io.StringIO((await client.get(f"/reports/export.csv?{query}&table=lenses")).content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Lens", "Allocated", "Completed", "Completed on time", "Overdue"]
    assert {r[0]: r[1:4] for r in rows[1:]} == {
        "Independent Lens": ["2", "2", "2"],
        "Provider Lens": ["0", "0", "0"],
        "Professional Lens": ["3", "2", "2"],
        "Citizen Lens": ["0", "0", "0"],
    }
    grades = list(csv.reader(io.StringIO((await client.get(f"/reports/export.csv?{query}&table=lens_grades_three_level")).content.decode("utf-8-sig"))))
    assert grades[0] == ["Lens", "Exceeds Good", "Meets Good", "Does Not Meet Good Yet", "Total"]
    assert grades[1:] == [["Professional Lens", "0", "1", "1", "2"]]

    # Restricted to one lens: the whole report is that lens's activity.
    restricted = await client.get(f"/reports?{query}&lens=independent")
    assert restricted.status_code == 200, restricted.text
    assert f"{month.label}: whole council, Independent Lens" in restricted.text
    assert "Multi-Agency Audit Tool" not in restricted.text
    activity = list(csv.reader(io.StringIO((await client.get(f"/reports/export.csv?{query}&lens=independent&table=activity")).content.decode("utf-8-sig"))))
    assert [r[:4] for r in activity[1:]] == [["Performance Scorecard return", "2", "2", "2"], ["All activity", "2", "2", "2"]]
    book = load_workbook(io.BytesIO((await client.get(f"/reports/export.xlsx?{query}&lens=professional")).content))
    assert book["About"]["A1"].value == f"{month.label}: whole council, Professional Lens"
    assert [c.value for c in book["By lens"][2]][:5] == ["Professional Lens", 3, 2, 2, 0]
    # Table cells wrap in the PDF: compare the words.
    text = " ".join(pdf_text(await client.get(f"/reports/report.pdf?{query}&lens=professional")).split())
    assert "Professional Lens 3 2 2 0" in text and "Multi-Agency Audit Tool 3 2 2 0" in text
    text = " ".join(pdf_text(await client.get(f"/reports/report.pdf?{query}")).split())
    assert "By lens" in text and "Independent Lens 2 2 2 0" in text
    refused = await client.get(f"/reports?{query}&lens=telescope")
    assert refused.status_code == 422 and "Choose a lens" in refused.text
