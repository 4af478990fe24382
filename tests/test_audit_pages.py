"""The audit form as a page: errors for every field, nothing lost, two tabs."""

from __future__ import annotations

import re

import pytest

from helpers import allocation_of, csrf_from, sign_in


async def _open(client, username="haringey.cp_chair"):
    await sign_in(client, username)
    allocation = await allocation_of(username)
    page = await client.get(f"/audits/{allocation['id']}")
    assert page.status_code == 200
    return allocation, page


def _revision(html: str) -> str:
    return re.search(r'name="revision" value="(\d+)"', html).group(1)


@pytest.mark.req("CORE-6")
@pytest.mark.req("HAR-3")
async def test_submitting_an_empty_audit_lists_every_missing_field_and_keeps_what_was_typed(client):
    allocation, page = await _open(client)
    html = page.text
    assert "Voice and lived experience of the child" in html
    # HAR 2.3: the six-month scope is shown, in plain words (no section numbers).
    assert "From " in html and "to the audit date (the preceding 6 months, or from when involvement began)" in html
    assert "(HAR 2.3:" not in html
    response = await client.post(
        f"/audits/{allocation['id']}",
        data={
            "_csrf_token": csrf_from(html),
            "revision": _revision(html),
            "action": "submit",
            "evidence.initial.assessment": "Assessment completed in 38 days <b>late</b>",
        },
    )
    assert response.status_code == 422
    summary = response.text.split('class="govuk-error-summary"', 1)[1].split("</ul>", 1)[0]
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    # 5 domains + overall, each graded with evidence in two phases, plus the two conversation answers.
    assert len(links) == 6 * 2 * 2 + 2 - 1
    assert ("grade-post_conversation-overall", "Overall grade: choose a grade after the conversation with the practitioner") in links
    # A GOV.UK date input is linked at its day box (issue 17).
    assert ("answer-conversation-held_on-day", "Enter date of the conversation") in links
    # What was typed is saved as a draft and shown again, escaped.
    assert "Your answers are saved as a draft, but the audit is not ready to submit yet." in response.text
    assert "Assessment completed in 38 days &lt;b&gt;late&lt;/b&gt;" in response.text
    again = await client.get(f"/audits/{allocation['id']}")
    assert "Assessment completed in 38 days &lt;b&gt;late&lt;/b&gt;" in again.text


async def test_an_htmx_save_returns_only_the_form_fragment(client):
    allocation, page = await _open(client)
    response = await client.post(
        f"/audits/{allocation['id']}",
        data={"_csrf_token": csrf_from(page.text), "revision": _revision(page.text), "action": "save", "grade.initial.impact": "good"},
        headers={"HX-Request": "true", "x-csrftoken": csrf_from(page.text)},
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'id="audit-form"' in response.text
    assert "Draft saved" in response.text
    assert re.search(r'name="grade.initial.impact" type="radio" value="good"\s+checked', response.text)


async def test_a_second_tab_saving_an_old_revision_is_refused_and_its_text_kept(client):
    allocation, page = await _open(client)
    csrf, revision = csrf_from(page.text), _revision(page.text)
    first = await client.post(
        f"/audits/{allocation['id']}",
        data={"_csrf_token": csrf, "revision": revision, "action": "save", "evidence.initial.planning": "Tab one's words"},
    )
    assert first.status_code == 200
    second = await client.post(
        f"/audits/{allocation['id']}",
        data={"_csrf_token": csrf, "revision": revision, "action": "save", "evidence.initial.planning": "Tab two's words"},
    )
    assert second.status_code == 409
    assert "saved somewhere else (another tab or window) after you opened it" in second.text
    assert "Tab two&#39;s words" in second.text  # shown back, not lost
    latest = await client.get(f"/audits/{allocation['id']}")
    assert "Tab one&#39;s words" in latest.text and "Tab two" not in latest.text


async def test_my_audits_lists_the_allocation_with_its_due_date_in_london_time(client):
    allocation, _ = await _open(client)
    page = await client.get("/audits")
    assert f'href="/audits/{allocation["id"]}"' in page.text
    from core.calendar import to_london

    assert to_london(allocation["due_at"]).strftime("%A %-d %B %Y") in page.text
    assert "Allocated" in page.text
