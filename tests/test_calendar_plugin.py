"""A calendar with named leads, from a council written in the tests (issue 13;
CORE-7, PLAT-1, PLAT-4), on SQLite and PostgreSQL.

tests/calendar_plugin/qaf_calendarshire is a council plugin found the way
any installed council is (an entry point in the `qaf` group, as
tests/test_requirements_core.py's testshire): Calendarshire's QA year runs
April to March, and its schedules name posts within the senior managers.
The Head of Quality leads a review in May and November (`months: [5, 11]`),
the Principal Social Worker a learning review in September and March and an
observation every six weeks, every senior manager meets monthly, every team
manager audits a case file each quarter, and a safeguarding audit belongs to
a Head of Safeguarding whom nobody is. The Head of Quality leads a joint
practice audit in June and December with the Principal Social Worker (and
the Head of Safeguarding, whom nobody is: reported, and it goes ahead without
them), and the team managers audit in peer pairs each October (PLAT-4).

The organisation is set up on Thursday 1 April 2027 (the demo, then a staff
file giving the posts); the programme is read on the QA programme page and
from `qaf programme`; then the sweep runs at 09:00 on the first working day
of every month of the year, to Wednesday 1 March 2028, and on the bank
holidays just before two of them. After each sweep the work each person owes
is exactly what the calendar says, issued on the day it should be.

The director's audits of cases chosen by criteria (PLAT-3) are issued here
too; which cases they are given is tests/test_calendar_criteria.py. Joint
audits and peer pairs (PLAT-4) are issued and named here.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.calendar import london_date
from core.db.tables import Allocation, Person, Work, WorkMember
from core.plugins import load_plugins
from core.services import sweep
from core.services.case_attributes import loaded
from core.services.context import Context
from core.services.work import list_work
from helpers import acting, api_token, person, process_env, sign_in
from support.snapshots import snapshot_demo

# The suite's 15 minutes: this module's rules are the same code on both
# databases; PostgreSQL runs the services', migrations', workers' and trail's tests.
SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems

QAF = str(Path(sys.executable).with_name("qaf"))
PLUGIN_DIR = Path(__file__).parent / "calendar_plugin"
LONDON = ZoneInfo("Europe/London")
D = dt.date

DIRECTOR = "calendarshire.director"  # administers: imports the staff, reads the whole programme
HOQ = "calendarshire.senior_manager"  # made Head of Quality by the staff file
PSW = "calendarshire.psw"  # the Principal Social Worker, new in the staff file
HOS = "calendarshire.head_of_service"  # a senior manager with no named post
TM = "calendarshire.team_manager.1"
STAFF_FILE = (
    "username,display_name,role,post,line_manager_username\n"
    f"{HOQ},Hana Quill,senior_manager,Head of Quality,{DIRECTOR}\n"
    f"{PSW},Pat Sowerby,senior_manager,Principal Social Worker,{DIRECTOR}\n"
    f"{HOS},Sam Hale,senior_manager,,{DIRECTOR}\n"
).encode()
UNHELD = "Safeguarding audit: nobody holds the post Head of Safeguarding (Senior manager)"
UNHELD_CO = ("Joint practice audit: nobody holds the post Head of Safeguarding (Senior manager), "
             "so it is led without that co-auditor")


def at(day: dt.date, hour: int = 9, minute: int = 0) -> dt.datetime:
    """That London wall-clock time on ``day`` (BST or GMT as it falls)."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON)


# The first working day of each month of the year April 2027 to March 2028,
# and the month's last working day (England and Wales bank holidays):
# Monday 3 May and Monday 31 May are bank holidays, Sunday 1 August, Saturday
# 1 January 2028 and its substitute Monday 3 January, Friday 31 December 2027
# is a working day (Christmas falls on the 27th and 28th), 2028 is a leap year.
MONTHS = [  # (the month's work is issued, the month starts, the month's last working day)
    (D(2027, 4, 1), D(2027, 4, 1), D(2027, 4, 30)),
    (D(2027, 5, 4), D(2027, 5, 1), D(2027, 5, 28)),
    (D(2027, 6, 1), D(2027, 6, 1), D(2027, 6, 30)),
    (D(2027, 7, 1), D(2027, 7, 1), D(2027, 7, 30)),
    (D(2027, 8, 2), D(2027, 8, 1), D(2027, 8, 31)),
    (D(2027, 9, 1), D(2027, 9, 1), D(2027, 9, 30)),
    (D(2027, 10, 1), D(2027, 10, 1), D(2027, 10, 29)),
    (D(2027, 11, 1), D(2027, 11, 1), D(2027, 11, 30)),
    (D(2027, 12, 1), D(2027, 12, 1), D(2027, 12, 31)),
    (D(2028, 1, 4), D(2028, 1, 1), D(2028, 1, 31)),
    (D(2028, 2, 1), D(2028, 2, 1), D(2028, 2, 29)),
    (D(2028, 3, 1), D(2028, 3, 1), D(2028, 3, 31)),
]
# The sweeps: 09:00 on each first working day; the two bank holidays that
# come just before one (no month's work is issued on them); and Thursday 13
# May, when the Principal Social Worker's second six-week period opens.
SWEEPS = sorted([at(issued) for issued, _, _ in MONTHS] + [at(D(2027, 5, 3)), at(D(2027, 5, 13)), at(D(2028, 1, 3))])

