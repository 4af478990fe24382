"""Escalations fire from the council's rules when audits and re-audits are
final (CORE-11, HAR-7, HAR-13, HAR-14); re-audits and reassignment (CORE-16)."""

from __future__ import annotations

import pytest

import councils.haringey
from core.calendar import to_london
from core.db.tables import Allocation, Deadline, FollowUp, Notification, Person, Trail
from core.escalation import Escalation
from core.hookspecs import hookimpl
from core.services import allocations, trail
from core.services.errors import Invalid
from helpers import audit_day, acting, allocation_of, finalise, person
from support.snapshots import snapshot_demo


async def _inbox(username: str) -> list[dict]:
    who = await person(username)
    return await Notification.select().where(Notification.recipient == who["id"]).order_by(Notification.id)


async def _worker_of(allocation_id: int) -> dict:
    row = await Allocation.select(Allocation.child_case.allocated_worker.as_alias("w")).where(Allocation.id == allocation_id).first()
    return await Person.select().where(Person.id == row["w"]).first()


@pytest.mark.req("HAR-7")
@pytest.mark.req("HAR-13")
@pytest.mark.req("CORE-11")
async def test_an_inadequate_audit_alerts_managers_and_sets_smart_actions_within_5_working_days(registry, demo):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "inadequate")
    worker = await _worker_of(allocation["id"])
    # HAR 2.6: service manager and head of service are told of an inadequate audit.
    for manager in ("haringey.service_manager", "haringey.head_of_service"):
        kinds = [n["kind"] for n in await _inbox(manager)]
        assert "escalation:inadequate_alert" in kinds, manager
    # HAR 2.13: team manager and practitioner agree SMART actions within 5 working days.
    task = await FollowUp.select().where(FollowUp.rule == "haringey:inadequate_smart_actions").output(load_json=True).first()
    tm = await Person.select().where(Person.id == worker["line_manager"]).first()
    assert set(task["assignees"]) == {worker["id"], tm["id"]}
    finalised = (await Allocation.select(Allocation.finalised_at).where(Allocation.id == allocation["id"]).first())["finalised_at"]
    from core.calendar import add_working_days, london_date

    assert to_london(task["due_at"]).date() == add_working_days(london_date(finalised), 5)
    assert await Deadline.exists().where((Deadline.follow_up == task["id"]) & (Deadline.status == "open"))
    subjects = [n["subject"] for n in await _inbox(worker["username"])]
    assert any(s.startswith("Action by ") and "agree SMART actions (case " in s for s in subjects)


@pytest.mark.req("HAR-14")
@pytest.mark.req("CORE-11")
async def test_a_re_audit_that_stays_the_same_goes_to_the_service_manager_and_a_repeat_higher(registry, demo):
    first = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", first["id"], "requires_improvement")
    qa = await acting(registry, "haringey.qa_officer")
    iro = await person("haringey.iro")
    re_audit = await allocations.allocate_re_audit(qa, first["id"], iro["id"], "HAR 1.4 monthly re-audit")
    row = await Allocation.select().where(Allocation.id == re_audit).first()
    assert (row["kind"], row["previous"]) == ("re_audit", first["id"])
    await finalise(registry, "haringey.iro", re_audit, "requires_improvement")
    sm = [n for n in await _inbox("haringey.service_manager") if n["kind"] == "escalation:reaudit_same_or_worse"]
    assert len(sm) == 1 and "Re-audit of case" in sm[0]["body"] and ": same (Requires Improvement)" in sm[0]["body"]
    assert not [n for n in await _inbox("haringey.assistant_director") if n["kind"].startswith("escalation:repeat")]

    # A second re-audit that still does not improve reaches the head of service and AD.
    lado = await person("haringey.lado")
    second = await allocations.allocate_re_audit(qa, re_audit, lado["id"])
    assert (await Allocation.select(Allocation.kind).where(Allocation.id == second).first())["kind"] == "second_re_audit"
    await finalise(registry, "haringey.lado", second, "inadequate")
    for senior in ("haringey.head_of_service", "haringey.assistant_director"):
        kinds = [n["kind"] for n in await _inbox(senior)]
        assert "escalation:repeat_reaudit_same_or_worse" in kinds, senior
    assert "escalation:reaudit_downgraded" in [n["kind"] for n in await _inbox("haringey.service_manager")]


@pytest.mark.req("CORE-11")
async def test_a_plugin_can_answer_qaf_escalations_with_code(monkeypatch, tmp_path, database_url):
    """A council may add escalations in code through the qaf_escalations hook."""
    from conftest import make_settings
    from core.plugins import load_plugins

    @hookimpl
    def qaf_escalations(registry, event):
        if event.kind == "grade_final" and event.overall_grade == "outstanding":
            return [Escalation(rule="celebrate", notify=("director",), action="Send a thank-you note")]
        return []

    monkeypatch.setattr(councils.haringey, "qaf_escalations", qaf_escalations, raising=False)
    registry = load_plugins(make_settings(tmp_path, database_url)).registry
    await snapshot_demo(registry, "haringey")
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "outstanding")
    assert [n["body"] for n in await _inbox("haringey.director") if n["kind"] == "escalation:celebrate"] == [
        f"Audit of case {(await Allocation.select(Allocation.child_case.external_id.as_alias('c')).where(Allocation.id == allocation['id']).first())['c']} is final: Outstanding.\n\nSend a thank-you note."
    ]


