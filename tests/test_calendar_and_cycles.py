"""Working days and monthly cycles on real dates (CORE-8, CORE-9, HAR-2)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.calendar import UTC, add_working_days, first_working_day, last_working_day, to_london, working_deadline
from core.db.tables import Allocation, ChildCase, Cycle, Notification, Person
from core.services.context import Context
from core.services.cycles import issue_cycle, issue_due_cycles
from core.workflow import add_calendar_months


def test_five_working_days_from_tuesday_22_december_2026_is_thursday_31st():
    # Christmas Day (Fri 25th) and the Boxing Day substitute (Mon 28th) are not working days.
    assert add_working_days(dt.date(2026, 12, 22), 5) == dt.date(2026, 12, 31)
    due = working_deadline(dt.datetime(2026, 12, 22, 10, 0, tzinfo=UTC), 5)
    assert to_london(due).date() == dt.date(2026, 12, 31)
    assert to_london(due).strftime("%H:%M") == "23:59"


def test_deadlines_are_stored_in_utc_and_shown_in_london_summer_time():
    due = working_deadline(dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC), 1)
    assert due == dt.datetime(2026, 6, 2, 22, 59, 59, tzinfo=UTC)  # 23:59:59 BST
    assert add_calendar_months(dt.datetime(2026, 1, 31, 12, tzinfo=UTC), 1).astimezone(UTC).date() == dt.date(2026, 2, 28)


@pytest.mark.req("HAR-2")
def test_a_cycle_runs_from_first_to_last_working_day():
    assert first_working_day(2027, 1) == dt.date(2027, 1, 4)  # New Year's Day Friday, then a weekend
    assert last_working_day(2026, 12) == dt.date(2026, 12, 31)
    assert first_working_day(2026, 5) == dt.date(2026, 5, 1)
    assert last_working_day(2026, 5) == dt.date(2026, 5, 29)  # Spring bank holiday Monday 25th; 30-31 weekend
    assert first_working_day(2026, 8) == dt.date(2026, 8, 3)


@pytest.mark.req("CORE-9")
@pytest.mark.req("HAR-2")
async def test_the_sweep_issues_the_cycle_on_its_first_working_day_once(registry, demo):
    org = (await Person.select(Person.organisation).first())["organisation"]
    # The demo issued this month already; January 2027 is not due before Monday 4th.
    before = Context(registry=registry, now=dt.datetime(2027, 1, 1, 12, tzinfo=UTC))
    assert await issue_due_cycles(before) == []  # 1 January: a bank holiday, and December's cycle is issued
    friday = Context(registry=registry, now=dt.datetime(2027, 1, 3, 12, tzinfo=UTC))
    assert await issue_due_cycles(friday) == []
    monday = Context(registry=registry, now=dt.datetime(2027, 1, 4, 8, tzinfo=UTC))
    issued = await issue_due_cycles(monday)
    assert len(issued) == 1 and issued[0].created
    again = await issue_due_cycles(Context(registry=registry, now=dt.datetime(2027, 1, 4, 9, tzinfo=UTC)))
    assert again == []
    cycle = await Cycle.select().where((Cycle.organisation == org) & (Cycle.year == 2027) & (Cycle.month == 1)).first()
    assert (cycle["starts_on"], cycle["ends_on"]) == (dt.date(2027, 1, 4), dt.date(2027, 1, 29))
    allocations = await Allocation.select().where(Allocation.cycle == cycle["id"])
    # Due at the end of the cycle's last working day, London time.
    assert {to_london(a["due_at"]).date() for a in allocations} == {dt.date(2027, 1, 29)}


@pytest.mark.req("CORE-9")
async def test_allocation_is_reproducible_explained_and_never_the_auditors_own_team(registry, demo):
    rows = await Allocation.select(
        Allocation.auditor,
        Allocation.reason,
        Allocation.child_case.team.as_alias("case_team"),
        Allocation.child_case.allocated_worker.as_alias("worker"),
        Allocation.auditor.team.as_alias("auditor_team"),
    )
    assert len(rows) == demo.allocations == 7  # 3 team managers, CP chair, IRO, LADO, QA officer
    for row in rows:
        assert row["worker"] != row["auditor"]
        assert row["auditor_team"] is None or row["auditor_team"] != row["case_team"]
        assert "Sampled at random (seed" in row["reason"]
    assert len({row["auditor"] for row in rows}) == 7
    # Each auditor, each practitioner whose case was chosen and their team manager are told.
    kinds = [n["kind"] for n in await Notification.select(Notification.kind)]
    assert (kinds.count("allocated"), kinds.count("case_allocated_for_audit"), kinds.count("team_case_allocated_for_audit")) == (7, 7, 7)
    # Category mix: 7 cases across the demo's 6 categories, none twice before all once.
    categories = [r["category"] for r in await Allocation.select(Allocation.child_case.category.as_alias("category"))]
    assert len(set(categories)) == 6

    # Same organisation and month, same seed, same list.
    from core.services.cycles import cycle_seed

    org = (await Person.select(Person.organisation).first())["organisation"]
    cycle = await Cycle.select().first()
    assert cycle["seed"] == cycle_seed(org, cycle["year"], cycle["month"])
    ctx = Context(registry=registry)
    again = await issue_cycle(ctx, org, cycle["year"], cycle["month"])
    assert not again.created and again.cycle_id == cycle["id"]
    assert await Allocation.count() == 7
    assert await ChildCase.count() == 24



@pytest.mark.req("CORE-9")
@pytest.mark.req("HAR-1")
async def test_service_managers_re_audits_are_drawn_from_earlier_audits_that_were_not_good_enough(registry, demo):
    from collections import Counter

    from helpers import allocation_of, finalise

    org = (await Person.select(Person.organisation).first())["organisation"]
    poor = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", poor["id"], "inadequate")
    fine = await allocation_of("haringey.iro")
    await finalise(registry, "haringey.iro", fine["id"], "good")
    # January 2027, issued on its first working day (Monday 4th): the service
    # manager is allocated the inadequate one to re-audit (HAR 1.4), planned
    # before the random draw, which leaves its case alone (HAR 2.6).
    monday = Context(registry=registry, now=dt.datetime(2027, 1, 4, 8, tzinfo=UTC))
    issued = await issue_cycle(monday, org, 2027, 1)
    sm = (await Person.select(Person.id).where(Person.username == "haringey.service_manager").first())["id"]
    rows = await Allocation.select().where(Allocation.cycle == issued.cycle_id)
    re_audits = [r for r in rows if r["kind"] == "re_audit"]
    assert [(r["auditor"], r["previous"], r["child_case"]) for r in re_audits] == [(sm, poor["id"], poor["child_case"])]
    # In words, not by the earlier audit's number (issue 17): its case and when it was made final.
    assert re_audits[0]["reason"].startswith("Re-audit of the audit of case ") and "(final grade inadequate)" in re_audits[0]["reason"]
    # No case twice in a cycle: the draw did not take the case being re-audited.
    assert [case for case, n in Counter(r["child_case"] for r in rows).items() if n > 1] == []
    assert issued.allocations == 8  # seven audits and one re-audit
