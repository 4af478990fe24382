"""Every role's home says what needs them now (issue 17 item 1), and the
leaders the frameworks send reports to open them (item 2).

One council's demo per test, at the suite's instant (Thursday 31 December
2026, 09:30: the month's last working day; January's draw is on Monday 4
January, New Year's Day and the weekend between). What a home should show is
made through the services first: a submitted audit for the QA queue, a final
audit and a practitioner's dispute of it.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Allocation, Person
from core.plugins import load_plugins
from core.services import audits, disputes
from core.services.context import Context
from helpers import acting, allocation_of, filled_answers, finalise, sign_in
from support.snapshots import snapshot_demo


def _text(html: str) -> str:
    main = html.split('id="main-content"', 1)[-1].split("<footer", 1)[0]
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", main)))


def _card(html: str, key: str) -> str:
    """The text of the home's card ``key`` ("" when the card is not shown)."""
    main = html.split("</main>", 1)[0]
    for chunk in main.split('<div class="govuk-summary-card qaf-home-card" id="')[1:]:
        if chunk.startswith(f'{key}"'):
            return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", chunk.split(">", 1)[1]))).strip()
    return ""


def _nav(html: str) -> list[str]:
    return re.findall(r'govuk-service-navigation__link" href="([^"]+)"', html)


async def _home(client, username: str) -> str:
    client.cookies.clear()
    await sign_in(client, username)
    page = await client.get("/")
    assert page.status_code == 200, page.text[:300]
    return page.text


async def _opens(client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code)


async def _submit(registry, allocation_id: int, auditor: str) -> None:
    ctx = await acting(registry, auditor)
    view = await audits.audit_view(ctx, allocation_id)
    revision = await audits.save_answers(ctx, allocation_id, view.revision, filled_answers(view, "good"))
    await audits.submit(ctx, allocation_id, revision)


def _one_council(tmp_path_factory, council: str):
    return load_plugins(make_settings(tmp_path_factory.mktemp(council), "sqlite:///unused", councils=(council,)))


async def _client_for(council: str, plugins, database_url, tmp_path):
    from web.app import create_app

    await snapshot_demo(plugins.registry, council)
    return AsyncTestClient(app=create_app(make_settings(tmp_path, database_url, councils=(council,)), plugins),
                           base_url="http://testserver.local")


# SQLite only: what these pages say does not depend on the engine, and the
# suite's time is short (their [postgres] variants pass, run by hand; the new
# SQL, the reader's line, is the recursive query core.services.delivery runs
# on both engines).
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    return _one_council(tmp_path_factory, "bedford")


@pytest.fixture(scope="module")
def coventry(tmp_path_factory):
    return _one_council(tmp_path_factory, "coventry")


@pytest_asyncio.fixture(loop_scope="session")
async def bedford_client(bedford, database_url, tmp_path):
    async with await _client_for("bedford", bedford, database_url, tmp_path) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def coventry_client(coventry, database_url, tmp_path):
    async with await _client_for("coventry", coventry, database_url, tmp_path) as client:
        yield client


