"""``GET /api/v1/qa/queue`` answers a page of the QA queue, oldest first, not
the whole queue (issue 19): ``?limit=`` 1 to 100 (50 unless asked), the next
page's address in the ``Link`` header while more wait; a cursor or limit it
cannot use is refused with a reason (400), never a server error."""

from __future__ import annotations

import re

from core.services import audits
from helpers import acting, allocation_of, api_token, filled_answers


async def test_the_qa_queue_comes_a_page_at_a_time_each_once_in_order(client, registry):
    for auditor in ("haringey.cp_chair", "haringey.iro"):
        row = await allocation_of(auditor)
        ctx = await acting(registry, auditor)
        view = await audits.audit_view(ctx, row["id"])
        revision = await audits.save_answers(ctx, row["id"], view.revision, filled_answers(view, "good"))
        await audits.submit(ctx, row["id"], revision)
    headers = await api_token(client, "haringey.head_of_qa")
    whole = await client.get("/api/v1/qa/queue", headers=headers)
    assert whole.status_code == 200, whole.text
    everything = [a["id"] for a in whole.json()]
    assert len(everything) >= 2  # the two submitted above, and any the demo has waiting
    assert "link" not in whole.headers  # fewer than 50: one page

    seen, pages, url = [], 0, "/api/v1/qa/queue?limit=1"
    while url:
        answer = await client.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        page = [a["id"] for a in answer.json()]
        assert len(page) == 1
        seen += page
        pages += 1
        link = answer.headers.get("link")
        url = re.fullmatch(r'<(/api/v1/qa/queue\?after=\d+&limit=1)>; rel="next"', link).group(1) if link else None
    assert seen == everything
    assert pages == len(everything)

    for query in ("after=soon", "after=0", "after=99999999", "after=99999999999999999999", "limit=0", "limit=101"):
        answer = await client.get(f"/api/v1/qa/queue?{query}", headers=headers)
        assert answer.status_code == 400, (query, answer.text)
        assert answer.json()["detail"]
    refused = await client.get("/api/v1/qa/queue?after=99999999", headers=headers)
    assert refused.json()["detail"].startswith("The page to continue from is not an audit of your organisation")
