"""PDFs (CORE-15): the whole report with its charts, and a completed audit for
the case record, from audits driven through the real services; the text is
read back out of the PDF with pypdf. Set ``QAF_TEST_PDFS=/some/dir`` to keep
the PDFs made, to look at."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from core.calendar import to_london
from core.db.tables import Allocation, ChildCase, FollowUp, Person
from core.services import actions
from tests.helpers import acting, sign_in
from tests.test_reports import month_of, scenario

# The suite's 15 minutes: this module's rules are the same code on both
# databases; PostgreSQL runs the services', migrations', workers' and trail's tests.
SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems

pytestmark = pytest.mark.asyncio(loop_scope="session")


def pdf_text(response) -> str:
    assert response.status_code == 200, response.text[:2000]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.content.startswith(b"%PDF-")
    if os.environ.get("QAF_TEST_PDFS"):
        folder = Path(os.environ["QAF_TEST_PDFS"])
        folder.mkdir(parents=True, exist_ok=True)
        name = response.headers["content-disposition"].split('filename="', 1)[1].rstrip('"')
        (folder / name).write_bytes(response.content)
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[ \t]+", " ", text)


def fills(response) -> set[str]:
    """The fill colours (``r g b rg``) drawn in the PDF: the charts' bars."""
    reader = PdfReader(io.BytesIO(response.content))
    drawn = set()
    for page in reader.pages:
        data = page.get_contents().get_data().decode("latin-1")
        for r, g, b in re.findall(r"([\d.]+) ([\d.]+) ([\d.]+) rg", data):
            drawn.add("#" + "".join(f"{round(float(v) * 255):02x}" for v in (r, g, b)))
    return drawn


@pytest.mark.req("CORE-15")
async def test_the_whole_report_as_a_pdf_with_its_figures_and_charts(client, registry):
    ids = await scenario(registry)
    row = await Allocation.select().where(Allocation.id == ids["haringey.cp_chair"]).first()
    month = month_of(row)
    query = f"period=month&date={month.key}&scope=org"

    # Same access as the report page: a team manager is refused.
    await sign_in(client, "haringey.team_manager.2")
    assert (await client.get(f"/reports/report.pdf?{query}")).status_code == 403

    await sign_in(client, "haringey.head_of_qa")
    page = await client.get(f"/reports?{query}")
    assert 'href="/reports/report.pdf?{}"'.format(query.replace("&", "&amp;")) in page.text  # offered on the page
    response = await client.get(f"/reports/report.pdf?{query}")
    text = pdf_text(response)
    assert f"qaf-report-month-{month.key}-org.pdf" in response.headers["content-disposition"]
    assert f"{month.label}: whole council" in text
    # The report's figures (the same as tests/test_reports.py counts).
    assert "Allocated 8" in text and "Completed 5" in text and "Completed on time 5" in text
    assert "Overall grade 0 3 1 1 5 1 0" in text  # outstanding, good, RI, inadequate; total; moderation; dispute
    assert "1 overall grades were changed by moderation, 0 by dispute" in text
    assert "Opened 2" in text and "Closed 0" in text
    assert "Moderation by auditor" in text  # QA sees the moderation tables
    # The charts, drawn: their axis labels are text, their bars the palette's colours.
    assert month.short_label in text and month.previous().short_label in text  # the trend chart's axis
    assert {"#00703c", "#1d70b8", "#f47738", "#d4351c"} <= fills(response)
    # Pseudonymised, as the page: no child's case number.
    case = await ChildCase.select(ChildCase.external_id).where(ChildCase.id == row["child_case"]).first()
    assert case["external_id"] not in text

    # A bad query is refused as the page refuses it.
    assert (await client.get("/reports/report.pdf?period=month&date=nonsense")).status_code == 422


@pytest.mark.req("CORE-15")
async def test_a_completed_audit_as_a_pdf_for_the_case_record(client, registry):
    ids = await scenario(registry)
    lado = ids["haringey.lado"]
    row = await Allocation.select(
        Allocation.child_case.external_id.as_alias("case"), Allocation.child_case.allocated_worker.as_alias("worker")
    ).where(Allocation.id == lado).first()

    await sign_in(client, "haringey.head_of_qa")
    page = await client.get(f"/audits/{lado}")
    assert f'href="/audits/{lado}/report.pdf"' in page.text
    response = await client.get(f"/audits/{lado}/report.pdf")
    text = pdf_text(response)
    assert f"Case {row['case']}" in text
    # The grades at a glance: the overall grade at each stage, then every grade given.
    assert re.search(r"Overall grade Inadequate Inadequate Inadequate Inadequate", text), text
    assert "After reading the file" in text and "QA moderated" in text and "Final" in text
    assert "Every grade given, in order" in text  # the details' content is printed, not folded away
    assert "Download this audit" not in text  # the page's own link is not in the PDF
    # The case record gets the audit's follow-ups and SMART actions too (issue 17).
    follow_ups = await FollowUp.select(FollowUp.action).where(FollowUp.allocation == lado)
    assert follow_ups, "an inadequate audit asks for follow-up"
    assert "Follow-up required" in text
    for task in follow_ups:
        assert " ".join(task["action"].split()) in " ".join(text.split())
    assert "Actions from this audit" not in text and "Re-audited" not in text
    await actions.create(
        await acting(registry, "haringey.head_of_qa"), what="Update the child's plan with SMART outcomes",
        owner_id=row["worker"], due_on="2027-01-15", allocation_id=lado,
    )
    text = " ".join(pdf_text(await client.get(f"/audits/{lado}/report.pdf")).split())
    assert "Actions from this audit" in text and "Update the child's plan with SMART outcomes" in text and "15 January 2027" in text

    # An audit re-audited since says so, with the re-audit's date.
    re_audit = await Allocation.select(Allocation.finalised_at).where(Allocation.id == ids["re_audit"]).first()
    text = " ".join(pdf_text(await client.get(f"/audits/{ids['haringey.iro']}/report.pdf")).split())
    assert f"Re-audited: see the re-audit of {to_london(re_audit['finalised_at']).strftime('%-d %B %Y')}" in text
    assert "Re-audited" not in " ".join(pdf_text(await client.get(f"/audits/{ids['re_audit']}/report.pdf")).split())

    # An audit not yet final is refused (409), even to QA.
    open_audit = ids["haringey.team_manager.1"]  # accepted: final
    pending = await Allocation.select(Allocation.id).where(Allocation.finalised_at.is_null()).first()
    refused = await client.get(f"/audits/{pending['id']}/report.pdf")
    assert refused.status_code == 409
    assert "not final yet" in refused.text
    assert (await client.get(f"/audits/{open_audit}/report.pdf")).status_code == 200

    # The practitioner whose case it is may have it; another auditor may not see it at all.
    worker = await Person.select(Person.username).where(Person.id == row["worker"]).first()
    await sign_in(client, worker["username"])
    assert f"Case {row['case']}" in pdf_text(await client.get(f"/audits/{lado}/report.pdf"))
    await sign_in(client, "haringey.cp_chair")
    assert (await client.get(f"/audits/{lado}/report.pdf")).status_code == 404
