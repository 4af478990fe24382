"""The partnership's report, scorecard and programme pages in a real browser
with axe-core (WCAG 2.2 A/AA) on every page (issue 14 items 4-8): ``qaf demo``
(with its partnership examples) + ``qaf serve`` at the suite's instant,
31 December 2026, in the partnership's Quarter 3 (October to December).

The QA manager opens the requests, a thematic audit's returns side by side
with its drafted report, the scorecard and the agreed programme, and sends a
proposal with missing answers; the Partnership Board member reads the
scorecard. Each page is checked with axe and fits a 1280 px screen."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from playwright.async_api import expect

from core.services.demo import DEMO_PASSWORD
from support.live_server import LiveServer, qaf_executable, serve, server_env, stop_live_server

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def partnership_server(tmp_path_factory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("partnership-live")
    env = server_env(data_dir, QAF_COUNCILS="partnership")
    demo = subprocess.run([str(qaf_executable()), "demo"], env=env, cwd=data_dir, capture_output=True, text=True, timeout=180)
    assert demo.returncode == 0, f"`qaf demo` failed:\n{demo.stdout}\n{demo.stderr}"
    server = serve(data_dir, env)
    try:
        yield server
    finally:
        stop_live_server(server)


async def _sign_in(page, a11y, base: str, username: str) -> None:
    await page.context.clear_cookies()
    await a11y.goto(f"{base}/login", page=page, check=False)
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/")


async def _fits(page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


@pytest.mark.req("CSCP-5")
@pytest.mark.req("CSCP-2")
async def test_the_partnerships_pages_read_plainly_and_pass_axe(partnership_server: LiveServer, page, a11y):
    base = partnership_server.url
    await page.set_viewport_size({"width": 1280, "height": 900})
    await _sign_in(page, a11y, base, "partnership.qa_manager")

    await a11y.goto(f"{base}/partnership/requests", page=page)
    await _fits(page)
    await page.get_by_role("link", name="Neglect (example theme): multi-agency thematic audit").click()
    await a11y.check(page)
    await _fits(page)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Neglect (example theme): multi-agency thematic audit")
    await expect(page.get_by_text("4 of 4 returns accepted")).to_be_visible()
    await expect(page.get_by_text("Drafted by the Quality Assurance Manager").first).to_be_visible()
    await expect(page.get_by_role("button", name="Send to the Audit Chair for sign-off")).to_be_visible()

    await a11y.goto(f"{base}/partnership/scorecard", page=page)
    await _fits(page)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Quarter 2 (July to September 2026)")
    await expect(page.get_by_role("row", name="Initial health assessments within 20 working days")).to_contain_text("84% (Amber)")

    await a11y.goto(f"{base}/partnership/programme", page=page)
    await page.get_by_role("link", name="2026 to 2027").click()
    await a11y.check(page)
    await expect(page.get_by_text("Agreed by the A&P subgroup").first).to_be_visible()

    # A proposal with missing answers: the error summary and each field's message.
    await a11y.goto(f"{base}/partnership/scorecard/changes/new", page=page)
    await page.get_by_label("Name").fill("Repeat referrals within 12 months")
    await page.get_by_role("button", name="Propose the change").click()
    await expect(page.get_by_role("alert")).to_contain_text("Say what the indicator counts")
    await a11y.check(page)
    await expect(page.get_by_label("Name")).to_have_value("Repeat referrals within 12 months")

    await _sign_in(page, a11y, base, "partnership.partnership_board")
    await a11y.goto(f"{base}/partnership/scorecard", page=page)
    await expect(page.get_by_role("button", name="Start populating this quarter's scorecard")).to_have_count(0)
