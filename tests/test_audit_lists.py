"""Lists of audits stay one screen long however many years are kept."""

from __future__ import annotations

import re

from helpers import acting, allocation_of, finalise, person, sign_in


async def test_my_audits_shows_the_newest_completed_and_pages_back_to_older_ones(client, registry, monkeypatch):
    from core.services import allocations, audits

    first = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", first["id"], "good")
    chair = await person("haringey.cp_chair")
    second_id = await allocations.allocate_re_audit(
        await acting(registry, "haringey.qa_officer"), first["id"], chair["id"], reason="Second look"
    )
    await finalise(registry, "haringey.cp_chair", second_id, "good")
    monkeypatch.setattr(audits, "COMPLETED_PAGE", 1)

    await sign_in(client, "haringey.cp_chair")
    page = await client.get("/audits")
    assert page.status_code == 200
    recent = page.text.split("Audits I completed most recently", 1)[1].split("</table>", 1)[0]
    assert f'href="/audits/{second_id}"' in recent
    assert f'href="/audits/{first["id"]}"' not in recent
    older = re.search(r'href="(/audits/completed\?before=\d+)"[^>]*>\s*<span[^>]*>Older audits', page.text)
    assert older, "an Older audits link follows the newest page"

    back = await client.get(older.group(1))
    assert back.status_code == 200
    assert f'href="/audits/{first["id"]}"' in back.text
    assert f'href="/audits/{second_id}"' not in back.text
    assert "Older audits" not in back.text  # nothing before the first audit


async def test_an_older_page_cursor_from_another_council_is_not_found(client, registry):
    await sign_in(client, "haringey.cp_chair")
    response = await client.get("/audits/completed?before=99999999")
    assert response.status_code == 404
