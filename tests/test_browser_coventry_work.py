"""Coventry's programme as work, in a real browser (issue 13; C17-1, PLAT-2),
against the product as a README reader runs it: ``qaf demo`` then ``qaf serve``
with QAF_COUNCILS=coventry, at a named instant.

A Help and Protection team manager signs in, opens My programme, opens the
quarter's "Case File" audit (work without a form), submits the completion
form empty and sees every field's error in the GOV.UK error summary (focused,
each link moving focus to its field), then fills in the date, the summary and
the outcome and records it; My programme shows it Done. axe-core (WCAG 2.2
A/AA) runs on every page visited.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest
from playwright.async_api import Page, expect

from support.browser import A11yTracker
from support.live_server import LiveServer, qaf_executable, serve, server_env, stop_live_server

TEAM_MANAGER = "coventry.hp_team_manager.1"
QA_LEAD = "coventry.senior_leader"  # SLT: starts themed audits "as required" (C17 L214-L229)
PASSWORD = "qaf-demo-2026"  # every demo account's (`qaf demo` prints it)

# Tuesday 29 February 2028, 10:00 in London (GMT): a leap day, in Coventry's
# first quarter of 2028 (C17: the calendar year), whose work is issued on
# its first working day, Tuesday 4 January (Monday 3 January is New Year's
# Day's substitute).
LEAP_DAY = "2028-02-29T10:00:00+00:00"


@pytest.fixture(scope="module")
def coventry_server(tmp_path_factory) -> Iterator[LiveServer]:
    """``qaf demo`` then ``qaf serve`` for Coventry, both at the named instant
    (QAF_CLOCK, as tests/support/live_server.py's server_env passes the suite's)."""
    data_dir = tmp_path_factory.mktemp("coventry-live")
    env = server_env(data_dir, QAF_COUNCILS="coventry", QAF_CLOCK=LEAP_DAY)
    demo = subprocess.run([str(qaf_executable()), "demo"], env=env, cwd=data_dir, capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, f"`qaf demo` failed:\n{demo.stdout}\n{demo.stderr}"
    assert TEAM_MANAGER in demo.stdout and QA_LEAD in demo.stdout  # the demo prints the accounts it made

    server = serve(data_dir, env)
    try:
        yield server
    finally:
        stop_live_server(server)


async def sign_in(page: Page, a11y: A11yTracker, base: str, username: str) -> None:
    await a11y.goto(f"{base}/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/login" not in url)
    await a11y.check()


def summary_value(page: Page, key: str):
    """The value cell of the row ``key`` in the page's summary list."""
    row = page.locator(".govuk-summary-list__row").filter(
        has=page.locator("dt.govuk-summary-list__key", has_text=re.compile(rf"^\s*{re.escape(key)}\s*$"))
    )
    return row.locator("dd.govuk-summary-list__value").first


async def to_do_rows(page: Page) -> list[list[str]]:
    """My programme's to-do table as read: (due, activity, how many, status, what to do)."""
    table = page.get_by_role("table", name="My work, soonest due first", exact=True)
    await expect(table).to_be_visible()
    return await table.evaluate("t => [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent.replace(/\\s+/g, ' ').trim()))")


@pytest.mark.req("C17-1")
@pytest.mark.req("PLAT-2")
@pytest.mark.clock(LEAP_DAY)
async def test_a_coventry_team_manager_records_the_quarters_case_file_audit_as_done(coventry_server, page: Page, a11y: A11yTracker):
    try:
        await journey(coventry_server.url, page, a11y)
    except BaseException:
        print(f"--- qaf serve output ---\n{coventry_server.log()[-8000:]}")  # shown with the failure
        raise


