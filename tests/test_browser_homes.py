"""Every role's home in the four councils, in one real browser (issue 17):
``qaf demo`` + ``qaf serve`` with the four councils, at the suite's instant.

For one person in each role of each council: sign in, land on the home,
axe-core (WCAG 2.2 A/AA), no sideways scrolling on a 1280 px screen, the
page says what needs them now (a card with something to do, or an empty
card saying what will appear and when), and a screenshot of it is saved to
the run's output folder (``$QAF_TEST_OUTPUT``, else pytest's base temporary
directory), printed at the end.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from core.services.demo import DEMO_PASSWORD
from support.browser import A11yTracker
from support.live_server import LiveServer, qaf_executable, serve, server_env, stop_live_server

COUNCILS = "haringey,coventry,bedford,partnership"


@pytest.fixture(scope="module")
def four_councils(tmp_path_factory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("homes-live")
    env = server_env(data_dir, QAF_COUNCILS=COUNCILS)
    demo = subprocess.run([str(qaf_executable()), "demo"], env=env, cwd=data_dir, capture_output=True, text=True, timeout=180)
    assert demo.returncode == 0, f"`qaf demo` failed:\n{demo.stdout}\n{demo.stderr}"
    server = serve(data_dir, env)
    try:
        yield server
    finally:
        stop_live_server(server)


def _one_per_role(database: Path) -> list[tuple[str, str]]:
    """(council, username) of the first person in each role of each council."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT o.council, p.username FROM person p JOIN organisation o ON o.id = p.organisation"
            " WHERE p.id IN (SELECT MIN(id) FROM person GROUP BY organisation, role) ORDER BY o.council, p.id"
        ).fetchall()
    return [(council, username) for council, username in rows]


def _output_dir(tmp_path_factory) -> Path:
    chosen = os.environ.get("QAF_TEST_OUTPUT")
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp()
    folder = folder / "homes"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


WORKERS = 2  # pages side by side (two cores): signing in (argon2) and axe take the time


async def _visit(page: Page, a11y: A11yTracker, base: str, council: str, username: str, folder: Path) -> None:
    await page.context.clear_cookies()
    await a11y.goto(f"{base}/login", page=page, check=False)
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("What needs you now")
    await a11y.check(page)
    # WCAG 1.4.10: nothing scrolls sideways on a 1280 px screen.
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), username
    # A next step or a clear empty state: every home has at least one card,
    # and each card either lists something or says what will appear there.
    cards = page.locator(".qaf-home-card")
    assert await cards.count() >= 1, username
    for index in range(await cards.count()):
        card = cards.nth(index)
        listed = await card.locator(".govuk-task-list__item, .govuk-summary-list__row").count()
        empty = await card.locator(".qaf-home-empty").count()
        assert listed or empty, (username, await card.inner_text())
    await page.screenshot(path=str(folder / f"{council}-{username.split('.', 1)[1]}.png"), full_page=True)


async def test_every_roles_home_in_the_four_councils_is_accessible_fits_1280px_and_says_what_next(
    four_councils: LiveServer, browser, tmp_path_factory
):
    base = four_councils.url
    people = _one_per_role(four_councils.database)
    assert {c for c, _ in people} == set(COUNCILS.split(",")) and len(people) >= 40
    folder = _output_dir(tmp_path_factory)

    async def worker(share: list[tuple[str, str]]) -> list[str]:
        context = await browser.new_context(locale="en-GB", timezone_id="Europe/London", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        page = await context.new_page()
        a11y = A11yTracker(page)
        try:
            for council, username in share:
                await _visit(page, a11y, base, council, username, folder)
            return a11y.checked
        finally:
            await context.close()

    try:
        checked = await asyncio.gather(*(worker(people[i::WORKERS]) for i in range(WORKERS)))
    except BaseException:
        print(f"--- qaf serve output ---\n{four_councils.log()[-4000:]}")
        raise
    assert sum(len(c) for c in checked) == len(people)  # axe ran on every home
    print(f"\nScreenshots of {len(people)} homes: {folder}")
