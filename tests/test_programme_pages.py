"""The programme page by role and month, and each person's own (CORE-7)."""

from __future__ import annotations

import re

import pytest

from helpers import sign_in


@pytest.mark.req("CORE-7")
async def test_qa_sees_the_programme_by_role_and_month(client):
    await sign_in(client, "haringey.qa_officer")
    page = await client.get("/programme?year=2027")
    assert page.status_code == 200
    html = page.text
    row = re.search(r'<th scope="row" class="govuk-table__header">Team manager</th>\s*<td[^>]*>Case audit</td>(.*?)</tr>', html, re.S)
    assert row, "no Team manager / Case audit row"
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
    # 3 team managers in the demo, one case audit each every month, none "as required".
    assert cells == ["3"] + ["3"] * 12 + [""]
    assert "Thematic audit" in html


async def test_a_team_manager_sees_only_their_own_programme(client):
    await sign_in(client, "haringey.team_manager.1")
    assert (await client.get("/programme?year=2027")).status_code == 403
    mine = await client.get("/programme/mine?year=2027")
    assert mine.status_code == 200
    # The year's table: a case audit every month (the to-do list above it holds this month's).
    year = mine.text.split("My activities, soonest first", 1)[1]
    assert year.count(">Case audit<") == 12
    assert "29 January 2027" in mine.text and "31 December 2027" in mine.text
    assert "Re-audit" not in mine.text
