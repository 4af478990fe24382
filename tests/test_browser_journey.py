"""The thin path in a real browser, against the product as a README reader runs
it (``qaf demo`` + ``qaf serve``): an auditor fills in and submits an audit,
QA returns it, the auditor revises, QA accepts, the practitioner is told.

axe-core (WCAG 2.2 A/AA) runs on every page visited and after every htmx swap.
Set ``QAF_TEST_SCREENSHOTS=/some/dir`` to save screenshots of the main pages.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from support.browser import A11yTracker, assert_accessible

AUDITOR = "haringey.cp_chair"
QA = "haringey.qa_officer"
PASSWORD = "qaf-demo-2026"  # every demo account's (`qaf demo` prints it)

SHOTS = os.environ.get("QAF_TEST_SCREENSHOTS")
STEPS = {"Start audit", "Submit to QA", "Return for revision", "Accept"}  # Haringey's case_audit workflow


async def shot(page: Page, name: str) -> None:
    """With $QAF_TEST_SCREENSHOTS: the full page, and in screen-sized slices to read."""
    if not SHOTS:
        return
    folder = Path(SHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    height = await page.evaluate("document.documentElement.scrollHeight")
    width = page.viewport_size["width"]
    for number, top in enumerate(range(0, height, 1000)):
        clip = {"x": 0, "y": top, "width": width, "height": min(1000, height - top)}
        await page.screenshot(path=str(folder / f"{name}-{number}.png"), full_page=True, clip=clip)


async def sign_in(page: Page, a11y: A11yTracker, base: str, username: str) -> None:
    await a11y.goto(f"{base}/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    # Signing in lands on the home (issue 17); the journeys go on from My audits.
    await page.wait_for_url(f"{base}/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("What needs you now")
    await a11y.check()
    await a11y.goto(f"{base}/audits")
    await expect(page.get_by_role("heading", level=1)).to_have_text("My audits")
    await a11y.check()


async def sign_out(page: Page, a11y: A11yTracker, base: str) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{base}/login")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await a11y.check()


def summary_value(page: Page, key: str):
    """The value cell of the row ``key`` in the audit's summary list."""
    row = page.locator(".govuk-summary-list__row").filter(
        has=page.locator("dt.govuk-summary-list__key", has_text=re.compile(rf"^\s*{re.escape(key)}\s*$"))
    )
    return row.locator("dd.govuk-summary-list__value").first


def case_worker_username(database: Path, allocation_id: int) -> str:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        (username,) = conn.execute(
            "select p.username from allocation a join child_case c on c.id = a.child_case "
            "join person p on p.id = c.allocated_worker where a.id = ?",
            (allocation_id,),
        ).fetchone()
    return username


@pytest.mark.req("CORE-10")
@pytest.mark.req("HAR-6")
async def test_audit_goes_from_allocation_to_final_in_the_browser(live_server, page: Page, a11y: A11yTracker):
    try:
        await journey(live_server, page, a11y)
    except BaseException:
        print(f"--- qaf serve output ---\n{live_server.log()[-8000:]}")  # shown with the failure
        raise


