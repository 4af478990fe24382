"""Who hears when an audit moves between auditor and QA, and what "My audits"
says is due (CORE-10, CORE-13, HAR-6): QA is told when an audit reaches its
queue, the auditor when QA returns it, each in the inbox and by email from the
outbox; the auditor's list shows the current step's deadline."""

from __future__ import annotations

from html import unescape

import msgspec
import pytest

from core.db.tables import Notification
from core.mail import send_due
from helpers import api_token, complete_answers, person, sign_in

AUDITOR = "haringey.cp_chair"
QA = ("haringey.qa_officer", "haringey.head_of_qa")  # the roles with qa_review that accept or return (workflows.yaml)

# The suite's instant is 09:30 on Thursday 31 December 2026. The allocation is
# due at the end of the cycle's last working day, that same Thursday (HAR 2).
MONTH_END = "Thursday 31 December 2026"
# HAR 2.6: QA within one working day; Friday 1 January is New Year's Day, then the weekend.
QA_DUE = "Monday 4 January 2027"
# HAR 2.15: the amended report within 2-3 days: three working days, Mon 4 to Wed 6 January.
REVISION_DUE = "Wednesday 6 January 2027"


async def _inbox_of(username: str) -> list[dict]:
    who = await person(username)
    return await Notification.select().where(Notification.recipient == who["id"]).order_by(Notification.id)


def _due_cell(html: str, case: str) -> str:
    """The Due column of the row for ``case`` on the My audits page."""
    text = unescape(html)
    row = text[text.index(f">{case}<"):]
    row = row[: row.index("</tr>")]
    cells = [c.split(">", 1)[1].split("<", 1)[0].strip() for c in row.split('<td class="govuk-table__cell"')[1:]]
    return cells[2]  # category, cycle, due (the case is the row's first cell)


@pytest.mark.req("CORE-13")
@pytest.mark.req("HAR-6")
async def test_qa_hears_of_an_audit_in_its_queue_and_the_auditor_of_its_return_with_the_due_date_shown(client, settings, smtp):
    auditor = await api_token(client, AUDITOR)
    qa = await api_token(client, QA[0])
    mine = (await client.get("/api/v1/allocations", headers=auditor)).json()
    audit = (await client.get(f"/api/v1/allocations/{mine[0]['id']}", headers=auditor)).json()
    case = audit["case_external_id"]

    await sign_in(client, AUDITOR)
    assert _due_cell((await client.get("/audits")).text, case) == MONTH_END

    saved = await client.put(
        f"/api/v1/allocations/{audit['id']}/answers",
        json={"revision": audit["revision"], "answers": complete_answers(audit["fields"])},
        headers=auditor,
    )
    submitted = await client.post(f"/api/v1/allocations/{audit['id']}/submit", json={"revision": saved.json()["revision"]}, headers=auditor)
    assert submitted.json()["state"] == "qa_review"

    # QA is told it is in the queue, in the inbox and on the notifications page.
    for username in QA:
        told = [n for n in await _inbox_of(username) if n["allocation"] == audit["id"]]
        assert [n["kind"] for n in told] == ["audit_qa_review"], username
        assert told[0]["subject"] == f"Audit of case {case}: with QA"
        assert f"The next step is due by {QA_DUE}." in told[0]["body"]
        assert told[0]["link"] == f"/audits/{audit['id']}"
        assert told[0]["email_state"] == "pending"
    # The auditor who submitted is not told of their own step.
    assert not [n for n in await _inbox_of(AUDITOR) if n["kind"] == "audit_qa_review"]
    await sign_in(client, QA[0])
    inbox = unescape((await client.get("/notifications")).text)
    assert f"Audit of case {case}: with QA" in inbox

    # QA returns it with a reason: the auditor is told, with the reason and the new deadline.
    returned = await client.post(
        f"/api/v1/allocations/{audit['id']}/review",
        json={"decision": "return", "reason": "Evidence for planning is thin."},
        headers=qa,
    )
    assert returned.json()["state"] == "returned"
    told = [n for n in await _inbox_of(AUDITOR) if n["kind"] == "audit_returned"]
    assert len(told) == 1
    assert told[0]["subject"] == f"Audit of case {case}: returned for revision"
    assert f"The next step is due by {REVISION_DUE}." in told[0]["body"]
    assert "Reason given: Evidence for planning is thin." in told[0]["body"]
    # QA, who returned it, is not told of their own step.
    assert not [n for n in await _inbox_of(QA[0]) if n["kind"] == "audit_returned"]

    await sign_in(client, AUDITOR)
    inbox = unescape((await client.get("/notifications")).text)
    assert f"Audit of case {case}: returned for revision" in inbox and "Evidence for planning is thin." in inbox
    # My audits shows the revision's deadline, not the month-end it had before.
    assert _due_cell((await client.get("/audits")).text, case) == REVISION_DUE

    # Both go by email through the outbox, like every other notification.
    mail = msgspec.structs.replace(settings, smtp_host=smtp.host, smtp_port=smtp.port)
    await send_due(mail)
    subjects = {(m.to[0], m.subject) for m in smtp.messages}
    assert (f"{QA[0]}@example.org", f"Audit of case {case}: with QA") in subjects
    assert (f"{QA[1]}@example.org", f"Audit of case {case}: with QA") in subjects
    assert (f"{AUDITOR}@example.org", f"Audit of case {case}: returned for revision") in subjects
