"""SMART actions: what, owner, due date, progress; overdue for owners and
their managers; the next audit of the case shows the last one's (CORE-12, HAR-13)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.calendar import UTC, to_london
from core.db.tables import Action, Deadline, Notification, Person
from core.services import actions, allocations, audits, disputes, sweep
from core.services.context import Context
from core.services.errors import Invalid, NotFound
from helpers import acting, allocation_of, finalise, person

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


async def _as(registry, username: str, now=NOW) -> Context:
    ctx = await acting(registry, username)
    ctx.now = now
    return ctx


async def _case_people(registry, allocation_id):
    row = await audits.load_row(allocation_id)
    people = await audits.relations_of(Context(registry=registry), row)
    practitioner = await Person.select().where(Person.id == people["practitioner"]).first()
    manager = await Person.select().where(Person.id == people["team_manager"]).first()
    return practitioner, manager


@pytest.mark.req("CORE-12")
@pytest.mark.req("HAR-13")
async def test_actions_from_an_audit_have_owner_due_date_progress_and_escalate_when_overdue(registry, demo):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "inadequate")
    practitioner, manager = await _case_people(registry, allocation["id"])
    tm = await _as(registry, manager["username"])

    with pytest.raises(Invalid) as refused:
        await actions.create(tm, what="", owner_id=None, due_on="2026-11-01", allocation_id=allocation["id"])
    assert set(refused.value.errors) == {"what", "owner", "due_on"}

    action_id = await actions.create(
        tm, what="Update the child's plan with SMART outcomes", owner_id=practitioner["id"], due_on="2026-12-08", allocation_id=allocation["id"]
    )
    action = await Action.select().where(Action.id == action_id).first()
    assert (action["status"], action["due_on"]) == ("open", dt.date(2026, 12, 8))
    assert to_london(action["due_at"]).date() == dt.date(2026, 12, 8)
    assert await Notification.exists().where((Notification.recipient == practitioner["id"]) & (Notification.kind == "action"))

    sw = await _as(registry, practitioner["username"])
    await actions.update(sw, action_id, "Plan drafted, review booked")
    mine = (await actions.my_actions(sw)).items
    assert [a["id"] for a in mine] == [action_id] and not mine[0]["overdue"]
    # A stranger sees nothing.
    with pytest.raises(NotFound):
        await actions.action_view(await _as(registry, "haringey.practitioner.11" if practitioner["username"] != "haringey.practitioner.11" else "haringey.practitioner.12"), action_id)

    # The due date passes: the sweep tells the owner and their line manager once.
    later = dt.datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
    report = await sweep.sweep(Context(registry=registry, now=later))
    assert report.by_kind.get("action_due") == 1
    for who in (practitioner, manager):
        assert await Notification.count().where((Notification.recipient == who["id"]) & (Notification.kind == "action_overdue")) == 1
    await sweep.sweep(Context(registry=registry, now=later + dt.timedelta(days=1)))
    assert await Notification.count().where((Notification.recipient == manager["id"]) & (Notification.kind == "action_overdue")) == 1
    # The owner and their managers (all the way up) see it as overdue.
    assert (await actions.my_actions(await _as(registry, practitioner["username"], later))).items[0]["overdue"]
    assert [a["id"] for a in await actions.team_overdue(await _as(registry, manager["username"], later))] == [action_id]
    chain_top = await Person.select().where(Person.id == manager["line_manager"]).first()
    if chain_top:
        assert [a["id"] for a in await actions.team_overdue(await _as(registry, chain_top["username"], later))] == [action_id]
    assert await actions.team_overdue(await _as(registry, practitioner["username"], later)) == []

    # Done closes it.
    await actions.update(await _as(registry, practitioner["username"], later), action_id, "Plan updated and shared", "done")
    view = await actions.action_view(tm, action_id)
    assert view["status"] == "done" and [u["text"] for u in view["updates"]] == ["Plan drafted, review booked", "Plan updated and shared"]
    assert await actions.team_overdue(await _as(registry, manager["username"], later)) == []


@pytest.mark.req("CORE-12")
@pytest.mark.req("HAR-13")
async def test_the_re_audit_shows_the_last_audits_open_and_closed_actions(registry, demo):
    first = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", first["id"], "requires_improvement")
    practitioner, manager = await _case_people(registry, first["id"])
    tm = await _as(registry, manager["username"])
    done = await actions.create(tm, what="Record the child's wishes", owner_id=practitioner["id"], due_on="2026-12-10", allocation_id=first["id"])
    still_open = await actions.create(tm, what="Hold a core group", owner_id=manager["id"], due_on="2026-12-20", allocation_id=first["id"])
    await actions.update(await _as(registry, practitioner["username"]), done, "Wishes recorded", "done")
    qa = await acting(registry, "haringey.qa_officer")
    iro = await person("haringey.iro")
    re_audit = await allocations.allocate_re_audit(qa, first["id"], iro["id"], "monthly re-audit")
    previous, shown = await actions.of_previous_audit(await acting(registry, "haringey.iro"), re_audit)
    assert previous == first["id"]
    assert {(a["id"], a["status"]) for a in shown} == {(done, "done"), (still_open, "open")}


@pytest.mark.req("HAR-11")
@pytest.mark.req("CORE-12")
async def test_an_action_can_come_from_a_dispute_outcome(registry, demo):
    first = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", first["id"], "requires_improvement")
    practitioner, manager = await _case_people(registry, first["id"])
    dispute_id = await disputes.raise_dispute(
        await acting(registry, practitioner["username"]), first["id"], "safeguarding_corporate_parenting_dct",
        {"overall": {"proposed": "good", "rationale": "Criteria met"}},
    )
    tm = await acting(registry, manager["username"])
    await disputes.take_step(tm, dispute_id, "meeting_held")
    await disputes.take_step(tm, dispute_id, "resolve_informally", "Explained", outcome="upheld")
    due = (to_london(tm.now) + dt.timedelta(days=14)).date().isoformat()
    action_id = await actions.create(tm, what="Add chronology to the file", owner_id=practitioner["id"], due_on=due, dispute_id=dispute_id)
    action = await Action.select().where(Action.id == action_id).first()
    assert (action["dispute"], action["allocation"]) == (dispute_id, first["id"])
    assert await Deadline.exists().where((Deadline.action == action_id) & (Deadline.kind == "action_due"))


@pytest.mark.req("CORE-12")
async def test_a_manager_sees_how_many_are_overdue_and_the_longest_overdue_first(registry, demo, monkeypatch):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    practitioner, manager = await _case_people(registry, allocation["id"])
    tm = await _as(registry, manager["username"])
    later_due = await actions.create(tm, what="Review the plan", owner_id=practitioner["id"], due_on="2026-12-10", allocation_id=allocation["id"])
    first_due = await actions.create(tm, what="Visit the child", owner_id=practitioner["id"], due_on="2026-12-08", allocation_id=allocation["id"])
    later = await _as(registry, manager["username"], dt.datetime(2027, 1, 5, 9, 0, tzinfo=UTC))
    monkeypatch.setattr(actions, "TEAM_OVERDUE_SHOWN", 1)
    assert [a["id"] for a in await actions.team_overdue(later)] == [first_due]
    assert await actions.team_overdue_count(later) == 2
    assert [a["id"] for a in await actions.team_overdue(later, limit=5)] == [first_due, later_due]
