"""Least privilege on every route: pages and API refuse what a role may not see."""

from __future__ import annotations

import pytest

from helpers import allocation_of, api_token, complete_answers, csrf_from, sign_in


@pytest.mark.req("CORE-10")
async def test_an_auditor_cannot_see_another_auditors_allocation(client):
    theirs = await allocation_of("haringey.iro")
    await sign_in(client, "haringey.cp_chair")
    page = await client.get(f"/audits/{theirs['id']}")
    assert page.status_code == 404
    assert "There is no audit with that number that you can see" in page.text
    headers = await api_token(client, "haringey.cp_chair")
    api = await client.get(f"/api/v1/allocations/{theirs['id']}", headers=headers)
    assert api.status_code == 404
    assert api.json()["detail"] == "There is no audit with that number that you can see"
    saved = await client.put(f"/api/v1/allocations/{theirs['id']}/answers", json={"revision": 0, "answers": {}}, headers=headers)
    assert saved.status_code == 404
    # The page of a number that does not exist reads the same: nothing leaks.
    assert (await client.get("/audits/999999")).status_code == 404


async def test_a_practitioner_sees_an_audit_of_their_case_only_once_final(client):
    from core.db.tables import Allocation, Person

    allocation = await allocation_of("haringey.cp_chair")
    row = await Allocation.select(Allocation.child_case.allocated_worker.as_alias("worker")).where(Allocation.id == allocation["id"]).first()
    worker = await Person.select(Person.username).where(Person.id == row["worker"]).first()
    headers = await api_token(client, worker["username"])
    assert (await client.get(f"/api/v1/allocations/{allocation['id']}", headers=headers)).status_code == 404
    assert (await client.get("/api/v1/allocations", headers=headers)).json() == []


async def test_roles_without_qa_or_admin_rights_are_refused_those_routes(client):
    headers = await api_token(client, "haringey.team_manager.1")
    refused = await client.get("/api/v1/qa/queue", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Your role does not allow this"
    await sign_in(client, "haringey.team_manager.1")
    assert (await client.get("/qa")).status_code == 403
    assert (await client.get("/cycles")).status_code == 403
    nav = (await client.get("/audits")).text
    assert 'href="/qa"' not in nav and 'href="/cycles"' not in nav


async def test_nobody_signed_in_is_sent_to_sign_in_and_the_api_says_401(client):
    page = await client.get("/audits/1", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/audits/1"
    api = await client.get("/api/v1/allocations")
    assert api.status_code == 401
    assert api.json()["detail"] == "Sign in to continue"
    bad = await client.get("/api/v1/allocations", headers={"Authorization": "Bearer qaf_not-a-token"})
    assert bad.status_code == 401
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_a_form_post_without_the_csrf_token_is_refused(client):
    await sign_in(client, "haringey.cp_chair")
    allocation = await allocation_of("haringey.cp_chair")
    response = await client.post(f"/audits/{allocation['id']}", data={"revision": "0", "action": "save"})
    assert response.status_code == 403


async def test_wrong_password_says_so_and_keeps_the_username(client):
    page = await client.get("/login")
    response = await client.post(
        "/login", data={"username": "haringey.cp_chair", "password": "wrong", "_csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 422
    assert "The username or password is not right" in response.text
    assert 'value="haringey.cp_chair"' in response.text
    empty = await client.post("/login", data={"username": "", "password": "", "_csrf_token": csrf_from(page.text)})
    assert "Enter your username" in empty.text and "Enter your password" in empty.text


async def test_qa_cannot_moderate_their_own_audit(client):
    qa = await api_token(client, "haringey.qa_officer")
    mine = (await client.get("/api/v1/allocations", headers=qa)).json()[0]
    detail = (await client.get(f"/api/v1/allocations/{mine['id']}", headers=qa)).json()
    answers = complete_answers(detail["fields"])
    await client.put(f"/api/v1/allocations/{mine['id']}/answers", json={"revision": 0, "answers": answers}, headers=qa)
    assert (await client.post(f"/api/v1/allocations/{mine['id']}/submit", json={}, headers=qa)).status_code == 200
    refused = await client.post(f"/api/v1/allocations/{mine['id']}/review", json={"decision": "accept"}, headers=qa)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "You cannot quality-assure an audit you wrote"
    head_of_qa = await api_token(client, "haringey.head_of_qa")
    assert (await client.post(f"/api/v1/allocations/{mine['id']}/review", json={"decision": "accept"}, headers=head_of_qa)).status_code == 200


async def test_api_bad_input_gets_a_4xx_with_a_reason_never_a_500(client):
    headers = await api_token(client, "haringey.cp_chair")
    allocation = await allocation_of("haringey.cp_chair")
    url = f"/api/v1/allocations/{allocation['id']}/answers"
    unknown = await client.put(url, json={"revision": 0, "answers": {"grade.initial.nonsense": "good"}}, headers=headers)
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == {"grade.initial.nonsense": "'grade.initial.nonsense' is not a field of this form"}
    wrong = await client.put(url, json={"revision": 0, "answers": {"grade.initial.planning": "brilliant", "answer.conversation.held_on": "31/02/2026"}}, headers=headers)
    assert wrong.status_code == 422
    assert wrong.json()["errors"] == {
        "grade.initial.planning": "Grade after reading the case file: choose one of Outstanding, Good, Requires Improvement, Inadequate",
        "answer.conversation.held_on": "Date of the conversation must be a real date, for example 3 December 2026",
    }
    malformed = await client.put(url, content=b"{not json", headers=headers | {"content-type": "application/json"})
    assert malformed.status_code == 400
    extra = await client.put(url, json={"revision": 0, "answers": {}, "force": True}, headers=headers)
    assert extra.status_code == 400
    assert "force" in extra.text
    decision = await client.post(f"/api/v1/allocations/{allocation['id']}/review", json={"decision": "maybe"}, headers=headers)
    assert decision.status_code == 422


async def test_an_account_without_a_password_can_never_sign_in(client):
    from core.db.tables import Person

    await Person.update({Person.password_hash: ""}).where(Person.username == "haringey.lado")
    for attempt in ("", "qaf-no-such-user", "qaf-demo-2026"):
        page = await client.get("/login")
        response = await client.post(
            "/login", data={"username": "haringey.lado", "password": attempt, "_csrf_token": csrf_from(page.text)}
        )
        assert response.status_code == 422, attempt
    token = await client.post("/api/v1/auth/token", json={"username": "haringey.lado", "password": "qaf-no-such-user"})
    assert token.status_code == 401
