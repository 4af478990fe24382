"""On a final audit, the action's owner is chosen from a short list, not from
every member of staff (≈5,000 in a large council, issue 19): the people of
the case team's service the setter may set an action for, the audit's own
people and the setter; anyone else by "Find someone else by name", a plain
GET form that works without JavaScript. Who may own an action is decided as
before (``actions._owners_allowed``, issue 16 case 3): a person found or
named who is not allowed is refused on submit, and the form comes back with
the reason and everything typed."""

from __future__ import annotations

import re
from html import unescape

from core.db.tables import Action, Person, Team
from helpers import allocation_of, csrf_from, finalise, person, sign_in
from test_actions import _case_people


def _owners(html: str) -> list[str]:
    select = html[html.index('name="owner"'):]
    select = select[: select.index("</select>")]
    return [unescape(o) for o in re.findall(r"<option[^>]*>([^<]*)</option>", select)][1:]


def _selected_owner(html: str) -> str:
    select = html[html.index('name="owner"'):]
    select = select[: select.index("</select>")]
    return unescape(re.search(r"<option[^>]*selected[^>]*>([^<]*)</option>", select).group(1))


async def test_the_owner_is_chosen_near_the_audit_or_found_by_name(client, registry):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "inadequate")
    practitioner, manager = await _case_people(registry, allocation["id"])
    iro = await person("haringey.iro")
    qa = await person("haringey.qa_officer")
    assert iro["team"] is None  # an IRO is in no team, nor in the case's service
    everyone = await Person.count().where((Person.organisation == qa["organisation"]) & (Person.active == True))  # noqa: E712
    team = await Team.select(Team.service).where(Team.id == practitioner["team"]).first()
    in_service = await Person.select(Person.display_name).where(
        (Person.team.service == team["service"]) & (Person.active == True)  # noqa: E712
    )
    audit_page = f"/audits/{allocation['id']}"

    # A QA officer may set an action for anyone active (HAR 2.12, 2.15); the
    # list is the case team's service, the audit's people and themselves.
    await sign_in(client, "haringey.qa_officer")
    page = unescape((await client.get(audit_page)).text)
    assert "Set an action from this audit" in page and "Find someone else by name" in page
    assert "Listed: people of the case team’s service, of those you may set an action for." in page
    listed = _owners(page)
    assert {practitioner["display_name"], manager["display_name"], qa["display_name"]} <= set(listed)
    assert {p["display_name"] for p in in_service} <= set(listed)
    assert iro["display_name"] not in listed
    assert len(listed) < everyone

    # The IRO, found by part of their name in any case of letters; the
    # details stay open and the search box keeps what was typed.
    part = iro["display_name"].split()[-1].lower()
    found = unescape((await client.get(audit_page, params={"owner_name": part})).text)
    assert f"Listed: people whose name has “{part}” in it, of those you may set an action for." in found
    assert iro["display_name"] in _owners(found)
    assert f'value="{part}"' in found and '<details id="set-action" class="govuk-details" open>' in found
    form = {"_csrf_token": csrf_from(found), "allocation_id": str(allocation["id"]), "back": audit_page,
            "what": "Review the plan at the next conference", "owner": str(iro["id"]),
            "due_on-day": "", "due_on-month": "1", "due_on-year": "2027"}
    # A field left out: the form comes back with the IRO still chosen.
    again = await client.post("/actions", data=form)
    assert again.status_code == 422
    assert "The date must include a day" in unescape(again.text)
    assert _selected_owner(unescape(again.text)) == iro["display_name"]
    assert "Review the plan at the next conference" in unescape(again.text)
    made = await client.post("/actions", data=form | {"due_on-day": "4"}, follow_redirects=False)
    assert made.status_code in (302, 303), made.text
    assert await Action.exists().where((Action.owner == iro["id"]) & (Action.allocation == allocation["id"]))

    # The team manager may set one for themselves, their line and the audit's
    # people: the IRO is not found by name for them ...
    await sign_in(client, manager["username"])
    theirs = unescape((await client.get(audit_page)).text)
    assert {practitioner["display_name"], manager["display_name"]} <= set(_owners(theirs))
    assert iro["display_name"] not in _owners(theirs)
    nobody = unescape((await client.get(audit_page, params={"owner_name": part})).text)
    assert f"Nobody you may set an action for has “{part}” in their name." in nobody
    # ... and named anyway (a stale page, a hand-made request), refused with
    # the rule's words; what was typed comes back.
    refused = await client.post("/actions", data={
        "_csrf_token": csrf_from(theirs), "allocation_id": str(allocation["id"]), "back": audit_page,
        "what": "Chase the school report", "owner": str(iro["id"]),
        "due_on-day": "31", "due_on-month": "12", "due_on-year": "2026",
    })
    assert refused.status_code == 422
    again = unescape(refused.text)
    assert "There is a problem" in again
    assert (f"You cannot set an action for {iro['display_name']}: choose yourself, someone in your line, "
            "or this audit’s practitioner, auditor or team manager") in again.replace("'", "’")
    assert "Chase the school report" in again
    assert 'value="31"' in again and 'value="12"' in again and 'value="2026"' in again
    # Never listed as a choice that would fail (issue 16 case 3).
    assert iro["display_name"] not in _owners(again) and practitioner["display_name"] in _owners(again)
    assert not await Action.exists().where(Action.what == "Chase the school report")
