"""A partnership's report for one of its agencies (CORE-15, CSCP-1): the
agency's own returns, by the agency of who made them. Audits are driven
through the real services, staff moved by the real staff import, on both
databases."""

from __future__ import annotations

import csv
import io

import pytest

from core.db.tables import Agency, Allocation
from core.services import imports, qa_overview, reports
from core.services.errors import NotFound
from helpers import acting, person, sign_in
from test_reports_lenses import partnership_quarter

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def move_to_agency(registry, username: str, agency: str) -> None:
    """The partnership's QA manager moves someone into an agency by the staff import."""
    admin = await acting(registry, "partnership.qa_manager")
    who = await person(username)
    await imports.import_staff(
        admin, f"username,display_name,role,agency\n{username},{who['display_name']},{who['role']},{agency}\n".encode()
    )


async def returns_of(username: str, month: reports.Period) -> tuple[int, int]:
    """(allocated, completed) of one auditor's audits due in the month."""
    who = await person(username)
    due = (Allocation.auditor == who["id"]) & (Allocation.due_at >= month.start_at) & (Allocation.due_at < month.end_at)
    return await Allocation.count().where(due), await Allocation.count().where(due & Allocation.finalised_at.is_not_null())


@pytest.mark.req("CORE-15")
@pytest.mark.req("CSCP-1")
async def test_a_partnership_report_for_one_agency(partnership, partnership_demo):
    month = await partnership_quarter(partnership)
    await move_to_agency(partnership, "partnership.agency_lead", "police")
    qa = await acting(partnership, "partnership.qa_manager")

    agencies = {r["key"]: r for r in await Agency.select().where(Agency.organisation == qa.actor.organisation_id)}
    defined = {a.key: a.label for a in partnership.council("partnership").agencies}
    assert set(agencies) == set(defined)
    # Every agency the partnership defines can be chosen, by its name.
    choices = {c.value: c.text for c in await reports.scope_choices(qa)}
    for key, label in defined.items():
        assert choices[f"agency:{agencies[key]['id']}"] == f"Agency: {label}"

    police = await reports.parse_scope(qa, f"agency:{agencies['police']['id']}")
    assert police.name == "Police"
    whole = await reports.report(qa, month, reports.Scope("org"))
    by_police = await reports.report(qa, month, police)
    # The police's figures are the returns of the one person now in the police:
    # the two scorecard returns (and anything else they hold that month).
    allocated, completed = await returns_of("partnership.agency_lead", month)
    assert allocated >= 2
    assert (by_police.counts.allocated, by_police.counts.completed) == (allocated, completed)
    # Everyone else is still in the local authority: the agencies add up to
    # the partnership, figure by figure.
    by_agency = [await reports.report(qa, month, await reports.parse_scope(qa, f"agency:{a['id']}")) for a in agencies.values()]
    for figure in ("allocated", "completed", "on_time", "overdue"):
        assert sum(getattr(r.counts, figure) for r in by_agency) == getattr(whole.counts, figure), figure
    assert sum(r.counts.allocated for r in by_agency if r.scope.id not in (agencies["police"]["id"], agencies["local_authority"]["id"])) == 0

    # Cut by lens within the agency (CSCP-10): the police made the scorecard
    # returns (independent lens), none of the multi-agency audits (professional).
    lenses = {r.key: r for r in (await qa_overview.overview(qa, month, police)).by_lens}
    assert (lenses["independent"].allocated, lenses["independent"].completed) == (2, 2)
    assert lenses["professional"].allocated == 0

    # An agency number that is not the partnership's is not found.
    with pytest.raises(NotFound):
        await reports.parse_scope(qa, f"agency:{max(a['id'] for a in agencies.values()) + 1000}")


@pytest.mark.req("CORE-15")
@pytest.mark.req("CSCP-1")
async def test_the_agency_report_page_and_its_csv(partnership, partnership_client):
    client = partnership_client
    month = await partnership_quarter(partnership)
    await move_to_agency(partnership, "partnership.agency_lead", "police")
    police = await Agency.select().where(Agency.key == "police").first()
    allocated, completed = await returns_of("partnership.agency_lead", month)

    await sign_in(client, "partnership.qa_manager")
    query = f"period=month&date={month.key}&scope=agency:{police['id']}"
    page = await client.get(f"/reports?{query}")
    assert page.status_code == 200
    assert f"{month.label}: Police" in page.text
    assert f'<option value="agency:{police["id"]}" selected' in page.text
    exported = await client.get(f"/reports/export.csv?{query}&table=completion")
    assert exported.status_code == 200, exported.text
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[1:3] == [["Allocated", str(allocated)], ["Completed", str(completed)]]
