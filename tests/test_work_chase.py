"""Work is reminded before it falls due and chased once it is overdue, by the
real sweep (issue 13; PLAT-1), on SQLite and PostgreSQL.

``core.services.work.chase`` runs in every sweep: open work due within the
council's reminder window (5 working days unless the council says otherwise)
earns its owner one "Due ..." notification; work whose due date has passed
undone earns its owner and their line manager one "Overdue: ..." notification
and a "missed" line in its trail. Work whose audits are under way is left to
the audits' own deadlines; work recorded done is never chased. The sweep runs
at named instants (every minute in a server, so each is run more than once),
and what it sent is read where a person reads it: /notifications.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.calendar import london_date
from core.db.tables import Notification, Person, Trail, Work
from core.plugins import load_plugins
from core.services import sweep, work
from core.services.context import Context
from helpers import acting, person, sign_in
from support.snapshots import snapshot_demo

UTC = dt.timezone.utc


def london(*parts: int) -> dt.datetime:
    """An instant given as London wall-clock time (BST in these months: UTC+1)."""
    return dt.datetime(*parts, tzinfo=dt.timezone(dt.timedelta(hours=1))).astimezone(UTC)


@pytest.fixture(scope="module")
def coventry(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("coventry"), "sqlite:///unused", councils=("coventry",)))


@pytest_asyncio.fixture(loop_scope="session")
async def coventry_client(coventry, database_url, tmp_path):
    from web.app import create_app

    settings = make_settings(tmp_path, database_url, councils=("coventry",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def haringey_client(settings, plugins, database_url):
    from web.app import create_app

    async with AsyncTestClient(app=create_app(settings, plugins), base_url="http://testserver.local") as client:
        yield client


async def run_sweep(registry, when: dt.datetime) -> sweep.SweepReport:
    return await sweep.sweep(Context(registry=registry, now=when))


async def told(username: str) -> list[str]:
    """The subjects of every notification ``username`` was sent, oldest first."""
    someone = await person(username)
    return [n["subject"] for n in await Notification.select(Notification.subject).where(
        Notification.recipient == someone["id"]
    ).order_by(Notification.id)]


async def inbox(client, clock, username: str, when: dt.datetime) -> list[tuple[str, str]]:
    """What ``username`` reads on /notifications at ``when``: (subject, where its link goes), newest first."""
    clock.move_to(when)
    await sign_in(client, username)
    page = await client.get("/notifications")
    assert page.status_code == 200
    return [
        (html.unescape(" ".join(subject.split())), href)
        for href, subject in re.findall(r'<h2 class="govuk-heading-s"><a class="govuk-link" href="([^"]*)">(.*?)</a>', page.text, re.S)
    ]


async def to_do(client) -> list[tuple[str, str, str]]:
    """My programme's to-do table for whoever is signed in: (due, activity, status)."""
    page = await client.get("/programme/mine")
    assert page.status_code == 200
    body = page.text.split("My work, soonest due first", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', body.split("<tbody", 1)[1], re.S):
        cells = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        rows.append((cells[0], cells[1], cells[3]))
    return rows


async def work_of(username: str, schedule_key: str, due_on: dt.date) -> dict:
    someone = await person(username)
    found = await Work.select().where(
        (Work.owner == someone["id"]) & (Work.schedule_key == schedule_key) & (Work.due_on == due_on)
    ).first()
    assert found is not None, f"no {schedule_key} due {due_on} for {username}"
    return found


async def trail_of(work_id: int) -> list[str]:
    return [t["action"] for t in await Trail.select(Trail.action).where(
        (Trail.entity == "work") & (Trail.entity_id == work_id)
    ).order_by(Trail.id)]


async def record_done(registry, username: str, work_id: int, when: dt.datetime) -> None:
    ctx = await acting(registry, username)
    ctx.now = when
    await work.complete(ctx, work_id, done_on=london_date(when), summary="Case read with the practitioner.",
                        outcome="Plan updated; nothing further.")


# --- Coventry: the quarter's Case File, due Wednesday 30 June 2027 ---------------------------------

TM1, TM2, TM3 = (f"coventry.hp_team_manager.{n}" for n in (1, 2, 3))
SERVICE_MANAGER = "coventry.hp_service_manager"  # the team managers' line manager (roles.yaml: escalates_to)
CASE_FILE = "coventry:hp_tm_case_file"  # C17 L17, read quarterly: due the quarter's last working day
QUARTER_DUE = dt.date(2027, 6, 30)
DUE_SOON = "Due Wednesday 30 June: Case File"


@pytest.mark.req("PLAT-1")
async def test_the_quarters_case_file_is_reminded_once_then_chased_once_with_the_line_manager(coventry, coventry_client, clock):
    registry = coventry.registry
    # Thursday 1 April 2027, the first working day of the quarter (the week
    # after Easter): the demo issues the quarter's work, as the sweep would.
    await snapshot_demo(registry, "coventry", now=london(2027, 4, 1, 9, 0))
    works = {who: await work_of(who, CASE_FILE, QUARTER_DUE) for who in (TM1, TM2, TM3)}
    assert {w["starts_on"] for w in works.values()} == {dt.date(2027, 4, 1)}
    tm1 = await person(TM1)
    manager = await Person.select(Person.username).where(Person.id == tm1["line_manager"]).first()
    assert manager["username"] == SERVICE_MANAGER

    # The third team manager does it early, in May.
    await record_done(registry, TM3, works[TM3]["id"], london(2027, 5, 14, 11, 0))

    # Tuesday 22 June: 30 June is six working days away, outside the window.
    await run_sweep(registry, london(2027, 6, 22, 9, 0))
    assert DUE_SOON not in await told(TM1)

    # Wednesday 23 June: five working days before; the owners still to do it are reminded, once.
    first = await run_sweep(registry, london(2027, 6, 23, 9, 0))
    assert first.work_reminded > 0
    await run_sweep(registry, london(2027, 6, 23, 9, 1))  # the next minute's sweep
    await run_sweep(registry, london(2027, 6, 24, 9, 0))
    assert (await told(TM1)).count(DUE_SOON) == 1
    assert (await told(TM2)).count(DUE_SOON) == 1
    assert DUE_SOON not in await told(TM3)  # done in May: never reminded
    assert DUE_SOON not in await told(SERVICE_MANAGER)  # the reminder is the owner's alone

    # The second does it on Friday 25 June, before it is due.
    await record_done(registry, TM2, works[TM2]["id"], london(2027, 6, 25, 15, 0))

    # 23:30 on the due day: not yet overdue.
    await run_sweep(registry, london(2027, 6, 30, 23, 30))
    overdue = f"Overdue: Case File by {tm1['display_name']}"
    assert overdue not in await told(TM1)

    # 00:30 on Thursday 1 July in London (still 30 June in UTC): overdue. The
    # owner and their line manager are told, once; the trail says it was missed.
    late = await run_sweep(registry, london(2027, 7, 1, 0, 30))
    assert late.work_chased > 0 and overdue in await told(TM1)
    await run_sweep(registry, london(2027, 7, 1, 9, 0))
    assert (await told(TM1)).count(overdue) == 1
    assert (await told(SERVICE_MANAGER)).count(overdue) == 1
    assert await trail_of(works[TM1]["id"]) == ["issued", "missed"]
    # Recorded done before the due date: never chased.
    for done in (TM2, TM3):
        someone = await person(done)
        assert not [s for s in await told(done) if s.startswith("Overdue: Case File")]
        assert f"Overdue: Case File by {someone['display_name']}" not in await told(SERVICE_MANAGER)
        assert await trail_of(works[done]["id"]) == ["issued", "completed"]

    # What each reads on /notifications, linked to the work.
    link = f"/programme/work/{works[TM1]['id']}"
    seen = await inbox(coventry_client, clock, TM1, london(2027, 7, 1, 9, 30))
    assert [n for n in seen if "Case File" in n[0] and "Re-Audit" not in n[0]] == [(overdue, link), (DUE_SOON, link)]
    # And on My programme, the work says so.
    assert ("30 June 2027", "Case File", "Overdue") in await to_do(coventry_client)
    seen = await inbox(coventry_client, clock, SERVICE_MANAGER, london(2027, 7, 1, 9, 30))
    assert [n for n in seen if n[0].startswith("Overdue: Case File by")] == [(overdue, link)]
    seen = await inbox(coventry_client, clock, TM2, london(2027, 7, 1, 9, 30))
    assert [n[0] for n in seen if "Case File" in n[0] and "Re-Audit" not in n[0]] == [DUE_SOON]
    # Done last month: off their to-do list, nothing owed for the quarter.
    assert not [r for r in await to_do(coventry_client) if r[:2] == ("30 June 2027", "Case File")]


# --- Coventry: the re-audit due Tuesday 31 August 2027, after the bank holiday ----------------------

RE_AUDIT = "coventry:hp_tm_re_audit_case_file"  # C17 L18, L214: "Re-audit: February and August"
AUGUST_DUE = dt.date(2027, 8, 31)  # the month's last working day: Monday 30 August is the bank holiday
RE_AUDIT_SOON = "Due Tuesday 31 August: Re-Audit Case File"


@pytest.mark.req("PLAT-1")
async def test_a_reminder_counts_working_days_across_the_august_bank_holiday(coventry, coventry_client, clock):
    registry = coventry.registry
    # Monday 2 August 2027: the first working day of August (the 1st is a Sunday).
    await snapshot_demo(registry, "coventry", now=london(2027, 8, 2, 9, 0))
    re_audit = await work_of(TM1, RE_AUDIT, AUGUST_DUE)
    assert re_audit["starts_on"] == dt.date(2027, 8, 1)
    tm1 = await person(TM1)
    overdue = f"Overdue: Re-Audit Case File by {tm1['display_name']}"

    # Friday 20 August: the fifth working day ahead is Friday 27 August.
    await run_sweep(registry, london(2027, 8, 20, 9, 0))
    assert RE_AUDIT_SOON not in await told(TM1)
    # Monday 23 August: five working days on (24, 25, 26, 27 and, past the
    # weekend and the bank holiday, 31 August) is the due date: reminded.
    await run_sweep(registry, london(2027, 8, 23, 9, 0))
    await run_sweep(registry, london(2027, 8, 24, 9, 0))
    assert (await told(TM1)).count(RE_AUDIT_SOON) == 1

    # The bank holiday and the due day itself: not overdue.
    await run_sweep(registry, london(2027, 8, 30, 12, 0))
    await run_sweep(registry, london(2027, 8, 31, 23, 59))
    assert overdue not in await told(TM1)
    # Wednesday 1 September: overdue, said once to the owner and their manager.
    await run_sweep(registry, london(2027, 9, 1, 9, 0))
    await run_sweep(registry, london(2027, 9, 1, 9, 1))
    assert (await told(TM1)).count(overdue) == 1
    assert (await told(SERVICE_MANAGER)).count(overdue) == 1
    assert await trail_of(re_audit["id"]) == ["issued", "missed"]

    link = f"/programme/work/{re_audit['id']}"
    seen = await inbox(coventry_client, clock, TM1, london(2027, 9, 1, 10, 0))
    assert [n for n in seen if "Re-Audit Case File" in n[0]] == [(overdue, link), (RE_AUDIT_SOON, link)]


# --- Haringey: the drawn case audit is chased through the audit, not the work ----------------------

CHAIR = "haringey.cp_chair"
HEAD_OF_SERVICE = "haringey.head_of_service"  # HAR 1.3: the month's MASH audit, a case of their choosing
APRIL_DUE = dt.date(2027, 4, 30)


@pytest.mark.req("PLAT-1")
async def test_work_whose_audit_is_under_way_is_left_to_the_audits_own_deadline(registry, haringey_client, clock):
    # Thursday 1 April 2027, 09:30: April's draw, and April's work.
    await snapshot_demo(registry, "haringey", now=london(2027, 4, 1, 9, 30))
    chair = await person(CHAIR)
    head = await person(HEAD_OF_SERVICE)
    case_audit = await work_of(CHAIR, "haringey:cp_chair_case_audit", APRIL_DUE)
    mash = await work_of(HEAD_OF_SERVICE, "haringey:head_of_service_mash_audit", APRIL_DUE)
    from core.db.tables import Allocation

    drawn = await Allocation.select(Allocation.id, Allocation.child_case.external_id.as_alias("case")).where(
        Allocation.work == case_audit["id"]
    )
    assert len(drawn) == 1  # the month's draw is the chair's case audit (HAR 2)
    assert await Allocation.count().where(Allocation.work == mash["id"]) == 0  # nothing started yet

    # Friday 23 April: five working days before Friday 30 April.
    await run_sweep(registry, london(2027, 4, 23, 9, 0))
    await run_sweep(registry, london(2027, 4, 23, 9, 1))
    assert (await told(HEAD_OF_SERVICE)).count("Due Friday 30 April: MASH case audit") == 1
    assert not [s for s in await told(CHAIR) if s.startswith("Due ")]  # the audit is under way

    # 00:30 on Saturday 1 May in London (still 30 April in UTC).
    await run_sweep(registry, london(2027, 5, 1, 0, 30))
    await run_sweep(registry, london(2027, 5, 1, 0, 31))
    manager = await Person.select(Person.username).where(Person.id == head["line_manager"]).first()
    mash_overdue = f"Overdue: MASH case audit by {head['display_name']}"
    assert (await told(HEAD_OF_SERVICE)).count(mash_overdue) == 1
    assert (await told(manager["username"])).count(mash_overdue) == 1
    assert await trail_of(mash["id"]) == ["issued", "missed"]
    # The chair's work is not chased as work; the audit's own deadline chases them instead.
    assert not [s for s in await told(CHAIR) if s.startswith("Overdue: Case audit")]
    assert (await told(CHAIR)).count(f"Your audit of case {drawn[0]['case']} is overdue") == 1
    assert await trail_of(case_audit["id"]) == ["issued"]

    # Tuesday 4 May (Monday 3 May is the Early May bank holiday): what the chair reads.
    seen = await inbox(haringey_client, clock, CHAIR, london(2027, 5, 4, 9, 0))
    assert seen.count((f"Your audit of case {drawn[0]['case']} is overdue", f"/audits/{drawn[0]['id']}")) == 1
    assert not [n for n in seen if n[1].startswith("/programme/")]  # nothing about the work as work
    seen = await inbox(haringey_client, clock, HEAD_OF_SERVICE, london(2027, 5, 4, 9, 0))
    link = f"/programme/work/{mash['id']}"
    assert [n for n in seen if "MASH" in n[0]] == [(mash_overdue, link), ("Due Friday 30 April: MASH case audit", link)]
