"""Bedford end to end through the work path (issue 13; PLAT-1 with BED-7,
BED-8, BED-9, BED-11): each activity is issued from the council's schedule
as work a person owes, started from My programme on a case they choose,
filled in, taken through Bedford's own workflow by the people it names, and
shown Done; on SQLite and PostgreSQL.

Expected facts are written here from the Bedford Quality Assurance and
Learning Framework (the seed's s.3-s.6 and Appendices B-D): tests never read
the seed. Bedford's year runs April to March (council.yaml), so the instants
chosen sit at the edges of its year, its half-years and its months, beside
Easter and the May bank holidays.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Allocation, ChildCase, Person, Team, Work
from core.plugins import load_plugins
from core.services import sweep
from core.services.context import Context
from helpers import api_token, csrf_from, person, sign_in
from test_programme_work import _to_do as _raw_to_do, _words
from support.snapshots import snapshot_demo

# On SQLite only (the suite's 15 minutes): these journeys prove the council's
# rules, which are the same code on both databases; PostgreSQL runs the
# services' own tests, the migrations, the workers and the trail's.
SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems

UTC = dt.timezone.utc

# App. C, "Area of practice" columns, best first: the observation-skills scale.
OBSERVATION_SKILLS = [
    ("outstanding", "Skills demonstrated were outstanding"),
    ("good", "A good level of skill seen"),
    ("could_improve", "Few skills seen, but could improve"),
    ("not_seen", "Skills not seen at all"),
]
# App. C: the six areas of practice.
AREAS_OF_PRACTICE = [
    ("communication", "Communication with child/family/professionals"),
    ("preparation", "Preparation and professionalism"),
    ("child_focus", "Ensuring the activity is child focussed"),
    ("safeguarding", "Robust safeguarding and Risk Management"),
    ("leadership", "Demonstration of leadership skills"),
    ("decision_making", "Quality of decision making"),
]


@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("bedford"), "sqlite:///unused", councils=("bedford",))).registry


@pytest_asyncio.fixture(loop_scope="session")
async def bedford_client(bedford, database_url, tmp_path, clock):
    """The Bedford demo, loaded at the test's instant (its ``clock`` mark), and the app on it."""
    from web.app import create_app

    await snapshot_demo(bedford, "bedford")
    settings = make_settings(tmp_path, database_url, councils=("bedford",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


# ------------------------------------------------------------------ helpers
def _text(page: str) -> str:
    return html.unescape(_words(page))


def _to_do(page: str) -> list[tuple[str, ...]]:
    """My programme's to-do rows as read: (due, activity, how many, status, what to do)."""
    return [tuple(html.unescape(cell) for cell in row) for row in _raw_to_do(page)]


def _revision(page: str) -> str:
    match = re.search(r'name="revision" value="(\d+)"', page)
    assert match, "no revision on the audit page"
    return match.group(1)


async def _work(owner: str, schedule: str, **where) -> list[dict]:
    who = await person(owner)
    query = Work.select().where((Work.owner == who["id"]) & (Work.schedule_key == f"bedford:{schedule}"))
    for column, value in where.items():
        query = query.where(getattr(Work, column) == value)
    return await query.order_by(Work.due_on).order_by(Work.supervisee)


async def _start_from_work_page(client, work_id: int, choose=None) -> tuple[int, str]:
    """Open the work from My programme, choose a case from those the page
    suggests (the first, or the first ``choose`` accepts), start the audit.
    Returns (the audit's id, the case number)."""
    page = await client.get(f"/programme/work/{work_id}")
    assert page.status_code == 200, page.text
    suggested = _text(page.text).split("Cases you could choose", 1)[1].split("Start audit", 1)[0].split()
    assert suggested, "the work page suggests no case"
    chosen = [n for n in suggested if choose is None or await choose(n)]
    assert chosen, f"none of the suggested cases will do: {suggested}"
    number = chosen[0]
    started = await client.post(f"/programme/work/{work_id}/start",
                                data={"_csrf_token": csrf_from(page.text), "case": number}, follow_redirects=False)
    assert started.status_code == 303, started.text
    assert started.headers["location"].startswith("/audits/")
    return int(started.headers["location"].rsplit("/", 1)[1]), number


def _category_is(category: str):
    async def check(number: str) -> bool:
        return (await ChildCase.select(ChildCase.category).where(ChildCase.external_id == number).first())["category"] == category
    return check


async def _fields(client, token: dict, allocation_id: int) -> dict:
    detail = await client.get(f"/api/v1/allocations/{allocation_id}", headers=token)
    assert detail.status_code == 200, detail.text
    return detail.json()


async def _inbox(client, username: str) -> list[str]:
    """The subjects in ``username``'s notifications, as the API gives them to them."""
    inbox = await client.get("/api/v1/notifications", headers=await api_token(client, username))
    assert inbox.status_code == 200, inbox.text
    return [n["subject"] for n in inbox.json()]


def _status_on_my_programme(page: str, activity: str) -> str:
    rows = [r for r in _to_do(page) if r[1] == activity]
    assert len(rows) == 1, (activity, _to_do(page))
    return rows[0][3]


# ================================================================== BED-8
# s.5 Staff Observation: "All Team Managers (or APs where agreed locally) will
# observe the practice of workers at least once every year"; "All Team
# Managers/APs will share Observations with workers and undertake a shared
# reflective review following the observation or at the next supervision";
# "All TMs/APs will share completed Observations with their line manager and
# the S&QA team". App. C is the form, its areas ticked on the skills scale.
#
# Thursday 25 March 2027, the day before Good Friday: a week before the end
# of Bedford's year (31 March), with Good Friday (26 March) and Easter Monday
# (29 March) in between, and the clocks going forward on Sunday 28 March.
YEAR_END_WEEK = dt.datetime(2027, 3, 25, 9, 0, tzinfo=UTC)


@pytest.mark.req("BED-8")
@pytest.mark.req("PLAT-1")
@pytest.mark.clock(YEAR_END_WEEK)
async def test_a_team_managers_yearly_practice_observation_is_issued_started_on_the_supervisee_and_done(bedford, bedford_client, clock):
    client = bedford_client
    assert (await sweep.sweep(Context(registry=bedford))).work_issued == 0  # the demo issued what was due; once only
    tm = await person("bedford.team_manager.1")
    worker = await person("bedford.social_worker.11")
    supervisees = await Person.select(Person.id, Person.display_name).where(Person.line_manager == tm["id"]).order_by(Person.id)
    # s.5: every worker the Team Manager supervises, once in the April-March
    # year, due on its last working day, Wednesday 31 March 2027.
    observations = await _work("bedford.team_manager.1", "tm_practice_observation")
    assert [(w["supervisee"], w["starts_on"], w["due_on"], w["needed"], w["form_key"]) for w in observations] == [
        (s["id"], dt.date(2026, 4, 1), dt.date(2027, 3, 31), 1, "bedford:practice_observation") for s in supervisees
    ]
    work_id = next(w["id"] for w in observations if w["supervisee"] == worker["id"])

    # My programme: the observation of each supervisee is on the to-do list.
    await sign_in(client, "bedford.team_manager.1")
    mine = await client.get("/programme/mine")
    assert mine.status_code == 200
    activity = f"Observation of practice for {worker['display_name']}"
    row = next(r for r in _to_do(mine.text) if r[1] == activity)
    # Its link names the supervisee: the three observations' links would otherwise read alike.
    assert row == ("31 March 2027", activity, "1", "To do", f"Start {activity} due 31 March 2027")

    work_page = _text((await client.get(f"/programme/work/{work_id}")).text)
    assert "Period 1 April 2026 to 31 March 2027" in work_page and "Due Wednesday 31 March 2027" in work_page
    assert "How it is done PRACTICE OBSERVATION (CHILDREN'S SERVICES)" in work_page
    # Issue 13: the observation is on the worker (App. C "MANAGER/WORKER"), not on a case.
    assert f"On {worker['display_name']}." in work_page and "Case number" not in work_page

    page = await client.get(f"/programme/work/{work_id}")
    started = await client.post(f"/programme/work/{work_id}/start", data={
        "_csrf_token": csrf_from(page.text), "person": str(worker["id"])}, follow_redirects=False)
    assert started.status_code == 303, _text(started.text)[:2000]
    allocation_id = int(started.headers["location"].rsplit("/", 1)[1])
    number = worker["display_name"]  # what the audit is shown as, where a case audit shows its case number
    assert _status_on_my_programme((await client.get("/programme/mine")).text, activity) == "Started"

    # The form: App. C's six areas, each ticked on the observation-skills scale.
    audit = await client.get(f"/audits/{allocation_id}")
    assert audit.status_code == 200
    shown = _text(audit.text)
    assert re.search(r'<h1 class="govuk-heading-l">\s*' + re.escape(html.escape(worker["display_name"])), audit.text)
    team = await Team.select(Team.name).where(Team.id == worker["team"]).first()
    assert f"Team {team['name']}" in shown and "Category" not in shown.split("Due", 1)[0]
    assert "PRACTICE OBSERVATION (CHILDREN'S SERVICES)" in shown
    for _, title in AREAS_OF_PRACTICE:
        assert title in shown
    for _, label in OBSERVATION_SKILLS:
        assert shown.count(label) >= len(AREAS_OF_PRACTICE)
    assert "Which aspects of the worker's presentation/involvement/contributions went well?" in shown

    # Nothing filled in: every required field says what is missing, nothing is lost.
    empty = await client.post(f"/audits/{allocation_id}", data={
        "_csrf_token": csrf_from(audit.text), "revision": _revision(audit.text), "action": "submit",
        "answer.details.activity_observed": "Home visit with the family",
    })
    assert empty.status_code == 422
    refused = _text(empty.text)
    for _, title in AREAS_OF_PRACTICE:
        assert f"{title}: choose a grade" in refused
    assert 'value="Home visit with the family"' in empty.text  # what was typed is kept
    # The form's capitalised labels (App. C) read as words in a sentence.
    assert "Enter manager/worker role" in refused and "mANAGER" not in refused

    # Every required field, through the page, and shared with the worker.
    token = await api_token(client, "bedford.team_manager.1")
    detail = await _fields(client, token, allocation_id)
    required = {f["name"] for f in detail["fields"] if f["required"]}
    answers = {
        "answer.details.manager_worker": worker["display_name"],
        "answer.details.manager_worker_role": "Social worker",
        "answer.details.observer": tm["display_name"],
        "answer.details.observer_role": "Team Manager",
        "answer.details.activity_observed": "Home visit with the family",
        "answer.details.date_of_observation": "2027-03-24",
        "answer.details.description": "Planned home visit to review the child in need plan with mother and child.",
        "answer.details.went_well": "Warm, clear explanation of the plan; the child was seen alone.",
        "answer.details.needs_development": "Record the child's own words in the visit note.",
        "answer.details.needs_support": "no",
        **{f"grade.initial.{key}": "good" for key, _ in AREAS_OF_PRACTICE},
        "grade.initial.safeguarding": "outstanding",
        "grade.initial.overall": "good",
        "evidence.initial.overall": "Good practice across the areas observed.",
        "answer.comments.worker_comments": "Helpful to talk it through straight after the visit.",
        "answer.comments.feedback": "Mother said she understood what happens next.",
    }
    assert required <= set(answers), required - set(answers)
    audit = await client.get(f"/audits/{allocation_id}")
    # The main button says what it does in Bedford's words (App. C: shared
    # with the worker), on "Check your answers" (issue 17).
    assert 'value="submit"' not in audit.text and "Save and check your answers" in audit.text
    check = await client.get(f"/audits/{allocation_id}/check")
    assert re.search(r'<button[^>]*>\s*Share with the worker\s*</button>', check.text)
    submitted = await client.post(f"/audits/{allocation_id}", data={
        "_csrf_token": csrf_from(audit.text), "revision": _revision(audit.text), "action": "submit", **answers,
    }, follow_redirects=False)
    assert submitted.status_code == 303, _text(submitted.text)[:2000]
    after = await client.get(f"/audits/{allocation_id}")
    shown = _text(after.text)
    assert "Status Shared with the worker for a reflective review" in shown
    assert ("Shared with the worker for a reflective review Your next step: "
            "'Reflective review held: share with line manager and S&QA'.") in shown
    assert "Submit to QA" not in shown and "The QA team will review it" not in shown
    # Still the observer's to edit (the reflective review's date and action
    # plan), but it cannot be shared again: no button for that.
    assert 'value="submit"' not in after.text and "Save draft" in shown
    # The observed worker is told, and may read it for the reflective review.
    assert f"Audit of {number}: shared with the worker for a reflective review" in await _inbox(client, "bedford.social_worker.11")

    # Tuesday 30 March 2027, after Easter Monday: the shared reflective review
    # is held and recorded, then the observation goes to the line manager and S&QA.
    clock.move_to(dt.datetime(2027, 3, 30, 14, 0, tzinfo=UTC))
    await sign_in(client, "bedford.team_manager.1")
    audit = await client.get(f"/audits/{allocation_id}")
    step = "Reflective review held: share with line manager and S&QA"
    assert step in _text(audit.text)
    done = await client.post(f"/audits/{allocation_id}/steps/complete", data={
        "_csrf_token": csrf_from(audit.text), "reason": "Reviewed together at supervision; no action plan needed.",
    }, follow_redirects=False)
    assert done.status_code == 303, _text(done.text)[:2000]
    final = _text((await client.get(f"/audits/{allocation_id}")).text)
    assert "Status Shared with the line manager and S&QA" in final
    # s.5: shared with their line manager (the Head of Service) and the S&QA team.
    for username in ("bedford.head_of_service", "bedford.sqa_officer"):
        assert f"Audit of {number}: shared with the line manager and S&QA" in await _inbox(client, username)

    # The work is done, on time: 30 March, before the year's end.
    shown = _text((await client.get(f"/programme/work/{work_id}")).text)
    assert "Status Done" in shown and "Done on 30 March 2027" in shown and f"{number}: final" in shown
    assert "Start audit" not in shown
    assert _status_on_my_programme((await client.get("/programme/mine")).text, activity) == "Done"
    listed = (await client.get(f"/api/v1/work/{work_id}", headers=token)).json()
    assert (listed["status_label"], listed["done_on"], listed["audits"][0]["final"]) == ("Done", "2027-03-30", True)


async def _save(client, token: dict, allocation_id: int, answers: dict) -> dict:
    """Save answers through the API at the audit's current revision; the audit as it is now."""
    detail = await _fields(client, token, allocation_id)
    unknown = set(answers) - {f["name"] for f in detail["fields"]}
    assert not unknown, unknown
    saved = await client.put(f"/api/v1/allocations/{allocation_id}/answers", headers=token,
                             json={"revision": detail["revision"], "answers": {**detail["answers"], **answers}})
    assert saved.status_code == 200, saved.text
    return await _fields(client, token, allocation_id)


async def _step(client, token: dict, allocation_id: int, step: str, reason: str = "") -> dict:
    taken = await client.post(f"/api/v1/allocations/{allocation_id}/steps/{step}", headers=token, json={"reason": reason})
    assert taken.status_code == 200, taken.text
    return taken.json()


async def _csv(client, url: str) -> list[list[str]]:
    import csv
    import io

    response = await client.get(url)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


# ================================================================== BED-9
# s.6 Observation of Meetings: "Managers will observe a key meeting within
# their service at least twice per year; Managers will complete a record of
# the observation and discuss this with the chair of the meeting. A shared
# record of learning and actions will be agreed and recorded; Managers will
# send a copy of the observation record to the S&QA Team." The seven
# meetings and fourteen areas are s.6's "Areas and Judgements", judged on
# App. C's scale ("Forms and Guidance Please see Appendix C").
MEETINGS = [
    "Child Protection Conference Initial/ Review", "Strategy discussion/meeting", "Core Group meeting",
    "Looked After Child Review", "ARP (Access to Resources Panel)", "Legal Planning Meeting", "Child in Need Meeting",
]
# The same seven, as the council names them for the meeting an observation is on (council.yaml meeting_types).
MEETING_TYPES = [
    "Child protection conference", "Strategy discussion or meeting", "Core group meeting", "Looked after child review",
    "ARP (Access to Resources Panel)", "Legal planning meeting", "Child in need meeting",
]
MEETING_AREAS = [
    "The focus on the child",
    "Children, young people and their families feedback and whether they feel they have been effectively helped",
    "Attendance and participation of children, young people, and advocates, including effectiveness of communication and involvement, evidence of understanding and impact",
    "Attendance and participation of parents, carers and advocates, including effectiveness of communication and involvement, evidence of understanding and impact",
    "Attendance and participation of professionals and partner agencies",
    "Protective factors are acknowledged and built upon",
    "Risk is identified, responded to and reduced",
    "Quality of decision-making - effective and timely",
    "Quality of evidence gathering and information sharing",
    "Quality of assessment and help: comprehensive and up to date",
    "Quality of planning and review. Reviews are timely, effective, appropriately challenging and lead to the delivery of a child-centred plan",
    "Effectiveness of coordination between agencies and quality of joint working",
    "Consideration and impact of age, disability, ethnicity, faith or belief, gender, gender identity, language, race and sexual orientation",
    "Overall effectiveness",
]
# Tuesday 29 September 2026: the last days of the first half of Bedford's
# year (April-September), whose observation is due Wednesday 30 September.
HALF_YEAR_END = dt.datetime(2026, 9, 29, 8, 30, tzinfo=UTC)  # 09:30 BST


@pytest.mark.req("BED-9")
@pytest.mark.req("PLAT-1")
@pytest.mark.clock(HALF_YEAR_END)
async def test_a_head_of_services_meeting_observation_is_issued_twice_a_year_agreed_with_the_chair_and_counted(bedford, bedford_client, clock):
    client = bedford_client
    hos = await person("bedford.head_of_service")
    # "at least twice per year": due at the end of each half of the April-March year.
    first = await _work("bedford.head_of_service", "hos_meeting_observation")
    assert [(w["starts_on"], w["due_on"], w["needed"], w["form_key"]) for w in first] == [
        (dt.date(2026, 4, 1), dt.date(2026, 9, 30), 1, "bedford:meeting_observation")
    ]
    work_id = first[0]["id"]
    activity = "Observation of a key meeting within the service"

    await sign_in(client, "bedford.head_of_service")
    row = next(r for r in _to_do((await client.get("/programme/mine")).text) if r[1] == activity)
    assert row == ("30 September 2026", activity, "1", "To do", f"Start {activity} due 30 September 2026")
    assert "How it is done Observation of Meetings" in _text((await client.get(f"/programme/work/{work_id}")).text)

    # Issue 13: the observation is on a meeting, not a case: the page asks
    # which of s.6's meetings, when it was held, and the case if there was one.
    page = await client.get(f"/programme/work/{work_id}")
    shown = _text(page.text)
    for label in MEETING_TYPES:
        assert label in shown
    assert "Between 1 April 2026 and 29 September 2026" in shown and "Case number (optional)" in shown
    assert "Cases you could choose" not in shown
    start = f"/programme/work/{work_id}/start"
    # No meeting chosen, a date that does not exist and an unknown case: every error at once, nothing typed lost.
    bad = await client.post(start, data={"_csrf_token": csrf_from(page.text), "meeting_on-day": "31",
                                         "meeting_on-month": "9", "meeting_on-year": "2026", "case": "NO-SUCH-1"})
    assert bad.status_code == 422
    refused = _text(bad.text)
    for message in ("Choose the type of meeting observed", "The date must be a real date", "There is no case NO-SUCH-1"):
        assert refused.count(message) == 2, message  # in the error summary and by its field
    assert 'value="31"' in bad.text and 'value="NO-SUCH-1"' in bad.text and refused.startswith("Error:")
    # Tomorrow, and before the half-year began: refused, each in words.
    for day, month, message in (("30", "9", "The date of the meeting must be today or in the past"),
                                ("31", "3", "The date of the meeting must be on or after 1 April 2026")):
        refused = await client.post(start, data={"_csrf_token": csrf_from(page.text), "meeting_type": "cp_conference",
                                                 "meeting_on-day": day, "meeting_on-month": month, "meeting_on-year": "2026"})
        assert refused.status_code == 422 and message in _text(refused.text)
    assert await Allocation.count().where(Allocation.work == work_id) == 0  # nothing started
    # A child protection conference held on Monday 28 September, about a CP case.
    number = (await ChildCase.select(ChildCase.external_id).where(ChildCase.category == "cp").order_by(ChildCase.id).first())["external_id"]
    started = await client.post(start, data={"_csrf_token": csrf_from(page.text), "meeting_type": "cp_conference",
                                             "meeting_on-day": "28", "meeting_on-month": "9", "meeting_on-year": "2026",
                                             "case": number}, follow_redirects=False)
    assert started.status_code == 303, _text(started.text)[:2000]
    allocation_id = int(started.headers["location"].rsplit("/", 1)[1])
    observed = "a child protection conference on 28 September 2026"
    audit = _text((await client.get(f"/audits/{allocation_id}")).text)
    assert f"Observation of {observed}" in audit and f"Case {number}" in audit
    history = _text((await client.get(f"/audits/{allocation_id}/history")).text)
    assert "Child protection conference, 28 September 2026" in history and "2026-09-28" not in history
    assert "Observation of Meetings" in audit
    for meeting in MEETINGS:
        assert meeting in audit
    for area in MEETING_AREAS:
        assert area in audit
    for _, label in OBSERVATION_SKILLS:
        assert label in audit

    token = await api_token(client, "bedford.head_of_service")
    detail = await _fields(client, token, allocation_id)
    areas = [f["name"] for f in detail["fields"] if f["kind"] == "grade"]
    assert len(areas) == 14  # thirteen areas and "Overall effectiveness" as the overall grade
    # Submitting with required answers missing is refused with every reason, not a 500.
    await _save(client, token, allocation_id, {"answer.details.meeting": "cp_conference"})
    early = await client.post(f"/api/v1/allocations/{allocation_id}/submit", headers=token, json={})
    assert early.status_code == 422, early.text
    assert {"answer.details.chair", "grade.initial.area_01", "grade.initial.overall"} <= set(early.json()["errors"])
    detail = await _save(client, token, allocation_id, {
        "answer.details.meeting": "cp_conference",
        "answer.details.date_of_observation": "2026-09-29",
        "answer.details.chair": "The conference's Independent Chair",
        "answer.details.observer": hos["display_name"],
        "answer.details.observer_role": "Manager (Head of Service)",
        "answer.details.went_well": "The family's views were heard first and shaped the plan.",
        "answer.details.needs_development": "Partner agencies' reports came late.",
        **{name: "good" for name in areas},
        "evidence.initial.overall": "An effective conference: risks named and a clear plan agreed.",
    })
    assert detail["state"] == "in_progress"
    assert [t["label"] for t in detail["transitions"] if t["key"] == "submit"] == ["Discuss with the chair"]
    submitted = await client.post(f"/api/v1/allocations/{allocation_id}/submit", headers=token, json={"revision": detail["revision"]})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state_label"] == "Discussed with the chair: shared record of learning and actions"

    # Wednesday 30 September, the afternoon: the shared record agreed with the
    # chair is written up, and a copy goes to S&QA.
    clock.move_to(dt.datetime(2026, 9, 30, 15, 30, tzinfo=UTC))  # 16:30 BST
    detail = await _save(client, token, allocation_id, {
        "answer.chair_discussion.discussed_on": "2026-09-30",
        "answer.chair_discussion.learning": "Ask agencies for reports five working days ahead.",
        "answer.chair_discussion.actions.1.action": "Remind agencies of the report deadline",
        "answer.chair_discussion.actions.1.who": "Conference chair",
        "answer.chair_discussion.actions.1.by_when": "2026-10-30",
    })
    final = await _step(client, token, allocation_id, "complete")
    assert (final["state_label"], final["transitions"]) == ("Copy sent to S&QA", [])
    assert f"Audit of {observed}: copy sent to S&QA" in await _inbox(client, "bedford.sqa_officer")

    await sign_in(client, "bedford.head_of_service")  # hours later: a new session
    shown = _text((await client.get(f"/programme/work/{work_id}")).text)
    assert "Status Done" in shown and "Done on 30 September 2026" in shown
    assert f"Observation of {observed}: final" in shown
    assert _status_on_my_programme((await client.get("/programme/mine")).text, activity) == "Done"

    # Thursday 1 October 2026: the second half opens and its observation is issued, once.
    clock.move_to(dt.datetime(2026, 10, 1, 7, 0, tzinfo=UTC))
    assert (await sweep.sweep(Context(registry=bedford))).work_issued > 0
    assert (await sweep.sweep(Context(registry=bedford))).work_issued == 0
    both = await _work("bedford.head_of_service", "hos_meeting_observation")
    assert [(w["starts_on"], w["due_on"]) for w in both] == [
        (dt.date(2026, 4, 1), dt.date(2026, 9, 30)), (dt.date(2026, 10, 1), dt.date(2027, 3, 31))
    ]
    await sign_in(client, "bedford.head_of_service")
    rows = [r for r in _to_do((await client.get("/programme/mine")).text) if r[1] == activity]
    assert [r[:4] for r in rows] == [("31 March 2027", activity, "1", "To do")]

    # Counted: the S&QA's monthly overview for DMT shows September's observation, done on time.
    await sign_in(client, "bedford.dmt")
    rows = await _csv(client, "/reports/overview/export.csv?period=month&date=2026-09&scope=org&table=activity")
    by_title = {r[0]: r[1:5] for r in rows[1:]}
    assert by_title["Observation of Meetings"] == ["1", "1", "1", "0"]  # allocated, completed, on time, overdue


# ================================================================== BED-11
# App. D, Team Manager: "The Team Manager for the Conference and Review
# Service will quality assure practice through: 1. Observation of at least 1
# child protection conference and 1 looked after child review per month ...
# 2. Auditing of at least one set of minutes from a child protection
# conference and looked after child review per month ... 3. Auditing of at
# least one child protection plan and looked after child plan per month";
# "Feedback will be given directly to the chair via supervision"; "The Team
# Manager will share the learning and outcomes ... within monthly reports to
# the S&QA Manager".
CRS_MONTHLY = {
    "crs_observe_cp_conference": ("Observation of a child protection conference (with an audit of its minutes and plan)", "bedford:crs_observation"),
    "crs_observe_lac_review": ("Observation of a looked after child review (with an audit of its minutes and plan)", "bedford:crs_observation"),
    "crs_audit_cp_minutes": ("Audit of a set of minutes from a child protection conference", "bedford:crs_minutes_audit"),
    "crs_audit_lac_minutes": ("Audit of a set of minutes from a looked after child review", "bedford:crs_minutes_audit"),
    "crs_audit_cp_plan": ("Audit of a child protection plan", "bedford:crs_plan_audit"),
    "crs_audit_lac_plan": ("Audit of a looked after child plan", "bedford:crs_plan_audit"),
    "crs_monthly_report": ("Monthly report of learning and outcomes from quality assurance to the S&QA Manager", ""),
}
# Friday 30 April 2027 (April's work is due today); Monday 3 May is the Early
# May bank holiday, so May's work opens on Tuesday 4 May; Monday 31 May is the
# Spring bank holiday, so it is due on Friday 28 May.
APRIL_ENDS = dt.datetime(2027, 4, 30, 8, 0, tzinfo=UTC)  # 09:00 BST


async def _crs_month(due: dt.date) -> dict[str, dict]:
    """The CRS Team Manager's work of each monthly schedule due on ``due``."""
    out = {}
    for key in CRS_MONTHLY:
        found = await _work("bedford.crs_team_manager", key, due_on=due)
        assert len(found) == 1, (key, found)
        out[key] = found[0]
    return out


@pytest.mark.req("BED-11")
@pytest.mark.req("PLAT-1")
@pytest.mark.clock(APRIL_ENDS)
async def test_the_conference_and_review_services_monthly_audits_are_issued_each_month_and_one_is_done(bedford, bedford_client, clock):
    client = bedford_client
    april = await _crs_month(dt.date(2027, 4, 30))
    assert {key: (w["activity"], w["form_key"], w["starts_on"], w["needed"]) for key, w in april.items()} == {
        key: (activity, form, dt.date(2027, 4, 1), 1) for key, (activity, form) in CRS_MONTHLY.items()
    }

    # The Early May bank holiday: May has begun, but its work is not issued yet.
    clock.move_to(dt.datetime(2027, 5, 3, 8, 0, tzinfo=UTC))
    await sweep.sweep(Context(registry=bedford))
    assert await _work("bedford.crs_team_manager", "crs_observe_cp_conference", due_on=dt.date(2027, 5, 28)) == []
    # Tuesday 4 May: May's first working day.
    clock.move_to(dt.datetime(2027, 5, 4, 7, 30, tzinfo=UTC))
    assert (await sweep.sweep(Context(registry=bedford))).work_issued > 0
    may = await _crs_month(dt.date(2027, 5, 28))
    assert {key: (w["activity"], w["starts_on"], w["due_on"]) for key, w in may.items()} == {
        key: (activity, dt.date(2027, 5, 1), dt.date(2027, 5, 28)) for key, (activity, _) in CRS_MONTHLY.items()
    }
    assert (await sweep.sweep(Context(registry=bedford))).work_issued == 0  # once

    await sign_in(client, "bedford.crs_team_manager")
    rows = _to_do((await client.get("/programme/mine")).text)
    conference = CRS_MONTHLY["crs_observe_cp_conference"][0]
    # April's observation was not done by its due day: overdue. May's is to do.
    assert [r[:4] for r in rows if r[1] == conference] == [
        ("30 April 2027", conference, "1", "Overdue"), ("28 May 2027", conference, "1", "To do"),
    ]
    assert ("28 May 2027", CRS_MONTHLY["crs_monthly_report"][0], "1", "To do") in [r[:4] for r in rows]

    # May's conference observation, started through the API on the
    # conference observed (issue 13: a meeting, with the case it was about).
    token = await api_token(client, "bedford.crs_team_manager")
    work_id = may["crs_observe_cp_conference"]["id"]
    number = (await ChildCase.select(ChildCase.external_id).where(ChildCase.category == "cp").order_by(ChildCase.id).first())["external_id"]
    # A looked after child review is not this work's meeting, and a meeting in April is not May's: both said, nothing started.
    refused = await client.post(f"/api/v1/work/{work_id}/audits", headers=token,
                                json={"meeting_type": "lac_review", "meeting_on": "2027-04-29", "case": number})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == {"meeting_type": "Choose the type of meeting observed",
                                        "meeting_on": "The date of the meeting must be on or after 1 May 2027"}
    started = await client.post(f"/api/v1/work/{work_id}/audits", headers=token,
                                json={"meeting_type": "cp_conference", "meeting_on": "2027-05-04", "case": number})
    assert started.status_code == 201, started.text
    allocation_id = started.json()["allocation_id"]
    observed = "a child protection conference on 4 May 2027"  # this morning
    assert [a["subject"] for a in started.json()["work"]["audits"]] == [f"Observation of {observed}"]
    assert (started.json()["work"]["status_label"], started.json()["work"]["form"]) == (
        "Started", "Conference and Review Service: observation of a conference/ review")
    detail = await _save(client, token, allocation_id, {
        "answer.details.meeting": "cp_conference",
        "answer.details.date": "2027-05-04",  # this morning's conference (issue 17: never a day ahead)
        "answer.details.chair": "Jonah Jones",
        "answer.observation.chairing_robust": "yes",
        "answer.observation.safeguarding_addressed": "yes",
        "answer.observation.plans_progressing": "no",
        "answer.observation.plans_progressing.comment": "Core group actions from the last conference not yet done.",
        "answer.minutes_and_plans.minutes": "Minutes clear and circulated in time.",
        "answer.minutes_and_plans.plans": "Plan outcomes not yet SMART.",
        "answer.feedback.to_chair": "Hold the core group to its actions.",
    })
    submitted = await client.post(f"/api/v1/allocations/{allocation_id}/submit", headers=token, json={"revision": detail["revision"]})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state_label"] == "Feedback to the chair via supervision"
    # Feedback given in the chair's supervision, before May's report.
    clock.move_to(dt.datetime(2027, 5, 27, 13, 0, tzinfo=UTC))
    final = await _step(client, token, allocation_id, "complete", "Discussed in supervision on 27 May.")
    assert final["state_label"] == "Included in the monthly report to the S&QA Manager"
    assert f"Audit of {observed}: included in the monthly report to the S&QA Manager" in await _inbox(client, "bedford.sqa_manager")
    await sign_in(client, "bedford.crs_team_manager")
    rows = _to_do((await client.get("/programme/mine")).text)
    assert ("28 May 2027", conference, "1", "Done") in [r[:4] for r in rows]
    done = (await client.get(f"/api/v1/work/{work_id}", headers=token)).json()
    assert (done["status"], done["done_on"], [a["case"] for a in done["audits"]]) == ("done", "2027-05-27", [number])


# App. D, Independent Chairs: "Completion of monitoring forms after each child
# protection conference and looked after child review. These forms highlight
# the preparation for conference/ review, quality of assessment and plan and
# any concerns." And the escalation route: "If they become aware of practice
# concerns that are placing a child at risk they are required to raise an
# Escalation and notify the relevant Team Manager immediately. The Team
# Manager will then investigate the issues raised and take appropriate
# action. If they become aware of a serious issue or one that involves a
# management decision the escalation will be sent to the Manager for the
# service area to action."
MONITORING = "Monitoring form after each child protection conference"


async def _chairs_monitoring_form(client, clock) -> tuple[int, int, str, dict]:
    """The CP chair starts a monitoring form by hand from My programme after a
    conference, on the child's case, and raises an Escalation with the Team
    Manager. Returns (work, audit, case number, the chair's API token)."""
    await sign_in(client, "bedford.cp_chair")
    mine = await client.get("/programme/mine")
    # "after each ... conference": no dates in the programme, started when needed.
    assert f"Start {MONITORING}" in _text(mine.text)
    form = await client.get("/programme/start/cp_chair_monitoring_form")
    assert form.status_code == 200
    started = await client.post("/programme/start/cp_chair_monitoring_form", data={
        "_csrf_token": csrf_from(form.text), "due_on-day": "7", "due_on-month": "5", "due_on-year": "2027",
    }, follow_redirects=False)
    assert started.status_code == 303, _text(started.text)[:1500]
    work_id = int(started.headers["location"].rsplit("/", 1)[1])
    allocation_id, number = await _start_from_work_page(client, work_id, choose=_category_is("cp"))
    token = await api_token(client, "bedford.cp_chair")
    chair = await person("bedford.cp_chair")
    await _save(client, token, allocation_id, {
        "answer.details.meeting": "cp_conference", "answer.details.date": "2027-05-05",
        "answer.details.chair": chair["display_name"],
        "answer.monitoring.preparation": "Reports shared late; family not prepared.",
        "answer.monitoring.assessment": "Assessment out of date.",
        "answer.monitoring.plan": "Plan does not address the new partner's history.",
        "answer.monitoring.concerns": "yes",
        "answer.monitoring.concerns.comment": "The child is at risk: no safety plan for contact with the new partner.",
        "answer.monitoring.escalation": "team_manager",
    })
    detail = await _fields(client, token, allocation_id)
    assert [t["label"] for t in detail["transitions"]] == [
        "Complete", "Raise an Escalation with the Team Manager",
        "Send the escalation to the Manager for the service area (serious issue or management decision)",
    ]
    escalated = await _step(client, token, allocation_id, "escalate", "No safety plan for contact with the new partner.")
    assert escalated["state_label"] == "Escalation raised with the Team Manager"
    return work_id, allocation_id, number, token


async def _team_manager_of(number: str) -> dict:
    case = await ChildCase.select(ChildCase.team).where(ChildCase.external_id == number).first()
    return await Person.select().where((Person.team == case["team"]) & (Person.role == "team_manager")).first()


@pytest.mark.req("BED-11")
@pytest.mark.clock(dt.datetime(2027, 5, 5, 16, 0, tzinfo=UTC))  # Wednesday 5 May 2027, after a conference
async def test_a_chairs_serious_escalation_goes_to_the_manager_for_the_service_area_who_actions_it(bedford, bedford_client, clock):
    client = bedford_client
    work_id, allocation_id, number, token = await _chairs_monitoring_form(client, clock)
    manager = await _team_manager_of(number)
    # The relevant Team Manager (the child's team's) is told immediately.
    assert f"Audit of case {number}: escalation raised with the Team Manager" in await _inbox(client, manager["username"])
    # A serious issue: the chair sends it on to the Manager for the service area.
    sent = await _step(client, token, allocation_id, "escalate_to_service_manager", "A management decision is needed on contact.")
    assert sent["state_label"] == "Escalation sent to the Manager for the service area"
    assert f"Audit of case {number}: escalation sent to the Manager for the service area" in await _inbox(client, "bedford.head_of_service")

    # The Head of Service opens it from the notification and records the action taken.
    await sign_in(client, "bedford.head_of_service")
    page = await client.get(f"/audits/{allocation_id}")
    assert page.status_code == 200, page.text
    assert "Status Escalation sent to the Manager for the service area" in _text(page.text)
    assert "Investigated and appropriate action taken" in _text(page.text)
    resolved = await client.post(f"/audits/{allocation_id}/steps/resolve", data={
        "_csrf_token": csrf_from(page.text), "reason": "Contact suspended pending a safety plan; strategy discussion held.",
    }, follow_redirects=False)
    assert resolved.status_code == 303, _text(resolved.text)[:1500]
    assert "Status Escalation investigated and actioned" in _text((await client.get(f"/audits/{allocation_id}")).text)
    # The chair is told, and their monitoring form is done.
    assert f"Audit of case {number}: escalation investigated and actioned" in await _inbox(client, "bedford.cp_chair")
    await sign_in(client, "bedford.cp_chair")
    shown = _text((await client.get(f"/programme/work/{work_id}")).text)
    assert "Status Done" in shown and "Done on 5 May 2027" in shown


@pytest.mark.req("BED-11")
@pytest.mark.clock(dt.datetime(2027, 5, 5, 16, 0, tzinfo=UTC))
async def test_the_team_manager_told_of_a_chairs_escalation_investigates_and_actions_it(bedford, bedford_client, clock):
    client = bedford_client
    work_id, allocation_id, number, _ = await _chairs_monitoring_form(client, clock)
    manager = await _team_manager_of(number)
    inbox = (await client.get("/api/v1/notifications", headers=await api_token(client, manager["username"]))).json()
    notice = next(n for n in inbox if n["subject"] == f"Audit of case {number}: escalation raised with the Team Manager")
    await sign_in(client, manager["username"])
    page = await client.get(notice["link"])  # the notification's link to the audit
    assert page.status_code == 200, _text(page.text)[:1500]
    assert "Investigated and appropriate action taken" in _text(page.text)
    resolved = await client.post(f"/audits/{allocation_id}/steps/resolve", data={
        "_csrf_token": csrf_from(page.text), "reason": "Visited with the worker; safety plan agreed with the family.",
    }, follow_redirects=False)
    assert resolved.status_code == 303
    await sign_in(client, "bedford.cp_chair")
    assert "Status Done" in _text((await client.get(f"/programme/work/{work_id}")).text)


@pytest.mark.req("BED-11")
@pytest.mark.clock(dt.datetime(2027, 5, 5, 16, 0, tzinfo=UTC))
async def test_a_chairs_monitoring_form_with_no_concerns_is_completed_and_the_work_done(bedford, bedford_client, clock):
    client = bedford_client
    await sign_in(client, "bedford.cp_chair")
    form = await client.get("/programme/start/cp_chair_monitoring_form")
    started = await client.post("/programme/start/cp_chair_monitoring_form", data={
        "_csrf_token": csrf_from(form.text), "due_on-day": "7", "due_on-month": "5", "due_on-year": "2027",
    }, follow_redirects=False)
    work_id = int(started.headers["location"].rsplit("/", 1)[1])
    allocation_id, number = await _start_from_work_page(client, work_id, choose=_category_is("cp"))
    token = await api_token(client, "bedford.cp_chair")
    detail = await _save(client, token, allocation_id, {
        "answer.details.meeting": "cp_conference", "answer.details.date": "2027-05-05", "answer.details.chair": "Jonah Jones",
        "answer.monitoring.preparation": "Well prepared.", "answer.monitoring.assessment": "Up to date.",
        "answer.monitoring.plan": "SMART and child centred.", "answer.monitoring.concerns": "no",
    })
    completed = await client.post(f"/api/v1/allocations/{allocation_id}/submit", headers=token, json={"revision": detail["revision"]})
    assert completed.status_code == 200 and completed.json()["state_label"] == "Completed"
    work = (await client.get(f"/api/v1/work/{work_id}", headers=token)).json()
    assert (work["status_label"], work["audits"][0]["final"]) == ("Done", True)


# ================================================================== BED-7
# s.4 Supervision Audit: "Managers (Heads of Service) will undertake one audit
# of a Team Manager's professional supervision records each month and one
# audit of a Team Manager's case specific supervision each month. Team
# Managers will undertake one audit of their Advanced Practitioner's
# professional supervision records each month and one audit of their
# Advanced Practitioner's case specific supervision each month. Managers will
# review findings of the audits at their next supervision; ... record these
# within the supervision record of the supervisor who was audited; Managers
# will send a copy of the audit record to the S&QA Team upon completion of the
# review with the TM/AP; Manager (Head of Service) will prepare a quarterly
# summary of issues and learning from supervision audits; DMT will review
# Supervision Audit findings quarterly". App. B is the form.
CASE_SUPERVISION_QUESTIONS = [
    "safe_defensible", "clear_decisions", "management_support", "drives_case_forward", "reflection",
    "regular_supervision", "statutory_requirements", "escalation", "child_safe",
]
PROFESSIONAL_SUPERVISION_QUESTIONS = ["monthly_supervision", "linked_to_learning", "performance_issues", "good_performance"]
SUPERVISION_AUDITS = {
    "hos_case_supervision_audit": ("Audit of a Team Manager's case specific supervision", "bedford:case_supervision_audit"),
    "hos_professional_supervision_audit": ("Audit of a Team Manager's professional supervision records", "bedford:professional_supervision_audit"),
}
# Thursday 1 October 2026: the first working day of the third quarter of
# Bedford's April-March year (October to December).
QUARTER_OPENS = dt.datetime(2026, 10, 1, 8, 0, tzinfo=UTC)  # 09:00 BST


async def _supervision_audit(client, token, work_id: int, details: dict, answers: dict, on: dict | None = None) -> tuple[int, str]:
    """Start the work's supervision audit from its page (on a case of Team
    Manager 2's team, or ``on`` that person), fill App. B in through the API
    and complete it."""
    async def team_2(number: str) -> bool:
        return (await ChildCase.select(ChildCase.team).where(ChildCase.external_id == number).first())["team"] == (
            await person("bedford.team_manager.2"))["team"]

    if on is None:
        allocation_id, number = await _start_from_work_page(client, work_id, choose=team_2)
    else:
        # Issue 13: App. B PROFESSIONAL SUPERVISION is on the supervisee, chosen by name, not on a case.
        page = await client.get(f"/programme/work/{work_id}")
        assert f'<option value="{on["id"]}">{html.escape(on["display_name"])}</option>' in page.text
        assert "Case number" not in _text(page.text)
        started = await client.post(f"/programme/work/{work_id}/start", data={
            "_csrf_token": csrf_from(page.text), "person": str(on["id"])}, follow_redirects=False)
        assert started.status_code == 303, _text(started.text)[:2000]
        allocation_id, number = int(started.headers["location"].rsplit("/", 1)[1]), on["display_name"]
    names = {f["name"] for f in (await _fields(client, token, allocation_id))["fields"]}
    if "answer.details.case_file_id" in names:  # App. B: "Case File ID audited" (case supervision only)
        details = {**details, "answer.details.case_file_id": number}
    detail = await _save(client, token, allocation_id, {**details, **answers})
    submitted = await client.post(f"/api/v1/allocations/{allocation_id}/submit", headers=token, json={"revision": detail["revision"]})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state_label"] == "Completed: findings to review at the next supervision"
    return allocation_id, number


@pytest.mark.req("BED-7")
@pytest.mark.req("PLAT-1")
@pytest.mark.clock(QUARTER_OPENS)
async def test_a_head_of_services_monthly_supervision_audits_are_issued_done_and_counted_in_the_quarterly_summary(bedford, bedford_client, clock):
    client = bedford_client
    hos = await person("bedford.head_of_service")
    tm2 = await person("bedford.team_manager.2")
    # One of each a month, due on the month's last working day, Friday 30 October.
    october = {key: await _work("bedford.head_of_service", key) for key in SUPERVISION_AUDITS}
    assert {key: [(w["activity"], w["form_key"], w["starts_on"], w["due_on"], w["needed"], w["supervisee"]) for w in rows]
            for key, rows in october.items()} == {
        key: [(activity, form, dt.date(2026, 10, 1), dt.date(2026, 10, 30), 1, None)]
        for key, (activity, form) in SUPERVISION_AUDITS.items()
    }
    # Team Manager 1 audits their Advanced Practitioner's; Team Managers 2 and 3 have none, so owe none.
    assert len(await _work("bedford.team_manager.1", "tm_case_supervision_audit")) == 1
    assert await _work("bedford.team_manager.2", "tm_case_supervision_audit") == []

    await sign_in(client, "bedford.head_of_service")
    rows = {r[1]: r for r in _to_do((await client.get("/programme/mine")).text)}
    for activity, _ in SUPERVISION_AUDITS.values():
        assert rows[activity] == ("30 October 2026", activity, "1", "To do", f"Start {activity} due 30 October 2026")

    token = await api_token(client, "bedford.head_of_service")
    worker = await person("bedford.social_worker.21")
    details = {
        "answer.details.auditor": hos["display_name"], "answer.details.date_of_audit": "2026-10-01",
        "answer.details.supervisor": tm2["display_name"],
    }
    case_audit, number = await _supervision_audit(
        client, token, october["hos_case_supervision_audit"][0]["id"],
        {**details, "answer.details.supervisee": worker["display_name"]},
        {f"answer.case_file_supervision.{q}": "yes" for q in CASE_SUPERVISION_QUESTIONS}
        | {"answer.case_file_supervision.regular_supervision": "no",
           "answer.case_file_supervision.regular_supervision.comment": "Four in the last 6 months."},
    )
    professional, _ = await _supervision_audit(
        client, token, october["hos_professional_supervision_audit"][0]["id"],
        {**details, "answer.details.supervisee": tm2["display_name"]},
        {f"answer.professional_supervision.{q}": "yes" for q in PROFESSIONAL_SUPERVISION_QUESTIONS},
        on=tm2,
    )
    rows = {r[1]: r for r in _to_do((await client.get("/programme/mine")).text)}
    assert [rows[a][3] for a, _ in SUPERVISION_AUDITS.values()] == ["Started", "Started"]

    # Tuesday 27 October: the next supervision with the Team Manager. The
    # findings are reviewed, the actions recorded, and a copy goes to S&QA.
    clock.move_to(dt.datetime(2026, 10, 27, 10, 0, tzinfo=UTC))
    for allocation_id in (case_audit, professional):
        await _save(client, token, allocation_id, {
            "answer.outcome.reviewed_at_supervision": "2026-10-27",
            "answer.outcome.actions_agreed": "Monthly case supervision booked for every worker.",
        })
        final = await _step(client, token, allocation_id, "reviewed")
        assert final["state_label"] == "Reviewed; actions recorded; copy sent to S&QA"
    inbox = await _inbox(client, "bedford.sqa_officer")
    assert f"Audit of case {number}: reviewed; actions recorded; copy sent to S&QA" in inbox
    assert f"Audit of {tm2['display_name']}: reviewed; actions recorded; copy sent to S&QA" in inbox
    # The audit on the Team Manager shows them, not a case: on its page, in
    # the auditor's list of finished audits, and on its PDF.
    await sign_in(client, "bedford.head_of_service")
    page = await client.get(f"/audits/{professional}")
    shown = _text(page.text)
    team = await Team.select(Team.name).where(Team.id == tm2["team"]).first()
    assert re.search(r'<h1 class="govuk-heading-l">\s*' + re.escape(html.escape(tm2["display_name"])), page.text)
    assert f"Team {team['name']}" in shown and "Why this audit" in shown and "Category" not in shown.split("Due", 1)[0]
    finished = await client.get("/audits/completed")
    assert f'href="/audits/{professional}">{html.escape(tm2["display_name"])}<' in finished.text
    from test_report_pdf import pdf_text

    pdf = await client.get(f"/audits/{professional}/report.pdf")
    text = pdf_text(pdf)
    assert tm2["display_name"] in text and "Supervision Audit: professional supervision" in text
    assert "Category" not in text
    await sign_in(client, "bedford.head_of_service")
    page = (await client.get("/programme/mine")).text
    rows = {r[1]: r for r in _to_do(page)}
    assert [rows[a][3] for a, _ in SUPERVISION_AUDITS.values()] == ["Done", "Done"]

    # Monday 2 November 2026 (the 1st is a Sunday): November's pair is issued.
    clock.move_to(dt.datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    await sweep.sweep(Context(registry=bedford))
    for key in SUPERVISION_AUDITS:
        assert [(w["starts_on"], w["due_on"]) for w in await _work("bedford.head_of_service", key)] == [
            (dt.date(2026, 10, 1), dt.date(2026, 10, 30)), (dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        ]

    # Thursday 31 December 2026, the quarter's last working day: DMT's
    # quarterly summary counts the audits done from the work (s.4).
    clock.move_to(dt.datetime(2026, 12, 31, 9, 30, tzinfo=UTC))
    await sign_in(client, "bedford.dmt")
    query = "period=quarter&date=2026-10&scope=org&form=case_supervision_audit&form=professional_supervision_audit"
    page = await client.get(f"/reports/questions?{query}")
    assert page.status_code == 200 and "October to December 2026" in _text(page.text)
    required = await _csv(client, f"/reports/questions/export.csv?{query}&table=required")
    assert required[0] == ["Audit", "Auditor role", "People", "With someone to audit", "Required", "Allocated", "Done", "Still to do"]
    # Three a quarter of each, for the one Head of Service (one done) and for
    # Team Manager 1, the one Team Manager with an Advanced Practitioner (none done).
    assert required[1:] == [
        ["Supervision Audit: case file supervision", "Manager (Head of Service)", "1", "1", "3", "1", "1", "2"],
        ["Supervision Audit: case file supervision", "Team Manager", "3", "1", "3", "0", "0", "3"],
        ["Supervision Audit: professional supervision", "Manager (Head of Service)", "1", "1", "3", "1", "1", "2"],
        ["Supervision Audit: professional supervision", "Team Manager", "3", "1", "3", "0", "0", "3"],
    ]
    # The audit on Team Manager 2 is their team's: in the team's overview, as the case audit of a case of the team is.
    rows = await _csv(client, f"/reports/overview/export.csv?period=quarter&date=2026-10&scope=team:{tm2['team']}&table=activity")
    by_title = {r[0]: r[1:5] for r in rows[1:]}
    assert by_title["Supervision Audit: professional supervision"] == ["1", "1", "1", "0"]  # allocated, completed, on time, overdue
    assert by_title["Supervision Audit: case file supervision"] == ["1", "1", "1", "0"]
    answers = {r[0]: r[1:] for r in (await _csv(client, f"/reports/questions/export.csv?{query}&table=questions_case_supervision_audit"))[1:]}
    assert answers["Is the child safe? (if not immediately raise with HOS)"] == ["1", "0", "0"]
    assert answers["Is there evidence of regular supervision? (How many in the last 6 months?)"] == ["0", "1", "0"]
    assert answers["Actions agreed (recorded within the supervision record of the supervisor who was audited)"] == ["1", "", "0"]


@pytest.mark.req("BED-7")
@pytest.mark.req("PLAT-1")
@pytest.mark.clock(QUARTER_OPENS)
async def test_a_team_manager_audits_their_advanced_practitioners_case_supervision_on_a_case_of_their_team(bedford, bedford_client, clock):
    """s.4: "Team Managers will undertake ... one audit of their Advanced
    Practitioner's case specific supervision each month": the cases the AP
    supervises are the team's, so the work is started on one of them (the
    case draw's other-teams rule, council.yaml, is for case file audits)."""
    client = bedford_client
    tm = await person("bedford.team_manager.1")
    ap = await person("bedford.advanced_practitioner")
    assert ap["line_manager"] == tm["id"] and ap["team"] == tm["team"]
    work = await _work("bedford.team_manager.1", "tm_case_supervision_audit")
    assert [(w["activity"], w["starts_on"], w["due_on"]) for w in work] == [
        ("Audit of an Advanced Practitioner's case specific supervision", dt.date(2026, 10, 1), dt.date(2026, 10, 30))
    ]
    await sign_in(client, "bedford.team_manager.1")

    async def own_team(number: str) -> bool:
        return (await ChildCase.select(ChildCase.team).where(ChildCase.external_id == number).first())["team"] == tm["team"]

    allocation_id, number = await _start_from_work_page(client, work[0]["id"], choose=own_team)
    case = await ChildCase.select(ChildCase.allocated_worker).where(ChildCase.external_id == number).first()
    assert case["allocated_worker"] != tm["id"]  # never a case they hold
    token = await api_token(client, "bedford.team_manager.1")
    worker = await Person.select(Person.display_name).where(Person.id == case["allocated_worker"]).first()
    detail = await _save(client, token, allocation_id, {
        "answer.details.auditor": tm["display_name"], "answer.details.date_of_audit": "2026-10-01",
        "answer.details.case_file_id": number, "answer.details.supervisor": ap["display_name"],
        "answer.details.supervisee": worker["display_name"],
        **{f"answer.case_file_supervision.{q}": "yes" for q in CASE_SUPERVISION_QUESTIONS},
    })
    submitted = await client.post(f"/api/v1/allocations/{allocation_id}/submit", headers=token, json={"revision": detail["revision"]})
    assert submitted.status_code == 200, submitted.text
    # Friday 9 October: reviewed with the AP at supervision.
    clock.move_to(dt.datetime(2026, 10, 9, 11, 0, tzinfo=UTC))
    await _save(client, token, allocation_id, {"answer.outcome.reviewed_at_supervision": "2026-10-09",
                                               "answer.outcome.actions_agreed": "None needed."})
    assert (await _step(client, token, allocation_id, "reviewed"))["state_label"] == "Reviewed; actions recorded; copy sent to S&QA"
    await sign_in(client, "bedford.team_manager.1")
    shown = _text((await client.get(f"/programme/work/{work[0]['id']}")).text)
    assert "Status Done" in shown and "Done on 9 October 2026" in shown


# s.5: "All Team Managers will identify any workers within the team in need of
# support with improving performance. These workers will be observed at least
# every 6 months". The observation is on a worker of the Team Manager's own
# team (issue 13: about a person, person_from: team), so the case draw's
# other-teams rule does not hold it back; nobody outside the team, and never
# the Team Manager themselves.
@pytest.mark.req("BED-8")
@pytest.mark.req("PLAT-1")
@pytest.mark.clock(QUARTER_OPENS)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no database behaviour of its own: SQLite only
async def test_a_team_manager_observes_a_worker_of_their_own_team_in_need_of_support(bedford, bedford_client, clock):
    client = bedford_client
    tm = await person("bedford.team_manager.1")
    work = await _work("bedford.team_manager.1", "tm_support_observation", starts_on=dt.date(2026, 10, 1))
    assert [(w["activity"], w["due_on"]) for w in work] == [
        ("Observation of a worker in need of support with improving performance", dt.date(2027, 3, 31))]
    team = await Person.select(Person.id, Person.display_name).where(
        (Person.team == tm["team"]) & (Person.id != tm["id"]) & (Person.active == True)).order_by(Person.id)  # noqa: E712
    other = await person("bedford.social_worker.21")
    assert team and other["team"] != tm["team"]
    await sign_in(client, "bedford.team_manager.1")
    page = await client.get(f"/programme/work/{work[0]['id']}")
    options = re.findall(r'<option value="(\d+)"', page.text)
    assert sorted(int(o) for o in options) == sorted(p["id"] for p in team)  # own team only, not themselves
    for who, message in ((other, "Choose someone from the list: that person is not one you may choose for this work"),
                         (tm, "You cannot audit or observe yourself")):
        refused = await client.post(f"/programme/work/{work[0]['id']}/start", data={
            "_csrf_token": csrf_from(page.text), "person": str(who["id"])})
        assert refused.status_code == 422 and message in _text(refused.text)
    worker = team[-1]
    started = await client.post(f"/programme/work/{work[0]['id']}/start", data={
        "_csrf_token": csrf_from(page.text), "person": str(worker["id"])}, follow_redirects=False)
    assert started.status_code == 303, _text(started.text)[:2000]
    audit = _text((await client.get(started.headers["location"])).text)
    assert "PRACTICE OBSERVATION (CHILDREN'S SERVICES)" in audit
    assert f"chosen by {tm['display_name']}" in audit and worker["display_name"] in audit
    listed = _text((await client.get("/audits")).text)
    assert worker["display_name"] in listed
