"""The Cycles page and its API: issuing this month's cycle is offered only
where the council runs monthly cycles (CORE-9); elsewhere nothing offers it,
and a request to issue one is refused with a reason, never a 500."""

from __future__ import annotations

from html import unescape

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Cycle, Organisation
from core.plugins import load_plugins
from helpers import api_token, csrf_from, sign_in
from support.snapshots import snapshot_demo

# councils/coventry/definitions/council.yaml: "No `cycles`: the plan sets no
# monthly allocation cycle" (seed 000, the Coventry QAF plan 2017).
NO_CYCLES = "Coventry Children's Services does not run monthly audit cycles"


@pytest_asyncio.fixture(loop_scope="session")
async def coventry_client(database_url, tmp_path):
    from web.app import create_app

    settings = make_settings(tmp_path, database_url, councils=("coventry",))
    plugins = load_plugins(settings)
    await snapshot_demo(plugins.registry, "coventry")
    async with AsyncTestClient(app=create_app(settings, plugins), base_url="http://testserver.local") as client:
        yield client


def _button_shown(html: str) -> bool:
    return "Issue this month's cycle" in unescape(html)


@pytest.mark.req("CORE-9")
async def test_a_council_without_cycles_is_not_offered_one_and_a_request_for_one_is_refused_with_a_reason(coventry_client):
    client = coventry_client
    # The senior leader administers Coventry's QA (roles.yaml: administer).
    await sign_in(client, "coventry.senior_leader")
    page = await client.get("/cycles")
    assert page.status_code == 200
    assert not _button_shown(page.text)
    assert 'action="/cycles"' not in page.text
    assert NO_CYCLES in unescape(page.text)

    # The page's POST (a stale page, a crafted request): a 4xx that says why.
    refused = await client.post("/cycles", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert 400 <= refused.status_code < 500, refused.status_code
    assert NO_CYCLES in unescape(refused.text)
    assert "Quote this reference" not in refused.text

    # The API call: a 4xx with the reason as its detail.
    headers = await api_token(client, "coventry.senior_leader")
    api = await client.post("/api/v1/cycles", headers=headers)
    assert 400 <= api.status_code < 500, (api.status_code, api.text)
    assert api.json()["detail"].startswith(NO_CYCLES)

    # Nothing was issued.
    org = await Organisation.select(Organisation.id).where(Organisation.council == "coventry").first()
    assert not await Cycle.exists().where(Cycle.organisation == org["id"])


@pytest.mark.req("CORE-9")
@pytest.mark.req("HAR-2")
async def test_haringey_qa_still_issues_the_month_from_the_page_and_the_api(client, clock):
    # The demo issued December 2026's cycle. Monday 4 January 2027 is the first
    # working day of January (New Year's Day a Friday, then the weekend).
    clock.move_to("2027-01-04T09:30:00+00:00")
    await sign_in(client, "haringey.qa_officer")
    page = await client.get("/cycles")
    assert _button_shown(page.text)
    issued = await client.post("/cycles", data={"_csrf_token": csrf_from(page.text)})
    assert issued.status_code == 200
    assert "January 2027 cycle issued" in issued.text
    assert "audits allocated" in issued.text

    # The API says the same month is already issued: nothing twice.
    headers = await api_token(client, "haringey.qa_officer")
    again = await client.post("/api/v1/cycles", headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["month"] == "January 2027" and again.json()["created"] is False

    # A team manager may not issue cycles through the API either.
    manager = await api_token(client, "haringey.team_manager.1")
    assert (await client.post("/api/v1/cycles", headers=manager)).status_code == 403
