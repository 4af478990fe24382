"""``GET /api/v1/actions`` answers a page of the caller's actions, not their
whole history (issue 19 item 1): the open ones soonest due first, then the
closed ones latest closed first, with a ``next`` link while more remain;
``?limit=`` from 1 to 100 (50 unless asked); a cursor or limit it cannot
use is refused with a reason (400), never a server error."""

from __future__ import annotations

import datetime as dt

from core.calendar import UTC
from core.services import actions
from helpers import acting, allocation_of, api_token, finalise
from test_actions import _case_people

# Open actions due on calendar edges (London dates): New Year's Eve, the first
# working day of 2027, and the day the clocks go forward.
OPEN = [
    ("Review the safety plan with the family", "2026-12-31"),
    ("Visit the child at school", "2027-01-04"),
    ("Hold the core group", "2027-03-28"),
]
# Closed at instants that stress the calendar: New Year's Eve 23:30 UTC, the
# first minutes of New Year's Day, and the night the clocks go forward
# (Sunday 28 March 2027, 01:00 GMT), both sides of the change.
CLOSED = [
    ("Update the chronology", dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC)),
    ("Share the plan with the school", dt.datetime(2027, 1, 1, 0, 5, tzinfo=UTC)),
    ("Record the child's wishes", dt.datetime(2027, 3, 28, 0, 30, tzinfo=UTC)),
    ("Book the family group conference", dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)),
]
# Open first, soonest due; then closed, latest closed first.
IN_ORDER = [what for what, _ in OPEN] + [what for what, _ in reversed(CLOSED)]


async def test_my_actions_come_a_page_at_a_time_each_once_in_order(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "inadequate")
    practitioner, manager = await _case_people(registry, allocation["id"])
    tm = await acting(registry, manager["username"])
    tm.now = dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    # Set in an order unlike the list's, so the order comes from the query.
    for what, due in reversed(OPEN):
        await actions.create(tm, what=what, owner_id=practitioner["id"], due_on=due, allocation_id=allocation["id"])
    for what, closed_at in CLOSED:
        action_id = await actions.create(tm, what=what, owner_id=practitioner["id"], due_on="2027-04-30",
                                         allocation_id=allocation["id"])
        owner = await acting(registry, practitioner["username"])
        owner.now = closed_at
        await actions.update(owner, action_id, "Done.", "done")
    headers = await api_token(client, practitioner["username"])

    # Fifty a page unless asked: all seven on one page, no next link.
    whole = await client.get("/api/v1/actions", headers=headers)
    assert whole.status_code == 200, whole.text
    assert [a["what"] for a in whole.json()["mine"]] == IN_ORDER
    assert whole.json()["next"] is None

    # Two a page: four pages, each action once, in the same order; the third
    # page runs from the last open action into the closed ones.
    seen, pages, url = [], [], "/api/v1/actions?limit=2"
    while url:
        answer = await client.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([a["what"] for a in body["mine"]])
        seen += body["mine"]
        url = body["next"]
        if url:
            assert url.startswith("/api/v1/actions?after=") and url.endswith("&limit=2")
    assert pages == [IN_ORDER[0:2], IN_ORDER[2:4], IN_ORDER[4:6], IN_ORDER[6:]]
    assert [a["status"] for a in seen] == ["open"] * 3 + ["done"] * 4
    assert len({a["id"] for a in seen}) == 7

    # Refused with a reason, never a failure: another person's action as the
    # cursor (it is not theirs to page from), a cursor that is no number, an
    # action that does not exist, and limits out of range.
    other = await api_token(client, "haringey.iro")
    refused = await client.get(f"/api/v1/actions?after={seen[0]['id']}", headers=other)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("The page to continue from is not one of your actions")
    for query in ("after=soon", "after=0", "after=99999999999999999999", "limit=0", "limit=101", "limit=many"):
        answer = await client.get(f"/api/v1/actions?{query}", headers=headers)
        assert answer.status_code == 400, (query, answer.text)
        assert answer.json()["detail"]
