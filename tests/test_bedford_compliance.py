"""A Bedford team manager's compliance audit of a supervisee's case, through
the real pages and API (BED-4, BED-3): its remedial actions become a
management direction for the worker, reviewed in supervision, and the team
manager's own programme holds the monthly case file audit, up to four
thematic audits and two compliance audits per supervisee a month."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Action, Allocation, ChildCase, Notification, Person
from core.plugins import load_plugins
from helpers import SUITE_TODAY, api_token, csrf_from, person, sign_in
from support.snapshots import snapshot_demo

TODAY = SUITE_TODAY  # the suite's clock (tests/helpers.py)
TIMESCALE = TODAY + dt.timedelta(days=7)
SUPERVISION = TODAY + dt.timedelta(days=10)


@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("bedford"), "sqlite:///unused", councils=("bedford",))).registry


@pytest_asyncio.fixture(loop_scope="session")
async def bedford_client(bedford, database_url, tmp_path):
    from web.app import create_app

    await snapshot_demo(bedford, "bedford")
    settings = make_settings(tmp_path, database_url, councils=("bedford",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


def _long(day: dt.date) -> str:
    return day.strftime("%-d %B %Y")


def _rows(page: str, caption: str) -> list[str]:
    """The text of each body row of the table with ``caption``."""
    table = page.split(caption, 1)[1].split("</table>", 1)[0]
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", r)).split()) for r in re.findall(r"<tr class=\"govuk-table__row\">(.*?)</tr>", table, re.S)][1:]


@pytest.mark.req("BED-4")
@pytest.mark.req("BED-3")
async def test_compliance_audit_remedial_actions_become_a_management_direction_reviewed_in_supervision(bedford_client):
    client = bedford_client
    manager = await person("bedford.team_manager.1")
    worker = await person("bedford.social_worker.11")
    assert worker["line_manager"] == manager["id"]
    case = await ChildCase.select().where(ChildCase.allocated_worker == worker["id"]).order_by(ChildCase.id).first()

    # The team manager opens a compliance audit of a supervisee's case.
    await sign_in(client, "bedford.team_manager.1")
    listing = await client.get("/compliance")
    assert listing.status_code == 200 and worker["display_name"] in listing.text
    assert f"Start a compliance audit of case {case['external_id']}" in listing.text
    started = await client.post("/compliance", data={"_csrf_token": csrf_from(listing.text), "case": str(case["id"])}, follow_redirects=False)
    assert started.status_code == 303
    allocation_id = int(started.headers["location"].rsplit("/", 1)[1])
    # One path (issue 13): it counts towards this month's compliance audits for that worker.
    from core.db.tables import Allocation as Audit, Work

    counted = await Work.select(Work.schedule_key, Work.supervisee, Work.due_on).where(
        Work.id == (await Audit.select(Audit.work).where(Audit.id == allocation_id).first())["work"]
    ).first()
    assert counted == {"schedule_key": "bedford:tm_compliance_audit", "supervisee": worker["id"], "due_on": dt.date(2026, 12, 31)}
    audit_page = await client.get(started.headers["location"])
    assert "Compliance Audit" in audit_page.text

    # Not someone else's supervisee.
    other = await ChildCase.select().where(ChildCase.allocated_worker == (await person("bedford.social_worker.21"))["id"]).first()
    refused = await client.post("/compliance", data={"_csrf_token": csrf_from(listing.text), "case": str(other["id"])})
    assert refused.status_code == 422 and "Choose a case held by someone you supervise" in refused.text
    assert 'href="#case"' in refused.text and 'id="case"' in refused.text

    # Fill it in through the API: chronology out of date, remedial action needed.
    token = await api_token(client, "bedford.team_manager.1")
    detail = (await client.get(f"/api/v1/allocations/{allocation_id}", headers=token)).json()
    answers = {
        # The Azeus number is the case's, filled from the record (issue 17).
        "answer.details.supervisee": worker["display_name"],
        "answer.details.date_of_audit": TODAY.isoformat(), "answer.details.supervision_date": SUPERVISION.isoformat(),
        "answer.remedial_actions.required": "yes",
        "answer.remedial_actions.actions.1.action": "Bring the chronology up to date",
        "answer.remedial_actions.actions.1.timescale": TIMESCALE.isoformat(),
        "answer.remedial_actions.management_direction_note": "yes",
    }
    for check in ("religion", "ethnicity", "chronology", "assessment", "plan", "visit", "supervision"):
        answers[f"answer.checks.{check}"] = "no" if check == "chronology" else "yes"
    names = {f["name"] for f in detail["fields"]}
    assert set(answers) <= names
    saved = await client.put(f"/api/v1/allocations/{allocation_id}/answers", json={"revision": detail["revision"], "answers": answers}, headers=token)
    assert saved.status_code == 200, saved.text

    # Complete it before supervision: the page shows the direction it will set.
    review = await client.get(f"/compliance/{allocation_id}")
    assert _rows(review.text, "Management direction: remedial actions for the worker") == [f"Bring the chronology up to date {_long(TIMESCALE)}"]
    done = await client.post(f"/compliance/{allocation_id}/complete", data={"_csrf_token": csrf_from(review.text), "revision": str(saved.json()["revision"])})
    assert done.status_code == 200
    assert "1 remedial action(s) set as a management direction, to review in supervision." in done.text
    allocation = await Allocation.select(Allocation.state, Allocation.submitted_at).where(Allocation.id == allocation_id).first()
    assert allocation["state"] == "review_in_supervision"

    action = await Action.select().where(Action.allocation == allocation_id).first()
    assert (action["kind"], action["owner"], action["due_on"], action["review_on"], action["created_by"]) == (
        "management_direction", worker["id"], TIMESCALE, SUPERVISION, manager["id"])
    # BED-3: the worker is told at once (well within 48 hours of the audit).
    told = await Notification.select().where((Notification.recipient == worker["id"]) & (Notification.kind == "action")).first()
    assert told["subject"] == f"Action for you by {_long(TIMESCALE)}: Bring the chronology up to date"
    assert told["created_at"] - allocation["submitted_at"] < dt.timedelta(hours=48)

    # The manager's action list: the direction to review in supervision.
    mine = await client.get("/actions")
    assert _rows(mine.text, "Management directions to review in supervision") == [
        f"Bring the chronology up to date Management direction: review in supervision on {_long(SUPERVISION)} "
        f"{worker['display_name']} {_long(TIMESCALE)} Open"
    ]

    # The worker's own list shows the same direction and its review date.
    await sign_in(client, "bedford.social_worker.11")
    theirs = await client.get("/actions")
    assert _rows(theirs.text, "My actions") == [
        f"Bring the chronology up to date Management direction: review in supervision on {_long(SUPERVISION)} "
        f"{worker['display_name']} {_long(TIMESCALE)} Open"
    ]
    assert (await client.get("/compliance")).status_code == 403  # workers do not compliance-audit


@pytest.mark.req("BED-4")
async def test_the_team_managers_programme_holds_case_file_thematic_and_compliance_audits(bedford_client):
    client = bedford_client
    manager = await person("bedford.team_manager.1")
    supervisees = await Person.select(Person.display_name).where(Person.line_manager == manager["id"]).order_by(Person.display_name)
    assert len(supervisees) == 3  # the demo's two social workers and its advanced practitioner
    year = TODAY.year if TODAY.month >= 4 else TODAY.year - 1  # Bedford's year starts in April
    await sign_in(client, "bedford.team_manager.1")
    page = await client.get(f"/programme/mine?year={year}")
    assert page.status_code == 200
    rows = _rows(page.text, "My activities, soonest first")
    from core.calendar import last_working_day

    months = [(year + (m < 4), m) for m in (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)]
    # One case file audit a month, due on the month's last working day.
    assert [r for r in rows if " Case file audit 1 " in r] == [
        f"{_long(last_working_day(y, m))} Case file audit 1 covers the past 6 months" for y, m in months
    ]
    # Up to four thematic audits a year (a ceiling, not a target).
    thematic = [r for r in rows if "Thematic audit on a key area of concern for the service" in r]
    assert len(thematic) == 4 and all("Thematic audit on a key area of concern for the service up to 1" in r for r in thematic)
    # At least two compliance audits for each supervisee before each monthly supervision.
    for supervisee in supervisees:
        assert [r for r in rows if f"Compliance audit before supervision for {supervisee['display_name']}" in r] == [
            f"{_long(last_working_day(y, m))} Compliance audit before supervision for {supervisee['display_name']} 2" for y, m in months
        ]


@pytest.mark.req("BED-4")
async def test_a_compliance_audit_submitted_from_the_audit_itself_gets_its_direction_once(bedford_client):
    client = bedford_client
    worker = await person("bedford.social_worker.12")
    case = await ChildCase.select().where(ChildCase.allocated_worker == worker["id"]).order_by(ChildCase.id).first()
    await sign_in(client, "bedford.team_manager.1")
    listing = await client.get("/compliance")
    started = await client.post("/compliance", data={"_csrf_token": csrf_from(listing.text), "case": str(case["id"])}, follow_redirects=False)
    allocation_id = int(started.headers["location"].rsplit("/", 1)[1])
    token = await api_token(client, "bedford.team_manager.1")
    detail = (await client.get(f"/api/v1/allocations/{allocation_id}", headers=token)).json()
    answers = {
        "answer.details.supervisee": worker["display_name"],
        "answer.details.date_of_audit": TODAY.isoformat(), "answer.details.supervision_date": SUPERVISION.isoformat(),
        "answer.remedial_actions.required": "yes",
        "answer.remedial_actions.actions.1.action": "Record the child's religion",
        "answer.remedial_actions.actions.1.timescale": TIMESCALE.isoformat(),
        "answer.remedial_actions.management_direction_note": "yes",
        **{f"answer.checks.{c}": ("no" if c == "religion" else "yes")
           for c in ("religion", "ethnicity", "chronology", "assessment", "plan", "visit", "supervision")},
    }
    saved = await client.put(f"/api/v1/allocations/{allocation_id}/answers", json={"revision": detail["revision"], "answers": answers}, headers=token)
    assert saved.status_code == 200, saved.text
    # Completed with the audit's own submit (the API's, as the page's): the
    # remedial actions become the management direction in the same step.
    assert (await client.post(f"/api/v1/allocations/{allocation_id}/submit", json={}, headers=token)).status_code == 200
    action = await Action.select(Action.kind, Action.what, Action.review_on).where(Action.allocation == allocation_id).first()
    assert action == {"kind": "management_direction", "what": "Record the child's religion", "review_on": SUPERVISION}
    # Only once: the compliance page no longer offers it, and refuses a second.
    page = await client.get(f"/compliance/{allocation_id}")
    assert "Complete and set the management direction" not in page.text
    again = await client.post(f"/compliance/{allocation_id}/complete", data={"_csrf_token": csrf_from(page.text)})
    assert again.status_code == 409 and "already been set" in again.text
    assert await Action.count().where(Action.allocation == allocation_id) == 1
