"""The programme drives the work (issue 13; PLAT-1, PLAT-2, C17-1): each
schedule occurrence is issued on its period's first working day, exactly
once, as work a person sees on My programme and does there, by a completion
record or by an audit on the schedule's form."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Allocation, Trail, Work
from core.plugins import load_plugins
from core.services import sweep
from core.services.context import Context
from core.services import work as work_service
from helpers import acting, api_token, csrf_from, finalise, person, sign_in
from support.snapshots import snapshot_demo

UTC = dt.timezone.utc
# Coventry's year is the calendar year (C17: JAN ... DEC). Thursday 1 April
# 2027 is the first working day of April and of the year's second quarter,
# the week after Good Friday (26 March) and Easter Monday (29 March).
APRIL_OPENS = dt.datetime(2027, 4, 1, 8, 0, tzinfo=UTC)


def _words(html: str) -> str:
    # Visually hidden words read on with the link they belong to.
    html = re.sub(r"</?(span|a|strong)\b[^>]*>", "", html)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _to_do(page: str) -> list[tuple[str, ...]]:
    """My programme's to-do table: (due, activity, how many, status, what to do)."""
    table = page.split("My work, soonest due first", 1)[1].split("</table>", 1)[0]
    return [
        tuple(_words(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S))
        for row in re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', table.split("<tbody", 1)[1], re.S)
    ]


@pytest.fixture(scope="module")
def coventry(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("coventry"), "sqlite:///unused", councils=("coventry",)))


