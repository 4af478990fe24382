"""Shared fixtures: a real database per test (SQLite file and PostgreSQL),
the app on it, and a demo organisation loaded through the real services."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Settings are read from the environment once; tests build their own, but
# importing core.db reads them at import time: point it at a scratch place.
os.environ.setdefault("QAF_DATA_DIR", str(Path(__file__).parent.parent / "var" / "test-import"))

import pytest
import pytest_asyncio
import time_machine
from litestar.testing import AsyncTestClient

from core.plugins import load_plugins
from core.services.context import Context
from core.services.demo import DEMO_PASSWORD
from core.settings import Settings

pytest_plugins = ["support.fixtures", "support.live_server", "support.oidc_provider"]

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))

from helpers import SUITE_INSTANT  # noqa: E402  (the suite's instant; see there)
import support.snapshots  # noqa: E402
from support.snapshots import Snapshots, snapshot_demo  # noqa: E402


# The longest modules first (from `bash .ci/run --durations=30`): with
# `--dist loadfile` each module runs whole in one process, taken in this
# order, so a long module started last would leave the other processes idle
# while it finishes. Tests within a module keep their order.
LONGEST_FIRST = (
    "test_bedford_work.py", "test_bench.py", "test_browser_homes.py", "test_requirements_core.py",
    "test_sign_in_security.py", "test_packages.py", "test_partnership_journeys.py", "test_commands.py",
    "test_browser_dispute.py", "test_partnership_reports.py", "test_schemathesis.py", "test_local_accounts.py",
    "test_browser_journey.py", "test_browser_agency_requests.py", "test_reports_overview.py", "test_reports.py",
    "test_browser_reaudit.py", "test_agency_requests.py", "test_long_forms.py", "test_api_disputes_actions.py",
    "test_oidc_sign_in.py", "test_workers.py", "test_operations.py", "test_sweep.py", "test_calendar_plugin.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
    # A module with SQLITE_ONLY = True runs its database tests on SQLite alone
    # (the suite's 15 minutes): they are not collected for PostgreSQL, so
    # nothing is skipped.
    keep = [item for item in items if not (
        getattr(item.module, "SQLITE_ONLY", False)
        and getattr(getattr(item, "callspec", None), "params", {}).get("database_url") == "postgres")]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "clock(instant): the instant (aware datetime or ISO 8601 string) the test runs at"
    )


@pytest.fixture(scope="session", autouse=True)
def suite_clock():
    """Session-wide: session fixtures (the live server's `qaf demo`) start at
    the suite's instant too; time moves on from there as it would."""
    with time_machine.travel(SUITE_INSTANT, tick=True) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def clock(request, suite_clock):
    """The test's instant: ``@pytest.mark.clock(...)`` or the suite's. Yields
    the time-machine traveller: ``clock.move_to(...)``, ``clock.shift(...)``."""
    marker = request.node.get_closest_marker("clock")
    instant = marker.args[0] if marker else SUITE_INSTANT
    with time_machine.travel(instant, tick=True) as traveller:
        yield traveller


def make_settings(tmp_path: Path, database_url: str, councils=("haringey",), **extra) -> Settings:
    # Signing in as the QA team asks for a second factor only in the tests of
    # it (tests/test_second_factor.py): others sign in by password alone.
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        councils=tuple(councils),
        secret_key="test-secret-key-" + "x" * 32,
        sweep_seconds=0,
        # The test client runs the app's lifespan in its own event loop; a pool
        # made there cannot serve the test's own queries. `qaf serve` tests
        # exercise the pool in a real server process.
        database_pool_size=0,
        **({"second_factor": False} | extra),
    )


# The entry-point groups the suite loads plugins from: every deployment's
# `qaf`, and `qaf.tests`, where tests/example_plugin (a plugin from outside
# core, installed with the dev dependencies) registers. `qaf` commands and
# servers the tests start load `qaf` alone, as a deployment does.
TEST_PLUGIN_GROUPS = ("qaf", "qaf.tests")


@pytest.fixture(scope="session")
def plugins(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("plugins"), "sqlite:///unused.sqlite3")
    return load_plugins(settings, groups=TEST_PLUGIN_GROUPS)


@pytest.fixture(scope="session")
def registry(plugins):
    return plugins.registry


@pytest.fixture(scope="session")
def snapshots(tmp_path_factory):
    """This test process's migrated databases and demos, copied per test
    (tests/support/snapshots.py)."""
    support.snapshots.SNAPSHOTS = Snapshots(tmp_path_factory.mktemp("snapshots"))
    return support.snapshots.SNAPSHOTS


@pytest_asyncio.fixture(params=["sqlite", "postgres"], loop_scope="session")
async def database_url(request, tmp_path, snapshots, clock):
    """A fresh, migrated database of the test's own: a real SQLite file, or a
    real PostgreSQL database on the server the test session started (a copy
    of one this process migrated once)."""
    snapshots.clock = clock
    marker = request.node.get_closest_marker("clock")
    snapshots.instant = str(marker.args[0]) if marker else ""
    if request.param == "sqlite":
        return await snapshots.migrated("sqlite", tmp_path / "qaf.sqlite3")
    snapshots.postgres = request.getfixturevalue("postgres_server")
    return await snapshots.migrated("postgres")


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def ctx(registry, database_url) -> Context:
    return Context(registry=registry)


@pytest_asyncio.fixture(loop_scope="session")
async def demo(registry, database_url):
    """The Haringey demo organisation, with this month's cycle issued."""
    return await snapshot_demo(registry, "haringey")


@pytest_asyncio.fixture(loop_scope="session")
async def client(settings, plugins, demo):
    from web.app import create_app

    async with AsyncTestClient(app=create_app(settings, plugins), base_url="http://testserver.local") as client:
        yield client


PASSWORD = DEMO_PASSWORD


# The Coventry Safeguarding Children Partnership, for the tests of its
# agencies, lenses and action plans.
@pytest.fixture(scope="session")
def partnership(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("cscp"), "sqlite:///unused", councils=("partnership",))).registry


@pytest_asyncio.fixture(loop_scope="session")
async def partnership_demo(partnership, database_url):
    return await snapshot_demo(partnership, "partnership")


@pytest_asyncio.fixture(loop_scope="session")
async def partnership_client(partnership, partnership_demo, database_url, tmp_path):
    from web.app import create_app

    settings = make_settings(tmp_path, database_url, councils=("partnership",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


# A clone is enough (issue 12): the suite skips nothing. A skip fails the run
# unless it is listed here with the reason it may stand (there are none).
ALLOWED_SKIPS: dict[str, str] = {}
_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail") and report.nodeid not in ALLOWED_SKIPS:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if _skipped and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        terminalreporter.write_line(
            f"error: {len(_skipped)} test(s) skipped; the suite must skip nothing (tests/conftest.py ALLOWED_SKIPS):",
            red=True,
        )
        for nodeid in _skipped:
            terminalreporter.write_line(f"  {nodeid}")