async def journey(live_server, page: Page, a11y: A11yTracker) -> None:
    base = live_server.url
    await page.set_viewport_size({"width": 1280, "height": 900})

    # ---------------------------------------------------------------- auditor
    await sign_in(page, a11y, base, AUDITOR)
    await shot(page, "my-audits")
    allocated = page.locator("table.govuk-table").filter(has_text="Audits allocated to me")
    rows = allocated.locator("tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Allocated")
    link = rows.first.get_by_role("link")
    case_id = (await link.inner_text()).split("(")[0].strip()
    await link.click()
    await page.wait_for_url(re.compile(rf"{re.escape(base)}/audits/\d+$"))
    audit_url = page.url
    allocation_id = int(audit_url.rsplit("/", 1)[1])
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {case_id}")
    await expect(summary_value(page, "Status")).to_have_text("Allocated")
    await a11y.check()
    await shot(page, "audit-form")

    form = page.locator("#audit-form form")
    # Every field of this form is required: one radio group per grade, a box
    # per evidence/rationale/notes, and the date of the conversation.
    required = await form.evaluate(
        """f => new Set([...f.querySelectorAll('input[type=radio]')].map(r => r.name)).size
              + f.querySelectorAll('textarea').length + f.querySelectorAll('.govuk-date-input').length"""
    )
    assert required >= 26  # at least 5 domains x 2 phases x (grade + evidence), 2 x overall, the conversation

    # Labels repeat in each domain ("Grade after reading the case file"); their
    # accessible names must not, or a screen reader user cannot tell them apart.
    names = await form.evaluate(
        """f => [...f.querySelectorAll('legend, label:not(.govuk-radios__label):not(.govuk-date-input__label)')]
              .map(e => e.textContent.replace(/\\s+/g, ' ').trim())"""
    )
    assert len(names) == required and len(set(names)) == required, names

    # Issue 17: the sections are a task list, none started yet.
    tasks = page.locator(".govuk-task-list__item")
    await expect(tasks).to_have_count(7)
    await expect(tasks.first).to_contain_text("Not started")

    # Checking an empty form's answers, then submitting it, lists every
    # missing field, each linked to its section's page.
    await page.get_by_role("button", name="Save and check your answers").click()
    await page.wait_for_url(f"{audit_url}/check")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers")
    await a11y.check()
    await page.get_by_role("button", name="Submit to QA").click()
    summary = page.locator(".govuk-error-summary[data-module]")
    await expect(summary).to_be_visible()
    await expect(summary).to_be_focused()
    await expect(summary).to_contain_text("Overall grade: choose a grade after the conversation with the practitioner")
    await expect(page).to_have_title(re.compile(r"^Error: "))
    error_links = summary.locator(".govuk-error-summary__list a")
    await expect(error_links).to_have_count(required)
    targets = await error_links.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert all(re.fullmatch(rf"/audits/{allocation_id}\?section=\w+#[\w-]+", t) for t in targets), targets
    await assert_accessible(page)
    await shot(page, "audit-errors")
    # "Check your answers" and the task list at 320 px too (WCAG 1.4.10: no
    # scrolling sideways), with axe.
    await page.set_viewport_size({"width": 320, "height": 800})
    await a11y.check()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 320
    await a11y.goto(audit_url)
    await expect(tasks).to_have_count(7)
    await a11y.check()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 320
    await page.set_viewport_size({"width": 1280, "height": 900})

    # Fill in every field, save a draft.
    groups = form.locator(".govuk-radios")
    for index in range(await groups.count()):
        await groups.nth(index).get_by_label("Requires Improvement", exact=True).check()
    boxes = form.locator("textarea")
    for index in range(await boxes.count()):
        await boxes.nth(index).fill(f"Evidence {index + 1}: child seen alone; wishes recorded in the plan.")
    # A GOV.UK date input: day, month and year (issue 17).
    held_on = form.get_by_role("group", name="Date of the conversation")
    today = dt.date.today()
    for part, value in (("Day", today.day), ("Month", today.month), ("Year", today.year)):
        await held_on.get_by_label(part).fill(str(value))
    save = page.get_by_role("button", name="Save draft")
    await save.focus()
    await page.keyboard.press("Enter")
    banner = page.locator("#audit-form .govuk-notification-banner--success")
    await expect(banner).to_contain_text("Draft saved")
    # Focus stays on the button (issue 17: not back at the top of the page).
    await expect(save).to_be_focused()
    await expect(page.locator(".govuk-task-list__status").first).to_have_text("Completed")
    await expect(page.locator("#audit-form .govuk-error-summary")).to_have_count(0)
    await expect(page).not_to_have_title(re.compile(r"^Error: "))
    await expect(form.get_by_role("radio", checked=True)).to_have_count(await groups.count())
    await assert_accessible(page)

    # Submit from "Check your answers": a full-page redirect back to the audit, now with QA.
    await page.get_by_role("button", name="Save and check your answers").click()
    await page.wait_for_url(f"{audit_url}/check")
    await page.get_by_role("button", name="Submit to QA").click()
    await expect(page.locator(".govuk-notification-banner")).to_contain_text("Audit submitted to QA")
    await expect(summary_value(page, "Status")).to_have_text("With QA")
    await expect(page.locator("#audit-form")).to_have_count(0)  # read-only now
    await a11y.check()
    await sign_out(page, a11y, base)

    # ------------------------------------------------------- QA: return it
    await sign_in(page, a11y, base, QA)
    await page.get_by_role("link", name="QA queue").click()
    await page.wait_for_url(f"{base}/qa")
    await a11y.check()
    queued = page.locator("table.govuk-table tbody tr")
    await expect(queued).to_have_count(1)
    await queued.first.get_by_role("link", name=case_id).click()
    await page.wait_for_url(audit_url)
    await expect(summary_value(page, "Status")).to_have_text("With QA")
    # Issue 17: what QA decides on is summed up at the top, with a way straight to the decision.
    await expect(summary_value(page, "Overall grade given")).to_have_text("Requires Improvement")
    await page.get_by_role("link", name="Go to the QA decision").click()
    await expect(page.get_by_role("heading", name="QA decision", exact=True)).to_be_focused()
    await a11y.check()
    await shot(page, "qa-decision")

    decision = page.get_by_role("group", name="Your decision")
    await decision.get_by_label("Return for revision").check()
    await page.get_by_role("button", name="Record decision").click()
    # A return needs a reason: the page says so and keeps the choice.
    await expect(page.locator(".govuk-error-summary[data-module]")).to_contain_text("Say what the auditor needs to revise")
    await expect(page).to_have_title(re.compile(r"^Error: "))
    await expect(decision.get_by_label("Return for revision")).to_be_checked()
    await a11y.check()
    reason = "Evidence for planning is thin: say how the plan was reviewed."
    await page.get_by_label("What needs revising, or feedback for the auditor").fill(reason)
    await page.get_by_role("button", name="Record decision").click()
    await page.wait_for_url(f"{base}/qa")
    await expect(page.locator(".govuk-notification-banner")).to_contain_text("Audit returned to the auditor")
    await expect(page.get_by_text("Nothing is waiting for QA.")).to_be_visible()
    await a11y.check()
    await sign_out(page, a11y, base)

    # --------------------------------------------- auditor revises, resubmits
    await sign_in(page, a11y, base, AUDITOR)
    await expect(page.locator("table.govuk-table tbody tr").first).to_contain_text("Returned for revision")
    await page.get_by_role("link", name=re.compile(rf"^{re.escape(case_id)}")).click()
    await page.wait_for_url(audit_url)
    await expect(summary_value(page, "Status")).to_have_text("Returned for revision")
    await expect(page.locator(".govuk-notification-banner")).to_contain_text(reason)  # why, in view
    await a11y.check()
    planning = page.get_by_label(
        "Planning and review: Evidence for the grade after the conversation with the practitioner"
    )
    await expect(planning).to_have_value(re.compile(r"^Evidence \d+:"))  # the saved answers are back
    await shot(page, "audit-returned")
    await planning.fill("Plan reviewed on time in a child protection conference; actions are SMART.")
    await page.get_by_role("button", name="Save and check your answers").click()
    await page.wait_for_url(f"{audit_url}/check")
    await page.get_by_role("button", name="Submit to QA").click()
    await expect(page.locator(".govuk-notification-banner")).to_contain_text("Audit submitted to QA")
    await expect(summary_value(page, "Status")).to_have_text("With QA")
    await a11y.check()
    await sign_out(page, a11y, base)

    # ------------------------------------------------------- QA: accept it
    await sign_in(page, a11y, base, QA)
    await page.get_by_role("link", name="QA queue").click()
    await page.wait_for_url(f"{base}/qa")
    await a11y.check()
    await page.get_by_role("link", name=case_id).click()
    await page.wait_for_url(audit_url)
    await a11y.check()
    await page.get_by_role("group", name="Your decision").get_by_label("Accept: the audit becomes final").check()
    await page.get_by_role("button", name="Record decision").click()
    await page.wait_for_url(f"{base}/qa")
    await expect(page.locator(".govuk-notification-banner")).to_contain_text("Audit accepted: it is now final")
    await a11y.check()

    await a11y.goto(audit_url)
    await expect(summary_value(page, "Status")).to_have_text("Final")
    # At a glance: the latest grade of each domain at each stage.
    grades = page.get_by_role("table", name="The latest grade for each domain at each stage")
    await expect(grades.locator("thead th")).to_have_text(
        ["Domain", "After reading the file", "After the conversation", "QA moderated", "Final"]
    )
    overall = grades.locator("tbody tr").filter(has=page.get_by_role("rowheader", name="Overall grade"))
    # QA accepted without changing a grade: the chain shows the same grade throughout.
    await expect(overall.locator("td")).to_have_text(["Requires Improvement"] * 4)
    graded = await grades.locator("tbody tr").count()  # the domains and the overall grade
    assert graded >= 6
    # The whole chain, on request.
    await page.locator("summary", has_text="Every grade given, in order").click()
    chain = page.get_by_role("table", name="Every grade given, in order")
    await expect(chain).to_be_visible()
    await assert_accessible(page)
    # Each domain and the overall grade: both auditor phases at each of the two
    # submissions, QA's moderation, then the final grade.
    await expect(chain.locator("tbody tr")).to_have_count(graded * (2 * 2 + 2))
    await expect(chain.locator("tbody tr").filter(has_text="QA moderated")).to_have_count(graded)
    await expect(chain.locator("tbody tr").filter(has_text="Final")).to_have_count(graded)
    await expect(page.get_by_role("table", name="QA decisions on this audit").locator("tbody tr")).to_have_count(2)
    await shot(page, "audit-final")

    await page.get_by_role("link", name="See the full history of this audit").click()
    await page.wait_for_url(f"{audit_url}/history")
    await a11y.check()
    await shot(page, "history")
    history = page.get_by_role("table", name="Changes to this audit, oldest first").locator("tbody tr")
    # Each change as a sentence (issue 17), naming people, steps and fields in words.
    what = await history.locator("td:nth-child(3)").all_inner_texts()
    assert re.fullmatch(r"qaf allocated the audit to .+\. Why: .+", what[0]), what
    # Every workflow step, by its name in the workflow, by whom.
    chosen = [(row, re.search(r"chose “(.+?)”", text)) for row, text in enumerate(what)]
    steps = [(row, found.group(1)) for row, found in chosen if found and found.group(1) in STEPS]
    assert [step for _, step in steps] == ["Start audit", "Submit to QA", "Return for revision", "Submit to QA", "Accept"], what
    whom = await history.locator("td:nth-child(2)").all_inner_texts()
    assert [whom[row] for row, _ in steps] == ["Grace Gill", "Grace Gill", "Femi Fraser", "Grace Gill", "Femi Fraser"]
    assert what[steps[1][0]] == "Grace Gill chose “Submit to QA”; the audit’s status is now “With QA”."
    assert what[steps[2][0]] == f"Femi Fraser chose “Return for revision”; the audit’s status is now “Returned for revision”. Reason: {reason}"
    # The answers filled in, then the one revised box, named as the form names them.
    changed = [text for text in what if " saved " in text and "without changing" not in text]
    assert changed == [
        f"Grace Gill saved {required} answers.",
        "Grace Gill saved 1 answer: Planning and review: Evidence for the grade after the conversation with the practitioner.",
    ], what
    await sign_out(page, a11y, base)

    # ----------------------------------------- the practitioner is told
    worker = case_worker_username(live_server.database, allocation_id)
    await sign_in(page, a11y, base, worker)
    notifications_link = page.get_by_role("navigation", name="Menu").get_by_role("link", name="Notifications")
    badge = notifications_link.locator(".qaf-count")
    await expect(badge).to_have_text(re.compile(r"^\d+ unread$"))
    unread = int((await badge.inner_text()).split()[0])
    assert unread >= 1
    await notifications_link.click()
    await page.wait_for_url(f"{base}/notifications")
    await a11y.check()
    await shot(page, "notifications")
    # HAR 2.6: the alert that the audit is final (and, separately, the HAR 2.13
    # task to discuss a "requires improvement" audit within 10 working days).
    final = page.locator(".qaf-notification").filter(
        has=page.get_by_role("link", name=f"Audit of case {case_id} is final: Requires Improvement", exact=True)
    )
    await expect(final).to_have_count(1)
    await expect(final).to_contain_text("Unread")
    task = page.locator(".qaf-notification").filter(has_text="Action by ")
    await expect(task).to_contain_text(f"Discuss the case to consider how a better service can be delivered (case {case_id})")
    await expect(final.get_by_role("link", name=f"Audit of case {case_id} is final: Requires Improvement")).to_have_attribute(
        "href", f"/audits/{allocation_id}"
    )
    await final.get_by_role("button", name="Mark as read").click()
    await expect(final.get_by_role("button")).to_have_count(0)
    await expect(final).not_to_contain_text("Unread")
    if unread > 1:  # the navigation's count follows
        await expect(badge).to_have_text(f"{unread - 1} unread")
    else:
        await expect(badge).to_be_hidden()
    await assert_accessible(page)

    # The final audit is now open to the practitioner.
    await final.get_by_role("link").click()
    await page.wait_for_url(audit_url)
    await expect(summary_value(page, "Status")).to_have_text("Final")
    await a11y.check()
    await sign_out(page, a11y, base)

    a11y.assert_all_checked()
