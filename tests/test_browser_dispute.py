"""A full four-stage Haringey dispute in a real browser (HAR-11, HAR-9).

An audit graded "Requires Improvement" is final. The practitioner disputes
the overall grade citing the grading criteria; the informal stage (meeting
within 5 working days, outcome within 2), the formal stage (QA team with the
Head of Service QA/PSW within 5, written response within 5), the head of
service (5) and finally the assistant director (independent view), who
amends the grade to "Good". Each page shows the stage and its dated
deadline (core.calendar working days, Europe/London); the end shows the
amended grade and the grade chain with who and why.

axe-core (WCAG 2.2 A/AA) runs on every page visited.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from core.calendar import utcnow, working_deadline
from support.browser import A11yTracker
from support.live_server import LiveServer, start_live_server, stop_live_server
from test_browser_journey import sign_in, sign_out, summary_value
from test_browser_reaudit import accept, display_name, fill_in_and_submit

AUDITOR = "haringey.cp_chair"
HEAD_OF_QA = "haringey.head_of_qa"
QA_OFFICER = "haringey.qa_officer"
SERVICE_MANAGER = "haringey.service_manager"
HEAD_OF_SERVICE = "haringey.head_of_service"
ASSISTANT_DIRECTOR = "haringey.assistant_director"


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    """A demo of its own: other browser tests take the CP chair's audit elsewhere."""
    with tempfile.TemporaryDirectory(prefix="qaf-live-dispute-") as tmp:
        server = start_live_server(Path(tmp))
        try:
            yield server
        finally:
            stop_live_server(server)