MEETINGS = [(issued, "Performance meeting", starts, due) for issued, starts, due in MONTHS]
# Every piece of work each person is given in the year: (issued on, activity, period start, due).
EXPECTED: dict[str, list[tuple[dt.date, str, dt.date, dt.date]]] = {
    HOQ: MEETINGS + [
        # months: [5, 11]: each named month is its own period, due its last working day.
        (D(2027, 5, 4), "Practice quality review", D(2027, 5, 1), D(2027, 5, 28)),
        (D(2027, 11, 1), "Practice quality review", D(2027, 11, 1), D(2027, 11, 30)),
        # PLAT-4: the joint audit is the lead's work (it names the co-auditors).
        (D(2027, 6, 1), "Joint practice audit", D(2027, 6, 1), D(2027, 6, 30)),
        (D(2027, 12, 1), "Joint practice audit", D(2027, 12, 1), D(2027, 12, 31)),
    ],
    PSW: MEETINGS + [
        # months: [9, 3]: March is the year's last month, March 2028.
        (D(2027, 9, 1), "Practice learning review", D(2027, 9, 1), D(2027, 9, 30)),
        (D(2028, 3, 1), "Practice learning review", D(2028, 3, 1), D(2028, 3, 31)),
        # every six weeks from the year's first day: due each sixth Wednesday,
        # the next period opening the day after. Each is issued by the first
        # sweep on or after the day it opens (a server sweeps every minute).
        (D(2027, 4, 1), "Practice observation", D(2027, 4, 1), D(2027, 5, 12)),
        (D(2027, 5, 13), "Practice observation", D(2027, 5, 13), D(2027, 6, 23)),
        (D(2027, 7, 1), "Practice observation", D(2027, 6, 24), D(2027, 8, 4)),
        (D(2027, 9, 1), "Practice observation", D(2027, 8, 5), D(2027, 9, 15)),
        (D(2027, 10, 1), "Practice observation", D(2027, 9, 16), D(2027, 10, 27)),
        (D(2027, 11, 1), "Practice observation", D(2027, 10, 28), D(2027, 12, 8)),
        # Open since 9 December: the bank holiday's sweep issues it.
        (D(2028, 1, 3), "Practice observation", D(2027, 12, 9), D(2028, 1, 19)),
        (D(2028, 2, 1), "Practice observation", D(2028, 1, 20), D(2028, 3, 1)),
        # The next would be due 12 April 2028, in the next year.
    ],
    HOS: MEETINGS,
    # Quarters of the April-to-March year: due the last working day of June,
    # September, December and March.
    TM: [
        (D(2027, 4, 1), "Case file audit", D(2027, 4, 1), D(2027, 6, 30)),
        (D(2027, 7, 1), "Case file audit", D(2027, 7, 1), D(2027, 9, 30)),
        (D(2027, 10, 1), "Case file audit", D(2027, 10, 1), D(2027, 12, 31)),
        (D(2028, 1, 4), "Case file audit", D(2028, 1, 1), D(2028, 3, 31)),
        # PLAT-4: in peer pairs, in October.
        (D(2027, 10, 1), "Peer audit", D(2027, 10, 1), D(2027, 10, 29)),
    ],
    # PLAT-3 (tests/test_calendar_criteria.py): the director's audits of cases
    # chosen by criteria, monthly from June, and a case chosen in February.
    DIRECTOR: [(issued, "Child protection plans over 18 months", starts, due) for issued, starts, due in MONTHS[2:]]
    + [(D(2028, 2, 1), "Young people in care", D(2028, 2, 1), D(2028, 2, 29))],
}


