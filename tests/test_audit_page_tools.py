"""The audit page's tools: an immediate safety concern, the case note,
re-audit movement, follow-ups, reassignment and re-audit allocation."""

from __future__ import annotations

import re

import pytest

from core.db.tables import Allocation, Notification, Person
from helpers import allocation_of, csrf_from, finalise, person, sign_in


async def _post(client, url: str, data: dict, page_url: str):
    page = await client.get(page_url)
    return await client.post(url, data={"_csrf_token": csrf_from(page.text), **data}, follow_redirects=False)


@pytest.mark.req("HAR-10")
async def test_an_immediate_safety_concern_reaches_the_team_manager_at_once(client):
    allocation = await allocation_of("haringey.cp_chair")
    await sign_in(client, "haringey.cp_chair")
    url = f"/audits/{allocation['id']}"
    empty = await _post(client, f"{url}/concern", {"description": "  "}, url)
    assert empty.status_code == 422
    assert "Describe what worries you about the child&#39;s safety" in empty.text
    sent = await _post(client, f"{url}/concern", {"description": "Mother's new partner has a conviction for violence; not assessed."}, url)
    assert sent.status_code == 303
    row = await Allocation.select(Allocation.child_case.team.as_alias("team")).where(Allocation.id == allocation["id"]).first()
    tm = await Person.select().where((Person.team == row["team"]) & (Person.role == "team_manager")).first()
    urgent = await Notification.select().where((Notification.recipient == tm["id"]) & Notification.subject.like("URGENT%")).first()
    assert urgent is not None
    assert urgent["email_state"] == "pending"  # emailed too, not only in-app
    assert "Mother's new partner has a conviction for violence" in urgent["body"]
    assert urgent["link"] == url


@pytest.mark.req("HAR-17")
async def test_the_case_note_is_ready_to_paste_once_final(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "good")
    await sign_in(client, "haringey.cp_chair")
    page = await client.get(f"/audits/{allocation['id']}")
    assert "Case note for the case record" in page.text
    note = re.search(r'id="case-note-text">([^<]*)</dd>', page.text).group(1)
    from datetime import date

    month = date.today().strftime("%B")
    assert note.splitlines() == [
        f"audit completed as part of the {month} audit cycle",
        "overall grading: good",
        "please see documents for copy of audit report with actions identified for completion as part of the improvement plan",
        "Mosaic alert sent to allocated practitioner and Team Manager",
    ]
    assert f"<dd class=\"govuk-summary-list__value\">{month} Audit</dd>" in page.text
    assert "Quality Assurance" in page.text

    # Issue 17: the note downloads as a file for the case record, and the
    # audit's PDF carries it too.
    assert f'href="/audits/{allocation["id"]}/case-note.txt"' in page.text
    download = await client.get(f"/audits/{allocation['id']}/case-note.txt")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/plain")
    assert download.headers["content-disposition"].startswith('attachment; filename="qaf-case-note-')
    lines = download.content.decode("utf-8-sig").split("\r\n")
    assert lines[:4] == [f"Title: {month} Audit", "Type of note: Quality Assurance", lines[2], lines[3]]
    assert re.fullmatch(r"Date: \d\d/\d\d/\d{4}", lines[2]) and re.fullmatch(r"Time: \d\d:\d\d", lines[3])
    assert lines[5:9] == note.splitlines()
    from test_report_pdf import pdf_text

    printed = pdf_text(await client.get(f"/audits/{allocation['id']}/report.pdf"))
    assert "Case note for the case record" in printed
    assert "overall grading: good" in printed


async def test_the_case_note_waits_for_the_final_audit(client):
    allocation = await allocation_of("haringey.cp_chair")
    await sign_in(client, "haringey.cp_chair")
    early = await client.get(f"/audits/{allocation['id']}/case-note.txt")
    assert early.status_code == 409
    assert "once the audit is final" in early.text


@pytest.mark.req("CORE-11")
@pytest.mark.req("CORE-16")
async def test_qa_allocates_a_re_audit_which_shows_movement_per_domain(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    await sign_in(client, "haringey.qa_officer")
    url = f"/audits/{allocation['id']}"
    no_one = await _post(client, f"{url}/re-audit", {"auditor": ""}, url)
    assert no_one.status_code == 422 and "Choose who will do the audit" in no_one.text
    iro = await person("haringey.iro")
    made = await _post(client, f"{url}/re-audit", {"auditor": str(iro["id"]), "reason": "Monthly re-audit"}, url)
    assert made.status_code == 303
    re_audit_id = int(made.headers["location"].rsplit("/", 1)[1])
    await finalise(registry, "haringey.iro", re_audit_id, "good")
    page = await client.get(f"/audits/{re_audit_id}")
    assert "Since the last audit" in page.text
    rows = re.findall(r'<th scope="row" class="govuk-table__header">([^<]+)</th>\s*<td class="govuk-table__cell">([^<]+)</td>\s*<td class="govuk-table__cell">([^<]+)</td>\s*<td class="govuk-table__cell"><strong[^>]*>(\w+)</strong>', page.text)
    assert ("Overall grade", "Requires Improvement", "Good", "Improved") in rows
    assert len(rows) == 6


async def test_a_reassignment_without_a_reason_is_refused_on_the_page(client):
    allocation = await allocation_of("haringey.cp_chair")
    await sign_in(client, "haringey.qa_officer")
    url = f"/audits/{allocation['id']}"
    iro = await person("haringey.iro")
    refused = await _post(client, f"{url}/reassign", {"auditor": str(iro["id"]), "reason": ""}, url)
    assert refused.status_code == 422
    assert "Say why the audit is moving" in refused.text
    moved = await _post(client, f"{url}/reassign", {"auditor": str(iro["id"]), "reason": "Sick leave"}, url)
    assert moved.status_code == 303
    assert (await Allocation.select(Allocation.auditor).where(Allocation.id == allocation["id"]).first())["auditor"] == iro["id"]
