"""Autosave of a draft audit (htmx): saved in the background, answered out of
band only, and a save from a stale tab is refused and said, never merged."""

from __future__ import annotations

import datetime as dt
import json
import re

from core.calendar import to_london
from core.db.tables import Allocation
from helpers import allocation_of, csrf_from, sign_in

HTMX = {"HX-Request": "true"}


async def _open(client, username="haringey.cp_chair"):
    await sign_in(client, username)
    allocation = await allocation_of(username)
    page = await client.get(f"/audits/{allocation['id']}")
    assert page.status_code == 200
    return allocation, page


def _revision(html: str) -> str:
    return re.search(r'id="audit-revision" name="revision" value="(\d+)"', html).group(1)


async def _autosave(client, allocation_id: int, csrf: str, revision: str, **answers: str):
    data = {"_csrf_token": csrf, "revision": revision} | {k.replace("__", "."): v for k, v in answers.items()}
    return await client.post(
        f"/audits/{allocation_id}/autosave", data=data, headers=HTMX | {"x-csrftoken": csrf}
    )


async def _stored(allocation_id: int) -> tuple[int, dict, str]:
    """The allocation's revision, answers and state as stored."""
    row = await Allocation.select().where(Allocation.id == allocation_id).first()
    answers = row["answers"]
    if isinstance(answers, str):  # JSON column: text on some databases
        answers = json.loads(answers or "{}")
    return row["revision"], answers or {}, row["state"]


def _oob_status(html: str) -> str:
    match = re.search(r'<div id="audit-autosave-status" hx-swap-oob="innerHTML">(.*?)</div>\s*(?:<div|$)', html, re.S)
    assert match, html
    return match.group(1)


async def test_the_audit_form_autosaves_with_htmx_and_has_a_status_line(client):
    allocation, page = await _open(client)
    html = page.text
    trigger = re.search(r'<div id="audit-autosave"[^>]*>', html).group(0)
    assert f'hx-post="/audits/{allocation["id"]}/autosave"' in trigger
    assert 'hx-swap="none"' in trigger and "from:closest form" in trigger
    assert 'hx-sync="closest form:queue last"' in trigger  # one request at a time with "Save draft"
    assert '<div id="audit-autosave-status" class="qaf-autosave" role="status"></div>' in html
    # Without JavaScript the form still posts to the page itself.
    assert f'<form method="post" action="/audits/{allocation["id"]}"' in html
    assert "Save draft" in html


async def test_an_autosave_saves_and_answers_only_the_revision_and_the_status(client):
    allocation, page = await _open(client)
    csrf, revision = csrf_from(page.text), _revision(page.text)
    before = dt.datetime.now(dt.UTC)
    response = await _autosave(
        client, allocation["id"], csrf, revision,
        evidence__initial__planning="Plan reviewed <b>monthly</b>", grade__initial__impact="good",
    )
    after = dt.datetime.now(dt.UTC)
    assert response.status_code == 200
    html = response.text
    assert "<html" not in html and 'id="audit-form"' not in html
    # No form fields come back: nothing replaces what the person is typing.
    assert "<textarea" not in html and 'type="radio"' not in html and "<form" not in html
    assert "Plan reviewed" not in html
    new_revision = int(revision) + 1
    assert f'<input type="hidden" id="audit-revision" name="revision" value="{new_revision}" hx-swap-oob="true">' in html
    status = _oob_status(html)
    times = {to_london(moment).strftime("%H:%M") for moment in (before, after)}  # London time, not UTC
    assert re.fullmatch(r'<p class="govuk-body-s qaf-autosave__saved">Draft saved at (\d\d:\d\d)</p>', status), status
    assert re.search(r"Draft saved at (\d\d:\d\d)", status).group(1) in times

    stored_revision, answers, state = await _stored(allocation["id"])
    assert stored_revision == new_revision
    assert answers["evidence.initial.planning"] == "Plan reviewed <b>monthly</b>"
    assert state == "in_progress"  # the first save starts the audit, as "Save draft" does

    # The next autosave (from the revision it was given) saves again.
    again = await _autosave(
        client, allocation["id"], csrf, str(new_revision),
        evidence__initial__planning="Plan reviewed monthly", grade__initial__impact="good",
    )
    assert f'value="{new_revision + 1}" hx-swap-oob="true"' in again.text
    page = await client.get(f"/audits/{allocation['id']}")
    assert "Plan reviewed monthly" in page.text and _revision(page.text) == str(new_revision + 1)


async def test_an_autosave_that_changes_nothing_keeps_the_revision(client):
    allocation, page = await _open(client)
    csrf, revision = csrf_from(page.text), _revision(page.text)
    first = await _autosave(client, allocation["id"], csrf, revision, evidence__initial__impact="Seen alone")
    saved = str(int(revision) + 1)
    assert f'value="{saved}" hx-swap-oob="true"' in first.text
    same = await _autosave(client, allocation["id"], csrf, saved, evidence__initial__impact="Seen alone")
    assert f'value="{saved}" hx-swap-oob="true"' in same.text
    assert "Draft saved at" in same.text