@pytest.fixture
def calendarshire_path(tmp_path, monkeypatch) -> str:
    """Calendarshire installed as pip would leave it: its module on the path
    and a dist-info whose entry point is in the `qaf` group. Returns the
    PYTHONPATH a `qaf` subprocess needs to find it too."""
    site = tmp_path / "site-packages"
    dist = site / "qaf_calendarshire-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: qaf-calendarshire\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[qaf]\ncalendarshire = qaf_calendarshire\n")
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    monkeypatch.syspath_prepend(str(site))
    return os.pathsep.join([str(site), str(PLUGIN_DIR)])


@pytest.fixture
def calendarshire(calendarshire_path, tmp_path):
    settings = make_settings(tmp_path, "sqlite:///unused", councils=("calendarshire",))
    return load_plugins(settings)


@pytest_asyncio.fixture(loop_scope="session")
async def calendarshire_client(calendarshire, database_url, tmp_path):
    from web.app import create_app

    settings = make_settings(tmp_path, database_url, councils=("calendarshire",))
    async with AsyncTestClient(app=create_app(settings, calendarshire), base_url="http://testserver.local") as client:
        yield client


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def unheld_on_page(page: str) -> list[str]:
    found = re.search(r'<ul class="govuk-list govuk-list--bullet" id="unheld-posts">(.*?)</ul>', page, re.S)
    return [_text(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)] if found else []