@pytest.mark.req("HAR-16")
async def test_haringey_homes_show_each_roles_next_step_and_its_leaders_read_the_reports(registry, client):
    # The chair's audit is final and its practitioner disputes it (HAR 2.11);
    # the IRO's is submitted and waits for QA (HAR 2.6).
    chair_audit = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", chair_audit["id"], "requires_improvement")
    row = await audits.load_row(chair_audit["id"])
    people = await audits.relations_of(Context(registry=registry), row)
    practitioner = (await Person.select(Person.username).where(Person.id == people["practitioner"]).first())["username"]
    await disputes.raise_dispute(await acting(registry, practitioner), chair_audit["id"], "safeguarding_corporate_parenting_dct",
                                 {"overall": {"proposed": "good", "rationale": "The plan was reviewed on time."}})
    await _submit(registry, (await allocation_of("haringey.iro"))["id"], "haringey.iro")
    case = row["case_external_id"]

    # The QA officer: the queue, how many and where.
    home = await _home(client, "haringey.qa_officer")
    assert "1 audit is waiting for quality assurance" in _card(home, "qa")
    assert 'href="/qa"' in home
    await _opens(client, "/qa")

    # The practitioner: their open dispute, at its stage, linked.
    home = await _home(client, practitioner)
    disputes_card = _card(home, "disputes")
    assert f"Dispute of the audit of case {case}" in disputes_card and "Your next step" in disputes_card
    link = re.search(r'href="(/disputes/\d+)"', home).group(1)
    await _opens(client, link)
    # Nothing a practitioner can never have: no QA queue, no reports, no line.
    assert not _card(home, "qa") and not _card(home, "reports") and not _card(home, "line")

    # The chair, their audit done: when the next ones come (HAR 2: the first working day).
    home = await _home(client, "haringey.cp_chair")
    assert "Any audits drawn for you for January will appear here on Monday 4 January." in _card(home, "audits")

    # The service manager: their line's delivery this month, and its page.
    home = await _home(client, "haringey.service_manager")
    line = _card(home, "line")
    assert line.startswith("My line this month") and "Due in December 2026" in line
    await _opens(client, "/programme/delivery")

    # HAR 1.9: the Director, the assistant director, heads of service and
    # service managers read the reports (403 before issue 17).
    for leader in ("haringey.director", "haringey.assistant_director", "haringey.head_of_service", "haringey.service_manager"):
        home = await _home(client, leader)
        figures = _card(home, "reports")
        assert "Headline figures" in figures and "December 2026" in figures and "Audits allocated 7" in figures, (leader, figures)
        assert "/reports" in _nav(home)
        await _opens(client, "/reports")
        await _opens(client, "/reports/overview")
    # A practitioner still reads none.
    client.cookies.clear()
    await sign_in(client, practitioner)
    assert (await client.get("/reports")).status_code == 403

    # A manager reads what their line covers, no more: the third team's
    # manager now reports elsewhere (as an import of a new structure would say).
    third = await Person.select(Person.team).where(Person.username == "haringey.team_manager.3").first()
    elsewhere = await Person.select(Person.id).where(Person.username == "haringey.head_of_qa").first()
    await Person.update({Person.line_manager: elsewhere["id"]}).where(Person.username == "haringey.team_manager.3")
    home = await _home(client, "haringey.service_manager")
    assert "December 2026: Assessment and Safeguarding." in _card(home, "reports")
    report = await client.get("/reports?scope=org")
    assert report.status_code == 200 and "Whole council" not in _text(report.text)
    assert "Assessment and Safeguarding" in _text(report.text)
    assert (await client.get(f"/reports?scope=team:{third['team']}")).status_code == 404
    assert (await client.get(f"/reports/overview?scope=team:{third['team']}")).status_code == 404


@pytest.mark.req("BED-6")
async def test_bedford_homes_show_the_qa_queue_the_programme_and_dmts_reports(bedford, bedford_client):
    client = bedford_client
    # A case file audit "completed" (BED s.3) waits for the senior manager's QA.
    org_people = Person.select(Person.id).where(Person.username == "bedford.team_manager.1")
    allocation = await Allocation.select().where(Allocation.auditor.is_in(org_people)).first()
    await _submit(bedford.registry, allocation["id"], "bedford.team_manager.1")

    for qa in ("bedford.sqa_officer", "bedford.head_of_service"):
        home = await _home(client, qa)
        assert "1 audit is waiting for quality assurance" in _card(home, "qa"), qa
        await _opens(client, "/qa")

    # The team manager: their programme's work this month (BED s.3-4), linked.
    home = await _home(client, "bedford.team_manager.1")
    work = _card(home, "work")
    assert "Audit of an Advanced Practitioner" in work and "Due Thursday 31 December 2026" in work
    await _opens(client, re.search(r'href="(/programme/work/\d+)"', home).group(1))

    # DMT (BED s.3: "reporting to DMT"): headline figures and the reports.
    home = await _home(client, "bedford.dmt")
    assert "Audits allocated" in _card(home, "reports")
    await _opens(client, "/reports")
    await _opens(client, "/reports/overview")
    # A social worker: a clear empty state, and no section they can never have.
    home = await _home(client, "bedford.social_worker.11")
    assert "Actions set for you after an audit" in _card(home, "actions")
    assert not _card(home, "qa") and not _card(home, "reports") and not _card(home, "disputes")


