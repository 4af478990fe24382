"""All four councils in one deployment: demo data, programmes and pages,
with no definition or record of one council showing in another's."""

from __future__ import annotations

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Allocation, Person
from core.plugins import load_plugins
from helpers import sign_in
from support.snapshots import snapshot_demo

# The suite's 15 minutes: this module's rules are the same code on both
# databases; PostgreSQL runs the services', migrations', workers' and trail's tests.
SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems

COUNCILS = ("haringey", "coventry", "bedford", "partnership")
LEADERS = {
    "haringey": "haringey.qa_officer",
    "coventry": "coventry.senior_leader",
    "bedford": "bedford.chief_officer",
    "partnership": "partnership.qa_manager",
}


@pytest.fixture(scope="module")
def every_council(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("all"), "sqlite:///unused", councils=COUNCILS))


@pytest_asyncio.fixture(loop_scope="session")
async def deployment(every_council, database_url, tmp_path):
    from web.app import create_app

    results = {council: await snapshot_demo(every_council.registry, council) for council in COUNCILS}
    app = create_app(make_settings(tmp_path, database_url, councils=COUNCILS), every_council)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client, results


def test_four_councils_load_together_without_collisions(every_council):
    registry = every_council.registry
    assert set(registry.councils) == set(COUNCILS)
    # The same local key in two councils is two definitions.
    assert registry.scale("haringey:four_point") is not registry.scale("bedford:four_point")
    assert registry.role("haringey:team_manager").label == "Team manager"
    namespaces = {key.split(":")[0] for key in registry.schedules}
    assert namespaces == {"haringey", "coventry", "bedford", "partnership"}


@pytest.mark.req("CORE-7")
@pytest.mark.parametrize("council", COUNCILS)
async def test_each_councils_programme_page_renders_for_its_leaders(deployment, council):
    client, results = deployment
    assert results[council].created
    await sign_in(client, LEADERS[council])
    page = await client.get("/programme?year=2027")
    assert page.status_code == 200, page.text[:500]
    assert 'class="govuk-table__row"' in page.text
    assert "No activities are scheduled" not in page.text
    # Another council's roles never appear.
    others = {c: v for c, v in LEADERS.items() if c != council}
    for other in others:
        assert f"{other}." not in page.text


async def test_records_of_one_council_are_invisible_to_another(deployment):
    client, results = deployment
    haringey_audit = await Allocation.select(Allocation.id).where(Allocation.form_key == "haringey:case_audit").first()
    bedford_audit = await Allocation.select(Allocation.id).where(Allocation.form_key == "bedford:case_file_audit").first()
    assert haringey_audit and bedford_audit
    # The S&QA team administers (docs/access.md, case 1: a draft is theirs,
    # not the Chief Officer's, who reads audits once out of the auditor's hands).
    await sign_in(client, "bedford.sqa_officer")
    assert (await client.get(f"/audits/{haringey_audit['id']}")).status_code == 404
    assert (await client.get(f"/audits/{bedford_audit['id']}")).status_code == 200
    bedford_people = await Person.count().where(Person.username.like("bedford.%"))
    assert bedford_people == len(results["bedford"].logins)
