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


async def test_the_qa_queue_lists_the_oldest_then_later_ones_a_page_at_a_time(client, registry, monkeypatch):
    """Issue 19: a large council has hundreds waiting at the month's end; the
    QA queue shows the oldest page, how many wait, and a link to the rest."""
    from core.services import audits

    from helpers import filled_answers

    waiting = []
    for auditor in ("haringey.cp_chair", "haringey.iro"):
        row = await allocation_of(auditor)
        ctx = await acting(registry, auditor)
        view = await audits.audit_view(ctx, row["id"])
        revision = await audits.save_answers(ctx, row["id"], view.revision, filled_answers(view, "good"))
        await audits.submit(ctx, row["id"], revision)
        waiting.append(row["id"])
    monkeypatch.setattr(audits, "QA_PAGE", 1)

    await sign_in(client, "haringey.qa_officer")
    page = await client.get("/qa")
    assert page.status_code == 200
    assert "2 audits are waiting; these are the 1 oldest." in page.text
    assert f'href="/audits/{waiting[0]}"' in page.text  # submitted first, so oldest
    assert f'href="/audits/{waiting[1]}"' not in page.text
    later = re.search(r'href="(/qa\?after=\d+)"[^>]*>\s*<span[^>]*>Later audits', page.text)
    assert later, "a Later audits link follows the oldest page"

    rest = await client.get(later.group(1))
    assert rest.status_code == 200
    assert "2 audits are waiting; these are later ones." in rest.text
    assert f'href="/audits/{waiting[1]}"' in rest.text
    assert f'href="/audits/{waiting[0]}"' not in rest.text
    assert "Later audits" not in rest.text  # nothing after the newest


async def test_the_practitioner_and_team_manager_find_final_audits_of_their_cases_a_page_at_a_time(
        client, registry, monkeypatch):
    """HAR 2.6 / HAR-7: once final, the report goes to the case's practitioner
    and team manager. My audits lists the final audits of the cases they work
    or manage, newest first, a page at a time (issue 19: the list starts from
    the person's cases, not from every final audit of the council)."""
    from core.db.tables import ChildCase, Person
    from core.services import allocations, audits

    first = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", first["id"], "good")
    chair = await person("haringey.cp_chair")
    second_id = await allocations.allocate_re_audit(
        await acting(registry, "haringey.qa_officer"), first["id"], chair["id"], reason="Second look"
    )
    await finalise(registry, "haringey.cp_chair", second_id, "good")
    case = await ChildCase.select().where(ChildCase.id == first["child_case"]).first()
    worker = await Person.select().where(Person.id == case["allocated_worker"]).first()
    manager = await Person.select().where(
        (Person.team == case["team"]) & (Person.role == "team_manager") & (Person.active == True)  # noqa: E712
    ).order_by(Person.id).first()
    outsider = await Person.select().where(
        (Person.organisation == case["organisation"]) & (Person.role == "team_manager")
        & (Person.team != case["team"]) & (Person.active == True)  # noqa: E712
    ).order_by(Person.id).first()
    assert worker and manager and outsider, "the demo has the case's worker, its team manager and another team's"
    monkeypatch.setattr(audits, "COMPLETED_PAGE", 1)

    for who in (worker, manager):
        client.cookies.clear()
        await sign_in(client, who["username"])
        page = await client.get("/audits")
        assert page.status_code == 200
        listed = page.text.split("Final audits of my cases and my team", 1)[1].split("</table>", 1)[0]
        assert f'href="/audits/{second_id}"' in listed  # the newest first
        assert f'href="/audits/{first["id"]}"' not in listed
        older = re.search(r'href="(/audits/of-my-cases\?before=\d+)"', page.text)
        assert older, "an Older audits link follows the newest page"
        back = await client.get(older.group(1))
        assert back.status_code == 200
        assert f'href="/audits/{first["id"]}"' in back.text
        assert f'href="/audits/{second_id}"' not in back.text

    client.cookies.clear()
    await sign_in(client, outsider["username"])
    page = await client.get("/audits")
    assert page.status_code == 200
    assert f'href="/audits/{second_id}"' not in page.text
    assert f'href="/audits/{first["id"]}"' not in page.text
