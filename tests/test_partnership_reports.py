"""The partnership turns its agencies' returns into a signed-off report and
an action plan, and runs its quarterly scorecard (issue 14 items 4-8), all
through /api/v1 on both databases.

Expected words are the framework's (seed 004, the CSCP Quality Assurance and
Continuous Improvement Framework 2023 - 25), cited by section. Requests and
returns are made by ``tests/partnership_support.py``.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from pypdf import PdfReader

from core.calendar import UTC
from helpers import api_token, csrf_from, sign_in
from test_partnership_journeys import words
from partnership_support import agency_return, issue_request
from test_reports_agencies import move_to_agency

# The suite's 15 minutes: this module's rules are the same code on both
# databases; PostgreSQL runs the services', migrations', workers' and trail's tests.
SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems

pytestmark = pytest.mark.asyncio(loop_scope="session")

API = "/api/v1/partnership"
# Tuesday 6 April 2027, 09:00 BST: the first working week of the partnership's
# year 2027 to 2028 (April to March, council.yaml), after Easter Monday 29 March.
START = dt.datetime(2027, 4, 6, 8, 0, tzinfo=UTC)
VOICE = "key_lines_of_enquiry.voice_of_the_child"


def case_answers(agency: str, case: int) -> dict[str, str]:
    return {
        f"answer.{VOICE}.worked_well": f"{agency}: the child's wishes were recorded (case {case}).",
        f"answer.{VOICE}.development": f"{agency}: wishes were not shared with partners (case {case}).",
    }


def pdf_words(response) -> str:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    return re.sub(r"\s+", " ", text)


@pytest.mark.clock(START)
@pytest.mark.req("CSCP-3")
@pytest.mark.req("CSCP-5")
@pytest.mark.req("CSCP-6")
@pytest.mark.req("CSCP-8")
@pytest.mark.req("CSCP-10")
async def test_a_thematic_audit_on_two_cases_from_the_agreed_programme_to_an_action_plan(partnership, partnership_client, clock):
    client = partnership_client
    await move_to_agency(partnership, "partnership.multi_agency_auditor", "police")
    await move_to_agency(partnership, "partnership.agency_lead", "health")
    qa = await api_token(client, "partnership.qa_manager")
    chair = await api_token(client, "partnership.audit_chair")
    member = await api_token(client, "partnership.ap_member")
    board = await api_token(client, "partnership.partnership_board")
    police = await api_token(client, "partnership.multi_agency_auditor")

    # CSCP 5.2: "The annual audit programme will be discussed and agreed by the
    # A&P Subgroup before any audits commence."
    async def may_start(on: str) -> dict:
        answer = await client.get(f"{API}/programme-check", params={"on": on}, headers=qa)
        assert answer.status_code == 200, answer.text
        return answer.json()

    first = await may_start("2027-04-06")
    assert first["reason"] == (
        "There is no audit programme for 2027 to 2028. The A&P subgroup must agree the year's programme before any thematic audit starts."), first
    # "a maximum of 4 multi-agency thematic audits each year (one per quarter)": a fifth quarter does not exist.
    refused = await client.post(f"{API}/programmes", json={"year": 2027, "themes": {"5": "Neglect"}}, headers=qa)
    assert refused.status_code == 422 and refused.json()["errors"] == {"quarter_5": "A quarter is 1, 2, 3 or 4"}
    created = await client.post(f"{API}/programmes", json={"year": 2027, "themes": {"1": "Neglect", "3": "Exploitation"}}, headers=qa)
    assert created.status_code == 201, created.text
    programme = created.json()["programme"]["id"]
    assert "has not been agreed by the A&P subgroup yet" in (await may_start("2027-04-06"))["reason"]
    assert (await client.post(f"{API}/programmes/{programme}/steps/submit", json={}, headers=qa)).status_code == 200
    assert (await client.post(f"{API}/programmes/{programme}/steps/agree", json={}, headers=member)).status_code == 403
    agreed = await client.post(f"{API}/programmes/{programme}/steps/agree", json={}, headers=chair)
    assert agreed.json()["state_label"] == "Agreed by the A&P subgroup"
    assert [s["step"] for s in agreed.json()["chain"]] == ["Take to the A&P subgroup", "Agree the annual audit programme"]
    assert await may_start("2027-04-06") | {"programme": 0} == {
        "allowed": True, "reason": "", "year": 2027, "quarter": 1, "theme": "Neglect", "programme": 0}
    assert (await may_start("2027-07-06"))["reason"] == (
        "The agreed audit programme for 2027 to 2028 has no thematic audit in Quarter 2 (July to September 2027).")

    request = await issue_request(partnership, "thematic", "Neglect: multi-agency thematic audit", dt.date(2027, 4, 30), "April to June 2027")
    assert (await may_start("2027-06-30"))["reason"] == (
        "The thematic audit for Quarter 1 (April to June 2027) has already started (\u201cNeglect: multi-agency thematic audit\u201d). "
        "The partnership runs at most 4 thematic audits a year, one a quarter.")

    # Two cases, two agencies: the police return on time, health's second is late.
    for case in (0, 1):
        await agency_return(partnership, request, "partnership.multi_agency_auditor", case_answers("Police", case), case_index=case, grade="meets_good")
    await agency_return(partnership, request, "partnership.agency_lead", case_answers("Health", 0), case_index=0, grade="does_not_meet_good_yet")
    await agency_return(partnership, request, "partnership.agency_lead", case_answers("Health", 1), case_index=1, grade="does_not_meet_good_yet",
                        clock=clock, submit_at=dt.datetime(2027, 5, 4, 10, 0, tzinfo=UTC))

    # CSCP-5: the answers side by side, by case and line of enquiry; an agency cannot look.
    assert (await client.get(f"{API}/requests/{request}/side-by-side", headers=police)).status_code == 404
    side = (await client.get(f"{API}/requests/{request}/side-by-side", headers=qa)).json()
    assert [line["label"] for line in side["lines"]] == [
        "Identification of risk/need", "Assessments", "Decision-making", "Plan", "Multi-Agency Working",
        "Voice of the Child", "Family/Parental Engagement", "Equality, Diversity and Identity", "Impact of involvement"]
    assert len(side["cases"]) == 2 and side["accepted"] == 4
    voice = next(line for line in side["cases"][1]["lines"] if line["label"] == "Voice of the Child")
    assert {(a["agency"], a["development"]) for a in voice["by_agency"]} == {
        ("Police", "Police: wishes were not shared with partners (case 1)."),
        ("Health (NHS commissioners and providers)", "Health: wishes were not shared with partners (case 1)."),
    }
    assert {(a["agency"], a["grade"]) for a in side["cases"][0]["agencies"]} == {
        ("Police", "Meets Good"), ("Health (NHS commissioners and providers)", "Does Not Meet Good Yet")}

    # Findings and recommendations (5.5: "concise and appropriate recommendations ... a SMART Action Plan").
    found = await client.put(f"{API}/requests/{request}/findings/{VOICE}", headers=qa, json={
        "worked_well": "Wishes were recorded by every agency.", "development": "Wishes were not shared between agencies."})
    assert found.status_code == 200, found.text
    assert (await client.put(f"{API}/requests/{request}/findings/{VOICE}", headers=chair, json={"worked_well": "x"})).status_code == 403
    bad = await client.post(f"{API}/requests/{request}/recommendations", headers=qa, json={
        "recommendation": "", "action": "Share wishes", "by_whom": "", "by_when": "2027-01-01"})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"recommendation", "by_whom", "by_when"}
    raised = await client.post(f"{API}/requests/{request}/recommendations", headers=qa, json={
        "recommendation": "Share the child's wishes", "agency": "police", "action": "Add the child's wishes to every strategy discussion record",
        "by_whom": "Police safeguarding lead", "by_when": "2027-09-30"})
    assert raised.status_code == 201 and raised.json()["recommendations"][0]["agency_label"] == "Police"

    # CSCP-6: figures from the returns, per agency and overall; CSCP-10: cut by lens.
    numbers = (await client.get(f"{API}/requests/{request}/figures", headers=qa)).json()
    by_agency = {a["agency"]: a for a in numbers["agencies"]}
    assert {k: by_agency["Police"][k] for k in ("requested", "on_time", "late", "accepted")} == {"requested": 2, "on_time": 2, "late": 0, "accepted": 2}
    health = by_agency["Health (NHS commissioners and providers)"]
    assert {k: health[k] for k in ("requested", "on_time", "late", "accepted")} == {"requested": 2, "on_time": 1, "late": 1, "accepted": 2}
    assert numbers["overall"]["grades"]["overall"] == {"exceeds_good": 0, "meets_good": 2, "does_not_meet_good_yet": 2}
    assert (await client.get(f"{API}/requests/{request}/figures?lens=independent", headers=qa)).json()["agencies"] == []
    assert (await client.get(f"{API}/requests/{request}/figures?lens=professional", headers=qa)).json()["overall"]["requested"] == 4
    # The demo's last Section 11 round is a source of the professional lens too.
    assert sorted(r["title"] for r in (await client.get(f"{API}/requests?lens=professional", headers=qa)).json()) == [
        "Neglect: multi-agency thematic audit", "Section 11 self-assessment 2025"]
    assert (await client.get(f"{API}/requests?lens=independent", headers=qa)).json() == []

    # The report: drafted, to the chair, signed off, agreed by a subgroup member, presented.
    drafted = await client.post(f"{API}/requests/{request}/report", headers=qa)
    assert drafted.status_code == 201, drafted.text
    report = drafted.json()
    assert report["state_label"] == "Drafted by the Quality Assurance Manager"
    findings = next(s for s in report["sections"] if s["title"] == "Findings")
    assert {"label": "Findings across the partnership: areas for development",
            "value": "Voice of the Child: Wishes were not shared between agencies."} in findings["items"]
    assert (await client.post(f"{API}/requests/{request}/report", headers=qa)).status_code == 409
    assert (await client.post(f"{API}/requests/{request}/action-plan", headers=qa)).json()["detail"] == (
        "The report's recommendations become an action plan once the A&P subgroup has agreed the report")
    for token, step in ((qa, "submit"), (chair, "sign_off"), (member, "agree"), (qa, "present")):
        moved = await client.post(f"{API}/requests/{request}/report/steps/{step}", json={}, headers=token)
        assert moved.status_code == 200, (step, moved.text)
    seen = (await client.get(f"{API}/requests/{request}/report", headers=board)).json()
    assert seen["state_label"] == "Presented at the Partnership Board meeting"
    assert [s["step"] for s in seen["chain"]] == [
        "Drafted by the Quality Assurance Manager", "Send to the Audit Chair for sign-off", "Sign off", "Agree the final report",
        "Present at the Partnership Board meeting"]
    assert (await client.get(f"{API}/requests/{request}/report", headers=police)).status_code == 404
    # Every step is in the trail, with who took it.
    history = (await client.get(f"/api/v1/allocations/{seen['report']['id']}/history", headers=qa)).json()
    assert [(e["action"], e["actor_name"]) for e in history if e["action"].startswith("transition:")] == [
        (f"transition:{step}", seen["chain"][n]["by"]) for n, step in enumerate(("submit", "sign_off", "agree", "present"), start=1)]

    # The PDF carries the chain and the figures.
    text = pdf_words(await client.get(f"{API}/requests/{request}/report.pdf", headers=board))
    chair_name = seen["chain"][2]["by"]
    assert "Sign-off" in text and f"Sign off {chair_name}, 4 May 2027" in text
    assert "Agree the final report" in text and "Present at the Partnership Board meeting" in text
    assert "Health (NHS commissioners and providers) 2 1 1 0 2" in text

    # CSCP-8: the recommendations become the A&P subgroup's action plan.
    made = await client.post(f"{API}/requests/{request}/action-plan", headers=qa)
    assert made.status_code == 201, made.text
    plan = (await client.get(f"/api/v1/plans/{made.json()['action_plan']}", headers=member)).json()
    assert plan["title"] == "SMART action plan: Neglect: multi-agency thematic audit"
    assert [a["what"] for a in plan["actions"]] == [
        "Share the child's wishes: Add the child's wishes to every strategy discussion record (by Police safeguarding lead)"]
    assert (await client.post(f"{API}/requests/{request}/action-plan", headers=qa)).status_code == 409

    # What a Board member reads on the request's page; an agency's auditor gets nothing.
    await sign_in(client, "partnership.partnership_board")
    shown = words((await client.get(f"/partnership/requests/{request}")).text)
    assert "Neglect: multi-agency thematic audit" in shown and "4 of 4 returns accepted" in shown
    assert ("Voice of the Child Health (NHS commissioners and providers) Health: the child's wishes were recorded (case 0). "
            "Health: wishes were not shared with partners (case 0). Police Police: the child's wishes were recorded (case 0).") in shown
    assert f"Sign off {chair_name}, 4 May 2027" in shown and "Presented at the Partnership Board meeting" in shown
    assert "Health (NHS commissioners and providers) 2 1 1 0 2" in shown
    assert "Save the finding" not in shown and "Draft the report" not in shown
    await sign_in(client, "partnership.multi_agency_auditor")
    refused = await client.get(f"/partnership/requests/{request}")
    assert refused.status_code == 404 and "There is no request with that number that you can see" in words(refused.text)


SCORECARD_AT = dt.datetime(2027, 7, 1, 8, 0, tzinfo=UTC)  # Thursday 1 July 2027, 09:00 BST: Q1 has just ended


@pytest.mark.clock(SCORECARD_AT)
@pytest.mark.req("CSCP-2")
@pytest.mark.req("CSCP-10")
async def test_a_quarters_scorecard_from_approved_indicators_and_the_agencies_returns(partnership, partnership_client):
    client = partnership_client
    paths = (await client.get("/api/schema/openapi.json")).json()["paths"]
    for path in ("/api/v1/partnership/scorecard/{year}/{quarter}", "/api/v1/partnership/scorecard/changes/{change_id}/steps/{step}",
                 "/api/v1/partnership/programmes/{programme_id}/steps/{step}", "/api/v1/partnership/requests/{request_id}/report/steps/{step}",
                 "/api/v1/partnership/requests/{request_id}/side-by-side", "/api/v1/partnership/requests/{request_id}/action-plan"):
        assert path in paths, path
    await move_to_agency(partnership, "partnership.agency_lead", "health")
    qa = await api_token(client, "partnership.qa_manager")
    chair = await api_token(client, "partnership.audit_chair")
    member = await api_token(client, "partnership.ap_member")
    lead = await api_token(client, "partnership.agency_lead")

    # CSCP 5.1: indicators change "provided the amendment(s) are approved by a
    # quorate A&P subgroup and formally recorded in the meeting minutes".
    indicator = {"key": "iha_20_days", "label": "Initial health assessments within 20 working days", "priority": "priority_1",
                 "owner_agency": "health", "definition": "Share of children in care whose initial health assessment was within 20 working days",
                 "direction": "higher_is_better", "unit": "%", "green": 90, "amber": 80}
    proposed = await client.post(f"{API}/scorecard/changes", headers=qa, json={"proposal": indicator, "why": "Priority 1 reset"})
    assert proposed.status_code == 201, proposed.text
    change = proposed.json()["change"]["id"]
    assert (await client.get(f"{API}/scorecard/indicators", headers=qa)).json() == []  # not yet approved
    assert (await client.post(f"{API}/scorecard/changes/{change}/steps/table", json={}, headers=member)).status_code == 200
    step = f"{API}/scorecard/changes/{change}/steps/approve"
    unquorate = await client.post(step, headers=chair, json={"reason": "Agreed", "quorate": False, "members_present": 3,
                                                             "minute_reference": "A&P 24 June 2027 item 3"})
    assert unquorate.status_code == 422 and "quorate A&P subgroup" in unquorate.json()["errors"]["quorate"]
    assert (await client.post(step, headers=member, json={"reason": "x"})).status_code == 403
    approved = await client.post(step, headers=chair, json={"reason": "Agreed", "quorate": True, "members_present": 7,
                                                           "minute_reference": "A&P 24 June 2027 item 3"})
    assert approved.status_code == 200 and approved.json()["state_label"] == "Approved by a quorate A&P subgroup and recorded in the minutes"
    assert approved.json()["change"]["minute_reference"] == "A&P 24 June 2027 item 3"
    (iha,) = (await client.get(f"{API}/scorecard/indicators", headers=qa)).json()
    assert (iha["owner_label"], iha["direction_label"], iha["green"], iha["amber"]) == ("Health (NHS commissioners and providers)", "Higher is better", 90, 80)

    # Two quarters of health's figures, from accepted scorecard returns.
    def figures(quarter: str, figure: str, commentary: str) -> dict[str, str]:
        return {"answer.return_details.agency": "health", "answer.return_details.quarter": quarter,
                "answer.priority_1.figures.1.indicator": "Initial health assessments within 20 working days",
                "answer.priority_1.figures.1.figure": figure, "answer.priority_1.figures.1.commentary": commentary}

    q4 = await issue_request(partnership, "scorecard", "Scorecard figures, January to March 2027", dt.date(2027, 4, 23))
    await agency_return(partnership, q4, "partnership.agency_lead", figures("q4", "92", "Full establishment."))
    q1 = await issue_request(partnership, "scorecard", "Scorecard figures, April to June 2027", dt.date(2027, 7, 23))
    await agency_return(partnership, q1, "partnership.agency_lead", figures("q1", "84", "Two paediatricians on leave in May."))

    card = (await client.get(f"{API}/scorecard/2027/1", headers=qa)).json()
    assert card["quarter_words"] == "Quarter 1 (April to June 2027)"
    (row,) = card["rows"]
    assert (row["figure"], row["rag_label"], row["commentary"]) == (84, "Amber", "Two paediatricians on leave in May.")
    assert [(t["short"], t["figure"], t["rag_label"]) for t in row["trend"]] == [
        ("Q2 2026", None, "No figure"), ("Q3 2026", None, "No figure"), ("Q4 2026", 92, "Green"), ("Q1 2027", 84, "Amber")]
    # CSCP-10: the scorecard is the independent lens's source (4.0).
    assert (await client.get(f"{API}/scorecard/2027/1?lens=professional", headers=qa)).json()["rows"][0]["figure"] is None
    assert (await client.get(f"{API}/scorecard/2027/1?lens=independent", headers=qa)).json()["rows"][0]["figure"] == 84

    # A changed threshold goes through the same approval and changes the RAG.
    again = await client.post(f"{API}/scorecard/changes", headers=lead, json={"indicator_id": iha["id"], "proposal": {"amber": 85}, "why": "Tighter"})
    assert again.status_code == 201, again.text
    again_id = again.json()["change"]["id"]
    await client.post(f"{API}/scorecard/changes/{again_id}/steps/table", json={}, headers=qa)
    await client.post(f"{API}/scorecard/changes/{again_id}/steps/approve", headers=chair,
                      json={"reason": "Agreed", "quorate": True, "members_present": 6, "minute_reference": "A&P 1 July 2027 item 2"})
    assert (await client.get(f"{API}/scorecard/2027/1", headers=qa)).json()["rows"][0]["rag_label"] == "Red"

    # 5.1: populated by the QA manager, refined by the A&P subgroup, presented to the Board.
    assert (await client.post(f"{API}/scorecard/2027/1", headers=qa)).status_code == 201
    for token, key in ((qa, "submit"), (member, "refine"), (qa, "present")):
        moved = await client.post(f"{API}/scorecard/2027/1/steps/{key}", json={}, headers=token)
        assert moved.status_code == 200, (key, moved.text)
    done = moved.json()
    assert done["state_label"] == "Presented to the Partnership Board"
    assert [c["step"] for c in done["chain"]] == ["Take to the A&P subgroup", "Consider and refine", "Present to the Partnership Board"]
    # An agency's lead sees its own indicators, not the partnership's workflow steps.
    mine = (await client.get(f"{API}/scorecard/2027/1", headers=lead)).json()
    assert [r["key"] for r in mine["rows"]] == ["iha_20_days"] and mine["steps"] == []
    # Nobody else in an agency reads the scorecard.
    refused = await client.get(f"{API}/scorecard/2027/1", headers=await api_token(client, "partnership.practitioner.11"))
    assert refused.status_code == 404 and refused.json()["detail"] == "There is no scorecard you can see"

    # The scorecard page: trend, RAG against the threshold and the partner's narrative.
    await sign_in(client, "partnership.ap_member")
    shown = words((await client.get("/partnership/scorecard?year=2027&quarter=1")).text)
    assert "Quarter 1 (April to June 2027)" in shown and "Presented to the Partnership Board" in shown
    assert ("Initial health assessments within 20 working days Health (NHS commissioners and providers). Higher is better: "
            "green from 90%, amber from 85%. No figure No figure 92% (Green) 84% (Red) Red Two paediatricians on leave in May.") in shown
    # A proposal missing its reasons comes back with every field's error, and what was typed.
    page = await client.get("/partnership/scorecard/changes/new")
    refused = await client.post("/partnership/scorecard/changes/new", data={
        "_csrf_token": csrf_from(page.text), "key": "cp_repeat", "label": "Repeat child protection plans", "direction": "lower_is_better"})
    assert refused.status_code == 422
    text = words(refused.text)
    assert "There is a problem" in text and "Say what the indicator counts" in text and "Choose the agency that supplies the figure" in text
    assert 'value="Repeat child protection plans"' in refused.text


async def test_a_council_that_is_not_a_partnership_finds_no_partnership_records(client):
    # Found by schemathesis: a Haringey director's GET of the programmes was a 500.
    headers = await api_token(client, "haringey.director")
    for path in ("programmes", "scorecard/changes"):
        answer = await client.get(f"{API}/{path}", headers=headers)
        assert answer.status_code in (403, 404), (path, answer.status_code, answer.text)
        assert answer.json()["detail"], path
