"""Follow-ups an escalation asks of people ("Action by …: discuss the case")
are on their Actions page with the date they are due by, not only on the
audit's page, and leave it once recorded as done (CORE-11, CORE-12, HAR-13)."""

from __future__ import annotations

from html import unescape

import pytest

from core.db.tables import FollowUp, Person
from helpers import allocation_of, csrf_from, finalise, sign_in

# councils/haringey/definitions/escalations.yaml, HAR 2.13: after a
# requires-improvement audit the team manager and practitioner "discuss the
# case within 10 working days".
DISCUSS = "Discuss the case to consider how a better service can be delivered"
# Final at 09:30 on Thursday 31 December 2026: ten working days from Monday
# 4 January (New Year's Day a Friday, then the weekend) is Friday 15 January.
DUE = "Friday 15 January 2027"


@pytest.mark.req("HAR-13")
@pytest.mark.req("CORE-12")
async def test_a_follow_up_is_on_its_owners_actions_page_until_it_is_done(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    task = await FollowUp.select().where(FollowUp.rule == "haringey:requires_improvement_discussion").output(load_json=True).first()
    owners = await Person.select(Person.username, Person.role).where(Person.id.is_in(task["assignees"])).order_by(Person.id)
    assert sorted(o["role"] for o in owners) == ["practitioner", "team_manager"]
    manager = next(o["username"] for o in owners if o["role"] == "team_manager")
    worker = next(o["username"] for o in owners if o["role"] == "practitioner")

    for owner in (manager, worker):
        await sign_in(client, owner)
        page = unescape((await client.get("/actions")).text)
        assert DISCUSS in page, owner
        listed = page[page.index(DISCUSS):]
        listed = listed[: listed.index("</tr>")]
        assert DUE in listed and "Open" in listed, listed
        assert f'href="/audits/{allocation["id"]}#follow-ups"' in page
        assert "You have no actions" not in page

    # Someone who is not asked does not see it.
    await sign_in(client, "haringey.iro")
    assert DISCUSS not in unescape((await client.get("/actions")).text)

    # The team manager records the discussion on the audit page: it is done, for both owners.
    await sign_in(client, manager)
    audit_page = await client.get(f"/audits/{allocation['id']}")
    done = await client.post(
        f"/audits/{allocation['id']}/follow-ups/{task['id']}",
        data={"_csrf_token": csrf_from(audit_page.text), "note": "Discussed in supervision: chronology to be updated."},
    )
    assert done.status_code == 200, done.text
    for owner in (manager, worker):
        await sign_in(client, owner)
        assert DISCUSS not in unescape((await client.get("/actions")).text), owner
