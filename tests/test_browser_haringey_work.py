"""Haringey's month of case audits as work, in a real browser (issue 13; HAR-1,
PLAT-1), against ``qaf demo`` + ``qaf serve`` at a named instant.

HAR 2: each month's case audits are drawn at random on the cycle's first
working day, and each auditor's drawn audit is that month's "Case audit" in
their programme. The child protection chair finds it on My programme as
Started, with the drawn case, opens the work and from it the audit.
axe-core (WCAG 2.2 A/AA) runs on every page visited.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from support.browser import A11yTracker
from support.live_server import LiveServer, start_live_server, stop_live_server
from test_browser_journey import AUDITOR, sign_in, summary_value
from test_browser_reports import fits_phone_and_desktop

# Thursday 1 April 2027, 09:30 in London (BST): the first working day of April
# and of the week after Easter (Good Friday 26 March, Easter Monday 29 March).
# `qaf demo` makes April's draw and issues April's work, as the sweep would.
APRIL_OPENS = "2027-04-01T09:30:00+01:00"


@pytest.fixture
def haringey_server(clock) -> Iterator[LiveServer]:
    """A Haringey demo of its own, at this test's instant (QAF_CLOCK from the
    clock fixture): the session's live server is the thin-path journey's,
    which takes the chair's audit to final."""
    with tempfile.TemporaryDirectory(prefix="qaf-live-haringey-work-") as tmp:
        server = start_live_server(Path(tmp))
        try:
            yield server
        finally:
            stop_live_server(server)


@pytest.mark.req("HAR-1")
@pytest.mark.req("PLAT-1")
@pytest.mark.clock(APRIL_OPENS)
async def test_the_cp_chair_finds_the_months_drawn_case_audit_on_my_programme_and_opens_the_audit(
    haringey_server, page: Page, a11y: A11yTracker
):
    try:
        await journey(haringey_server.url, page, a11y)
    except BaseException:
        print(f"--- qaf serve output ---\n{haringey_server.log()[-8000:]}")  # shown with the failure
        raise


async def journey(base: str, page: Page, a11y: A11yTracker) -> None:
    await page.set_viewport_size({"width": 1280, "height": 900})
    await sign_in(page, a11y, base, AUDITOR)

    # The month's draw gave the chair one case (HAR 1.2, 2: one a month).
    allocated = page.get_by_role("table").filter(has_text="Audits allocated to me").locator("tbody tr")
    await expect(allocated).to_have_count(1)
    await expect(allocated.first).to_contain_text("Allocated")
    case_id = (await allocated.first.get_by_role("link").inner_text()).split("(")[0].strip()
    assert re.fullmatch(r"HAR-\d+", case_id), case_id

    # My programme: April's case audit, due the month's last working day, already started by the draw.
    await page.get_by_role("navigation", name="Menu").get_by_role("link", name="My programme").click()
    await page.wait_for_url(f"{base}/programme/mine")
    await expect(page.get_by_role("heading", level=1)).to_have_text("My programme")
    await fits_phone_and_desktop(page, a11y)  # issue 17: its nine columns scroll in their own region
    table = page.get_by_role("table", name="My work, soonest due first", exact=True)
    rows = await table.evaluate(
        "t => [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent.replace(/\\s+/g, ' ').trim()))"
    )
    assert rows == [["30 April 2027", "Case audit", "1", "Started", "View Case audit due 30 April 2027"]]
    # Nothing more to start: the one audit the month asks for is the drawn one.
    await expect(table.get_by_role("link", name=re.compile(r"^Start"))).to_have_count(0)

    await table.get_by_role("link", name=re.compile(r"^View ?Case audit due 30 April 2027$")).click()
    await page.wait_for_url(re.compile(rf"^{re.escape(base)}/programme/work/\d+$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Case audit")
    await expect(summary_value(page, "Status")).to_have_text("Started")
    await expect(summary_value(page, "Period")).to_have_text("1 April 2027 to 30 April 2027")
    await expect(summary_value(page, "Due")).to_have_text("Friday 30 April 2027")
    await expect(summary_value(page, "How many")).to_have_text("1")
    await expect(summary_value(page, "How it is done")).to_have_text("Case audit")
    # The drawn case is the work's audit; there is no other to start and nothing to record by hand.
    audits = page.locator("h2:text-is('Audits') + ul li")
    await expect(audits).to_have_text([f"Case {case_id}: in progress"])
    await expect(page.get_by_role("button", name="Start audit")).to_have_count(0)
    await expect(page.get_by_role("button", name="Record as done")).to_have_count(0)
    await a11y.check()

    # The audit opens from the work page.
    await audits.get_by_role("link", name=f"Case {case_id}").click()
    await page.wait_for_url(re.compile(rf"^{re.escape(base)}/audits/\d+$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {case_id}")
    await expect(summary_value(page, "Status")).to_have_text("Allocated")
    await a11y.check()

    a11y.assert_all_checked()
