"""Issue 14 in a real browser, against ``qaf demo`` + ``qaf serve`` with a
loopback SMTP server: the partnership's QA manager issues a Section 11
round to three agencies; the police's agency lead invites a respondent; the
respondent signs in from the emailed link, finds last round's answers
carried forward, changes two, attaches a PDF and sends it for sign-off; the
police's signatory submits; the QA manager sends the police's return back
and accepts the other two; the round's report is drafted, signed off by the
Audit Chair and agreed by the A&P subgroup, and its recommendations become
the subgroup's action plan. axe-core runs on every page.

Seed 004 (CSCP framework 2023 - 25): 5.2.2 Section 11 self-assessments by
partner agencies; 5.0 responses "within the agreed timescales".
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from support.browser import A11yTracker
from support.live_server import start_live_server, stop_live_server

PASSWORD = "qaf-demo-2026"
QA = "partnership.qa_manager"
POLICE_LEAD = "partnership.agency_lead.police"
RESPONDENT = "sam.smith@police.example"
# A tiny but real PDF (its content is what is checked, not its name).
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture(scope="module")
def partnership_server(smtp_server):
    with tempfile.TemporaryDirectory(prefix="qaf-live-agency-") as tmp:
        server = start_live_server(Path(tmp), QAF_COUNCILS="partnership", QAF_SWEEP_SECONDS="1",
                                   QAF_SMTP_HOST=smtp_server.host, QAF_SMTP_PORT=str(smtp_server.port), QAF_SMTP_TLS="none")
        try:
            yield server
        finally:
            stop_live_server(server)


async def sign_in(page: Page, a11y: A11yTracker, base: str, username: str) -> None:
    await a11y.goto(f"{base}/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/")
    await a11y.check()


async def sign_out(page: Page, base: str) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{base}/login")


async def emailed_path(smtp, to: str, kind: str) -> str:
    """The path of the one-time link in the newest email to ``to``."""
    for _ in range(50):
        for message in reversed(await smtp.wait_for(1, timeout=10)):
            if to in " ".join(message.to) and kind in message.body:
                return re.search(r"https?://[^/\s]+(/respondents/\S+)", message.body).group(1)
        import asyncio

        await asyncio.sleep(0.2)
    raise AssertionError(f"no email to {to} with {kind}")


def returns_of(database: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "select g.key, a.id from allocation a join agency g on g.id = a.agency join agency_request r on r.id = a.agency_request"
            " where r.state = 'open' order by a.id").fetchall()
    return dict(rows)


@pytest.mark.req("CSCP-4")
@pytest.mark.req("CSCP-1")
@pytest.mark.req("CSCP-6")
@pytest.mark.req("CSCP-8")
@pytest.mark.req("PLAT-7")
@pytest.mark.req("PLAT-8")
@pytest.mark.req("PLAT-6")
async def test_a_section_11_round_in_the_browser(partnership_server, smtp_server, page: Page, a11y: A11yTracker, tmp_path):
    try:
        await journey(partnership_server, smtp_server, page, a11y, tmp_path)
    except BaseException:
        print(f"--- qaf serve output ---\n{partnership_server.log()[-8000:]}")
        raise


async def journey(server, smtp, page: Page, a11y: A11yTracker, tmp_path: Path) -> None:
    base = server.url
    smtp.clear()
    # 1. The QA manager issues the Section 11 round to three agencies.
    await sign_in(page, a11y, base, QA)
    await expect(page.get_by_role("heading", name="Open requests to agencies")).to_be_visible()
    await a11y.goto(f"{base}/requests/new")
    await page.get_by_label("Section 11 self-assessment").check()
    await page.get_by_label("Title").fill("Section 11 self-assessment 2026")
    for agency in ("Police", "Health (NHS commissioners and providers)", "Local authority children's services (Coventry City Council)"):
        await page.get_by_role("checkbox", name=agency, exact=True).check()
    await page.get_by_label("Day").fill("29")
    await page.get_by_label("Month").fill("1")
    await page.get_by_label("Year").fill("2027")
    await page.get_by_role("button", name="Issue the request").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Section 11 self-assessment 2026")
    await a11y.check()
    await expect(page.get_by_role("row")).to_have_count(4)
    await expect(page.get_by_text("Friday 29 January 2027")).to_be_visible()
    await sign_out(page, base)

    # 2. The police's agency lead invites a respondent.
    await sign_in(page, a11y, base, POLICE_LEAD)
    await a11y.goto(f"{base}/requests")
    await page.get_by_role("link", name="Your agency's respondents").click()
    await a11y.check()
    await page.get_by_label("Full name").fill("Sam Smith")
    await page.get_by_label("Email address").fill(RESPONDENT)
    await page.get_by_role("button", name="Send the invitation").click()
    await expect(page.get_by_text("Invitation sent")).to_be_visible()
    await a11y.check()
    await sign_out(page, base)

    # 3. The respondent accepts from the email read off the SMTP server.
    invitation = await emailed_path(smtp, RESPONDENT, "/respondents/invitation/")
    await a11y.goto(f"{base}{invitation}")
    await page.get_by_role("button", name="Accept and sign in").click()
    await page.wait_for_url(f"{base}/requests")
    await a11y.check()
    await sign_out(page, base)
    # ... and next time signs in by an emailed link (no password).
    await a11y.goto(f"{base}/respondents/sign-in")
    await page.get_by_label("Email address").fill(RESPONDENT)
    await page.get_by_role("button", name="Email me a link").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    await a11y.check()
    link = await emailed_path(smtp, RESPONDENT, "/respondents/sign-in/")
    await a11y.goto(f"{base}{link}")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/requests")
    await page.get_by_role("link", name="Section 11 self-assessment 2026").click()
    await a11y.check()
    await expect(page.get_by_role("row")).to_have_count(2)  # only the police's return
    await page.get_by_role("link", name="Police").click()
    await a11y.check()
    # Last round's answers, carried forward and marked.
    progress = page.get_by_role("textbox", name="Progress of improvements to your safeguarding procedures during the previous 12 months")
    await expect(progress).to_have_value("Police: safeguarding training refreshed for every team.")
    assert await page.get_by_text(re.compile(r"^Unchanged since \d+ \w+ \d{4}$")).count() >= 5
    await progress.fill("Police: the escalation policy is now in every team's induction.")
    await page.get_by_role("textbox", name="Completed by (name and role)").fill("Sam Smith, Detective Inspector")
    await page.get_by_label("This answer is still right: The information provided is accurate").check()
    await page.get_by_role("button", name="Save draft").click()
    await expect(page.get_by_text("Draft saved")).to_be_visible()
    await a11y.check()
    pdf = tmp_path / "training-record.pdf"
    pdf.write_bytes(PDF)
    await page.get_by_label("Upload evidence for your answers").set_input_files(str(pdf))
    await page.get_by_label("Which answer is it evidence for?").select_option(label="Progress of improvements to your safeguarding procedures during the previous 12 months")
    await page.get_by_role("button", name="Add evidence").click()
    await expect(page.get_by_role("link", name="training-record.pdf")).to_be_visible()
    await a11y.check()
    await page.get_by_text("Send for sign-off", exact=True).first.click()
    await page.get_by_role("button", name="Send for sign-off").click()
    await expect(page.get_by_text("With the agency's signatory for sign-off").first).to_be_visible()
    await a11y.check()
    await sign_out(page, base)

    # 4. The police's signatory submits.
    await sign_in(page, a11y, base, POLICE_LEAD)
    police = returns_of(server.database)["police"]
    await a11y.goto(f"{base}/audits/{police}")
    await page.get_by_role("button", name="Sign off and submit to the partnership").click()
    await expect(page.get_by_text("Submitted to the Quality Assurance Manager").first).to_be_visible()
    await a11y.check()
    await sign_out(page, base)

    # The other two agencies submit through the API, as their leads.
    returns = returns_of(server.database)
    async with httpx.AsyncClient(base_url=base, timeout=30) as api:
        for lead, key in (("partnership.agency_lead.health", "health"), ("partnership.agency_lead", "local_authority")):
            token = (await api.post("/api/v1/auth/token", json={"username": lead, "password": PASSWORD})).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            detail = (await api.get(f"/api/v1/allocations/{returns[key]}", headers=headers)).json()
            submitted = await api.post(f"/api/v1/allocations/{returns[key]}/submit", headers=headers, json={"revision": detail["revision"]})
            assert submitted.status_code == 200, submitted.text
        # Another agency's lead can neither read the police's return nor download its file.
        token = (await api.post("/api/v1/auth/token", json={"username": "partnership.agency_lead.health", "password": PASSWORD})).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (await api.get(f"/api/v1/allocations/{police}", headers=headers)).status_code == 404
        assert (await api.get(f"/api/v1/allocations/{police}/evidence", headers=headers)).status_code == 404

    # 5. The QA manager sends the police's return back and accepts the others.
    await sign_in(page, a11y, base, QA)
    await a11y.goto(f"{base}/audits/{police}")
    await expect(page.get_by_role("table", name=re.compile("Answers changed since the return accepted on"))).to_be_visible()
    await expect(page.get_by_text("Police: the escalation policy is now in every team's induction.").first).to_be_visible()
    await page.get_by_label("Send back to the agency with your comments").check()
    await page.get_by_label("What needs revising, or feedback for the auditor").fill("Say which teams have had the induction.")
    await page.get_by_role("button", name="Record decision").click()
    await page.wait_for_url(f"{base}/qa")
    await a11y.check()
    for key in ("health", "local_authority"):
        await a11y.goto(f"{base}/audits/{returns[key]}")
        await page.get_by_label("Accept the return: the agency is told").check()
        await page.get_by_role("button", name="Record decision").click()
        await page.wait_for_url(f"{base}/qa")
    await a11y.goto(f"{base}/requests")
    row = page.get_by_role("row").filter(has_text="Section 11 self-assessment 2026")
    await expect(row.get_by_role("cell").nth(4)).to_have_text("2")

    # 6. CSCP-6 and CSCP-8: the round's report. The QA manager raises a
    # recommendation and drafts the report; the Audit Chair signs it off; the
    # A&P subgroup agrees it; its recommendations become the subgroup's
    # action plan (seed 004 5.2: report to the Audit Chair for sign-off, then
    # the subgroup for final amendments).
    request_id = request_of(server.database, "Section 11 self-assessment 2026")
    report_page = f"{base}/partnership/requests/{request_id}"
    await a11y.goto(report_page)
    await page.get_by_label("Recommendation", exact=True).fill("Every team's induction covers the escalation policy")
    await page.get_by_label("For which agency").select_option(label="Police")
    await page.get_by_label("SMART action").fill("Add the escalation policy to the induction checklist")
    await page.get_by_label("By whom").fill("Police safeguarding lead")
    await page.locator("#by_when-day").fill("30")
    await page.locator("#by_when-month").fill("9")
    await page.locator("#by_when-year").fill("2027")
    await page.get_by_role("button", name="Raise the recommendation").click()
    await expect(page.get_by_role("row").filter(has_text="Add the escalation policy to the induction checklist")).to_be_visible()
    await a11y.check()
    await page.get_by_role("button", name="Draft the report from the findings and recommendations").click()
    await expect(page.get_by_text("Drafted by the Quality Assurance Manager").first).to_be_visible()
    # A Section 11 round has no lines of enquiry to record findings on: the
    # report says so until its findings are written in its text.
    await page.get_by_role("button", name="Send to the Audit Chair for sign-off").click()
    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text("Complete the report's text before it goes on: enter findings across the partnership")
    await a11y.check()
    await page.get_by_role("link", name="Change the report's text").click()
    await a11y.check()
    await page.get_by_role("textbox", name=re.compile("what worked well")).fill("Every agency has a named safeguarding lead.")
    await page.get_by_role("textbox", name=re.compile("areas for development")).fill("Escalation is not yet in every induction.")
    await page.get_by_role("button", name="Save draft").click()
    await expect(page.get_by_text("Draft saved")).to_be_visible()
    await a11y.goto(report_page)
    await page.get_by_role("button", name="Send to the Audit Chair for sign-off").click()
    await expect(page.get_by_text("With the Audit Chair for sign-off").first).to_be_visible()
    await a11y.check()
    await sign_out(page, base)

    await sign_in(page, a11y, base, "partnership.audit_chair")
    await a11y.goto(report_page)
    await page.get_by_role("button", name="Sign off", exact=True).click()
    await expect(page.get_by_text("With the A&P subgroup for consideration and final amendments").first).to_be_visible()
    await a11y.check()
    await sign_out(page, base)

    await sign_in(page, a11y, base, "partnership.ap_member")
    await a11y.goto(report_page)
    await page.get_by_role("button", name="Agree the final report").click()
    await expect(page.get_by_text("Agreed by the A&P subgroup").first).to_be_visible()
    await a11y.check()
    await sign_out(page, base)

    await sign_in(page, a11y, base, QA)
    await a11y.goto(report_page)
    await page.get_by_role("button", name="Make the recommendations the A&P subgroup's action plan").click()
    await page.wait_for_url(re.compile(r"/plans/\d+$"))
    await expect(page.get_by_text("Add the escalation policy to the induction checklist").first).to_be_visible()
    await a11y.check()
    a11y.assert_all_checked()


def request_of(database: Path, title: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return conn.execute("select id from agency_request where title = ?", (title,)).fetchone()[0]
