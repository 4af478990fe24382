"""Bedford's programme drives the work, in a real browser (issue 13; PLAT-1,
BED-8), against the product as a README reader runs it with Bedford enabled
(``QAF_COUNCILS=bedford qaf demo`` + ``qaf serve``): a Team Manager signs in,
opens My programme from the navigation, starts a supervisee's practice
observation from it on the supervisee (issue 13: the observation is on the
worker, not a case), and sees it listed as
Started. axe-core (WCAG 2.2 A/AA) runs on every page visited.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import subprocess

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from support.browser import A11yTracker
from support.live_server import LiveServer, qaf_executable, serve, server_env, stop_live_server

TEAM_MANAGER = "bedford.team_manager.1"
PASSWORD = "qaf-demo-2026"  # every demo account's (`qaf demo` prints it)
# Thursday 25 March 2027, the day before Good Friday: the last week of
# Bedford's April-March year, when every worker's yearly observation of
# practice (s.5: "at least once every year") falls due on Wednesday 31 March.
INSTANT = dt.datetime(2027, 3, 25, 9, 0, tzinfo=dt.timezone.utc)


@pytest_asyncio.fixture
async def bedford_server(tmp_path, clock):
    """``qaf demo`` and ``qaf serve`` with Bedford enabled, at the test's instant."""
    data_dir = tmp_path / "live"
    data_dir.mkdir()
    env = server_env(data_dir, QAF_COUNCILS="bedford")
    demo = subprocess.run([str(qaf_executable()), "demo"], env=env, capture_output=True, text=True, timeout=120, cwd=data_dir)
    assert demo.returncode == 0, f"`qaf demo` failed:\n{demo.stdout}\n{demo.stderr}"
    server = serve(data_dir, env)
    try:
        yield server
    finally:
        stop_live_server(server)


def _people(database) -> tuple[str, list[tuple[str, str]]]:
    """The team manager's name, and (name, a case number they hold) of each
    worker they supervise who holds a case no audit is under way on."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        (manager_id, manager) = conn.execute("select id, display_name from person where username = ?", (TEAM_MANAGER,)).fetchone()
        rows = conn.execute(
            "select p.display_name, min(c.external_id) from person p join child_case c on c.allocated_worker = p.id "
            "where p.line_manager = ? and not exists (select 1 from allocation a where a.child_case = c.id and a.finalised_at is null) "
            "group by p.id, p.display_name order by p.id",
            (manager_id,),
        ).fetchall()
    return manager, rows


@pytest.mark.req("PLAT-1")
@pytest.mark.req("BED-8")
@pytest.mark.clock(INSTANT)
async def test_a_team_manager_starts_a_practice_observation_from_my_programme(bedford_server, page: Page, a11y: A11yTracker):
    try:
        await journey(bedford_server, page, a11y)
    except BaseException:
        print(f"--- qaf serve output ---\n{bedford_server.log()[-8000:]}")  # shown with the failure
        raise


async def journey(server: LiveServer, page: Page, a11y: A11yTracker) -> None:
    base = server.url
    await page.set_viewport_size({"width": 1280, "height": 900})
    manager, workers = _people(server.database)
    worker, _ = workers[0]

    await a11y.goto(f"{base}/login")
    await page.get_by_label("Username").fill(TEAM_MANAGER)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/")  # the home (issue 17)
    await a11y.check()

    # My programme, from the navigation: the supervisee's observation is to do.
    await page.get_by_role("navigation", name="Menu").get_by_role("link", name="My programme").click()
    await page.wait_for_url(re.compile(rf"^{re.escape(base)}/programme/mine$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("My programme")
    activity = f"Observation of practice for {worker}"
    to_do = page.get_by_role("table", name="My work, soonest due first")
    row = to_do.get_by_role("row").filter(has=page.get_by_role("cell", name=activity, exact=True))
    await expect(row).to_have_count(1)
    await expect(row.get_by_role("cell").nth(0)).to_have_text("31 March 2027")
    await expect(row.get_by_role("cell").nth(3)).to_have_text("To do")
    await a11y.check()

    # Start it: the observation is on the supervisee (s.5, App. C "MANAGER/WORKER"), no case to choose.
    await row.get_by_role("link", name=f"Start {activity} due 31 March 2027").click()
    await page.wait_for_url(re.compile(r"/programme/work/\d+$"))
    work_url = page.url
    await expect(page.get_by_role("heading", level=1)).to_have_text("Observation of practice")
    await expect(page.get_by_text(f"{manager}, for {worker}")).to_be_visible()
    await a11y.check()
    await expect(page.get_by_text(f"On {worker}.")).to_be_visible()
    await expect(page.get_by_label("Case number")).to_have_count(0)
    await page.get_by_role("button", name="Start audit").click()

    # The observation form opens on the worker, on the observation-skills scale (App. C).
    await page.wait_for_url(re.compile(r"/audits/\d+$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(worker)
    await expect(page.locator(".govuk-notification-banner")).to_contain_text("Audit started")
    await expect(page.get_by_text("PRACTICE OBSERVATION (CHILDREN'S SERVICES)").first).to_be_visible()
    await expect(page.get_by_role("radio", name="Skills demonstrated were outstanding").first).to_be_visible()
    # Issue 17: shared from "Check your answers", reached from the form.
    await expect(page.get_by_role("button", name="Save and check your answers")).to_be_visible()
    await a11y.check()

    # Back on My programme: listed as Started.
    await a11y.goto(f"{base}/programme/mine")
    row = page.get_by_role("table", name="My work, soonest due first").get_by_role("row").filter(
        has=page.get_by_role("cell", name=activity, exact=True))
    await expect(row.get_by_role("cell").nth(3)).to_have_text("Started")
    await a11y.check()
    await a11y.goto(work_url)
    await expect(page.get_by_text(f"{worker}: in progress")).to_be_visible()
    await a11y.check()

    a11y.assert_all_checked()
