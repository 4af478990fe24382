"""Issue 14: the partnership's requests to its agencies, the agencies'
respondents by one-time emailed link, and their returns (carried forward,
evidence on answers, the agency's sign-off, the QA manager's decision), on
both databases, through the services, pages and /api/v1.

Seed 004 (CSCP Quality Assurance and Continuous Improvement Framework
2023 - 25): 5.2.2 Section 11 "bi-annual" self-assessments by partner
agencies; 5.0 agencies respond "within the agreed timescales"; 5.3 an
impromptu audit must not ask agencies for too much at once.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from core.calendar import UTC
from core.db.tables import Agency, AgencyRequest, Allocation, Notification, OneTimeLink, Person, Trail, Work
from core.services import agency_requests, audits, evidence, respondents, sweep
from core.services.errors import Forbidden, Invalid, NotFound
from helpers import audit_day, acting, api_token, csrf_from, person, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Tuesday 1 December 2026, 10:00 London (GMT): the request goes out.
ISSUED = dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
# Christmas Day 2026 is a Friday and Boxing Day's bank holiday moves to
# Monday 28 December: the deadline may not be either.
CHRISTMAS = dt.date(2026, 12, 25)
DUE = dt.date(2027, 1, 15)  # a Friday


async def _agency(org: int, key: str) -> dict:
    return await Agency.select().where((Agency.organisation == org) & (Agency.key == key)).first()


def _token(link: str) -> str:
    return link.rsplit("/", 1)[1]


async def _last_link(person_id: int, kind: str) -> str:
    row = await Notification.select(Notification.link).where(
        (Notification.recipient == person_id) & (Notification.kind == kind)).order_by(Notification.id, ascending=False).first()
    return row["link"]


@pytest.mark.req("CSCP-4")
@pytest.mark.req("CSCP-9")
@pytest.mark.req("CSCP-1")
@pytest.mark.req("PLAT-7")
@pytest.mark.req("PLAT-8")
@pytest.mark.req("PLAT-6")
async def test_a_section_11_round_from_request_to_acceptance_and_no_agency_sees_anothers(
        partnership, partnership_demo, partnership_client, time_machine):
    time_machine.move_to(ISSUED, tick=False)
    client = partnership_client
    qa = await acting(partnership, "partnership.qa_manager")
    org = qa.actor.organisation_id
    police, health = await _agency(org, "police"), await _agency(org, "health")

    # Bad input: every field's error at once, in the council's words.
    with pytest.raises(Invalid) as refused:
        await agency_requests.issue(qa, kind="", agency_ids=[], due_on=CHRISTMAS)
    assert refused.value.errors == {
        "kind": "Choose what you are asking the agencies for",
        "agencies": "Choose at least one agency",
        "due_on": "The date the agencies must respond by must be a working day: Friday 25 December 2026 is not",
    }
    # Only the QA manager issues requests.
    with pytest.raises(Forbidden):
        await agency_requests.issue(await acting(partnership, "partnership.agency_lead.police"), kind="section_11",
                                    agency_ids=[police["id"]], due_on=DUE)

    # Last round (2024): the police's Section 11 return, accepted.
    answers = {"answer.progress.progress_of_improvements": "New safeguarding training for all officers.",
               "answer.agency.completed_by": "Head of Public Protection", "answer.declaration.information_accurate": "yes"}
    earlier = await agency_requests.issue(qa, kind="section_11", agency_ids=[police["id"]], due_on=DUE, title="Section 11 2024")
    previous = await Allocation.select().where(Allocation.agency_request == earlier).first()
    await Allocation.update({Allocation.answers: answers, Allocation.state: "accepted", Allocation.finalised_at: ISSUED}).where(
        Allocation.id == previous["id"])
    await AgencyRequest.update({AgencyRequest.state: "closed"}).where(AgencyRequest.id == earlier)

    # This round, through the API, to the police and health.
    headers = await api_token(client, "partnership.qa_manager")
    response = await client.post("/api/v1/requests", headers=headers, json={
        "kind": "section_11", "agencies": [police["id"], health["id"]], "due_on": DUE.isoformat(), "title": "Section 11 2026"})
    assert response.status_code == 201, response.text
    issued = response.json()
    assert [r["agency"] for r in issued["returns"]] == ["Health (NHS commissioners and providers)", "Police"]
    assert {r["state_label"] for r in issued["returns"]} == {"Requested from the agency"}
    police_return = next(r["id"] for r in issued["returns"] if r["agency"] == "Police")
    health_return = next(r["id"] for r in issued["returns"] if r["agency"] != "Police")

    # PLAT-8: the police's answers are carried forward from 2024, each unchanged until confirmed.
    lead_headers = await api_token(client, "partnership.agency_lead.police")
    detail = (await client.get(f"/api/v1/allocations/{police_return}", headers=lead_headers)).json()
    assert detail["answers"]["answer.progress.progress_of_improvements"] == "New safeguarding training for all officers."
    assert detail["unchanged"]["answer.progress.progress_of_improvements"] == "Unchanged since 1 December 2026"
    assert detail["changed"] == []
    # Health's come from its last accepted return (the demo's, two years before).
    health_detail = (await client.get(f"/api/v1/allocations/{health_return}", headers=headers)).json()
    assert health_detail["unchanged"]["answer.progress.progress_of_improvements"] == "Unchanged since 25 January 2025"

    # PLAT-7: the police lead invites a respondent; the email carries a one-time link.
    lead = await acting(partnership, "partnership.agency_lead.police")
    respondent_id = await respondents.invite(lead, police["id"], "Sam.Smith@Police.example", "Sam Smith")
    invitation = await _last_link(respondent_id, "respondent_invitation")
    assert invitation.startswith("/respondents/invitation/")
    stored = await OneTimeLink.select().where(OneTimeLink.person == respondent_id).first()
    assert stored["token_hash"] != _token(invitation) and len(stored["token_hash"]) == 64
    # Another agency's lead cannot invite for the police.
    with pytest.raises(Forbidden):
        await respondents.invite(await acting(partnership, "partnership.agency_lead.health"), police["id"], "x@example.org", "X")

    # The link works once: accept, then the same link says it does not work.
    client.cookies.clear()
    page = await client.get(invitation)
    assert "Accept the invitation" in page.text
    accepted = await client.post(invitation, data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/requests"
    listing = await client.get("/requests")
    assert "Section 11 2026" in listing.text
    again = await client.post(invitation, data={"_csrf_token": csrf_from(listing.text)}, follow_redirects=False)
    assert again.status_code == 410 and "This link does not work" in again.text

    # Sign-in by emailed link: the same answer for a known and an unknown address.
    client.cookies.clear()
    form = await client.get("/respondents/sign-in")
    known = await client.post("/respondents/sign-in", data={"email": "sam.smith@police.example", "_csrf_token": csrf_from(form.text)})
    unknown = await client.post("/respondents/sign-in", data={"email": "nobody@police.example", "_csrf_token": csrf_from(form.text)})
    strip = lambda text: re.sub(r'name="_csrf_token" value="[^"]+"', "", text)  # noqa: E731
    assert known.status_code == unknown.status_code == 200 and strip(known.text) == strip(unknown.text)
    assert "If that email address belongs to someone who may sign in, we have sent a link to it" in known.text
    link = await _last_link(respondent_id, "sign_in_link")
    before = client.cookies.get("session")
    confirm = await client.get(link)
    signed = await client.post(link, data={"_csrf_token": csrf_from(confirm.text)}, follow_redirects=False)
    assert signed.status_code == 303
    assert client.cookies.get("session") not in (None, before)  # a new session id

    # The respondent sees the police's return and confirms one carried answer, changes another.
    assert "Section 11 2026" in (await client.get("/")).text  # their home lists their agency's open request
    shown = await client.get(f"/audits/{police_return}")
    assert shown.status_code == 200 and "Unchanged since 1 December 2026" in shown.text
    respondent = await acting(partnership, (await Person.select(Person.username).where(Person.id == respondent_id).first())["username"])
    view = await audits.audit_view(respondent, police_return)
    assert view.editable
    revision = await audits.save_answers(respondent, police_return, view.revision, {
        **view.answers, "answer.agency.completed_by": "Designated Safeguarding Lead",
        "confirm.answer.progress.progress_of_improvements": "yes",
    })
    view = await audits.audit_view(respondent, police_return)
    assert "answer.progress.progress_of_improvements" not in view.carried.unchanged
    assert [c["label"] for c in view.carried.changed] == ["Completed by (name and role)"]
    # PLAT-6: evidence on an answer, its type checked from its content.
    pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    [file_id] = await evidence.add_to_audit(respondent, police_return, [evidence.Checked("training.pdf", "application/pdf", pdf)],
                                            field="answer.progress.progress_of_improvements")
    assert [(f.filename, f.field) for f in await evidence.of_audit(respondent, police_return)] == [
        ("training.pdf", "answer.progress.progress_of_improvements")]
    # Another agency's people cannot see the return or its file: page, file URL, API.
    health_lead_headers = await api_token(client, "partnership.agency_lead.health")
    assert (await client.get(f"/api/v1/allocations/{police_return}", headers=health_lead_headers)).status_code == 404
    assert (await client.get(f"/api/v1/allocations/{police_return}/evidence/{file_id}", headers=health_lead_headers)).status_code == 404
    with pytest.raises(NotFound):
        await evidence.download_from_audit(await acting(partnership, "partnership.agency_lead.health"), police_return, file_id)
    assert (await client.get(f"/audits/{police_return}/evidence/{file_id}")).status_code == 200  # the police's respondent may
    # Nor another agency's return, by page, API or service.
    assert (await client.get(f"/audits/{health_return}")).status_code == 404
    with pytest.raises(NotFound):
        await audits.audit_view(respondent, health_return)
    with pytest.raises(NotFound):
        await agency_requests.request_view(await acting(partnership, "partnership.agency_lead.health"), earlier)

    # The respondent sends it for sign-off; only the lead (signatory) submits.
    await audits.take_step(respondent, police_return, "send_for_sign_off")
    with pytest.raises(Forbidden):
        await audits.submit(respondent, police_return)
    view = await audits.audit_view(lead, police_return)
    assert view.state_label == "With the agency's signatory for sign-off"
    answers = {**view.answers, "grade.initial.self_evaluation": "compliant", "evidence.initial.self_evaluation": "Every standard met.",
               "grade.initial.overall": "compliant", "evidence.initial.overall": "Compliant overall.",
               "answer.agency.agency": "police", "answer.agency.date_of_completion": audit_day(),
               "answer.self_evaluation.standards.1.standard": "Leadership", "answer.self_evaluation.standards.1.self_evaluation": "Met"}
    try:
        revision = await audits.save_answers(lead, police_return, view.revision, answers)
    except Invalid as e:
        raise AssertionError(e.errors)
    try:
        await audits.submit(lead, police_return, revision)
    except Invalid as e:
        raise AssertionError(e.errors)

    # The QA manager sends it back with a reason; the lead is told.
    with pytest.raises(Invalid):
        await audits.review(qa, police_return, "return", "")
    await audits.review(qa, police_return, "return", "Say which standards the training covers.")
    told = await Notification.select(Notification.body).where(
        (Notification.recipient == (await person("partnership.agency_lead.police"))["id"]) & (Notification.allocation == police_return)
    ).order_by(Notification.id, ascending=False).first()
    assert "Say which standards the training covers." in told["body"]

    # The trail has the invitation, the sign-in and the answers.
    actions = {r["action"] for r in await Trail.select(Trail.action).where(
        (Trail.entity == "person") & (Trail.entity_id == respondent_id))}
    assert {"respondent_invited", "invitation_accepted", "sign_in_link_sent", "signed_in_by_link"} <= actions
    saved = await Trail.select(Trail.actor).where((Trail.entity_id == police_return) & (Trail.action == "answers_saved"))
    assert respondent_id in {r["actor"] for r in saved}

    # The lead removes the respondent: no more sign-in, the session ends.
    await respondents.remove(lead, respondent_id)
    assert (await client.get("/requests", follow_redirects=False)).status_code in (302, 303, 401)


@pytest.mark.req("CSCP-4")
@pytest.mark.req("CSCP-7")
async def test_the_programme_offers_to_issue_its_request_with_the_period_and_agencies_filled_in(
        partnership, partnership_demo, partnership_client):
    """The QA manager's Section 175/157 work for the partnership year (April
    2026 to March 2027, 5.2.3 "annually") issues the request to schools and
    colleges; once issued, the work names it."""
    client = partnership_client
    qa = await acting(partnership, "partnership.qa_manager")
    found = await Work.select(Work.id).where((Work.schedule_key == "partnership:section_175_157_report")
                                              & (Work.owner == qa.actor.person_id)).first()
    await sign_in(client, "partnership.qa_manager")
    page = (await client.get(f"/programme/work/{found['id']}")).text
    assert f'href="/requests/new?work={found["id"]}"' in page and "Issue the request" in page
    form = (await client.get(f"/requests/new?work={found['id']}")).text
    assert 'value="Section 175/157 self-assessment April 2026 to March 2027"' in form
    schools = await _agency(qa.actor.organisation_id, "schools")
    colleges = await _agency(qa.actor.organisation_id, "colleges")
    for agency in (schools, colleges):
        assert re.search(rf'value="{agency["id"]}"\s+checked', form)
    # The schools and colleges have no agency lead yet: refused, saying so.
    issued = await client.post("/requests/new", data={
        "_csrf_token": csrf_from(form), "kind": "section_175", "title": "Section 175/157 2026", "agencies": [str(schools["id"])],
        "due_on-day": "26", "due_on-month": "3", "due_on-year": "2027", "work": str(found["id"])})
    assert issued.status_code == 422
    assert "Schools" in issued.text and "has no agency lead to answer: add one first" in issued.text

    # CSCP 5.3 on the page: an impromptu audit that would overlap warns, asks why, then goes ahead.
    police = await _agency(qa.actor.organisation_id, "police")
    await agency_requests.issue(qa, kind="scorecard", agency_ids=[police["id"]], due_on=DUE, title="Scorecard October to December")
    case = await Allocation.raw("SELECT external_id FROM child_case WHERE organisation = {} ORDER BY id LIMIT 1", qa.actor.organisation_id)
    form = {"_csrf_token": csrf_from(issued.text), "kind": "impromptu", "title": "Impromptu audit after a rapid review",
            "agencies": [str(police["id"])], "due_on-day": "15", "due_on-month": "1", "due_on-year": "2027",
            "cases": case[0]["external_id"]}
    warned = await client.post("/requests/new", data=form)
    assert warned.status_code == 422
    assert "This would overlap other open requests to the same agencies" in warned.text
    assert "Scorecard October to December: Police, due Friday 15 January 2027" in warned.text
    assert 'name="overlap_note"' in warned.text and 'value="Impromptu audit after a rapid review"' in warned.text
    went = await client.post("/requests/new", data=form | {"_csrf_token": csrf_from(warned.text),
                                                           "overlap_note": "The rapid review found a gap in police referrals"},
                             follow_redirects=False)
    assert went.status_code == 303
    assert "The rapid review found a gap in police referrals" in (await client.get(went.headers["location"])).text


@pytest.mark.req("CSCP-9")
@pytest.mark.req("CSCP-7")
async def test_a_late_return_is_chased_then_goes_to_the_audit_chair_and_an_impromptu_audit_warns_of_overlap(
        partnership, partnership_demo, time_machine):
    time_machine.move_to(ISSUED, tick=False)
    qa = await acting(partnership, "partnership.qa_manager")
    org = qa.actor.organisation_id
    police = await _agency(org, "police")
    lead = await person("partnership.agency_lead.police")
    request_id = await agency_requests.issue(qa, kind="scorecard", agency_ids=[police["id"]], due_on=DUE, period="October to December 2026")

    # CSCP 5.3: an impromptu audit to the same agency warns and needs a note.
    case = await Allocation.raw("SELECT external_id FROM child_case WHERE organisation = {} ORDER BY id LIMIT 1", org)
    with pytest.raises(agency_requests.Overlap) as clash:
        await agency_requests.issue(qa, kind="impromptu", agency_ids=[police["id"]], due_on=DUE, case_numbers=[case[0]["external_id"]])
    assert "October to December" not in clash.value.errors["overlap_note"]
    assert "Scorecard figures for a quarter (Police, due Friday 15 January 2027)" in clash.value.errors["overlap_note"]
    impromptu = await agency_requests.issue(qa, kind="impromptu", agency_ids=[police["id"]], due_on=DUE,
                                            case_numbers=[case[0]["external_id"]], overlap_note="After the rapid review of 20 November")
    assert (await AgencyRequest.select(AgencyRequest.overlap_note).where(AgencyRequest.id == impromptu).first())["overlap_note"]

    ret = await Allocation.select(Allocation.id).where(Allocation.agency_request == request_id).first()

    async def told(kind: str) -> set[str]:
        rows = await Notification.select(Notification.recipient.username.as_alias("who")).where(
            (Notification.allocation == ret["id"]) & (Notification.kind == kind))
        return {r["who"] for r in rows}

    # Five working days before: a reminder (8 January 2027, a Friday).
    time_machine.move_to(dt.datetime(2027, 1, 8, 9, 30, tzinfo=UTC), tick=False)
    await sweep.sweep(qa.__class__(registry=partnership))
    assert await told("response_reminder") == {"partnership.agency_lead.police"}
    # After the deadline: the lead and the QA manager chase it.
    time_machine.move_to(dt.datetime(2027, 1, 18, 9, 0, tzinfo=UTC), tick=False)
    await sweep.sweep(qa.__class__(registry=partnership))
    assert await told("escalation:agency_response_overdue") == {"partnership.agency_lead.police", "partnership.qa_manager"}
    assert "partnership.audit_chair" not in await told("escalation:agency_response_still_overdue")
    # Ten working days later, still not submitted: the Audit Chair.
    time_machine.move_to(dt.datetime(2027, 2, 2, 9, 0, tzinfo=UTC), tick=False)
    await sweep.sweep(qa.__class__(registry=partnership))
    assert await told("escalation:agency_response_still_overdue") == {"partnership.audit_chair"}
    assert lead["id"]


@pytest.mark.req("PLAT-7")
async def test_an_invitation_can_be_withdrawn_and_access_ends_after_a_period_of_no_use(partnership, partnership_demo, time_machine):
    time_machine.move_to(ISSUED, tick=False)
    lead = await acting(partnership, "partnership.agency_lead.police")
    police = await _agency(lead.actor.organisation_id, "police")
    # A withdrawn invitation's link no longer works.
    withdrawn = await respondents.invite(lead, police["id"], "pat@police.example", "Pat Jones")
    token = _token(await _last_link(withdrawn, "respondent_invitation"))
    await respondents.revoke_invitation(lead, withdrawn)
    assert await respondents.accept(lead.__class__(registry=partnership), token) is None
    # Accepted, then unused for longer than the setting: asking for a link ends the access instead.
    kept = await respondents.invite(lead, police["id"], "kim@police.example", "Kim Lee")
    assert await respondents.accept(lead.__class__(registry=partnership), _token(await _last_link(kept, "respondent_invitation"))) == kept
    time_machine.move_to(ISSUED + dt.timedelta(days=91), tick=False)
    await respondents.request_sign_in(lead.__class__(registry=partnership), "KIM@police.example", idle_days=90)
    assert not (await Person.select(Person.active).where(Person.id == kept).first())["active"]
    assert await Notification.count().where((Notification.recipient == kept) & (Notification.kind == "sign_in_link")) == 0
    assert await Trail.count().where((Trail.entity_id == kept) & (Trail.action == "respondent_access_ended")) == 1
    # Their lead sees both as without access, and may invite them again.
    listed = {r["name"]: r["status"] for r in (await respondents.of_agency(lead, police["id"]))["respondents"]}
    assert listed["Pat Jones"] == listed["Kim Lee"] == "No access"
    await respondents.invite(lead, police["id"], "kim@police.example", "Kim Lee")


@pytest.mark.req("CSCP-5")
async def test_a_thematic_request_goes_out_only_as_the_agreed_programmes_audit_of_the_quarter(
        partnership, partnership_demo, time_machine):
    # Seed 004 5.2: thematic audits follow the annual audit programme agreed by
    # the A&P subgroup, at most four a year (one a quarter).
    from core.services import audit_programme
    from core.services import partnership_steps as steps

    time_machine.move_to(ISSUED, tick=False)
    qa = await acting(partnership, "partnership.qa_manager")
    chair = await acting(partnership, "partnership.audit_chair")
    police = await _agency(qa.actor.organisation_id, "police")
    case = await Allocation.raw("SELECT external_id FROM child_case WHERE organisation = {} ORDER BY id LIMIT 1",
                                qa.actor.organisation_id)
    ask = dict(kind="thematic", agency_ids=[police["id"]], due_on=DUE, case_numbers=[case[0]["external_id"]])

    with pytest.raises(Invalid) as refused:
        await agency_requests.issue(qa, title="Neglect", **ask)
    assert "must agree the year's programme before any thematic audit starts" in refused.value.errors["kind"]
    assert not await AgencyRequest.exists().where(AgencyRequest.kind == "thematic")

    year, quarter = steps.quarter_of(qa, dt.date(2026, 12, 1))
    programme = await audit_programme.create(qa, year=year, themes={quarter: "Neglect"})
    await audit_programme.take_step(qa, programme, "submit")
    await audit_programme.take_step(chair, programme, "agree")
    first = await agency_requests.issue(qa, title="Neglect", **ask)
    assert await Allocation.count().where(Allocation.agency_request == first) == 1

    with pytest.raises(Invalid) as again:
        await agency_requests.issue(qa, title="Neglect, again", **ask)
    assert "has already started (\u201cNeglect\u201d)" in again.value.errors["kind"]
