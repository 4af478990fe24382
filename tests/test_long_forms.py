"""Issue 17 items 3 and 4: a long audit form people can work in.

Dates are GOV.UK date inputs checked against the audit's window (on the
calendar's awkward days: 29 February, the night British Summer Time
begins); the sections are a task list, each with a page of its own and a
status; "Check your answers" comes before the submit; facts qaf holds are
shown, not asked, and an answer contradicting the case is refused; QA sees a
summary and goes straight to its decision.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest

from core.db.tables import Allocation
from core.services import audits
from core.services.errors import Invalid
from helpers import acting, allocation_of, csrf_from, sign_in
from test_bedford_case_file_audit import bedford, bedford_client  # noqa: F401  (fixtures)

DOMAINS = ["voice_of_child", "assessment", "planning", "management_oversight", "impact"]


def plain(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def revision(page: str) -> str:
    return re.search(r'name="revision" value="(\d+)"', page).group(1)


def error_links(page: str) -> dict[str, str]:
    summary = page.split('class="govuk-error-summary"', 1)[1].split("</ul>", 1)[0]
    return {target: plain(text) for target, text in re.findall(r'<a href="([^"]+)">(.*?)</a>', summary, re.S)}


def task_list(page: str) -> dict[str, str]:
    """The audit's task list: section title -> its status, as shown."""
    items = re.findall(r'class="govuk-link govuk-task-list__link"[^>]*>(.*?)</a>.*?class="govuk-task-list__status"[^>]*>(.*?)</div>', page, re.S)
    return {plain(name): plain(status) for name, status in items}


def typed_date(page: str, stem: str) -> tuple[str, str, str]:
    """What a GOV.UK date input shows in its day, month and year boxes."""
    def box(part):
        found = re.search(rf'id="{stem}-{part}" name="[^"]+" type="text"(?: value="([^"]*)")?', page)
        assert found, f"no {part} box for {stem}"
        return found.group(1) or ""
    return box("day"), box("month"), box("year")


async def _stored(allocation_id: int) -> dict:
    row = await Allocation.select(Allocation.answers, Allocation.state).where(Allocation.id == allocation_id).first()
    if isinstance(row["answers"], str):
        row["answers"] = json.loads(row["answers"])
    return row


HELD_ON = "answer.conversation.held_on"


async def _save_date(client, url: str, page: str, day: str, month: str, year: str):
    return await client.post(url, data={
        "_csrf_token": csrf_from(page), "revision": revision(page), "action": "save",
        f"{HELD_ON}-day": day, f"{HELD_ON}-month": month, f"{HELD_ON}-year": year,
    }, follow_redirects=False)  # fmt: skip


# The demo's cycle (and so the audit's allocation) is made on 29 February
# 2028, a leap day; the same test then runs on the night British Summer Time
# begins (26 March 2028), when London's date is a day ahead of UTC's.
@pytest.mark.clock("2028-02-29T10:00:00+00:00")
async def test_a_date_is_typed_day_month_year_and_checked_against_the_audits_window(client, clock, registry):
    username = "haringey.cp_chair"
    await sign_in(client, username)
    allocation = await allocation_of(username)
    url = f"/audits/{allocation['id']}"
    page = (await client.get(url)).text
    # HAR 2.4: "Date of the conversation" is a GOV.UK date input, never type="date".
    assert 'type="date"' not in page
    assert typed_date(page, "answer-conversation-held_on") == ("", "", "")

    refusals = [
        (("30", "2", "2028"), "Date of the conversation must be a real date"),
        (("29", "", "2028"), "Date of the conversation must include a month"),
        (("", "", "2028"), "Date of the conversation must include a day and month"),
        (("29", "2", "28"), "Year must include 4 numbers"),
        # Before the month's case audit was issued (HAR 2.2: the monthly cycle;
        # HAR 2.4: the conversation follows reading the file).
        (("31", "1", "2028"), "Date of the conversation must be the same as or after 1 February 2028, when the period of this work began"),
        (("1", "3", "2028"), "Date of the conversation must be today or in the past"),
    ]
    for typed, message in refusals:
        refused = await _save_date(client, url, page, *typed)
        assert refused.status_code == 422, typed
        assert error_links(refused.text) == {"#answer-conversation-held_on-day": message}, typed
        # What was typed is shown back as typed.
        assert typed_date(refused.text, "answer-conversation-held_on") == typed
        assert plain(refused.text).count(message) == 2  # in the summary and at the field
    assert not (await _stored(allocation["id"]))["answers"]

    # 29 February 2028 itself (today): saved as a date, shown back split.
    saved = await _save_date(client, url, page, "29", "02", "2028")
    assert saved.status_code == 303 and saved.headers["location"].endswith("#save-draft")
    assert (await _stored(allocation["id"]))["answers"][HELD_ON] == "2028-02-29"
    page = (await client.get(url)).text
    assert typed_date(page, "answer-conversation-held_on") == ("29", "2", "2028")

    # 23:30 UTC on 26 March 2028 is 00:30 on 27 March in London (BST began at 01:00 UTC):
    # "today" is London's day, so the 27th is accepted and the 28th is not.
    clock.move_to(dt.datetime(2028, 3, 26, 23, 30, tzinfo=dt.timezone.utc))
    await sign_in(client, username)
    page = (await client.get(url)).text
    refused = await _save_date(client, url, page, "28", "3", "2028")
    assert error_links(refused.text) == {"#answer-conversation-held_on-day": "Date of the conversation must be today or in the past"}
    assert (await _save_date(client, url, page, "27", "3", "2028")).status_code == 303
    assert (await _stored(allocation["id"]))["answers"][HELD_ON] == "2028-03-27"

    # The JSON API's save (the same service) takes the ISO date and gets the same refusal.
    ctx = await acting(registry, username)
    with pytest.raises(Invalid) as refused_api:
        await audits.save_answers(ctx, allocation["id"], int(revision(page)) + 1, {HELD_ON: "2028-01-31"})
    assert refused_api.value.errors == {
        HELD_ON: "Date of the conversation must be the same as or after 1 February 2028, when the period of this work began"}


