"""The lead of an audit chooses a co-auditor (PLAT-4) from a short list, not
from everyone in the council who audits (≈600 in a large one, issue 19): the
people of the lead's own service, or, for a lead in no team (a CP chair), the
others in the lead's role; anyone else by a search by name, a plain GET form
that works without JavaScript. The API's candidates answer the same way."""

from __future__ import annotations

import re
from html import unescape

from core.db.tables import Person
from helpers import allocation_of, api_token, person, sign_in


def _options(html: str) -> list[str]:
    select = html[html.index('name="person"'):]
    select = select[: select.index("</select>")]
    return [unescape(o) for o in re.findall(r"<option[^>]*>([^<]*)</option>", select)][1:]


async def test_the_lead_chooses_from_their_role_or_finds_someone_by_name(client):
    allocation = await allocation_of("haringey.cp_chair")
    lead = await person("haringey.cp_chair")
    assert lead["team"] is None  # a CP chair is in no team
    iro = await person("haringey.iro")
    chairs = await Person.select(Person.display_name).where(
        (Person.role == "cp_chair") & (Person.active == True) & (Person.id != lead["id"])  # noqa: E712
    ).order_by(Person.display_name)
    await sign_in(client, "haringey.cp_chair")

    page = unescape((await client.get(f"/audits/{allocation['id']}")).text)
    assert "Find someone else by name" in page
    if chairs:
        assert "Listed: others in your role." in page
        assert [o.split(" (")[0] for o in _options(page)] == [c["display_name"] for c in chairs]
    else:
        assert "There is nobody else in your role who audits cases to add." in page
    assert f"{iro['display_name']} (" not in page

    # The IRO, found by part of their name, in any case of letters.
    part = iro["display_name"].split()[-1].lower()
    found = unescape((await client.get(f"/audits/{allocation['id']}", params={"co_auditor_name": part})).text)
    assert f"Listed: people whose name has “{part}” in it." in found
    assert f"{iro['display_name']} (" in " ".join(_options(found))
    assert f'value="{part}"' in found  # the search box keeps what was typed

    nobody = unescape((await client.get(f"/audits/{allocation['id']}", params={"co_auditor_name": "Zzqx"})).text)
    assert "Nobody who audits cases has “Zzqx” in their name." in nobody

    headers = await api_token(client, "haringey.cp_chair")
    answer = await client.get(f"/api/v1/allocations/{allocation['id']}/co-auditors/candidates",
                              params={"name": part}, headers=headers)
    assert answer.status_code == 200
    assert iro["id"] in [p["id"] for p in answer.json()]