@pytest.mark.req("CORE-16")
@pytest.mark.req("HAR-12")
async def test_an_allocation_is_reassigned_with_its_reason_kept(registry, demo):
    allocation = await allocation_of("haringey.cp_chair")
    qa = await acting(registry, "haringey.qa_officer")
    iro = await person("haringey.iro")
    with pytest.raises(Invalid) as missing:
        await allocations.reassign(qa, allocation["id"], iro["id"], "  ")
    assert missing.value.errors == {"reason": "Say why the audit is moving (for example, annual leave or sickness)"}
    worker = await _worker_of(allocation["id"])
    with pytest.raises(Invalid) as not_an_auditor:
        await allocations.reassign(qa, allocation["id"], worker["id"], "Annual leave")
    assert not_an_auditor.value.errors == {"auditor": f"{worker['display_name']} (Social worker) does not carry out audits"}
    await allocations.reassign(qa, allocation["id"], iro["id"], "Annual leave 1-12 December")
    moved = await Allocation.select().where(Allocation.id == allocation["id"]).first()
    assert moved["auditor"] == iro["id"]
    entry = (
        await Trail.select()
        .where((Trail.entity == "allocation") & (Trail.entity_id == allocation["id"]) & (Trail.action == "reassigned"))
        .output(load_json=True)
        .first()
    )
    # The reason is words someone wrote: sealed in the entry, read back beside it (PLAT-13).
    assert entry["changes"]["reason"] != "Annual leave 1-12 December"
    entry = (await trail.with_words([entry]))[0]
    assert entry["changes"] == {"auditor": [(await person("haringey.cp_chair"))["display_name"], iro["display_name"]], "reason": "Annual leave 1-12 December"}
    assert [n["subject"] for n in await _inbox("haringey.iro") if "reassigned to you" in n["subject"]]
    # The new auditor sees it; the old one no longer does.
    from core.services import audits
    from core.services.errors import NotFound

    assert (await audits.audit_view(await acting(registry, "haringey.iro"), allocation["id"])).id == allocation["id"]
    with pytest.raises(NotFound):
        await audits.audit_view(await acting(registry, "haringey.cp_chair"), allocation["id"])


@pytest.mark.req("HAR-6")
@pytest.mark.req("BED-5")
async def test_qa_moderates_a_grade_and_the_chain_keeps_auditor_moderated_and_final(registry, demo, client):
    from core.db.tables import Grade
    from core.services import audits
    from core.services.moderation import agreement
    from helpers import api_token

    allocation = await allocation_of("haringey.cp_chair")
    ctx = await acting(registry, "haringey.cp_chair")
    view = await audits.audit_view(ctx, allocation["id"])
    answers = {f.name: ("good" if f.kind == "grade" else audit_day() if f.kind == "date" else "Evidence.") for f in view.fields.fields if f.required}
    revision = await audits.save_answers(ctx, allocation["id"], view.revision, answers)
    await audits.submit(ctx, allocation["id"], revision)
    qa = await api_token(client, "haringey.qa_officer")
    url = f"/api/v1/allocations/{allocation['id']}/review"
    no_reason = await client.post(url, json={"decision": "accept", "grades": {"planning": "requires_improvement"}}, headers=qa)
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"] == {"reason": "Say why you changed the auditor's grade"}
    bad = await client.post(url, json={"decision": "accept", "grades": {"planning": "superb"}, "reason": "x"}, headers=qa)
    assert bad.json()["errors"] == {"moderated.planning": "Choose one of the scale's grades for planning and review"}
    done = await client.post(
        url,
        json={"decision": "accept", "grades": {"planning": "requires_improvement", "overall": "good"}, "reason": "Plan not reviewed in time."},
        headers=qa,
    )
    assert done.status_code == 200, done.text
    chain = {(g["phase"], g["domain"]): g["level"] for g in done.json()["grade_chain"]}
    assert chain[("post_conversation", "planning")] == "good"
    assert chain[("moderated", "planning")] == "requires_improvement"
    assert chain[("final", "planning")] == "requires_improvement"
    assert chain[("final", "assessment")] == "good"
    figures = await agreement(await acting(registry, "haringey.qa_officer"))
    assert (figures.domains_moderated, figures.domains_agreed) == (6, 5)
    assert await Grade.count().where((Grade.allocation == allocation["id"]) & (Grade.phase == "moderated")) == 6


async def test_managers_up_the_line_can_open_the_final_audit_their_alert_links_to(registry, demo):
    from core.services import audits
    from core.services.errors import NotFound

    allocation = await allocation_of("haringey.cp_chair")
    sm = await acting(registry, "haringey.service_manager")
    with pytest.raises(NotFound):
        await audits.audit_view(sm, allocation["id"])  # not while it is being written
    await finalise(registry, "haringey.cp_chair", allocation["id"], "inadequate")
    assert (await audits.audit_view(sm, allocation["id"])).id == allocation["id"]
    # A team manager of another team is not in the line, and still cannot.
    worker = await _worker_of(allocation["id"])
    others = await Person.select(Person.username).where(
        (Person.role == "team_manager") & (Person.id != worker["line_manager"])
    )
    with pytest.raises(NotFound):
        await audits.audit_view(await acting(registry, others[0]["username"]), allocation["id"])
