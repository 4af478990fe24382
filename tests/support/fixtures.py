"""pytest fixtures for the real test infrastructure.

Load with ``pytest_plugins = ["support.fixtures"]`` in ``tests/conftest.py``.

=========================  ========  ==================================================
fixture                    scope     value
=========================  ========  ==================================================
postgres_server            session   started :class:`PostgresServer` (``.url(name)``,
                                     ``.port``, ``await .create_database()``)
make_postgres_database     session   ``async (prefix="test") -> url`` factory: a fresh,
                                     uniquely named empty database per call; usable from
                                     fixtures of any scope
postgres_database_url      function  URL of a fresh empty database for this test
smtp_server                session   started :class:`SmtpServer` (``.host``, ``.port``)
smtp                       function  the same server, emptied before the test
browser                    session   Playwright ``Browser`` (headless system Chromium)
browser_context            function  new ``BrowserContext``, closed after the test
page                       function  new ``Page`` in ``browser_context``
a11y                       function  :class:`A11yTracker` on ``browser_context``
=========================  ========  ==================================================

Tests using the browser fixtures are auto-marked ``browser``; tests using the
PostgreSQL fixtures are auto-marked ``postgres`` (so ``-m "not browser"`` works).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import pytest_asyncio

from .browser import A11yTracker, launch_chromium
from .postgres import PostgresServer
from .smtp import SmtpServer

_POSTGRES_FIXTURES = {"postgres_server", "make_postgres_database", "postgres_database_url"}
_BROWSER_FIXTURES = {"browser", "browser_context", "page", "a11y"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _POSTGRES_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        if names & _BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)


# ------------------------------------------------------------------ PostgreSQL
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 server for the whole session (or $QAF_TEST_DATABASE_URL's)."""
    server = PostgresServer()
    server.start()  # raises PostgresError with an install hint: the test errors, never skips
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def make_postgres_database(postgres_server: PostgresServer) -> Callable[..., Awaitable[str]]:
    """``url = await make_postgres_database(prefix="test")``: a new empty database.

    Returns ``postgresql://qaf@127.0.0.1:PORT/<prefix>_<random>``.
    """

    async def make(prefix: str = "test") -> str:
        return await postgres_server.create_database(prefix=prefix)

    return make


@pytest_asyncio.fixture(loop_scope="session")
async def postgres_database_url(make_postgres_database: Callable[..., Awaitable[str]]) -> str:
    """URL of a fresh, empty database for this test only."""
    return await make_postgres_database()


# ------------------------------------------------------------------------ SMTP
@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> Iterator[SmtpServer]:
    """The session SMTP server with its mailbox emptied for this test."""
    smtp_server.clear()
    yield smtp_server
    smtp_server.clear()


# --------------------------------------------------------------------- browser
@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browser_context(browser) -> AsyncIterator[object]:
    # British users: dates as dd/mm/yyyy, times in London.
    context = await browser.new_context(locale="en-GB", timezone_id="Europe/London")
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser_context) -> AsyncIterator[object]:
    yield await browser_context.new_page()


@pytest_asyncio.fixture(loop_scope="session")
async def a11y(browser_context, page) -> A11yTracker:
    """Tracks every page visited in this test's browser context; see A11yTracker."""
    return A11yTracker(browser_context)
