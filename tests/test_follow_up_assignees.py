"""Follow-ups awaiting a person are read through ``follow_up_assignee``
(issue 19 item 1), one row for each person in the follow-up's ``assignees``
list, which stays the record. The two never disagree: not when an
escalation opens a follow-up, not when it is asked of someone else, not when
it is done, and not after the migration fills the rows from the lists a
database already holds. On SQLite and PostgreSQL (the ``client`` fixture)."""

from __future__ import annotations

import importlib
from html import unescape

from core.db.engine import current
from core.db.tables import FollowUp, FollowUpAssignee, Person, Trail
from core.services import follow_ups, sweep
from helpers import acting, allocation_of, finalise, person, sign_in

# councils/haringey/definitions/escalations.yaml, HAR 2.13: after a
# requires-improvement audit the team manager and practitioner "discuss the
# case within 10 working days"; after an inadequate one they "agree SMART actions".
DISCUSS = "Discuss the case to consider how a better service can be delivered"
FILL = importlib.import_module("core.db.migrations.qaf_2026_12_08t10_00_00_000000")


async def _rows() -> dict[int, list[int]]:
    rows: dict[int, list[int]] = {}
    for r in await FollowUpAssignee.select().order_by(FollowUpAssignee.person):
        rows.setdefault(r["follow_up"], []).append(r["person"])
    return rows


async def _on_actions_page(client, username: str) -> bool:
    await sign_in(client, username)
    return DISCUSS in unescape((await client.get("/actions")).text)


async def test_the_people_a_follow_up_asks_are_its_rows_when_opened_asked_of_others_and_done(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    task = await FollowUp.select().where(
        FollowUp.rule == "haringey:requires_improvement_discussion").output(load_json=True).first()
    # Opened: the team manager and the practitioner, in the list and in the rows.
    assert len(task["assignees"]) == 2
    assert (await _rows())[task["id"]] == sorted(task["assignees"])
    assert await follow_ups.disagreements() == []
    owners = await Person.select(Person.username, Person.role).where(Person.id.is_in(task["assignees"]))
    assert sorted(o["role"] for o in owners) == ["practitioner", "team_manager"]
    manager = next(o["username"] for o in owners if o["role"] == "team_manager")
    assert await _on_actions_page(client, manager)
    assert not await _on_actions_page(client, "haringey.iro")

    # Asked of the IRO instead: the list, the rows and both actions pages follow.
    iro = await person("haringey.iro")
    await follow_ups.reassign(await acting(registry, "haringey.head_of_qa"), task["id"], [iro["id"]])
    listed = (await FollowUp.select(FollowUp.assignees).where(FollowUp.id == task["id"]).output(load_json=True).first())
    assert listed["assignees"] == [iro["id"]]
    assert (await _rows())[task["id"]] == [iro["id"]]
    assert await follow_ups.disagreements() == []
    assert await _on_actions_page(client, "haringey.iro")
    assert not await _on_actions_page(client, manager)
    assert await Trail.exists().where((Trail.action == "follow_up_reassigned") & (Trail.entity_id == allocation["id"]))

    # Done: it leaves the IRO's page; the list and its rows still agree.
    await sweep.complete_follow_up(await acting(registry, "haringey.iro"), task["id"], "Discussed with the team.")
    assert not await _on_actions_page(client, "haringey.iro")
    assert await follow_ups.disagreements() == []


async def test_the_migration_fills_the_rows_from_the_lists_already_held(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "inadequate")
    iro, chair = await person("haringey.iro"), await person("haringey.cp_chair")
    task = await FollowUp.select().where(FollowUp.allocation == allocation["id"]).output(load_json=True).first()
    # Lists as an older release wrote them, with no rows: one naming a person
    # twice, one naming nobody.
    for assignees in ([iro["id"], chair["id"], iro["id"]], []):
        await FollowUp.insert(FollowUp(
            organisation=task["organisation"], allocation=allocation["id"], rule="haringey:by_hand", action="Call the family",
            assignees=assignees, due_at=task["due_at"], status="open", created_at=task["created_at"]))
    await FollowUpAssignee.delete(force=True)
    assert await follow_ups.disagreements() != []

    fill = [s for s in FILL._statements(current().engine_type) if s.lstrip().startswith("INSERT")]
    assert len(fill) == 1
    await current().run_ddl(fill[0])

    assert await follow_ups.disagreements() == []
    held = await FollowUp.select(FollowUp.id, FollowUp.assignees).order_by(FollowUp.id).output(load_json=True)
    assert await _rows() == {f["id"]: sorted(set(f["assignees"])) for f in held if f["assignees"]}
    # Those asked see the follow-ups through the filled rows: the IRO the one
    # naming them twice, once.
    await sign_in(client, "haringey.iro")
    page = unescape((await client.get("/actions")).text)
    assert page.count("Call the family") == 1
