"""A re-audit in a real browser (HAR 2.5, 2.13, 2.14): an audit graded
"Requires Improvement" is final; QA allocates a re-audit to another auditor;
it comes back "Requires Improvement" again; the service manager is told, and
the re-audit shows no movement in any domain. The draft autosaves on the way.

axe-core (WCAG 2.2 A/AA) runs on every page visited and after every htmx swap.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from support.browser import A11yTracker, assert_accessible
from support.live_server import LiveServer, start_live_server, stop_live_server
from test_browser_journey import sign_in, sign_out, summary_value

AUDITOR = "haringey.cp_chair"
RE_AUDITOR = "haringey.iro"
HEAD_OF_QA = "haringey.head_of_qa"  # accepts audits (qa_review)
QA_OFFICER = "haringey.qa_officer"  # allocates (administer)
SERVICE_MANAGER = "haringey.service_manager"
GRADE = "Requires Improvement"


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    """A demo of its own: the journey test (same session) takes the CP chair's
    audit to final on the shared server, and this test needs it untouched."""
    with tempfile.TemporaryDirectory(prefix="qaf-live-reaudit-") as tmp:
        server = start_live_server(Path(tmp))
        try:
            yield server
        finally:
            stop_live_server(server)


def display_name(database: Path, username: str) -> str:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        (name,) = conn.execute("select display_name from person where username = ?", (username,)).fetchone()
    return name


@pytest.mark.req("HAR-14")
async def test_a_reaudit_that_stays_requires_improvement_is_escalated(live_server, page: Page, a11y: A11yTracker):
    try:
        await reaudit(live_server, page, a11y)
    except BaseException:
        print(f"--- qaf serve output ---\n{live_server.log()[-8000:]}")  # shown with the failure
        raise


async def fill_in_and_submit(page: Page, a11y: A11yTracker, *, watch_autosave: bool) -> None:
    """Answer every field of the audit form on screen ("Requires Improvement"
    for every grade) and submit it to QA."""
    form = page.locator("#audit-form form")
    status = page.locator("#audit-autosave-status")
    await expect(status).to_have_attribute("role", "status")
    await expect(status).to_be_empty()
    groups = form.locator(".govuk-radios")
    for index in range(await groups.count()):
        group = groups.nth(index)
        grade = group.get_by_label(GRADE, exact=True)
        await (grade if await grade.count() else group.locator("input[type=radio]").first).check()
    boxes = form.locator("textarea")
    for index in range(await boxes.count()):
        await boxes.nth(index).fill(f"Evidence {index + 1}: plan not reviewed since the last audit.")
    today = dt.date.today()
    for index in range(await form.locator(".govuk-date-input").count()):
        date_input = form.locator(".govuk-date-input").nth(index)
        for part, value in (("Day", today.day), ("Month", today.month), ("Year", today.year)):
            await date_input.get_by_label(part).fill(str(value))
    if watch_autosave:
        # Saved in the background a moment after the last change, in London time;
        # nothing typed is replaced.
        await expect(status).to_have_text(re.compile(r"^\s*Draft saved at \d\d:\d\d\s*$"))
        await expect(boxes.first).to_have_value("Evidence 1: plan not reviewed since the last audit.")
        await expect(page.locator("#audit-form .govuk-error-summary")).to_have_count(0)
        await assert_accessible(page)
    await page.get_by_role("button", name="Save and check your answers").click()
    await page.wait_for_url(re.compile(r"/audits/\d+/check$"))
    await a11y.check()
    await page.get_by_role("button", name="Submit to QA").click()
    await expect(page.locator(".govuk-notification-banner")).to_contain_text("Audit submitted to QA")
    await expect(summary_value(page, "Status")).to_have_text("With QA")
    await a11y.check()


async def accept(page: Page, a11y: A11yTracker, base: str, audit_url: str) -> None:
    await a11y.goto(audit_url)
    await expect(summary_value(page, "Status")).to_have_text("With QA")
    await page.get_by_role("group", name="Your decision").get_by_label("Accept: the audit becomes final").check()
    await page.get_by_role("button", name="Record decision").click()
    await page.wait_for_url(f"{base}/qa")
    await expect(page.locator(".govuk-notification-banner")).to_contain_text("Audit accepted: it is now final")
    await a11y.check()


async def reaudit(live_server, page: Page, a11y: A11yTracker) -> None:
    base = live_server.url
    await page.set_viewport_size({"width": 1280, "height": 900})

    # ------------------------------------------- the first audit, to final
    await sign_in(page, a11y, base, AUDITOR)
    rows = page.locator("table.govuk-table").filter(has_text="Audits allocated to me").locator("tbody tr")
    await expect(rows).to_have_count(1)
    link = rows.first.get_by_role("link")
    case_id = (await link.inner_text()).split("(")[0].strip()
    await link.click()
    await page.wait_for_url(re.compile(rf"{re.escape(base)}/audits/\d+$"))
    audit_url = page.url
    await expect(summary_value(page, "Status")).to_have_text("Allocated")
    await a11y.check()
    await fill_in_and_submit(page, a11y, watch_autosave=True)
    await sign_out(page, a11y, base)

    await sign_in(page, a11y, base, HEAD_OF_QA)
    await accept(page, a11y, base, audit_url)
    await sign_out(page, a11y, base)

    # --------------------------------- QA allocates a re-audit to the IRO
    await sign_in(page, a11y, base, QA_OFFICER)
    await a11y.goto(audit_url)
    await expect(summary_value(page, "Status")).to_have_text("Final")
    await expect(page.get_by_role("heading", name="Since the last audit")).to_have_count(0)  # not a re-audit
    await page.locator("summary", has_text="Allocate a re-audit of this case").click()
    re_auditor = page.get_by_label("Re-auditor")
    await expect(re_auditor).to_be_visible()
    await assert_accessible(page)
    iro = f"{display_name(live_server.database, RE_AUDITOR)} (Independent reviewing officer)"
    await expect(re_auditor.locator("option", has_text=iro)).to_have_count(1)
    await re_auditor.select_option(label=iro)
    await page.get_by_role("button", name="Allocate re-audit").click()
    await page.wait_for_url(re.compile(rf"{re.escape(base)}/audits/\d+$"))
    reaudit_url = page.url
    assert reaudit_url != audit_url
    await expect(page.locator(".govuk-notification-banner")).to_contain_text("Re-audit allocated")
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {case_id}")
    await expect(page.locator(".govuk-caption-l")).to_contain_text("(re-audit)")
    await expect(summary_value(page, "Auditor")).to_have_text(display_name(live_server.database, RE_AUDITOR))
    await a11y.check()
    await sign_out(page, a11y, base)

    # ------------------------------------- the IRO re-audits: the same again
    await sign_in(page, a11y, base, RE_AUDITOR)
    mine = page.locator("table.govuk-table").filter(has_text="Audits allocated to me")
    await mine.get_by_role("link", name=f"{case_id} (re-audit)").click()
    await page.wait_for_url(reaudit_url)
    await expect(summary_value(page, "Status")).to_have_text("Allocated")
    await a11y.check()
    await fill_in_and_submit(page, a11y, watch_autosave=False)
    await sign_out(page, a11y, base)

    await sign_in(page, a11y, base, HEAD_OF_QA)
    await accept(page, a11y, base, reaudit_url)
    # The final re-audit: no domain moved.
    await a11y.goto(reaudit_url)
    await expect(summary_value(page, "Status")).to_have_text("Final")
    # Issue 17: summed up at the top, a link away from the table at the foot.
    await expect(page.get_by_text(re.compile(r"^Compared with the last audit: 0 improved, \d+ the same, 0 downgraded\."))).to_be_visible()
    await page.get_by_role("link", name="Go to the comparison with the last audit").click()
    await expect(page.get_by_role("heading", name="Since the last audit")).to_be_focused()
    movement = page.get_by_role("table", name="Final grades of the previous audit and this re-audit, by domain")
    rows = movement.locator("tbody tr")
    count = await rows.count()
    await expect(page.get_by_text(f"Compared with the last audit: 0 improved, {count} the same, 0 downgraded.", exact=False)).to_be_visible()
    assert count >= 6  # five domains and the overall grade
    await expect(rows.locator("td:nth-child(2)")).to_have_text([GRADE] * count)
    await expect(rows.locator("td:nth-child(3)")).to_have_text([GRADE] * count)
    await expect(rows.locator("td:nth-child(4)")).to_have_text(["Same"] * count)
    await expect(rows.last.get_by_role("rowheader")).to_have_text("Overall grade")
    await sign_out(page, a11y, base)

    # ------------------------- the service manager is told (HAR 2.13, 2.14)
    await sign_in(page, a11y, base, SERVICE_MANAGER)
    await page.get_by_role("navigation", name="Menu").get_by_role("link", name="Notifications").click()
    await page.wait_for_url(f"{base}/notifications")
    await a11y.check()
    told = page.locator(".qaf-notification").filter(has_text=f"Re-audit of case {case_id}: same ({GRADE})")
    await expect(told).to_have_count(1)
    subject = told.get_by_role("heading", level=2)
    await expect(subject).to_have_text(re.compile(r"^\s*Action by "))
    await expect(subject).to_contain_text(f"(case {case_id})")
    await expect(told.locator(".qaf-prewrap")).to_contain_text(f"Re-audit of case {case_id}: same ({GRADE}).")
    await expect(told).to_contain_text("Unread")
    await sign_out(page, a11y, base)

    a11y.assert_all_checked()
