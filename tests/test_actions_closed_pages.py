"""The Actions page shows a person's open actions and their latest closed
ones, with older closed ones a page at a time behind "Older closed actions"
(issue 19 item 1: ten years of actions are no page). Keyset pages that work
without JavaScript, and answer an htmx request with the list alone."""

from __future__ import annotations

import datetime as dt
from html import unescape


from core.calendar import UTC
from core.services import actions
from helpers import acting, allocation_of, finalise, sign_in
from test_actions import _case_people

# Closed at instants that stress the calendar: Christmas Eve, New Year's Eve
# late in the evening (UTC), New Year's Day, and the night the clocks go
# forward (Sunday 28 March 2027, 01:00 GMT).
CLOSED = [
    ("Book the family group conference", dt.datetime(2026, 12, 24, 16, 0, tzinfo=UTC)),
    ("Update the chronology", dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC)),
    ("Share the plan with the school", dt.datetime(2027, 1, 1, 9, 0, tzinfo=UTC)),
    ("Record the child's wishes", dt.datetime(2027, 3, 28, 0, 30, tzinfo=UTC)),
]
OPEN = "Review the safety plan with the family"


def _closed_shown(html: str) -> list[str]:
    return [what for what, _ in CLOSED if what in html]


async def test_older_closed_actions_are_a_page_at_a_time(client, registry, monkeypatch):
    monkeypatch.setattr(actions, "CLOSED_SHOWN", 2)
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "inadequate")
    practitioner, manager = await _case_people(registry, allocation["id"])
    tm = await acting(registry, manager["username"])
    tm.now = dt.datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    await actions.create(tm, what=OPEN, owner_id=practitioner["id"], due_on="2027-04-30", allocation_id=allocation["id"])
    for what, closed_at in CLOSED:
        action_id = await actions.create(tm, what=what, owner_id=practitioner["id"], due_on="2027-04-30",
                                         allocation_id=allocation["id"])
        owner = await acting(registry, practitioner["username"])
        owner.now = closed_at
        await actions.update(owner, action_id, "Done.", "done")

    await sign_in(client, practitioner["username"])
    first = unescape((await client.get("/actions")).text)
    # The open action and the two closed last; not the two closed before them.
    assert OPEN in first
    assert _closed_shown(first) == ["Share the plan with the school", "Record the child's wishes"]
    assert first.index("Record the child's wishes") < first.index("Share the plan with the school")
    assert "Older closed actions" in first
    older = first[first.index('href="/actions/closed?before='):].split('"')[1]

    second = await client.get(older)
    assert second.status_code == 200
    page = unescape(second.text)
    assert "<h1 class=\"govuk-heading-l\">Older closed actions</h1>" in page
    assert _closed_shown(page) == ["Book the family group conference", "Update the chronology"]
    assert page.index("Update the chronology") < page.index("Book the family group conference")
    assert OPEN not in page
    # The last page: no link on.
    assert 'href="/actions/closed?before=' not in page

    # htmx asks for the list alone, to swap in place.
    fragment = await client.get(older, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="closed-actions">') and "<html" not in fragment.text
    assert _closed_shown(unescape(fragment.text)) == ["Book the family group conference", "Update the chronology"]

    # Someone else following the link sees their own closed actions, not these.
    await sign_in(client, "haringey.iro")
    theirs = unescape((await client.get(older)).text)
    assert _closed_shown(theirs) == [] and "There are no older closed actions." in theirs
    # A cursor that is not a number is refused with a reason, not a failure.
    assert (await client.get("/actions/closed?before=soon")).status_code == 400