@pytest_asyncio.fixture(loop_scope="session")
async def coventry_client(coventry, database_url, tmp_path, clock):
    from web.app import create_app

    clock.move_to(APRIL_OPENS - dt.timedelta(days=10))
    await snapshot_demo(coventry.registry, "coventry")
    settings = make_settings(tmp_path, database_url, councils=("coventry",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


@pytest.mark.req("PLAT-1")
@pytest.mark.req("C17-1")
async def test_a_month_of_coventrys_programme_is_issued_once_as_work_for_the_right_people(coventry, coventry_client, clock):
    registry = coventry.registry
    # Before the quarter opens: the team manager's quarterly case file audit
    # is not yet issued.
    clock.move_to(APRIL_OPENS - dt.timedelta(days=1))
    await sweep.sweep(Context(registry=registry))
    tm = await person("coventry.hp_team_manager.1")
    before = await Work.select(Work.activity, Work.due_on).where(Work.owner == tm["id"])
    assert ("Case File", dt.date(2027, 6, 30)) not in {(w["activity"], w["due_on"]) for w in before}

    clock.move_to(APRIL_OPENS)
    first = await sweep.sweep(Context(registry=registry))
    again = await sweep.sweep(Context(registry=registry))
    assert first.work_issued > 0 and again.work_issued == 0  # exactly once

    # C17 L17: "Each manager to audit 1 case as per schedule" (read as
    # quarterly): due on the quarter's last working day, Wednesday 30 June.
    client = coventry_client
    await sign_in(client, "coventry.hp_team_manager.1")
    page = await client.get("/programme/mine")
    assert page.status_code == 200
    rows = _to_do(page.text)
    assert ("30 June 2027", "Case File", "1", "To do", "Record as done: Case File due 30 June 2027") in rows
    # Every team manager of the service owes one, each their own.
    owners = await Work.select(Work.owner.username.as_alias("who")).where(
        (Work.schedule_key == "coventry:hp_tm_case_file") & (Work.due_on == dt.date(2027, 6, 30))
    )
    assert sorted(o["who"] for o in owners) == sorted(
        p["username"] for p in await _people("hp_team_manager")
    )
    # A practitioner owes nothing from the programme.
    await sign_in(client, "coventry.practitioner.11")
    assert "You have nothing to do from the programme at the moment." in (await client.get("/programme/mine")).text


async def _people(role: str) -> list[dict]:
    from core.db.tables import Person

    return await Person.select(Person.username).where(Person.role == role)


@pytest.mark.req("PLAT-2")
async def test_work_without_a_form_is_recorded_as_done_with_every_error_shown_at_once(coventry, coventry_client, clock):
    clock.move_to(APRIL_OPENS)
    await sweep.sweep(Context(registry=coventry.registry))
    client = coventry_client
    await sign_in(client, "coventry.hp_team_manager.1")
    tm = await person("coventry.hp_team_manager.1")
    work_id = (await Work.select(Work.id).where(
        (Work.owner == tm["id"]) & (Work.schedule_key == "coventry:hp_tm_case_file") & (Work.due_on == dt.date(2027, 6, 30))
    ).first())["id"]

    clock.move_to(dt.datetime(2027, 5, 14, 11, 0, tzinfo=UTC))
    await sign_in(client, "coventry.hp_team_manager.1")  # weeks later: a new session
    form = await client.get(f"/programme/work/{work_id}")
    assert form.status_code == 200
    text = _words(form.text)
    assert "Period 1 April 2027 to 30 June 2027" in text and "Due Wednesday 30 June 2027" in text
    assert "A completion record" in text

    # Nothing filled in, then a date in the future: each field says what is wrong, and nothing typed is lost.
    empty = await client.post(f"/programme/work/{work_id}/complete", data={"_csrf_token": csrf_from(form.text)})
    assert empty.status_code == 422
    assert "Enter the date it was done" in empty.text and "Enter a summary of what was done" in empty.text
    assert "Enter the outcome" in empty.text
    future = await client.post(f"/programme/work/{work_id}/complete", data={
        "_csrf_token": csrf_from(form.text), "done_on-day": "15", "done_on-month": "5", "done_on-year": "2027",
        "summary": "Audited case COV-1004 with the practitioner", "outcome": "",
    })
    assert future.status_code == 422
    assert "The date it was done must be today or in the past" in future.text and "Enter the outcome" in future.text
    assert "Audited case COV-1004 with the practitioner" in future.text
    not_a_date = await client.post(f"/programme/work/{work_id}/complete", data={
        "_csrf_token": csrf_from(form.text), "done_on-day": "31", "done_on-month": "4", "done_on-year": "2027",
        "summary": "x", "outcome": "y",
    })
    assert not_a_date.status_code == 422 and "The date must be a real date" in not_a_date.text

    done = await client.post(f"/programme/work/{work_id}/complete", data={
        "_csrf_token": csrf_from(form.text), "done_on-day": "13", "done_on-month": "5", "done_on-year": "2027",
        "summary": "Audited case COV-1004 with the practitioner", "outcome": "Plan needs a review date; agreed with the worker",
    }, follow_redirects=False)
    assert done.status_code == 303
    shown = _words((await client.get(f"/programme/work/{work_id}")).text)
    assert "Status Done" in shown and "Done on 13 May 2027" in shown
    assert "Plan needs a review date; agreed with the worker" in shown
    assert "Record as done" not in shown  # no button whose action cannot succeed
    row = next(r for r in _to_do((await client.get("/programme/mine")).text) if r[:2] == ("30 June 2027", "Case File"))
    assert row[3] == "Done"
    trail = await Trail.select(Trail.action).where((Trail.entity == "work") & (Trail.entity_id == work_id)).order_by(Trail.id)
    assert [t["action"] for t in trail] == ["issued", "completed"]

    # Done once: a second record is refused with the reason.
    token = await api_token(client, "coventry.hp_team_manager.1")
    again = await client.post(f"/api/v1/work/{work_id}/completion", headers=token,
                              json={"done_on": "2027-05-14", "summary": "again", "outcome": "again"})
    assert again.status_code == 422 and "already recorded as done on 13 May 2027" in again.text


@pytest.mark.req("PLAT-1")
async def test_work_not_done_by_its_due_date_shows_overdue_and_the_api_agrees(coventry, coventry_client, clock):
    clock.move_to(APRIL_OPENS)
    await sweep.sweep(Context(registry=coventry.registry))
    client = coventry_client
    token = await api_token(client, "coventry.hp_team_manager.1")
    # Thursday 1 July 2027: the quarter's audit, due Wednesday 30 June, was not done.
    clock.move_to(dt.datetime(2027, 7, 1, 9, 0, tzinfo=UTC))
    listing = await client.get("/api/v1/work", headers=token)
    assert listing.status_code == 200
    case_file = next(w for w in listing.json() if w["activity"] == "Case File" and w["due_on"] == "2027-06-30")
    assert (case_file["status"], case_file["status_label"], case_file["form"]) == ("overdue", "Overdue", "")
    # Someone else's work is not there to read.
    other = await api_token(client, "coventry.hp_team_manager.2")
    assert (await client.get(f"/api/v1/work/{case_file['id']}", headers=other)).status_code == 404
    # Bad input to the API: a reason, never a 500.
    bad = await client.post(f"/api/v1/work/{case_file['id']}/completion", headers=token,
                            json={"done_on": "2027-07-02", "summary": " ", "outcome": "found"})
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"done_on", "summary"}
    wrong_kind = await client.post(f"/api/v1/work/{case_file['id']}/audits", headers=token, json={"case": "COV-1001"})
    assert wrong_kind.status_code == 422 and "has no form" in wrong_kind.text


# --- Bedford: work with a form, one per supervisee (BED s.3) -------------------------------------

@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("bedford"), "sqlite:///unused", councils=("bedford",)))