async def journey(base: str, page: Page, a11y: A11yTracker) -> None:
    await page.set_viewport_size({"width": 1280, "height": 900})

    await sign_in(page, a11y, base, TEAM_MANAGER)

    # My programme, from the navigation: the work the demo issued, soonest due first.
    await page.get_by_role("navigation", name="Menu").get_by_role("link", name="My programme").click()
    await page.wait_for_url(f"{base}/programme/mine")
    await expect(page.get_by_role("heading", level=1)).to_have_text("My programme")
    await a11y.check()
    # C17 L17 "Each manager to audit 1 case as per schedule" (read quarterly: due
    # the quarter's last working day, Friday 31 March); L18 the re-audit in
    # February (due its last working day, today); L19 a plan twice a year.
    assert await to_do_rows(page) == [
        ["29 February 2028", "Re-Audit Case File", "1", "To do", "Record as done: Re-Audit Case File due 29 February 2028"],
        ["31 March 2028", "Case File", "1", "To do", "Record as done: Case File due 31 March 2028"],
        ["30 June 2028", "Supervision Assessments Plans", "1", "To do", "Record as done: Supervision Assessments Plans due 30 June 2028"],
    ]

    # The link's name says which work it records (Chromium reads the visually
    # hidden words after a space: "Record as done : Case File due ...").
    await page.get_by_role("link", name=re.compile(r"^Record as done ?: Case File due 31 March 2028$")).click()
    await page.wait_for_url(re.compile(rf"^{re.escape(base)}/programme/work/\d+$"))
    work_url = page.url
    await expect(page.get_by_role("heading", level=1)).to_have_text("Case File")
    await expect(summary_value(page, "Status")).to_have_text("To do")
    await expect(summary_value(page, "Period")).to_have_text("1 January 2028 to 31 March 2028")
    await expect(summary_value(page, "Due")).to_have_text("Friday 31 March 2028")
    await expect(summary_value(page, "How it is done")).to_have_text(
        "A completion record: when it was done, a summary and the outcome"
    )
    await a11y.check()

    # Nothing filled in: every field's error at once, in the error summary
    # (focused on arrival) and beside each field.
    await page.get_by_role("button", name="Record as done").click()
    await page.wait_for_url(f"{work_url}/complete")
    summary = page.locator(".govuk-error-summary[data-module]")
    await expect(summary).to_be_visible()
    await expect(summary).to_be_focused()
    await expect(summary.get_by_role("heading")).to_have_text("There is a problem")
    links = summary.locator(".govuk-error-summary__list a")
    await expect(links).to_have_text([
        "Enter the date it was done, for example 29 2 2028",
        "Enter a summary of what was done",
        "Enter the outcome: what was found and what happens next",
    ])
    await expect(page.locator("#done_on-error")).to_have_text("Error: Enter the date it was done, for example 29 2 2028")
    await expect(page.locator("#summary-error")).to_have_text("Error: Enter a summary of what was done")
    await expect(page.locator("#outcome-error")).to_have_text("Error: Enter the outcome: what was found and what happens next")
    # Each field says, to a screen reader, what is wrong with it.
    await expect(page.get_by_role("group", name="When was it done?")).to_have_attribute("aria-describedby", re.compile(r"\bdone_on-error\b"))
    await expect(page.get_by_label("Summary of what was done")).to_have_attribute("aria-describedby", re.compile(r"\bsummary-error\b"))
    await expect(page.get_by_label("Outcome")).to_have_attribute("aria-describedby", re.compile(r"\boutcome-error\b"))
    await a11y.check()
    # Each link in the summary takes the user to its field, ready to type.
    for text, field in (
        ("Enter a summary of what was done", "#summary"),
        ("Enter the outcome: what was found and what happens next", "#outcome"),
        ("Enter the date it was done, for example 29 2 2028", "#done_on-day"),
    ):
        await links.filter(has_text=text).click()
        await expect(page.locator(field)).to_be_focused()

    # A date that does not exist (there is no 30 February): said, and what was typed is kept.
    summary_text = "Audited case COV-1004 with the practitioner: plan, visits and chronology read together."
    outcome_text = "The plan lacks a review date; the practitioner will add it this week."
    await page.get_by_role("group", name="When was it done?").get_by_label("Day").fill("30")
    await page.get_by_role("group", name="When was it done?").get_by_label("Month").fill("2")
    await page.get_by_role("group", name="When was it done?").get_by_label("Year").fill("2028")
    await page.get_by_label("Summary of what was done").fill(summary_text)
    await page.get_by_label("Outcome").fill(outcome_text)
    await page.get_by_role("button", name="Record as done").click()
    await page.wait_for_url(f"{work_url}/complete")
    await expect(links).to_have_text(["The date must be a real date"])
    await expect(summary).to_be_focused()
    await expect(page.get_by_label("Summary of what was done")).to_have_value(summary_text)
    await expect(page.get_by_label("Outcome")).to_have_value(outcome_text)
    await expect(page.get_by_role("group", name="When was it done?").get_by_label("Day")).to_have_value("30")
    await a11y.check()

    # Today, the leap day: recorded, with a file of evidence (PLAT-6).
    await page.get_by_role("group", name="When was it done?").get_by_label("Day").fill("29")
    await page.get_by_label("Evidence (optional)").set_input_files(
        [{"name": "case notes.txt", "mimeType": "text/plain", "buffer": b"Plan, visits and chronology read together.\n"}]
    )
    await page.get_by_role("button", name="Record as done").click()
    await page.wait_for_url(work_url)
    await expect(page.locator(".govuk-notification-banner")).to_contain_text("Recorded as done")
    await expect(summary_value(page, "Status")).to_have_text("Done")
    await expect(summary_value(page, "Done on")).to_have_text("29 February 2028")
    await expect(summary_value(page, "Summary")).to_have_text(summary_text)
    await expect(summary_value(page, "Outcome")).to_have_text(outcome_text)
    evidence = page.get_by_role("table").filter(has=page.get_by_role("link", name="case notes.txt"))
    await expect(evidence.locator("tbody tr")).to_have_count(1)
    await expect(evidence.locator("tbody tr td").nth(1)).to_have_text("43 bytes")
    await expect(evidence.locator("tbody tr td").nth(3)).to_have_text("29 February 2028 at 10:00am")
    # Done once: no button whose action cannot succeed.
    await expect(page.get_by_role("button", name="Record as done")).to_have_count(0)
    await expect(page.locator(".govuk-error-summary[data-module]")).to_have_count(0)
    await a11y.check()

    await page.get_by_role("link", name="Back to my programme").click()
    await page.wait_for_url(f"{base}/programme/mine")
    rows = await to_do_rows(page)
    assert ["31 March 2028", "Case File", "1", "Done", "View Case File due 31 March 2028"] in rows
    # The rest is still to do.
    assert [r[3] for r in rows if r[1] != "Case File"] == ["To do", "To do"]
    await a11y.check()

    a11y.assert_all_checked()