async def test_sections_are_a_task_list_each_saved_on_its_own_page_then_checked_and_submitted(client):
    username = "haringey.cp_chair"
    await sign_in(client, username)
    allocation = await allocation_of(username)
    url = f"/audits/{allocation['id']}"
    page = (await client.get(url)).text
    # A link to raise a concern comes before the form, not after 16,000 pixels of it.
    assert page.index("Raise an immediate concern about the child") < page.index('<div id="audit-form">')
    concern = await client.get(f"{url}/concern")
    assert concern.status_code == 200 and "Tell the team manager now" in concern.text
    tasks = task_list(page)
    assert list(tasks) == [
        "Voice and lived experience of the child", "Assessment", "Planning and review",
        "Management oversight and supervision", "Impact and outcomes for the child",
        "Reflective conversation with the practitioner", "Overall grade",
    ]  # fmt: skip
    assert set(tasks.values()) == {"Not started"}
    assert "You have completed 0 of 7 sections." in plain(page)

    # One section on its own page: only its fields, saved alone, then on to the next.
    section = (await client.get(f"{url}?section=voice_of_child")).text
    assert "<h1 class=\"govuk-heading-l\">Voice and lived experience of the child</h1>" in section
    assert 'name="grade.initial.voice_of_child"' in section and 'name="grade.initial.assessment"' not in section
    answers = {f"grade.{p}.voice_of_child": "good" for p in ("initial", "post_conversation")} | {
        f"evidence.{p}.voice_of_child": "Child seen alone twice; wishes recorded." for p in ("initial", "post_conversation")}
    done = await client.post(url, data={
        "_csrf_token": csrf_from(section), "revision": revision(section), "section": "voice_of_child", "action": "continue", **answers,
    }, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == f"{url}?section=assessment"
    section = (await client.get(f"{url}?section=assessment")).text
    done = await client.post(url, data={
        "_csrf_token": csrf_from(section), "revision": revision(section), "section": "assessment", "action": "save",
        "grade.initial.assessment": "requires_improvement",
    }, follow_redirects=False)  # fmt: skip
    # Without JavaScript, "Save draft" comes back to the button, not the top of the page.
    assert done.status_code == 303 and done.headers["location"] == f"{url}?section=assessment#save-draft"
    stored = (await _stored(allocation["id"]))["answers"]
    assert stored["grade.initial.voice_of_child"] == "good"  # the first section's answers are kept
    assert stored["grade.initial.assessment"] == "requires_improvement"

    tasks = task_list((await client.get(url)).text)
    assert tasks["Voice and lived experience of the child"] == "Completed"
    assert tasks["Assessment"] == "In progress"
    assert tasks["Planning and review"] == "Not started"

    # Check your answers: each section's answers with a link to change them.
    check = await client.get(f"{url}/check")
    assert check.status_code == 200
    text = plain(check.text)
    assert "Check your answers" in text and "Voice and lived experience of the child" in text
    assert f'href="{url}?section=assessment#grade-initial-assessment"' in check.text
    assert "Change<span class=\"govuk-visually-hidden\"> Grade after reading the case file</span>" in check.text
    assert "Requires Improvement" in text
    # Submitting from there with answers missing lists them, each linked to its section's page.
    refused = await client.post(f"{url}/submit", data={"_csrf_token": csrf_from(check.text), "revision": revision(check.text)})
    assert refused.status_code == 422
    links = error_links(refused.text)
    assert links[f"{url}?section=planning#grade-initial-planning"] == "Planning and review: choose a grade after reading the case file"
    assert links[f"{url}?section=conversation#answer-conversation-held_on-day"] == "Enter date of the conversation"

    # Everything answered (the whole form's page still saves everything at once): submitted from the check page.
    full = (await client.get(url)).text
    everything = {f"grade.{p}.{d}": "good" for p in ("initial", "post_conversation") for d in [*DOMAINS, "overall"]} | {
        f"evidence.{p}.{d}": "Evidence from the file." for p in ("initial", "post_conversation") for d in [*DOMAINS, "overall"]} | {
        "answer.conversation.notes": "The practitioner explained the delays.",
        f"{HELD_ON}-day": str(allocation["created_at"].day), f"{HELD_ON}-month": str(allocation["created_at"].month),
        f"{HELD_ON}-year": str(allocation["created_at"].year)}  # fmt: skip
    saved = await client.post(url, data={"_csrf_token": csrf_from(full), "revision": revision(full), "action": "check", **everything},
                              follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"{url}/check"
    check = await client.get(f"{url}/check")
    assert "Submit to QA" in check.text
    submitted = await client.post(f"{url}/submit", data={"_csrf_token": csrf_from(check.text), "revision": revision(check.text)},
                                  follow_redirects=False)
    assert submitted.status_code == 303, plain(submitted.text)[:1500]
    assert (await _stored(allocation["id"]))["state"] != allocation["state"]

    # QA: a summary at the top and a link straight to the decision.
    await client.get("/logout")
    await sign_in(client, "haringey.qa_officer")
    qa = (await client.get(url)).text
    top = qa.split('id="qa-decision"', 1)[0]
    assert '<a class="govuk-link" href="#qa-decision">Go to the QA decision</a>' in top
    assert "Overall grade given" in plain(top) and "Good" in plain(top.split("Overall grade given", 1)[1])
    assert qa.index("Go to the QA decision") < qa.index("Voice and lived experience of the child: ") if "Voice and lived experience of the child: " in qa else True


@pytest.mark.req("BED-1")
async def test_facts_qaf_holds_are_shown_not_asked_and_a_contradiction_is_refused(bedford_client):  # noqa: F811
    client = bedford_client
    username = "bedford.team_manager.1"
    allocation = await allocation_of(username)
    await sign_in(client, username)
    url = f"/audits/{allocation['id']}"
    page = (await client.get(url)).text
    # BED App. A section 1 asks for the team, worker, team manager, auditor,
    # Azeus number and category: qaf holds them, so they are shown from the record.
    form = page.split('id="section-section_1"', 1)[1].split('id="section-section_2"', 1)[0]
    facts = dict(re.findall(r'<dt class="govuk-summary-list__key">\s*(.*?)\s*</dt>\s*<dd class="govuk-summary-list__value">\s*(.*?)\s*</dd>', form, re.S))
    assert list(facts) == ["Azeus Number", "Name of Auditor and Designation", "Team Name", "Team Manager", "Social Worker", "Category of case"]
    for name in ("azeus_number", "auditor", "team_name", "team_manager", "social_worker", "category"):
        assert f'name="answer.section_1.{name}"' not in form
    row = await Allocation.raw(
        "SELECT c.external_id, c.category, t.name AS team FROM allocation a JOIN child_case c ON c.id = a.child_case"
        " JOIN team t ON t.id = c.team WHERE a.id = {}", allocation["id"])
    case = row[0]
    assert facts["Azeus Number"] == case["external_id"] and facts["Team Name"] == case["team"]
    # "Date of audit" is a GOV.UK date input.
    assert 'id="answer-section_1-date_of_audit-day"' in form

    # A category other than the case's is refused, saying what the record holds.
    other = "cp" if case["category"] != "cp" else "cin"
    refused = await client.post(url, data={
        "_csrf_token": csrf_from(page), "revision": revision(page), "action": "save",
        "answer.section_1.category": other, "answer.section_1.case_summary": "Two siblings.",
    }, follow_redirects=False)  # fmt: skip
    assert refused.status_code == 422
    shown = facts["Category of case"]
    assert f"Category of case is {shown} on the case record, so it cannot be given as anything else" in plain(refused.text)
    assert "Two siblings." in refused.text  # nothing typed is lost
    # Saved without it: the record's facts are in the answers, as the case holds them.
    saved = await client.post(url, data={
        "_csrf_token": csrf_from(page), "revision": revision(page), "action": "save", "answer.section_1.case_summary": "Two siblings.",
    }, follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    stored = (await _stored(allocation["id"]))["answers"]
    assert stored["answer.section_1.category"] == case["category"]
    assert stored["answer.section_1.team_name"] == case["team"]
    assert stored["answer.section_1.azeus_number"] == case["external_id"]