@pytest_asyncio.fixture(loop_scope="session")
async def bedford_client(bedford, database_url, tmp_path):
    from web.app import create_app

    await snapshot_demo(bedford.registry, "bedford")
    settings = make_settings(tmp_path, database_url, councils=("bedford",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


@pytest.mark.req("PLAT-1")
@pytest.mark.clock(dt.datetime(2027, 3, 1, 9, 0, tzinfo=UTC))  # Monday 1 March 2027, the month's first working day
async def test_a_compliance_audit_for_each_supervisee_is_started_from_the_work_on_a_case_they_hold(bedford, bedford_client):
    await sweep.sweep(Context(registry=bedford.registry))
    client = bedford_client
    await sign_in(client, "bedford.team_manager.1")
    tm = await person("bedford.team_manager.1")
    supervisees = await _supervisees(tm["id"])
    work = await Work.select(Work.id, Work.supervisee, Work.needed, Work.due_on).where(
        (Work.owner == tm["id"]) & (Work.schedule_key == "bedford:tm_compliance_audit")
    ).order_by(Work.supervisee)
    # BED s.3: two compliance audits a month for each person supervised, due
    # on the month's last working day, Wednesday 31 March 2027.
    assert [(w["supervisee"], w["needed"], w["due_on"]) for w in work] == [
        (s["id"], 2, dt.date(2027, 3, 31)) for s in supervisees
    ]
    from core.db.tables import ChildCase

    # The advanced practitioner (BED s.4) is supervised too, but holds no cases
    # in the demo: no Start button, and the page says why.
    holders = {c["allocated_worker"] for c in await ChildCase.select(ChildCase.allocated_worker)}
    idle = next(w for w in work if w["supervisee"] not in holders)
    idle_page = _words((await client.get(f"/programme/work/{idle['id']}")).text)
    assert "Start audit" not in idle_page and "holds no open cases you may audit" in idle_page

    item = next(w for w in work if w["supervisee"] in holders)
    worker = next(s for s in supervisees if s["id"] == item["supervisee"])
    page = await client.get(f"/programme/work/{item['id']}")
    assert page.status_code == 200 and f"A case held by {worker['display_name']}" in _words(page.text)

    # Their cases not already being audited: the month's draw (issued by the
    # sweep above) may have taken some, which ones depending on its seed.
    busy = {r["child_case"] for r in await Allocation.select(Allocation.child_case).where(
        Allocation.finalised_at.is_null() & Allocation.child_case.is_not_null())}
    theirs = [c for c in await ChildCase.select(ChildCase.id, ChildCase.external_id).where(
        ChildCase.allocated_worker == worker["id"]).order_by(ChildCase.id) if c["id"] not in busy]
    assert len(theirs) >= 2
    someone_elses = await ChildCase.select(ChildCase.external_id).where(ChildCase.allocated_worker != worker["id"]).order_by(ChildCase.id).first()
    refused = await client.post(f"/programme/work/{item['id']}/start", data={"_csrf_token": csrf_from(page.text), "case": someone_elses["external_id"]})
    assert refused.status_code == 422 and f"Choose a case held by {worker['display_name']}" in refused.text
    assert someone_elses["external_id"] in refused.text  # what was typed is kept
    started = await client.post(f"/programme/work/{item['id']}/start", data={"_csrf_token": csrf_from(page.text), "case": theirs[0]["external_id"]}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"].startswith("/audits/")
    allocation_id = int(started.headers["location"].rsplit("/", 1)[1])
    audit = await Allocation.select(Allocation.work, Allocation.form_key, Allocation.due_at).where(Allocation.id == allocation_id).first()
    assert (audit["work"], audit["form_key"]) == (item["id"], "bedford:compliance_audit")
    shown = _words((await client.get(f"/programme/work/{item['id']}")).text)
    assert "Status Started" in shown and f"Case {theirs[0]['external_id']}: in progress" in shown
    suggested = shown.split("Cases you could choose", 1)[1].split("Start audit", 1)[0].split()
    assert suggested == [c["external_id"] for c in theirs[1:]]  # not the one already being audited
    # One more may be started (two a month); the case already being audited may not be chosen again.
    again = await client.post(f"/programme/work/{item['id']}/start", data={"_csrf_token": csrf_from(page.text), "case": theirs[0]["external_id"]})
    assert again.status_code == 422 and "is already being audited" in again.text


async def _supervisees(manager_id: int) -> list[dict]:
    from core.db.tables import Person

    return await Person.select(Person.id, Person.display_name).where(
        (Person.line_manager == manager_id) & (Person.active == True)  # noqa: E712
    ).order_by(Person.id)


# --- Haringey: the month's case audits are the month's work (HAR 2) ------------------------------

@pytest.mark.req("PLAT-1")
@pytest.mark.req("HAR-1")
async def test_the_months_case_audits_count_towards_each_auditors_work_and_finish_it(registry, demo, client, clock):
    # The demo issued December 2026's cycle and work (the suite's instant is 31 December).
    chair = await person("haringey.cp_chair")
    work = await Work.select().where((Work.owner == chair["id"]) & (Work.schedule_key == "haringey:cp_chair_case_audit")).first()
    assert work is not None and work["due_on"] == dt.date(2026, 12, 31)
    audit = await Allocation.select(Allocation.id, Allocation.work).where(Allocation.auditor == chair["id"]).order_by(Allocation.id).first()
    assert audit["work"] == work["id"]
    await sign_in(client, "haringey.cp_chair")
    row = next(r for r in _to_do((await client.get("/programme/mine")).text) if r[1] == "Case audit")
    assert row[3] == "Started"
    # HAR 2.3: the audit looks back over the preceding six months.
    shown = _words((await client.get(f"/programme/work/{work['id']}")).text)
    assert "Looks back over 1 July 2026 to 31 December 2026" in shown
    assert f"Case {(await _case_of(audit['id']))}: in progress" in shown
    await finalise(registry, "haringey.cp_chair", audit["id"], "good")
    row = next(r for r in _to_do((await client.get("/programme/mine")).text) if r[1] == "Case audit")
    assert row[3] == "Done"

    # Monday 4 January 2027: done last month, it leaves the to-do list, and
    # My programme no longer reads it (issue 19: not a person's years of
    # finished work), while it is still the person's work.
    clock.move_to(dt.datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    await sign_in(client, "haringey.cp_chair")
    january = await client.get("/programme/mine")
    assert january.status_code == 200 and "My programme" in january.text
    rows = _to_do(january.text) if "My work, soonest due first" in january.text else []  # no table when nothing is to do
    assert not [r for r in rows if r[:2] == ("31 December 2026", "Case audit")]
    ctx = await acting(registry, "haringey.cp_chair")
    ctx.now = dt.datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    assert work["id"] in [w.id for w in await work_service.list_work(ctx, owner=chair["id"])]
    assert work["id"] not in [w.id for w in await work_service.list_work(ctx, owner=chair["id"], finished_before=dt.date(2027, 1, 1))]
    # On New Year's Eve (London), finished that day, it is still read.
    ctx.now = dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert work["id"] in [w.id for w in await work_service.list_work(ctx, owner=chair["id"], finished_before=dt.date(2026, 12, 1))]


async def _case_of(allocation_id: int) -> str:
    row = await Allocation.select(Allocation.child_case.external_id.as_alias("case")).where(Allocation.id == allocation_id).first()
    return row["case"]


async def test_the_api_lists_work_a_page_at_a_time_each_once_in_order(coventry, coventry_client, clock):
    """Issue 19: ``GET /api/v1/work`` answers a page (``?limit=`` 1 to 100, 50
    unless asked), soonest due first, the next page's address in the ``Link``
    header keeping the question asked; a cursor it cannot use is refused
    with a reason (400)."""
    clock.move_to(APRIL_OPENS)
    await sweep.sweep(Context(registry=coventry.registry))
    client = coventry_client
    lead = await api_token(client, "coventry.senior_leader")  # sees everyone's work
    whole = await client.get("/api/v1/work", params={"everyone": "true", "limit": "100"}, headers=lead)
    assert whole.status_code == 200, whole.text
    everything = [(w["due_on"], w["id"]) for w in whole.json()]
    assert 5 <= len(everything) < 100 and everything == sorted(everything)  # one page of 100 holds it all

    seen, url = [], "/api/v1/work?everyone=true&limit=2"
    while url:
        answer = await client.get(url, headers=lead)
        assert answer.status_code == 200, answer.text
        assert 1 <= len(answer.json()) <= 2
        seen += [(w["due_on"], w["id"]) for w in answer.json()]
        link = answer.headers.get("link")
        url = re.fullmatch(r'<(/api/v1/work\?everyone=true&after=\d+&limit=2)>; rel="next"', link).group(1) if link else None
        assert len(seen) <= len(everything)
    assert seen == everything

    # A date range asked is kept on the next page.
    first = await client.get("/api/v1/work", params={"everyone": "true", "limit": "1", "due_from": "2027-04-01"}, headers=lead)
    assert "due_from=2027-04-01" in first.headers["link"]

    for query in ("after=soon", "after=0", "after=99999999", "limit=0", "limit=101"):
        answer = await client.get(f"/api/v1/work?{query}", headers=lead)
        assert answer.status_code == 400, (query, answer.text)
        assert answer.json()["detail"]
