"""``GET /api/v1/notifications`` gave the newest 50 and no way to older ones;
now older ones come a page at a time (issue 19): newest first, ``?limit=`` 1
to 100 (50 unless asked), the next (older) page's address in the ``Link``
header; a cursor that is not the caller's is refused with a reason (400)."""

from __future__ import annotations

import datetime as dt
import re

from core.calendar import UTC
from core.services import notifications
from helpers import acting, api_token, person

# Written at instants that stress the calendar: New Year's Eve 23:30 UTC,
# New Year's Day 00:05, and both sides of the clocks going forward
# (Sunday 28 March 2027, 01:00 GMT); two at the same instant (the id orders them).
WRITTEN = [
    ("Action set: update the chronology", dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC)),
    ("Action set: share the plan", dt.datetime(2027, 1, 1, 0, 5, tzinfo=UTC)),
    ("Action set: record the wishes", dt.datetime(2027, 3, 28, 0, 30, tzinfo=UTC)),
    ("Action set: book the conference", dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)),
    ("Action set: visit the school", dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)),
]


async def test_notifications_come_a_page_at_a_time_newest_first(client, registry):
    iro = await person("haringey.iro")
    qa = await acting(registry, "haringey.qa_officer")
    for subject, at in WRITTEN:
        qa.now = at
        await notifications.notify(qa, organisation_id=iro["organisation"], recipients=[iro["id"]], kind="action",
                                   subject=subject, body="From the audit.")
    headers = await api_token(client, "haringey.iro")
    whole = await client.get("/api/v1/notifications", params={"limit": "100"}, headers=headers)
    assert whole.status_code == 200 and "link" not in whole.headers
    everything = [n["subject"] for n in whole.json()]
    ours = [s for s in everything if s.startswith("Action set: ")]
    assert ours == [s for s, _ in reversed(WRITTEN)]  # newest first; the later-written of two at 01:30 first

    seen, url = [], "/api/v1/notifications?limit=2"
    while url:
        answer = await client.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        assert 1 <= len(answer.json()) <= 2
        seen += [n["subject"] for n in answer.json()]
        link = answer.headers.get("link")
        url = re.fullmatch(r'<(/api/v1/notifications\?before=\d+&limit=2)>; rel="next"', link).group(1) if link else None
        assert len(seen) <= len(everything)
    assert seen == everything

    mine = whole.json()[0]["id"]
    other = await api_token(client, "haringey.cp_chair")
    refused = await client.get(f"/api/v1/notifications?before={mine}", headers=other)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("The page to continue from is not one of your notifications")
    for query in ("before=soon", "before=0", "limit=0", "limit=101"):
        assert (await client.get(f"/api/v1/notifications?{query}", headers=headers)).status_code == 400, query