# The same GOV.UK date input starts an "as required" activity (C17-3): its
# error too takes the user to the day field.
@pytest.mark.req("C17-3")
@pytest.mark.clock(LEAP_DAY)
async def test_starting_a_thematic_audit_with_nothing_filled_in_links_each_error_to_its_field(coventry_server, page: Page, a11y: A11yTracker):
    base = coventry_server.url
    try:
        await page.set_viewport_size({"width": 1280, "height": 900})
        await sign_in(page, a11y, base, QA_LEAD)
        # The senior leadership see the whole programme; their own is linked from it.
        await page.get_by_role("navigation", name="Menu").get_by_role("link", name="Programme", exact=True).click()
        await page.wait_for_url(f"{base}/programme")
        await a11y.check()
        await page.get_by_role("main").get_by_role("link", name="My programme", exact=True).click()
        await page.wait_for_url(f"{base}/programme/mine?year=2028")
        await a11y.check()
        await page.get_by_role("button", name="Start Thematic audit").click()
        await page.wait_for_url(f"{base}/programme/start/thematic_audit")
        await a11y.check()
        # The due date comes filled in with the month's last working day, today
        # (29 February 2028 is a Tuesday): cleared, and no theme chosen.
        for part in ("Day", "Month", "Year"):
            await page.get_by_role("group", name="When is it due?").get_by_label(part).fill("")
        await page.get_by_role("button", name="Start Thematic audit").click()
        await page.wait_for_url(f"{base}/programme/start/thematic_audit")
        summary = page.locator(".govuk-error-summary[data-module]")
        await expect(summary).to_be_focused()
        links = summary.locator(".govuk-error-summary__list a")
        await expect(links).to_have_text(["Enter the date it is due, for example 29 2 2028", "Choose the theme of the audit"])
        await a11y.check()
        await links.filter(has_text="Choose the theme of the audit").click()
        await expect(page.get_by_role("group", name="Which theme is the audit on?").get_by_role("radio").first).to_be_focused()
        await links.filter(has_text="Enter the date it is due").click()
        await expect(page.get_by_role("group", name="When is it due?").get_by_label("Day")).to_be_focused()
        a11y.assert_all_checked()
    except BaseException:
        print(f"--- qaf serve output ---\n{coventry_server.log()[-8000:]}")  # shown with the failure
        raise
