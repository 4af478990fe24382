""""As required" activities started by hand (issue 13 item 3; C17-3, C17-4).

Coventry's plan (seed 000) lists sixteen AUDIT THEMES (L214-L229) with no
owner and no surviving months; the plugin gives the senior leadership a
themed "Thematic audit", `every: as_required` (councils/coventry/definitions
/schedules.yaml `thematic_audit`). A senior leader starts one from My
programme on a theme, due on a date they give; it joins their to-do list and
is recorded as done like any work without a form (PLAT-2). Someone in
another role sees no button and is refused. Through the pages and the API,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import json
import re

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Work
from core.plugins import load_plugins
from core.services import trail
from helpers import api_token, csrf_from, person, sign_in
from support.snapshots import snapshot_demo

QA_LEAD = "coventry.senior_leader"  # SLT: owns the plan and its quality assurance (L44-L64)
OTHER = "coventry.commissioning"  # Commissioning: as-required tasks of its own (L118-L139), no thematic audits

# L214-L229 THEME cells, in the plan's order (council.yaml `themes`).
THEMES = [
    "Full Case File Audit", "CP Plans over 18 Months", "Emerging Themes from External Audits",
    "Re-referrals (within 12 months of previous referral)", "CIN", "Young Carers",
    "Emerging themes from Performance Report", "Private Fostering", "Children with disabilities", "Adoption",
    "Domestic Violence", "FDAC", "Neglect", "Young people age 13-16 coming into Care", "Young people in Care",
    "Children seen and impact",
]  # fmt: skip


@pytest.fixture(scope="module")
def coventry(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("coventry"), "sqlite:///unused", councils=("coventry",))).registry


@pytest_asyncio.fixture(loop_scope="session")
async def coventry_client(coventry, database_url, tmp_path):
    from web.app import create_app

    await snapshot_demo(coventry, "coventry")
    settings = make_settings(tmp_path, database_url, councils=("coventry",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


async def _works() -> int:
    """Work started by hand (the dated work the demo issued is not counted)."""
    return len(await Work.select(Work.id).where(Work.occurrence.like("%by hand%")))


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _start_buttons(page: str) -> list[str]:
    found = re.search(r'<ul class="govuk-list" id="start-by-hand">(.*?)</ul>', page, re.S)
    return [_text(a) for a in re.findall(r"<a [^>]*>(.*?)</a>", found.group(1), re.S)] if found else []


def _errors(page: str) -> list[str]:
    summary = re.search(r'<ul class="govuk-list govuk-error-summary__list">(.*?)</ul>', page, re.S)
    return [_text(li) for li in re.findall(r"<li>(.*?)</li>", summary.group(1), re.S)] if summary else []


def _date(page: str, name: str) -> tuple[str, str, str]:
    return tuple(
        (re.search(rf'name="{name}-{part}" type="text"(?: value="([^"]*)")?', page).group(1) or "")
        for part in ("day", "month", "year")
    )


def _to_do(page: str) -> list[tuple[str, ...]]:
    body = page.split("My work, soonest due first", 1)[1].split("</tbody>", 1)[0]
    return [
        tuple(_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S))
        for row in re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', body.split('<tbody class="govuk-table__body">', 1)[1], re.S)
    ]


def _summary(page: str) -> dict[str, str]:
    return {
        _text(key): _text(value)
        for key, value in re.findall(r'<dt class="govuk-summary-list__key">(.*?)</dt>\s*<dd class="govuk-summary-list__value">(.*?)</dd>', page, re.S)
    }


# Thursday 25 March 2027, the day before Good Friday: the month's last
# working day is Wednesday 31 March (Easter Monday is 29 March).
@pytest.mark.clock("2027-03-25T09:30:00+00:00")
@pytest.mark.req("C17-3")
@pytest.mark.req("C17-4")
async def test_a_qa_lead_starts_a_thematic_audit_on_a_theme_from_my_programme_and_records_it_done(coventry_client, coventry):
    client = coventry_client
    await sign_in(client, QA_LEAD)
    mine = await client.get("/programme/mine")
    assert mine.status_code == 200
    # Their one "as required" activity; the QA process "to be agreed" (L64) is not started by hand.
    assert _start_buttons(mine.text) == ["Start Thematic audit"]
    assert "Thematic audit" not in mine.text.split("My work, soonest due first", 1)[-1].split("</table>", 1)[0]

    start = await client.get("/programme/start/thematic_audit")
    assert start.status_code == 200
    assert _date(start.text, "due_on") == ("31", "3", "2027")  # the last working day of March
    radios = re.findall(r'<label class="govuk-label govuk-radios__label" for="theme[^"]*">\s*(.*?)\s*</label>', start.text, re.S)
    assert [_text(r) for r in radios] == THEMES
    token = csrf_from(start.text)

    # Bad input: every field's error at once, and what was typed is kept.
    bad = await client.post("/programme/start/thematic_audit",
                            data={"_csrf_token": token, "due_on-day": "32", "due_on-month": "3", "due_on-year": "2027"})
    assert bad.status_code == 422
    assert _errors(bad.text) == ["The date must be a real date", "Choose the theme of the audit"]
    assert _date(bad.text, "due_on") == ("32", "3", "2027")
    past = await client.post("/programme/start/thematic_audit", data={
        "_csrf_token": token, "due_on-day": "24", "due_on-month": "3", "due_on-year": "2027", "theme": "neglect"})
    assert past.status_code == 422
    assert _errors(past.text) == ["The date it is due must be today or later"]
    assert re.search(r'value="neglect"\s+checked', past.text)
    blank = await client.post("/programme/start/thematic_audit", data={"_csrf_token": token, "theme": "pirates"})
    assert _errors(blank.text) == ["Enter the date it is due, for example 31 3 2027", "Choose one of the themes listed"]
    assert await _works() == 0

    started = await client.post("/programme/start/thematic_audit", data={
        "_csrf_token": token, "due_on-day": "31", "due_on-month": "3", "due_on-year": "2027", "theme": "neglect"},
        follow_redirects=False)
    assert started.status_code == 303, started.text
    work_page = await client.get(started.headers["location"])
    assert "Thematic audit started" in work_page.text
    shown = _summary(work_page.text)
    assert (shown["Theme"], shown["Status"], shown["Due"]) == ("Neglect", "To do", "Wednesday 31 March 2027")
    assert shown["How it is done"] == "A completion record: when it was done, a summary and the outcome"

    # On their to-do list, with its theme, to be recorded as done.
    rows = [row for row in _to_do((await client.get("/programme/mine")).text) if row[1].startswith("Thematic audit")]
    assert [row[:4] for row in rows] == [("31 March 2027", "Thematic audit: Neglect", "1", "To do")]
    assert rows[0][4].startswith("Record as done")

    done = await client.post(f"{started.headers['location']}/complete", data={
        "_csrf_token": csrf_from(work_page.text), "done_on-day": "25", "done_on-month": "3", "done_on-year": "2027",
        "summary": "Twelve neglect cases read against the quality standards.",
        "outcome": "Chronologies missing in four; action plan to the heads of service."}, follow_redirects=True)
    assert done.status_code == 200
    assert _summary(done.text)["Status"] == "Done" and _summary(done.text)["Theme"] == "Neglect"

    # Every step is in the trail, by the QA lead.
    work = await Work.select().where(Work.theme == "neglect").first()
    steps = await trail.history("work", work["id"])
    me = await person(QA_LEAD)
    assert [(s["action"], s["actor_name"]) for s in steps] == [
        ("started_by_hand", me["display_name"]), ("completed", me["display_name"])
    ]
    changes = steps[0]["changes"]
    assert (json.loads(changes) if isinstance(changes, str) else changes) == {"schedule": "coventry:thematic_audit", "owner": me["id"], "due_on": "2027-03-31",
                                        "count": 1, "theme": "neglect"}


@pytest.mark.clock("2027-03-25T09:30:00+00:00")
@pytest.mark.req("C17-3")
async def test_someone_not_in_the_role_sees_no_start_button_and_is_refused(coventry_client):
    client = coventry_client
    await sign_in(client, OTHER)
    mine = await client.get("/programme/mine")
    buttons = _start_buttons(mine.text)
    # Their own "as required" tasks (L118-L139) are theirs to start; the thematic audit is not.
    assert "Start Thematic audit" not in buttons and len(buttons) == 7
    assert (await client.get("/programme/start/thematic_audit")).status_code == 403
    refused = await client.post("/programme/start/thematic_audit", data={
        "_csrf_token": csrf_from(mine.text), "due_on-day": "31", "due_on-month": "3", "due_on-year": "2027", "theme": "neglect"})
    assert refused.status_code == 403
    assert "Thematic audit is started by the people whose role it is" in refused.text
    assert await _works() == 0


# Monday 3 May 2027, the Early May bank holiday: the month's last working
# day is Friday 28 May (Monday 31 May is the Spring bank holiday).
@pytest.mark.clock("2027-05-03T09:30:00+01:00")
@pytest.mark.req("C17-3")
@pytest.mark.req("C17-4")
async def test_the_api_starts_a_themed_activity_and_refuses_bad_input_and_other_roles(coventry_client):
    client = coventry_client
    lead = await api_token(client, QA_LEAD)

    bad = await client.post("/api/v1/work", json={"schedule": "thematic_audit", "due_on": "2027-05-02", "theme": "pirates"}, headers=lead)
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"due_on": "The date it is due must be today or later", "theme": "Choose one of the themes listed"}
    far = await client.post("/api/v1/work", json={"schedule": "thematic_audit", "due_on": "2028-05-04"}, headers=lead)
    assert far.json()["errors"] == {"due_on": "The date it is due must be on or before 3 May 2028", "theme": "Choose the theme of the audit"}
    agreed = await client.post("/api/v1/work", json={"schedule": "slt_quality_assure_audit_process"}, headers=lead)
    assert agreed.status_code == 422 and "still to be agreed" in agreed.json()["detail"]
    assert (await client.post("/api/v1/work", json={"schedule": "no_such_thing"}, headers=lead)).status_code == 404
    assert (await client.post("/api/v1/work", json={"schedule": "thematic_audit", "colour": "red"}, headers=lead)).status_code == 400
    assert await _works() == 0

    created = await client.post("/api/v1/work", json={"schedule": "thematic_audit", "theme": "young_carers"}, headers=lead)
    assert created.status_code == 201, created.text
    work = created.json()
    assert (work["activity"], work["theme"], work["due_on"], work["starts_on"], work["status"], work["form"]) == (
        "Thematic audit", "Young Carers", "2027-05-28", "2027-05-03", "to_do", ""
    )
    listed = (await client.get("/api/v1/work", headers=lead)).json()
    assert [(w["id"], w["theme"]) for w in listed if w["activity"] == "Thematic audit"] == [(work["id"], "Young Carers")]
    done = await client.post(f"/api/v1/work/{work['id']}/completion", headers=lead, json={
        "done_on": "2027-05-03", "summary": "Young carers' records read.", "outcome": "Carers' assessments offered in all."})
    assert done.status_code == 200 and (done.json()["status"], done.json()["theme"]) == ("done", "Young Carers")

    # Another role: refused, nothing written; its own as-required task, unthemed, starts.
    other = await api_token(client, OTHER)
    refused = await client.post("/api/v1/work", json={"schedule": "thematic_audit", "theme": "neglect"}, headers=other)
    assert refused.status_code == 403
    themed = await client.post("/api/v1/work", json={"schedule": "res_complaints", "theme": "neglect"}, headers=other)
    assert themed.status_code == 422 and "theme" in themed.json()["errors"]
    own = await client.post("/api/v1/work", json={"schedule": "res_complaints", "due_on": "2027-05-04"}, headers=other)
    assert own.status_code == 201 and own.json()["theme"] == ""
    assert own.json()["id"] in [w["id"] for w in (await client.get("/api/v1/work", headers=other)).json()]
    assert await _works() == 2