async def test_an_autosave_from_a_stale_tab_is_refused_said_and_does_not_overwrite(client):
    allocation, page = await _open(client)
    csrf, revision = csrf_from(page.text), _revision(page.text)
    # Two tabs opened at the same revision; tab one saves first.
    first = await _autosave(client, allocation["id"], csrf, revision, evidence__initial__planning="Tab one's words")
    assert "Draft saved at" in first.text
    second = await _autosave(client, allocation["id"], csrf, revision, evidence__initial__planning="Tab two's words")
    assert second.status_code == 200  # swapped by htmx: the message must show
    html = second.text
    assert "Draft saved" not in html
    assert "audit-revision" not in html  # tab two keeps its (stale) revision: later saves are refused too
    status = _oob_status(html)
    assert "govuk-warning-text" in status
    assert "saved somewhere else (another tab or window) after you opened it" in status
    assert "Your answers have not been saved" in status
    # Autosave stops in this tab; what was typed is not touched (no fields in the answer).
    assert '<div id="audit-autosave" hidden hx-swap-oob="true"></div>' in html
    assert "<textarea" not in html and "Tab two" not in html

    stored_revision, answers, _ = await _stored(allocation["id"])
    assert answers["evidence.initial.planning"] == "Tab one's words"
    assert stored_revision == int(revision) + 1
    latest = await client.get(f"/audits/{allocation['id']}")
    assert "Tab one&#39;s words" in latest.text and "Tab two" not in latest.text


async def test_an_autosave_with_a_value_that_cannot_be_saved_points_to_save_draft(client):
    allocation, page = await _open(client)
    csrf, revision = csrf_from(page.text), _revision(page.text)
    response = await _autosave(
        client, allocation["id"], csrf, revision,
        evidence__initial__planning="Kept", answer__conversation__held_on="31 February",
    )
    assert response.status_code == 200
    status = _oob_status(response.text)
    assert "could not be saved automatically" in status and "Save draft" in status
    assert "audit-revision" not in response.text and "<textarea" not in response.text
    stored_revision, answers, _ = await _stored(allocation["id"])
    assert stored_revision == int(revision) and not answers  # nothing half-saved
    # "Save draft" then shows the error against its field, with what was typed.
    shown = await client.post(
        f"/audits/{allocation['id']}",
        data={"_csrf_token": csrf, "revision": revision, "action": "save", "answer.conversation.held_on": "31 February"},
    )
    assert shown.status_code == 422 and "must be a real date" in shown.text


async def test_an_autosave_after_the_audit_was_submitted_elsewhere_is_refused(client, registry):
    from core.services import audits
    from helpers import acting

    allocation, page = await _open(client)
    csrf, revision = csrf_from(page.text), _revision(page.text)
    ctx = await acting(registry, "haringey.cp_chair")
    view = await audits.audit_view(ctx, allocation["id"])
    answers = {}
    for field in view.fields.fields:
        if field.kind == "grade":
            answers[field.name] = "good"
        elif field.kind == "date":
            # Issue 17: on or after the day it was allocated, and not in the future.
            answers[field.name] = view.row["created_at"].date().isoformat()
        elif field.required:
            answers[field.name] = "Evidence from the file."
    new_revision = await audits.save_answers(ctx, allocation["id"], view.revision, answers)
    await audits.submit(ctx, allocation["id"], new_revision)

    response = await _autosave(client, allocation["id"], csrf, revision, evidence__initial__planning="Late words")
    assert response.status_code == 200
    status = _oob_status(response.text)
    assert "govuk-warning-text" in status and "can no longer be changed" in status
    assert '<div id="audit-autosave" hidden hx-swap-oob="true"></div>' in response.text


async def test_an_htmx_save_draft_from_a_stale_tab_swaps_in_the_message_and_keeps_the_text(client):
    allocation, page = await _open(client)
    csrf, revision = csrf_from(page.text), _revision(page.text)
    await _autosave(client, allocation["id"], csrf, revision, evidence__initial__planning="Tab one's words")
    response = await client.post(
        f"/audits/{allocation['id']}",
        data={"_csrf_token": csrf, "revision": revision, "action": "save", "evidence.initial.planning": "Tab two's words"},
        headers=HTMX | {"x-csrftoken": csrf},
    )
    # htmx swaps only 2xx and 422: a 409 would leave a generic error instead.
    assert response.status_code == 200
    assert 'id="audit-form"' in response.text and "<html" not in response.text
    assert "saved somewhere else (another tab or window) after you opened it" in response.text
    assert "Tab two&#39;s words" in response.text
    _, answers, _ = await _stored(allocation["id"])
    assert answers["evidence.initial.planning"] == "Tab one's words"