def case_people(database: Path, allocation_id: int) -> tuple[str, str]:
    """The usernames of the case's practitioner and team manager."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        worker, manager = conn.execute(
            "select w.username, m.username from allocation a join child_case c on c.id = a.child_case "
            "join person w on w.id = c.allocated_worker "
            "join person m on m.team = c.team and m.role = 'team_manager' where a.id = ? order by m.id limit 1",
            (allocation_id,),
        ).fetchone()
    return worker, manager


def due_in(working_days: int) -> str:
    """What the page shows for a stage due ``working_days`` after now."""
    from web.rendering import london_day

    return london_day(working_deadline(utcnow(), working_days))


@pytest.mark.req("HAR-11")
@pytest.mark.req("HAR-9")
async def test_a_dispute_goes_through_all_four_haringey_stages_and_the_ad_amends_the_grade(live_server, page: Page, a11y: A11yTracker):
    try:
        await walk(live_server, page, a11y)
    except BaseException:
        print(f"--- qaf serve output ---\n{live_server.log()[-8000:]}")
        raise


async def stage_is(page: Page, label: str, due: str | None) -> None:
    await expect(page.locator("#dispute-stage")).to_have_text(label)
    if due is None:
        await expect(page.locator(".govuk-summary-list__key", has_text="Due by")).to_have_count(0)
    else:
        await expect(summary_value(page, "Due by")).to_have_text(due)


async def record(page: Page, a11y: A11yTracker, step: str, *, reason: str = "", participants: str = "") -> None:
    await page.get_by_role("group", name="What happened?").get_by_label(step, exact=True).check()
    if participants:
        await page.get_by_label("Who took part (optional)").fill(participants)
    if reason:
        await page.get_by_label("Reason").fill(reason)
    await page.get_by_role("button", name="Record").click()
    await expect(page.locator(".govuk-notification-banner")).to_contain_text("Recorded")
    await a11y.check()


async def walk(live_server, page: Page, a11y: A11yTracker) -> None:
    base = live_server.url
    await page.set_viewport_size({"width": 1280, "height": 900})

    # --------------------------------- an audit graded Requires Improvement, final
    await sign_in(page, a11y, base, AUDITOR)
    rows = page.locator("table.govuk-table").filter(has_text="Audits allocated to me").locator("tbody tr")
    await rows.first.get_by_role("link").click()
    await page.wait_for_url(re.compile(rf"{re.escape(base)}/audits/\d+$"))
    audit_url = page.url
    allocation_id = int(audit_url.rsplit("/", 1)[1])
    await a11y.check()
    await fill_in_and_submit(page, a11y, watch_autosave=False)
    await sign_out(page, a11y, base)
    await sign_in(page, a11y, base, HEAD_OF_QA)
    await accept(page, a11y, base, audit_url)
    await sign_out(page, a11y, base)
    practitioner, team_manager = case_people(live_server.database, allocation_id)

    # ----------------------- the practitioner disputes, citing the grading criteria
    await sign_in(page, a11y, base, practitioner)
    await a11y.goto(audit_url)
    await page.get_by_role("link", name="Dispute this grade").click()
    await page.wait_for_url(f"{base}/disputes/new/{allocation_id}")
    await a11y.check()
    criteria = "Audit grading criteria: Safeguarding, Corporate Parenting (looked after children) and DCT"
    await page.get_by_role("group", name="Which grading criteria does your dispute rely on?").get_by_label(criteria).check()
    await page.locator("#domains-overall-proposed").select_option(label="Good")
    rationale = "The child's plan was SMART and reviewed monthly: the criteria for Good are met."
    await page.locator("#domains-overall-rationale").fill(rationale)
    await page.get_by_role("button", name="Raise the dispute").click()
    await page.wait_for_url(re.compile(rf"{re.escape(base)}/disputes/\d+$"))
    dispute_url = page.url
    await a11y.check()
    # Informal: written response and a meeting within 5 working days.
    await stage_is(page, "Informal: written response and meeting", due_in(5))
    await expect(summary_value(page, "Grading criteria cited")).to_have_text(criteria)
    await sign_out(page, a11y, base)

    # ------------------- informal: the team manager holds the meeting; no agreement
    await sign_in(page, a11y, base, team_manager)
    await a11y.goto(dispute_url)
    await record(page, a11y, "Record the meeting", participants="Team manager, social worker, auditor")
    # The outcome is to be shared within 2 working days of the meeting.
    await stage_is(page, "Informal: outcome to be shared", due_in(2))
    await record(page, a11y, "Unresolved: follow the formal process", reason="No agreement at the meeting")
    # Formal: the QA team with the Head of Service for QA/PSW within 5 working days.
    await stage_is(page, "Formal: QA team with the Head of Service for QA/PSW", due_in(5))
    await sign_out(page, a11y, base)

    # ------------------------------------------- formal: the QA team's response
    await sign_in(page, a11y, base, QA_OFFICER)
    await a11y.goto(dispute_url)
    await record(page, a11y, "Agree the course of action")
    # The written response within 5 working days, to the team manager, auditor and service manager.
    await stage_is(page, "Formal: written response", due_in(5))
    await record(page, a11y, "Send the written response to the team manager, auditor and service manager",
                 reason="The plan was reviewed but its actions were not SMART: the grade stands.")
    await stage_is(page, "Formal: written response sent", None)
    await sign_out(page, a11y, base)

    # ------------------ still disputed: the service manager escalates to the HoS
    await sign_in(page, a11y, base, SERVICE_MANAGER)
    await a11y.goto(dispute_url)
    await record(page, a11y, "Unresolved: escalate to the head of service", reason="The practitioner does not accept the written response")
    await stage_is(page, "Head of service with the QA Head of Service/PSW", due_in(5))
    await sign_out(page, a11y, base)

    # ------------------------ the head of service asks for an independent view
    await sign_in(page, a11y, base, HEAD_OF_SERVICE)
    await a11y.goto(dispute_url)
    await record(page, a11y, "Unresolved: escalate to the assistant director", reason="Exceptional: an independent view is needed")
    await stage_is(page, "Assistant director: independent view", None)
    await sign_out(page, a11y, base)

    # -------------------------------- the assistant director amends the grade
    await sign_in(page, a11y, base, ASSISTANT_DIRECTOR)
    await a11y.goto(dispute_url)
    await page.get_by_role("group", name="What happened?").get_by_label("Resolved by the assistant director").check()
    await page.get_by_role("group", name="If resolved: outcome").get_by_label("Grades amended").check()
    await page.get_by_label("New grade for overall grade").select_option(label="Good")
    why = "Independent view: the plan and its reviews meet the criteria for Good"
    await page.get_by_label("Reason").fill(why)
    await page.get_by_role("button", name="Record").click()
    await expect(page.locator(".govuk-notification-banner")).to_contain_text("Recorded")
    await a11y.check()
    await stage_is(page, "Resolved: final amended report", None)
    await expect(page.locator("#dispute-outcome")).to_have_text(f"Grades amended: {why}")
    disputed = page.get_by_role("table", name="Grades disputed").locator("tbody tr")
    await expect(disputed).to_have_count(1)
    await expect(disputed.first.locator("th, td")).to_have_text(["Overall grade", "Requires Improvement", "Good", rationale, "Good"])

    # The grade chain: every change with who and why.
    chain = page.get_by_role("table", name="Grade chain: every change, who and why").locator("tbody tr")
    await expect(chain).to_have_count(3)
    names = {u: display_name(live_server.database, u) for u in (HEAD_OF_QA, practitioner, ASSISTANT_DIRECTOR)}
    await expect(chain.nth(0).locator("td").nth(1)).to_have_text("Final")
    await expect(chain.nth(0).locator("td").nth(2)).to_have_text("Requires Improvement")
    # The audit's final grade was set when QA accepted it, with the auditor's evidence.
    await expect(chain.nth(0).locator("td").nth(3)).to_have_text(names[HEAD_OF_QA])
    await expect(chain.nth(0).locator("td").nth(4)).to_have_text(re.compile(r"^Evidence \d+: plan not reviewed since the last audit\.$"))
    await expect(chain.nth(1).locator("td").nth(1)).to_have_text("Disputed")
    await expect(chain.nth(1).locator("td").nth(2)).to_have_text("Requires Improvement")
    await expect(chain.nth(1).locator("td").nth(3)).to_have_text(names[practitioner])
    await expect(chain.nth(1).locator("td").nth(4)).to_have_text(rationale)
    await expect(chain.nth(2).locator("td").nth(1)).to_have_text("Final")
    await expect(chain.nth(2).locator("td").nth(2)).to_have_text("Good")
    await expect(chain.nth(2).locator("td").nth(3)).to_have_text(names[ASSISTANT_DIRECTOR])
    await expect(chain.nth(2).locator("td").nth(4)).to_have_text(f"Amended after dispute: {why}")

    # Every stage is on the record, in order.
    history = page.locator("h2", has_text="Stages so far").locator("xpath=following-sibling::ul[1]/li")
    await expect(history).to_have_count(8)
    # As sentences (issue 17): the steps by the names the process gives them.
    for index, step in enumerate(["disputed the grades for ", "chose “Record the meeting”",
                                  "chose “Unresolved: follow the formal process”", "chose “Agree the course of action”",
                                  "chose “Send the written response to the team manager, auditor and service manager”",
                                  "chose “Unresolved: escalate to the head of service”",
                                  "chose “Unresolved: escalate to the assistant director”",
                                  "chose “Resolved by the assistant director”"]):
        await expect(history.nth(index)).to_contain_text(step)

    # The amended report is the final version: the audit's final grade is Good.
    await a11y.goto(audit_url)
    grades = page.get_by_role("table", name="The latest grade for each domain at each stage")
    overall = grades.locator("tbody tr").filter(has=page.get_by_role("rowheader", name="Overall grade"))
    header = await grades.locator("thead th").all_inner_texts()
    # Columns after the domain's own header cell: td index = column index - 1.
    await expect(overall.locator("td").nth(header.index("Final") - 1)).to_have_text("Good")
    await expect(overall.locator("td").nth(header.index("Disputed") - 1)).to_have_text("Requires Improvement")
    await sign_out(page, a11y, base)

    a11y.assert_all_checked()
