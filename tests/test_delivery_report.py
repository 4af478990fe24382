"""The programme delivery report (PLAT-5): a Coventry organisation on a real
database (SQLite file and PostgreSQL), its programme issued by the real sweep
on the first working day of each month of 2027's first quarter, work recorded
as done on time and late through the real service, and the report read
through the page, its CSV and the API by the QA lead, a service manager (their
line) and a practitioner (their own).

What falls due is the Coventry plan's, written here as data with the seed
line it comes from (seed file 000_d3697d5ea7cff48f.txt, "L<n>" = a line):

* social care team managers (Help and Protection): "Case File", one a
  quarter (L17, read as quarterly: due on the quarter's last working day,
  Wednesday 31 March 2027), and "Re-Audit Case File" in February and August
  (L18 with L214: due Friday 26 February 2027, the 27th and 28th being a
  weekend);
* the service manager (Help and Protection): "Case File Audit", one a
  quarter (L10), due 31 March 2027.

The instants stress the calendar: Good Friday (26 March 2027) and Easter
Monday (29 March) are bank holidays, British Summer Time starts on Sunday 28
March, and 31 March is the last working day of the month and the quarter.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.calendar import UTC
from core.plugins import load_plugins
from core.services import delivery, imports, reports, sweep, work
from core.services.context import Context
from core.services.errors import Invalid
from helpers import acting, api_token, person, sign_in
from support.snapshots import snapshot_demo

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The organisation is set up before the programme ever runs.
SET_UP = dt.datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
# The sweep's first run, on the first working day of 2027 (New Year's Day is
# a Friday bank holiday): the programme begins issuing work here.
FIRST_SWEEP = dt.datetime(2027, 1, 4, 7, 0, tzinfo=UTC)
FEBRUARY_SWEEP = dt.datetime(2027, 2, 1, 7, 0, tzinfo=UTC)
MARCH_SWEEP = dt.datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
NEW_STARTER_JOINS = dt.datetime(2027, 3, 15, 10, 0, tzinfo=UTC)
NEXT_DAY_SWEEP = dt.datetime(2027, 3, 16, 7, 0, tzinfo=UTC)
GOOD_FRIDAY = dt.date(2027, 3, 26)
# 09:30 in London on the quarter's last day (BST since 28 March: UTC+1).
QUARTER_END = dt.datetime(2027, 3, 31, 8, 30, tzinfo=UTC)
# The next morning: what was due on 31 March and is not done is overdue.
AFTER_QUARTER = dt.datetime(2027, 4, 1, 8, 30, tzinfo=UTC)

CASE_FILE_DUE = dt.date(2027, 3, 31)  # L17 quarterly: the quarter's last working day
RE_AUDIT_DUE = dt.date(2027, 2, 26)  # L18/L214 February: its last working day

TM = "Team manager - social care (Help and Protection)"
SM = "Service manager - social care (Help and Protection)"
QA_LEAD = "coventry.senior_leader"  # the SLT own the plan (L44-L64): view_all_audits
MANAGER = "coventry.hp_service_manager"  # line-manages the three HP team managers
PRACTITIONER = "coventry.practitioner.11"
HEAD = ["Due", "Issued", "Done", "Done on time", "Overdue", "Not issued"]
JOINED_LATER = "The person joined after it fell due"
BEFORE_PROGRAMME = "It fell due before the programme began issuing work"


@pytest.fixture(scope="module")
def coventry(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("coventry"), "sqlite:///unused", councils=("coventry",))).registry


async def _as(registry, username: str, now: dt.datetime) -> Context:
    ctx = await acting(registry, username)
    ctx.now = now
    return ctx


async def _item(registry, username: str, activity: str, now: dt.datetime) -> work.WorkItem:
    ctx = await _as(registry, username, now)
    found = [w for w in await work.list_work(ctx, owner=ctx.actor.person_id) if w.activity == activity]
    assert len(found) == 1, [(w.activity, w.due_on) for w in found]
    return found[0]


async def _done(registry, username: str, activity: str, done_on: dt.date, now: dt.datetime) -> None:
    item = await _item(registry, username, activity, now)
    await work.complete(
        await _as(registry, username, now), item.id, done_on=done_on, summary="Case file audited with the worker.",
        outcome="Chronology to be brought up to date.",
    )


@pytest_asyncio.fixture(loop_scope="session")
async def quarter(coventry, database_url):
    """2027's first quarter in a Coventry organisation: swept on the first
    working day of each month; a fourth team manager joins on 15 March and
    the next day's sweep issues what is still open to them; the team
    managers record their work done on time, late, or not at all."""
    # The programme starts issuing work with the first sweep of 2027.
    await snapshot_demo(coventry, "coventry", now=SET_UP, issue_work=False)
    for instant in (FIRST_SWEEP, FEBRUARY_SWEEP, MARCH_SWEEP):
        await sweep.sweep(Context(registry=coventry, now=instant))
    # Team manager 1: the February re-audit recorded on 1 March (late), the
    # quarter's case file on Good Friday (on time; a date may be a bank holiday).
    await _done(coventry, "coventry.hp_team_manager.1", "Re-Audit Case File", dt.date(2027, 3, 1), MARCH_SWEEP + dt.timedelta(hours=3))
    # Team manager 2: the re-audit on its due date; the case file never.
    await _done(coventry, "coventry.hp_team_manager.2", "Re-Audit Case File", RE_AUDIT_DUE, MARCH_SWEEP + dt.timedelta(hours=3))
    # Team manager 3 records nothing.
    # A fourth social care team manager joins, reporting to the service manager.
    admin = await _as(coventry, QA_LEAD, NEW_STARTER_JOINS)
    await imports.import_staff(
        admin,
        b"username,display_name,role,line_manager_username\n"
        b"coventry.hp_team_manager.4,Robin Ashdown,hp_team_manager,coventry.hp_service_manager\n",
    )
    await sweep.sweep(Context(registry=coventry, now=NEXT_DAY_SWEEP))
    await _done(coventry, "coventry.hp_team_manager.1", "Case File", GOOD_FRIDAY, dt.datetime(2027, 3, 26, 11, 0, tzinfo=UTC))
    return coventry


def _rows(report: delivery.Delivery) -> dict[str, tuple]:
    return {r.label: (r.due, r.issued, r.done, r.on_time, r.overdue, r.not_issued) for r in report.rows}


async def _team_managers() -> dict[str, str]:
    return {f"coventry.hp_team_manager.{n}": (await person(f"coventry.hp_team_manager.{n}"))["display_name"] for n in range(1, 5)}


@pytest.mark.req("PLAT-5")
async def test_a_quarter_by_person_for_the_qa_lead_and_a_manager(quarter):
    names = await _team_managers()
    manager_name = (await person(MANAGER))["display_name"]
    q1 = reports.period("quarter", dt.date(2027, 3, 1))

    # On the quarter's last day the case files due that day are not overdue yet.
    on_the_day = await delivery.delivery(await _as(quarter, MANAGER, QUARTER_END), q1, "person")
    assert on_the_day.covering == "line"
    rows = _rows(on_the_day)
    assert rows[names["coventry.hp_team_manager.3"]] == (2, 2, 0, 0, 1, 0)  # only February's re-audit is late

    # The next morning they are.
    report = await delivery.delivery(await _as(quarter, MANAGER, AFTER_QUARTER), q1, "person")
    assert _rows(report) == {
        # (due, issued, done, done on time, overdue, not issued)
        names["coventry.hp_team_manager.1"]: (2, 2, 2, 1, 0, 0),  # re-audit late, case file on Good Friday
        names["coventry.hp_team_manager.2"]: (2, 2, 1, 1, 1, 0),  # re-audit on the day; case file never
        names["coventry.hp_team_manager.3"]: (2, 2, 0, 0, 2, 0),
        # Joined on 15 March: February's re-audit was never theirs to do; the
        # quarter's case file was issued by the next day's sweep.
        names["coventry.hp_team_manager.4"]: (2, 1, 0, 0, 1, 1),
        manager_name: (1, 1, 0, 0, 1, 0),  # their own case file audit (L10)
    }
    assert (report.total.due, report.total.issued, report.total.done, report.total.on_time, report.total.overdue,
            report.total.not_issued) == (9, 8, 3, 2, 5, 1)
    new_starter = next(r for r in report.rows if r.label == names["coventry.hp_team_manager.4"])
    assert new_starter.reasons == ((JOINED_LATER, 1),)
    assert report.programme_started == dt.date(2027, 1, 4)

    # The QA lead sees everyone: the same people's rows among the council's.
    qa = await delivery.delivery(await _as(quarter, QA_LEAD, AFTER_QUARTER), q1, "person")
    assert qa.covering == "everyone"
    everyone = _rows(qa)
    assert {k: everyone[k] for k in _rows(report)} == _rows(report)
    assert len(everyone) > len(_rows(report))

    # The figures agree with each person's own list of work.
    for username in names:
        ctx = await _as(quarter, username, AFTER_QUARTER)
        items = await work.list_work(ctx, owner=ctx.actor.person_id, due_from=q1.start, due_to=CASE_FILE_DUE)
        own = await delivery.delivery(ctx, q1, "person")
        # Their practitioners owe nothing of the programme; the new starter has no one yet.
        assert own.covering == ("own" if username.endswith(".4") else "line")
        (row,) = own.rows
        assert (row.issued, row.done, row.on_time, row.overdue) == (
            len(items), sum(w.finished for w in items), sum(w.status == "done" for w in items),
            sum(w.status == "overdue" for w in items),
        )


@pytest.mark.req("PLAT-5")
async def test_by_role_and_activity_and_why_not_issued(quarter):
    q1 = reports.period("quarter", dt.date(2027, 3, 1))
    manager = await _as(quarter, MANAGER, AFTER_QUARTER)
    by_activity = _rows(await delivery.delivery(manager, q1, "activity"))
    assert by_activity == {
        "Case File": (4, 4, 1, 1, 3, 0),
        "Case File Audit": (1, 1, 0, 0, 1, 0),
        "Re-Audit Case File": (4, 3, 2, 1, 1, 1),
    }
    by_role = _rows(await delivery.delivery(manager, q1, "role"))
    assert by_role == {TM: (8, 7, 3, 2, 4, 1), SM: (1, 1, 0, 0, 1, 0)}
    by_team = await delivery.delivery(manager, q1, "team")
    assert sum(r.due for r in by_team.rows) == 9

    # The last quarter of 2026 fell due before the programme's first run.
    q4 = await delivery.delivery(await _as(quarter, QA_LEAD, AFTER_QUARTER), reports.period("quarter", dt.date(2026, 12, 1)), "role")
    assert q4.total.due > 0 and q4.total.issued == 0 and q4.total.not_issued == q4.total.due
    # The team managers' Q4 case files (L17) and second supervision review
    # (L19 "twice yearly", July to December); no re-audit in Q4 (L214). The
    # fourth team manager, who joined in March, owed neither.
    tms = next(r for r in q4.rows if r.label == TM)
    assert (tms.due, tms.issued, tms.not_issued) == (8, 0, 8)
    assert tms.reasons == ((BEFORE_PROGRAMME, 6), (JOINED_LATER, 2))

    # The year: what has not opened yet is said so, not counted as missed.
    year = await delivery.delivery(await _as(quarter, "coventry.hp_team_manager.1", AFTER_QUARTER), reports.period("year", dt.date(2027, 1, 1)), "activity")
    assert dict((r.label, r.reasons) for r in year.rows) == {
        # Q1 done; Q2's period opened this morning (the day's sweep issues it); Q3 and Q4 not open.
        "Case File": (("Its period has not opened yet", 2), ("Its period has opened: the next scheduled run issues it", 1)),
        "Re-Audit Case File": (("Its period has not opened yet", 1),),  # August (L214)
        # L19 "twice yearly": January to June was issued on 4 January; July to December not open.
        "Supervision Assessments Plans": (("Its period has not opened yet", 1),),
    }

    # A grouping the council has not got, or a period that is not one, is refused with a reason.
    with pytest.raises(Invalid) as refused:
        delivery.parse_grouping(manager, "lens")  # Coventry's plan names no lenses
    assert "by" in refused.value.errors
    with pytest.raises(Invalid):
        delivery.choose_period(manager, "fortnight", "2027-03")


@pytest_asyncio.fixture(loop_scope="session")
async def client(quarter, database_url, tmp_path, clock):
    from web.app import create_app

    clock.move_to(AFTER_QUARTER)
    settings = make_settings(tmp_path, database_url, councils=("coventry",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as c:
        yield c


def _csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # a byte order mark, so Excel reads names as UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


@pytest.mark.req("PLAT-5")
async def test_the_page_csv_and_api_show_each_person_only_what_they_may_see(client):
    names = await _team_managers()
    await sign_in(client, MANAGER)
    page = await client.get("/programme/delivery?period=quarter&date=2027-03&by=person")
    assert page.status_code == 200, page.text
    text = page.text
    assert "January to March 2027, by person" in text
    assert "you and the people who report to you, down the line" in text
    assert "Figures as on 1 April 2027" in text
    assert names["coventry.hp_team_manager.4"] in text and JOINED_LATER in text
    assert "The programme began issuing work on 4 January 2027" in text
    assert (await person(QA_LEAD))["display_name"] not in text  # not in the manager's line

    exported = await client.get("/programme/delivery/export.csv?period=quarter&date=2027-03&by=person&table=delivery")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = _csv(exported.content)
    assert rows[0] == ["Person", *HEAD]
    by_name = {r[0]: [int(n) for n in r[1:]] for r in rows[1:]}
    assert by_name[names["coventry.hp_team_manager.2"]] == [2, 2, 1, 1, 1, 0]
    assert by_name["Total"] == [9, 8, 3, 2, 5, 1]
    why = _csv((await client.get("/programme/delivery/export.csv?period=quarter&date=2027-03&by=person&table=not_issued")).content)
    assert why == [["Person", "Why not issued", "Number"], [names["coventry.hp_team_manager.4"], JOINED_LATER, "1"]]
    xlsx = await client.get("/programme/delivery/export.xlsx?period=quarter&date=2027-03&by=role")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Delivery by role", "Due but not issued, and why", "About"]
    assert book.properties.title == "Programme delivery: January to March 2027, by role"
    for sheet in (book["Delivery by role"], book["Due but not issued, and why"]):
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
    sheet = book["Delivery by role"]
    assert [c.value for c in sheet[1]] == ["Role", *HEAD]
    assert sheet.auto_filter.ref == f"A1:G{sheet.max_row}"
    total = [c.value for c in sheet[sheet.max_row]]
    assert total[0] == "Total" and all(isinstance(n, int) for n in total[1:])
    # Issue 17: what cannot be a period comes back as the form, each box's
    # message in the GOV.UK error summary, what was typed kept.
    bad = await client.get("/programme/delivery?period=quarter&date-month=March&date-year=2027&by=person")
    assert bad.status_code == 400
    assert "Month in the period must be a real month" in bad.text and 'href="#date-month"' in bad.text
    assert 'name="date-month" type="text" value="March"' in bad.text and "<title>Error: " in bad.text
    assert 'value="2027"' in bad.text
    no_year = await client.get("/programme/delivery?period=quarter&date-month=3&date-year=&by=person")
    assert no_year.status_code == 400 and "Month in the period must include a year" in no_year.text
    far = await client.get("/programme/delivery?period=year&date-month=&date-year=9999")
    assert far.status_code == 400 and "Year must be between 2000 and 2099" in far.text
    typed = await client.get("/programme/delivery?period=financial_year&date-month=&date-year=2026&by=person")
    assert typed.status_code == 200 and "Financial year 2026 to 2027" in typed.text
    # A download has no form to come back to: a 422 that says why.
    refused = await client.get("/programme/delivery/export.csv?period=quarter&date=March&by=person&table=delivery")
    assert refused.status_code == 422 and "Choose a period that can be reported on" in refused.text

    # The programme pages link to it.
    assert "/programme/delivery" in (await client.get("/programme/mine")).text

    # The API: the same figures, by activity; a bad grouping is a 422 with a reason.
    headers = await api_token(client, MANAGER)
    answer = await client.get("/api/v1/delivery", params={"period": "quarter", "date": "2027-03", "by": "activity"}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["covering"] == "line" and body["period"]["label"] == "January to March 2027"
    assert body["period"]["first_day"] == "2027-01-01" and body["period"]["last_day"] == "2027-03-31"
    re_audit = next(r for r in body["rows"] if r["label"] == "Re-Audit Case File")
    assert (re_audit["due"], re_audit["issued"], re_audit["done"], re_audit["done_on_time"], re_audit["overdue"],
            re_audit["not_issued"]) == (4, 3, 2, 1, 1, 1)
    assert re_audit["not_issued_reasons"] == [{"reason": JOINED_LATER, "count": 1}]
    refused = await client.get("/api/v1/delivery", params={"by": "mood"}, headers=headers)
    assert refused.status_code == 422 and "group" in refused.json()["detail"]
    schema = (await client.get("/api/schema/openapi.json")).json()
    assert "/api/v1/delivery" in schema["paths"]

    # A practitioner sees only their own: nothing of the programme is theirs.
    await sign_in(client, PRACTITIONER)
    own = await client.get("/programme/delivery?period=quarter&date=2027-03")
    assert own.status_code == 200
    assert "your own work" in own.text and "Nothing in the programme falls due in this period" in own.text
    assert names["coventry.hp_team_manager.1"] not in own.text
    mine = await client.get("/api/v1/delivery", params={"period": "quarter", "date": "2027-03"}, headers=await api_token(client, PRACTITIONER))
    assert mine.json()["covering"] == "own" and mine.json()["rows"] == []

    # The QA lead sees everyone, and the PDF of it.
    await sign_in(client, QA_LEAD)
    everyone = await client.get("/programme/delivery?period=quarter&date=2027-03&by=role")
    assert "everyone in the council" in everyone.text and TM in everyone.text
    printed = await client.get("/programme/delivery/report.pdf?period=quarter&date=2027-03&by=role")
    assert printed.status_code == 200 and printed.content[:5] == b"%PDF-"


# --------------------------------------------------------------------------
# Haringey (HAR 2): the month's case audits are the monthly cycle's, counted
# towards each auditor's work; a practice week replaces a month's cycle.

HAR_DECEMBER_SWEEP = dt.datetime(2026, 12, 31, 9, 30, tzinfo=UTC)  # the suite's instant: the cycle's last working day
HAR_NEW_YEAR = dt.datetime(2027, 1, 4, 7, 0, tzinfo=UTC)  # first working day of 2027 (New Year's Day a Friday)


async def _work_month_rows() -> list[tuple]:
    from core.db.tables import WorkMonth

    rows = await WorkMonth.select(WorkMonth.organisation, WorkMonth.month, WorkMonth.owner, WorkMonth.schedule_key,
                                  WorkMonth.issued, WorkMonth.done, WorkMonth.on_time)
    return sorted(tuple(r.values()) for r in rows if any((r["issued"], r["done"], r["on_time"])))


@pytest.mark.req("PLAT-5")
async def test_audits_count_towards_work_practice_weeks_and_roles_nobody_holds(registry, demo):
    from core.services import month_counts
    from core.services.cycles import schedule_practice_week
    from helpers import allocation_of, finalise

    await sweep.sweep(Context(registry=registry, now=HAR_DECEMBER_SWEEP))
    tm1, tm2 = (await person("haringey.team_manager.1"))["display_name"], (await person("haringey.team_manager.2"))["display_name"]
    # Team manager 1's December audit (the cycle's, counted towards their
    # month's "Case audit") is accepted by QA on the cycle's last day.
    await finalise(registry, "haringey.team_manager.1", (await allocation_of("haringey.team_manager.1"))["id"], "good")
    december = reports.period("month", dt.date(2026, 12, 1))
    qa = await _as(registry, "haringey.head_of_qa", HAR_DECEMBER_SWEEP)
    rows = _rows(await delivery.delivery(qa, december, "person"))
    assert rows[tm1] == (1, 1, 1, 1, 0, 0)
    assert rows[tm2] == (1, 1, 0, 0, 0, 0)  # due today: not overdue yet
    qa.now = HAR_NEW_YEAR
    assert _rows(await delivery.delivery(qa, december, "person"))[tm2] == (1, 1, 0, 0, 1, 0)

    # The Director agrees a practice week in February 2027 (HAR 2), and the
    # LADO leaves (the staff import marks them not active).
    admin = await _as(registry, "haringey.head_of_qa", HAR_NEW_YEAR)
    await schedule_practice_week(admin, 2027, 2, agreed_by="Director of Children's Services")
    lado = await person("haringey.lado")
    await imports.import_staff(admin, f"username,display_name,role,active\nharingey.lado,{lado['display_name']},lado,no\n".encode())
    await sweep.sweep(Context(registry=registry, now=HAR_NEW_YEAR))

    february = await delivery.delivery(await _as(registry, "haringey.head_of_qa", HAR_NEW_YEAR), reports.period("month", dt.date(2027, 2, 1)), "role")
    by_role = {r.label: r for r in february.rows}
    # Each team manager's February case audit was replaced by the practice week.
    assert (by_role["Team manager"].due, by_role["Team manager"].issued) == (3, 0)
    assert by_role["Team manager"].reasons == (("A practice week replaced it", 3),)
    # Nobody holds the LADO's role now: their monthly case audit is still reported.
    assert by_role["Local authority designated officer"].reasons == (("Nobody holds the role", 1),)
    january = await delivery.delivery(await _as(registry, "haringey.head_of_qa", HAR_NEW_YEAR), reports.period("month", dt.date(2027, 1, 1)), "role")
    january_roles = {r.label: r for r in january.rows}
    assert (january_roles["Team manager"].due, january_roles["Team manager"].issued) == (3, 3)
    assert january_roles["Local authority designated officer"].reasons == (("Nobody holds the role", 1),)

    # The counts kept as work was issued, recorded and audited agree with a recount.
    kept = await _work_month_rows()
    assert kept
    await month_counts.rebuild_all()
    assert await _work_month_rows() == kept


# --------------------------------------------------------------------------
# The Coventry Safeguarding Children Partnership (CSCP-10): every source of
# assurance names its lens (4.0), and delivery can be cut by lens.

PARTNERSHIP_YEAR_OPENS = dt.datetime(2027, 4, 1, 8, 0, tzinfo=UTC)  # Thursday 1 April 2027, 09:00 BST: its year starts in April


@pytest.mark.req("PLAT-5")
async def test_delivery_by_lens(partnership, partnership_demo):
    await sweep.sweep(Context(registry=partnership, now=PARTNERSHIP_YEAR_OPENS))
    qa = await _as(partnership, "partnership.qa_manager", PARTNERSHIP_YEAR_OPENS)
    assert "lens" in delivery.groupings(qa)
    april_to_june = reports.period("quarter", dt.date(2027, 4, 1))
    by_lens = {r.label: r for r in (await delivery.delivery(qa, april_to_june, "lens")).rows}
    # 5.1: the three agency leads' quarterly scorecard returns (local
    # authority, police, health: the demo's, issue 14) and the QA manager's
    # scorecard, all the independent lens's (4.0), due at the end of June.
    independent = by_lens["Independent Lens"]
    assert (independent.due, independent.issued, independent.done, independent.overdue, independent.not_issued) == (4, 4, 0, 0, 0)
    # Running the framework itself (governance) looks through no lens.
    assert set(by_lens) <= {"Independent Lens", "Provider Lens", "Professional Lens", "Citizen Lens", "No lens"}
    by_person = await delivery.delivery(qa, april_to_june, "person")
    assert sum(r.due for r in by_lens.values()) == by_person.total.due