async def test_a_head_of_service_is_told_more_than_a_bound_not_a_count_of_the_whole_queue(bedford, bedford_client, monkeypatch):
    """Issue 19 item 4: a reviewer who sees part of the QA queue (BED s.3: the
    head of service reviews "the audits completed within the service") has it
    counted by reading it, audit by audit; past a bound the home and the queue
    say "more than" instead of reading on. The S&QA team's whole queue is
    counted from the index, exactly."""
    from web import home as home_page

    client = bedford_client
    managers = Person.select(Person.id).where(Person.username.like("bedford.team_manager.%"))
    rows = await Allocation.select(Allocation.id, Allocation.auditor.username.as_alias("username")).where(
        Allocation.auditor.is_in(managers)).order_by(Allocation.id).limit(3)
    assert len(rows) == 3
    for row in rows:
        await _submit(bedford.registry, row["id"], row["username"])
    monkeypatch.setattr(home_page, "SHOWN", 1)
    monkeypatch.setattr(audits, "QA_PAGE", 1)
    monkeypatch.setattr(audits, "QA_COUNTED_UP_TO", 2)

    home = await _home(client, "bedford.sqa_officer")
    assert "3 audits are waiting for quality assurance, oldest first" in _card(home, "qa")
    assert "3 audits are waiting; these are the 1 oldest." in (await client.get("/qa")).text

    home = await _home(client, "bedford.head_of_service")
    assert "More than 2 audits are waiting for quality assurance, oldest first" in _card(home, "qa")
    assert "More than 2 audits are waiting; these are the 1 oldest." in (await client.get("/qa")).text
    monkeypatch.setattr(audits, "QA_COUNTED_UP_TO", 3)
    assert "3 audits are waiting; these are the 1 oldest." in (await client.get("/qa")).text


async def test_coventry_homes_show_the_programmes_work_the_line_and_the_reports(coventry_client):
    client = coventry_client
    home = await _home(client, "coventry.hp_service_manager")
    assert "Case File Audit" in _card(home, "work")
    assert "Due in December 2026" in _card(home, "line")
    await _opens(client, "/programme/mine")
    await _opens(client, "/programme/delivery")

    home = await _home(client, "coventry.senior_leader")
    assert "Audits allocated" in _card(home, "reports") and "/reports" in _nav(home)
    await _opens(client, "/reports")

    # The cards are a partial: an htmx request gets them alone, the same as the page's.
    partial = await client.get("/", headers={"hx-request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text and 'id="line"' in partial.text

    home = await _home(client, "coventry.practitioner.11")
    assert "Actions set for you after an audit" in _card(home, "actions")
    assert not _card(home, "reports") and "/reports" not in _nav(home)


@pytest.mark.req("CSCP-6")
async def test_the_partnership_board_and_ap_subgroup_read_the_reports_and_the_qa_manager_sees_the_work(partnership_client):
    client = partnership_client
    # CSCP 5.2: the final report "is presented at the Partnership Board
    # meeting", after the A&P subgroup's consideration.
    for reader in ("partnership.partnership_board", "partnership.ap_member", "partnership.executive_group"):
        home = await _home(client, reader)
        assert "Headline figures" in _card(home, "reports"), reader
        assert "/reports" in _nav(home)
        await _opens(client, "/reports")
        await _opens(client, "/reports/overview")

    home = await _home(client, "partnership.qa_manager")
    assert "Performance Scorecard" in _card(home, "work")
    assert "Audits submitted for quality assurance will appear here" in _card(home, "qa")

    home = await _home(client, "partnership.lado")
    assert "will appear here on Thursday 1 April" in _card(home, "work")
