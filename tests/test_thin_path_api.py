"""The thin path through the JSON API, on SQLite and PostgreSQL: allocation,
fill in, submit, QA return, revise, QA accept, notifications, trail."""

from __future__ import annotations

import pytest

from helpers import api_token, complete_answers, person

AUDITOR = "haringey.cp_chair"
QA = "haringey.qa_officer"


async def _my_allocation(client, headers) -> dict:
    mine = (await client.get("/api/v1/allocations", headers=headers)).json()
    assert mine, "the auditor has no allocation"
    return (await client.get(f"/api/v1/allocations/{mine[0]['id']}", headers=headers)).json()


@pytest.mark.req("CORE-9")
@pytest.mark.req("CORE-10")
@pytest.mark.req("CORE-13")
@pytest.mark.req("CORE-14")
@pytest.mark.req("HAR-4")
@pytest.mark.req("HAR-6")
async def test_audit_goes_from_allocation_to_final_through_the_api(client):
    auditor = await api_token(client, AUDITOR)
    qa = await api_token(client, QA)

    audit = await _my_allocation(client, auditor)
    assert audit["state"] == "allocated"
    assert "Sampled at random" in audit["reason"] and "excluding the auditor's own cases" in audit["reason"]
    # HAR-4: every domain and the overall grade, twice.
    phases = {f["phase"] for f in audit["fields"] if f["kind"] == "grade"}
    assert phases == {"initial", "post_conversation"}

    # A partial draft saves; submitting it lists every missing field at once.
    answers = {"grade.initial.voice_of_child": "good", "evidence.initial.voice_of_child": "Child seen alone."}
    saved = await client.put(f"/api/v1/allocations/{audit['id']}/answers", json={"revision": 0, "answers": answers}, headers=auditor)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"revision": 1}
    refused = await client.post(f"/api/v1/allocations/{audit['id']}/submit", json={"revision": 1}, headers=auditor)
    assert refused.status_code == 422
    missing = refused.json()["errors"]
    required = {f["name"] for f in audit["fields"] if f["required"]}
    assert set(missing) == required - set(answers)
    assert missing["grade.post_conversation.overall"] == "Overall grade: choose a grade after the conversation with the practitioner"

    # Complete, submit: it goes to QA with a one-working-day deadline.
    full = complete_answers(audit["fields"], grade="requires_improvement")
    saved = await client.put(f"/api/v1/allocations/{audit['id']}/answers", json={"revision": 1, "answers": full}, headers=auditor)
    assert saved.json() == {"revision": 2}
    submitted = await client.post(f"/api/v1/allocations/{audit['id']}/submit", json={"revision": 2}, headers=auditor)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state"] == "qa_review"
    assert submitted.json()["state_due_at"] is not None

    # QA sees it in the queue and returns it with a reason.
    queue = (await client.get("/api/v1/qa/queue", headers=qa)).json()
    assert [item["id"] for item in queue] == [audit["id"]]
    no_reason = await client.post(f"/api/v1/allocations/{audit['id']}/review", json={"decision": "return"}, headers=qa)
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"] == {"reason": "Say what the auditor needs to revise"}
    returned = await client.post(
        f"/api/v1/allocations/{audit['id']}/review",
        json={"decision": "return", "reason": "Evidence for planning is thin."},
        headers=qa,
    )
    assert returned.json()["state"] == "returned"

    # The auditor revises and resubmits; QA accepts; the audit is final.
    detail = (await client.get(f"/api/v1/allocations/{audit['id']}", headers=auditor)).json()
    assert detail["editable"] is True
    full["evidence.post_conversation.planning"] = "Plan reviewed on time; actions are SMART."
    saved = await client.put(
        f"/api/v1/allocations/{audit['id']}/answers", json={"revision": detail["revision"], "answers": full}, headers=auditor
    )
    assert saved.status_code == 200
    await client.post(f"/api/v1/allocations/{audit['id']}/submit", json={}, headers=auditor)
    accepted = await client.post(f"/api/v1/allocations/{audit['id']}/review", json={"decision": "accept"}, headers=qa)
    final = accepted.json()
    assert final["state"] == "final"
    assert final["editable"] is False
    # The grade chain: both auditor phases for each submission, then final.
    chain = [(g["phase"], g["domain"]) for g in final["grade_chain"]]
    assert chain.count(("final", "overall")) == 1
    assert chain.count(("initial", "overall")) == 2  # submitted twice
    assert {g["level"] for g in final["grade_chain"] if g["phase"] == "final"} == {"requires_improvement"}

    # Practitioner and team manager are told; the auditor can no longer edit.
    case_worker = await _case_worker(audit["id"])
    worker_headers = await api_token(client, case_worker["username"])
    inbox = (await client.get("/api/v1/notifications", headers=worker_headers)).json()
    assert any(n["kind"] == "escalation:final_alert" and f"/audits/{audit['id']}" == n["link"] and n["subject"].endswith("is final: Requires Improvement") for n in inbox)
    tm_headers = await api_token(client, await _team_manager_username(case_worker))
    tm_inbox = (await client.get("/api/v1/notifications", headers=tm_headers)).json()
    assert any(n["kind"] == "escalation:final_alert" for n in tm_inbox)
    # ... and can now read the final audit, which they could not before.
    assert (await client.get(f"/api/v1/allocations/{audit['id']}", headers=worker_headers)).status_code == 200

    # CORE-14: every step is in the trail, with who did it and the request.
    history = (await client.get(f"/api/v1/allocations/{audit['id']}/history", headers=qa)).json()
    actions = [entry["action"] for entry in history]
    assert actions == [
        "allocated",
        # The month's case audit counts towards the auditor's work of the month (issue 13).
        "counted_towards_work",
        "transition:start",
        "answers_saved",
        "answers_saved",
        "transition:submit",
        "transition:return",
        "answers_saved",
        "transition:submit",
        "transition:accept",
        # HAR 2.6 alert; HAR 2.13 requires-improvement discussion within 10 working days.
        "escalation:final_alert",
        "escalation:requires_improvement_discussion",
    ]
    assert history[0]["actor_name"] is None and history[1]["actor_name"] is None  # issued by qaf itself
    assert {e["actor_name"] for e in history[2:6]} == {(await person(AUDITOR))["display_name"]}
    assert all(len(e["request_id"]) == 32 for e in history)
    assert history[6]["changes"]["reason"] == "Evidence for planning is thin."
    assert history[7]["changes"]["answers"] == {
        "evidence.post_conversation.planning": ["Seen alone; wishes recorded.", "Plan reviewed on time; actions are SMART."]
    }


async def _case_worker(allocation_id: int) -> dict:
    from core.db.tables import Allocation, Person

    row = await Allocation.select(Allocation.child_case.allocated_worker.as_alias("worker")).where(Allocation.id == allocation_id).first()
    return await Person.select().where(Person.id == row["worker"]).first()


async def _team_manager_username(worker: dict) -> str:
    from core.db.tables import Person

    manager = await Person.select(Person.username).where(Person.id == worker["line_manager"]).first()
    return manager["username"]