def grid(page: str) -> dict[str, list[str]]:
    """The QA programme page's table: activity -> [role, people, Apr ... Mar, as required]."""
    table = page.split("Activities due per month, by role", 1)[1].split("</table>", 1)[0]
    body = table.split('<tbody class="govuk-table__body">', 1)[1]
    rows = {}
    for row in re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', body, re.S):
        cells = [_text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        rows[cells[1]] = [cells[0], *cells[2:]]
    return rows


async def owed() -> dict[str, list[tuple[dt.date, str, dt.date, dt.date]]]:
    """Every piece of work issued, by its owner's username: (the London day it
    was issued, activity, period start, due), in that order."""
    out: dict[str, list] = {}
    for row in await Work.select(
        Work.owner.username.as_alias("who"), Work.activity, Work.starts_on, Work.due_on, Work.created_at
    ):
        out.setdefault(row["who"], []).append((london_date(row["created_at"]), row["activity"], row["starts_on"], row["due_on"]))
    return {who: sorted(items) for who, items in out.items()}


async def others() -> dict[tuple[str, str, dt.date], dict[str, list[str]]]:
    """Who else each piece of work names (PLAT-4), by (owner, activity, due):
    {"co_auditor": [usernames]} or {"peer": [username]}."""
    out: dict = {}
    for row in await WorkMember.select(
        WorkMember.work.owner.username.as_alias("who"), WorkMember.work.activity.as_alias("activity"),
        WorkMember.work.due_on.as_alias("due"), WorkMember.part, WorkMember.person.username.as_alias("person"),
    ).order_by(WorkMember.id):
        out.setdefault((row["who"], row["activity"], row["due"]), {}).setdefault(row["part"], []).append(row["person"])
    return out


def expected_by(day: dt.date) -> dict[str, list]:
    return {who: sorted(i for i in items if i[0] <= day) for who, items in EXPECTED.items()}


@pytest.mark.req("CORE-7")
@pytest.mark.req("PLAT-1")
@pytest.mark.req("PLAT-4")
async def test_named_posts_get_their_own_calendar_month_by_month_in_an_april_to_march_year(
    calendarshire, calendarshire_client, calendarshire_path, database_url, tmp_path, clock
):
    registry = calendarshire.registry
    client = calendarshire_client

    # Thursday 1 April 2027, 08:00: the organisation is set up; the demo's
    # people are given the work of the month as the sweep would. Nobody holds
    # a post yet.
    await snapshot_demo(registry, "calendarshire", now=at(D(2027, 4, 1), 8))
    clock.move_to(at(D(2027, 4, 1), 8, 15))
    await sign_in(client, DIRECTOR)
    before = await client.get("/programme?year=2027")
    assert before.status_code == 200
    assert unheld_on_page(before.text) == [
        "Joint practice audit: nobody holds the post Head of Quality (Senior manager)",
        "Practice quality review: nobody holds the post Head of Quality (Senior manager)",
        UNHELD,
        "Practice learning review: nobody holds the post Principal Social Worker (Senior manager)",
        "Practice observation: nobody holds the post Principal Social Worker (Senior manager)",
        # PLAT-4: co-auditors' posts nobody holds, after the leads'.
        "Joint practice audit: nobody holds the post Principal Social Worker (Senior manager), so it is led without that co-auditor",
        UNHELD_CO,
    ]

    # 08:30: the staff file gives the posts; the one nobody holds is warned of.
    clock.move_to(at(D(2027, 4, 1), 8, 30))
    headers = {**await api_token(client, DIRECTOR), "content-type": "text/csv"}
    imported = await client.post("/api/v1/imports/staff", content=STAFF_FILE, headers=headers)
    assert imported.status_code == 200, imported.text
    assert imported.json()["warnings"] == [UNHELD, UNHELD_CO]
    assert (await person(HOQ))["post"] == "Head of Quality"

    # The QA programme page: the year from April, each post's activity given
    # to the one person holding it, in its months; the post nobody holds said.
    await sign_in(client, DIRECTOR)
    page = await client.get("/programme?year=2027")
    assert page.status_code == 200
    assert "QA programme 2027" in page.text
    assert unheld_on_page(page.text) == [UNHELD, UNHELD_CO]
    months = re.findall(r'<th scope="col" class="govuk-table__header govuk-table__header--numeric">(\w{3})</th>', page.text)
    assert months == ["Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan", "Feb", "Mar"]
    teams = await Person.count().where(Person.role == "team_manager")
    assert grid(page.text) == {
        "Case file audit": ["Team manager", str(teams), "", "", str(teams), "", "", str(teams), "", "", str(teams), "", "", str(teams), ""],
        "Child protection plans over 18 months": ["Director", "1", "", "", *["1"] * 10, ""],
        "Young people in care": ["Director", "1", *[""] * 10, "1", "", ""],
        "Joint practice audit": ["Senior manager", "1", "", "", "1", "", "", "", "", "", "1", "", "", "", ""],
        "Peer audit": ["Team manager", str(teams), "", "", "", "", "", "", str(teams), "", "", "", "", "", ""],
        "Performance meeting": ["Senior manager", "3", *["3"] * 12, ""],
        "Practice learning review": ["Senior manager", "1", "", "", "", "", "", "1", "", "", "", "", "", "1", ""],
        "Practice observation": ["Senior manager", "1", "", "1", "1", "", "1", "1", "1", "", "1", "1", "", "1", ""],
        "Practice quality review": ["Senior manager", "1", "", "1", "", "", "", "", "", "1", "", "", "", "", ""],
    }

    # `qaf programme`, a real process finding the plugin through its entry point,
    # prints the same from the organisation's staff.
    env = process_env(QAF_DATA_DIR=str(tmp_path), QAF_DATABASE_URL=database_url, QAF_COUNCILS="calendarshire",
                      PYTHONPATH=calendarshire_path)
    done = subprocess.run([QAF, "programme", "--council", "calendarshire", "--year", "2027", "--csv", str(tmp_path / "p.csv")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Calendarshire Children's Services: programme for the year starting 2027-04, for the organisation's staff\n")
    assert "  Practice quality review (role: Senior manager; post: Head of Quality)\n" in out
    assert "  Practice observation (role: Senior manager; post: Principal Social Worker)\n" in out
    assert ("  Joint practice audit (role: Senior manager; post: Head of Quality; with: Principal Social Worker "
            "(Senior manager); with: Head of Safeguarding (Senior manager))\n") in out
    assert "  Peer audit (role: Team manager; in peer pairs)\n" in out
    assert f"Not issued to anyone:\n  {UNHELD}\n  {UNHELD_CO}\nProgramme:\n" in out
    printed: dict[str, list[tuple[str, str]]] = {}
    for line in out.split("Programme:\n", 1)[1].splitlines()[:-1]:
        due, who, rest = line[2:18].strip(), line[19:59].strip(), line[60:]
        printed.setdefault(who, []).append((due, rest))
    assert [r for r in printed["Hana Quill"] if "review" in r[1]] == [
        ("Fri 28 May 2027", "1 x Practice quality review"), ("Tue 30 Nov 2027", "1 x Practice quality review"),
    ]
    assert [r for r in printed["Pat Sowerby"] if "Performance" not in r[1]] == [
        ("Wed 12 May 2027", "1 x Practice observation"), ("Wed 23 Jun 2027", "1 x Practice observation"),
        ("Wed 04 Aug 2027", "1 x Practice observation"), ("Wed 15 Sep 2027", "1 x Practice observation"),
        ("Thu 30 Sep 2027", "1 x Practice learning review"), ("Wed 27 Oct 2027", "1 x Practice observation"),
        ("Wed 08 Dec 2027", "1 x Practice observation"), ("Wed 19 Jan 2028", "1 x Practice observation"),
        ("Wed 01 Mar 2028", "1 x Practice observation"), ("Fri 31 Mar 2028", "1 x Practice learning review"),
    ]
    assert [r for r in printed["Hana Quill"] if "Joint" in r[1]] == [
        ("Wed 30 Jun 2027", "1 x Joint practice audit with Pat Sowerby"),
        ("Fri 31 Dec 2027", "1 x Joint practice audit with Pat Sowerby"),
    ]
    # The CSV names them too (PLAT-4): the co-auditors, and each peer.
    rows = list(csv.DictReader(io.StringIO((tmp_path / "p.csv").read_text())))
    assert {(r["person"], r["with"]) for r in rows if r["activity"] == "Joint practice audit"} == {("Hana Quill", "Pat Sowerby")}
    peers = {r["person"]: r["peer"] for r in rows if r["activity"] == "Peer audit"}
    assert len(peers) == 3 and sorted(peers.values()) == sorted(peers) and all(p != q for p, q in peers.items())
    assert [r for r in printed["Sam Hale"]] == [(f"{due:%a %d %b %Y}", "1 x Performance meeting") for _, _, due in MONTHS]
    assert not [who for who, rows in printed.items() if any("Safeguarding" in r[1] for r in rows)]

    # The year, month by month: after each sweep, each person owes exactly
    # what the calendar has issued by that day, each on its day, once.
    for instant in SWEEPS:
        await sweep.sweep(Context(registry=registry, now=instant))
        await sweep.sweep(Context(registry=registry, now=instant + dt.timedelta(minutes=1)))  # the next minute's
        issued = await owed()
        expected = expected_by(instant.date())
        assert {who: issued.get(who, []) for who in EXPECTED} == expected, f"after the sweep of {instant:%A %d %B %Y}"
        # Every team manager owes the same quarters; nobody else owes anything.
        team_managers = {p["username"] for p in await Person.select(Person.username).where(Person.role == "team_manager")}
        assert {who for who in issued} <= set(EXPECTED) | team_managers
        assert {tuple(issued[who]) for who in team_managers} == {tuple(expected[TM])}

    # The post nobody holds: its July never came to anyone.
    assert await Work.select(Work.id).where(Work.activity == "Safeguarding audit") == []
    # PLAT-3: the director's monthly cases were drawn from the demo's cases
    # recording a second or later plan (tests/test_calendar_criteria.py
    # proves which case each month, on cases of its own).
    drawn = await Allocation.select(Allocation.child_case.attributes.as_alias("attributes")).where(
        (Allocation.auditor.username == DIRECTOR) & Allocation.cycle.is_not_null())
    assert drawn and all(loaded(row["attributes"])["cp_plan_number"] >= 2 for row in drawn)

    # PLAT-4: who else each piece of work names. The joint audits name the
    # Principal Social Worker (the Head of Safeguarding is nobody); the team
    # managers, paired by name, are three: a trio auditing round the ring.
    named = await others()
    assert named[(HOQ, "Joint practice audit", D(2027, 6, 30))] == {"co_auditor": [PSW]}
    assert named[(HOQ, "Joint practice audit", D(2027, 12, 31))] == {"co_auditor": [PSW]}
    managers = [p["username"] for p in await Person.select(Person.username, Person.display_name, Person.id)
                .where(Person.role == "team_manager").order_by(Person.display_name).order_by(Person.id)]
    assert len(managers) == 3
    assert {who: named[(who, "Peer audit", D(2027, 10, 29))] for who in managers} == {
        managers[0]: {"peer": [managers[1]]}, managers[1]: {"peer": [managers[2]]}, managers[2]: {"peer": [managers[0]]},
    }
    assert {key for key in named} == {
        (HOQ, "Joint practice audit", D(2027, 6, 30)), (HOQ, "Joint practice audit", D(2027, 12, 31)),
        *((who, "Peer audit", D(2027, 10, 29)) for who in managers),
    }
    # The co-auditor's work includes the joint audit, "with" its lead.
    psw = await acting(registry, PSW)
    joint = [w for w in await list_work(psw, owner=psw.actor.person_id) if w.activity == "Joint practice audit"]
    assert [(w.due_on, w.owner, w.with_for(psw.actor.person_id)) for w in joint] == [
        (D(2027, 6, 30), "Hana Quill", "with Hana Quill"), (D(2027, 12, 31), "Hana Quill", "with Hana Quill")]
