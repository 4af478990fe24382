"""An audit's life after its grade is final (issue 12, section 3): a dispute's
amended grade is the grade every later step reads (HAR 2.11); re-audits are
planned before the month's random draw, which leaves their cases alone
(HAR 1.4, 2.6); a re-audit that keeps its grade reaches the head of service
as well as the people HAR 2.14 names (HAR 2.6, 2.13, 2.14).

Each test names its instants: the audits are final on Thursday 31 December
2026 (the suite's instant, the last working day of the year), and January
2027's cycle is issued on Monday 4 January (New Year's Day is a Friday).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest

from core.calendar import UTC, london_date
from core.db.tables import Allocation, ChildCase, Notification, Person
from core.services import allocations, audits, disputes, imports
from core.services.context import Context
from core.services.cycles import issue_cycle
from helpers import acting, allocation_of, filled_answers, person, sign_in

DECEMBER_31 = dt.datetime(2026, 12, 31, 10, 0, tzinfo=UTC)
# HAR 2: "Each audit cycle generally runs from the first working day of the
# month": Friday 1 January 2027 is New Year's Day, so Monday 4 January.
JANUARY_4 = dt.datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
JANUARY_20 = dt.datetime(2027, 1, 20, 11, 0, tzinfo=UTC)

CRITERIA = "safeguarding_corporate_parenting_dct"  # HAR 3, the grading criteria a dispute cites (HAR 2.9)


async def _as(registry, username: str, now: dt.datetime) -> Context:
    ctx = await acting(registry, username)
    ctx.now = now
    return ctx


async def _finalise(registry, auditor: str, allocation_id: int, grade: str, now: dt.datetime) -> None:
    """The auditor grades every domain and overall ``grade`` and submits; QA
    accepts without moderating (HAR 2.6)."""
    ctx = await _as(registry, auditor, now)
    view = await audits.audit_view(ctx, allocation_id)
    revision = await audits.save_answers(ctx, allocation_id, view.revision, filled_answers(view, grade, day=london_date(now).isoformat()))  # dates inside the audit's window, at its clock
    await audits.submit(ctx, allocation_id, revision)
    await audits.review(await _as(registry, "haringey.head_of_qa", now + dt.timedelta(minutes=5)), allocation_id, "accept")


async def _amend_by_dispute(registry, allocation_id: int, overall: str, now: dt.datetime) -> None:
    """HAR 2.11, informal stage: the practitioner disputes the overall grade
    citing the criteria, the meeting is held, and the team manager records it
    resolved with the amended grade ("final (amended) audit report")."""
    row = await audits.load_row(allocation_id)
    people = await audits.relations_of(Context(registry=registry), row)
    practitioner = await Person.select().where(Person.id == people["practitioner"]).first()
    manager = await Person.select().where(Person.id == people["team_manager"]).first()
    dispute_id = await disputes.raise_dispute(
        await _as(registry, practitioner["username"], now), allocation_id, CRITERIA,
        {"overall": {"proposed": overall, "rationale": "The criteria for this grade are met; see the case record."}},
    )
    tm = await _as(registry, manager["username"], now + dt.timedelta(hours=1))
    await disputes.take_step(tm, dispute_id, "meeting_held", participants="Auditor, practitioner, team manager")
    await disputes.take_step(
        tm, dispute_id, "resolve_informally", "Agreed at the meeting against the grading criteria",
        outcome="amended", amendments={"overall": overall},
    )
    assert (await disputes.latest_final_grades(allocation_id))["overall"] == overall


async def _cycle(registry, year: int, month: int, now: dt.datetime) -> tuple[int, list[dict]]:
    org = (await Person.select(Person.organisation).where(Person.username == "haringey.director").first())["organisation"]
    issued = await issue_cycle(Context(registry=registry, now=now), org, year, month)
    assert issued.created
    rows = await Allocation.select().where(Allocation.cycle == issued.cycle_id).order_by(Allocation.id)
    return issued.cycle_id, rows


def _re_audits(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["kind"] in ("re_audit", "second_re_audit")]


async def _kinds_about(username: str, allocation_id: int) -> list[str]:
    who = await person(username)
    rows = await Notification.select(Notification.kind).where(
        (Notification.recipient == who["id"]) & (Notification.allocation == allocation_id)
    )
    return [r["kind"] for r in rows]


# ------------------------------------------------------------ 1. amended grades


@pytest.mark.req("HAR-11")
async def test_the_amended_grade_decides_which_final_audit_is_re_audited_next_month(registry, demo):
    # Two final audits on 31 December. The first, Requires Improvement, is
    # disputed and amended to Good: it no longer calls for a re-audit. The
    # second, Good, is amended to Inadequate: it now does (HAR 1.4 re-audits
    # audits that were not good enough; HAR 2.11 the amended report is final).
    amended_up = await allocation_of("haringey.cp_chair")
    amended_down = await allocation_of("haringey.iro")
    await _finalise(registry, "haringey.cp_chair", amended_up["id"], "requires_improvement", DECEMBER_31)
    await _finalise(registry, "haringey.iro", amended_down["id"], "good", DECEMBER_31 + dt.timedelta(minutes=30))
    await _amend_by_dispute(registry, amended_up["id"], "good", DECEMBER_31 + dt.timedelta(hours=2))
    await _amend_by_dispute(registry, amended_down["id"], "inadequate", DECEMBER_31 + dt.timedelta(hours=4))

    _, rows = await _cycle(registry, 2027, 1, JANUARY_4)
    sm = await person("haringey.service_manager")
    # The service manager has one re-audit a month (HAR 1.4): the audit now
    # graded Inadequate, not the older one once graded Requires Improvement.
    assert [(r["auditor"], r["previous"], r["child_case"]) for r in _re_audits(rows)] == [
        (sm["id"], amended_down["id"], amended_down["child_case"])
    ]
    assert "made final in December 2026 (final grade inadequate)" in _re_audits(rows)[0]["reason"]
    assert not await Allocation.exists().where(Allocation.previous == amended_up["id"])


@pytest.mark.req("HAR-11")
@pytest.mark.req("HAR-14")
async def test_a_re_audit_moves_against_the_amended_grade_of_the_audit_before_it(registry, demo, client):
    # Inadequate on 31 December, amended to Requires Improvement after a
    # dispute: still one for the service manager to re-audit in January.
    first = await allocation_of("haringey.cp_chair")
    await _finalise(registry, "haringey.cp_chair", first["id"], "inadequate", DECEMBER_31)
    await _amend_by_dispute(registry, first["id"], "requires_improvement", DECEMBER_31 + dt.timedelta(hours=2))
    _, rows = await _cycle(registry, 2027, 1, JANUARY_4)
    (re_audit,) = _re_audits(rows)
    assert re_audit["previous"] == first["id"]
    assert "made final in December 2026 (final grade requires improvement)" in re_audit["reason"]

    # The re-audit is Requires Improvement again: the same as the amended
    # grade (not an improvement on the superseded Inadequate).
    await _finalise(registry, "haringey.service_manager", re_audit["id"], "requires_improvement", JANUARY_20)
    case = (await audits.load_row(re_audit["id"]))["case_external_id"]
    # HAR 2.13/2.14: a re-audit that stays the same goes to the service
    # manager (with the practitioner and team manager) to follow up.
    sm = await person("haringey.service_manager")
    told = await Notification.select(Notification.body).where(
        (Notification.recipient == sm["id"]) & (Notification.kind == "escalation:reaudit_same_or_worse")
    )
    assert [n["body"].split(".")[0] for n in told] == [f"Re-audit of case {case}: same (Requires Improvement)"]

    # The re-audit page shows the same movement.
    await sign_in(client, "haringey.head_of_qa")
    page = await client.get(f"/audits/{re_audit['id']}")
    assert "Since the last audit" in page.text
    movement = re.findall(
        r'<th scope="row" class="govuk-table__header">([^<]+)</th>\s*<td class="govuk-table__cell">([^<]+)</td>'
        r'\s*<td class="govuk-table__cell">([^<]+)</td>\s*<td class="govuk-table__cell"><strong[^>]*>(\w+)</strong>',
        page.text,
    )
    assert ("Overall grade", "Requires Improvement", "Requires Improvement", "Same") in movement


# ------------------------------------------------- 2. re-audits before the draw


@pytest.mark.req("HAR-1")
@pytest.mark.req("CORE-9")
async def test_a_case_due_a_re_audit_is_re_audited_not_drawn_at_random(registry, demo):
    # The CP chair's December audit is Inadequate: its case is due a re-audit
    # in January (HAR 1.4, 2.6).
    poor = await allocation_of("haringey.cp_chair")
    await _finalise(registry, "haringey.cp_chair", poor["id"], "inadequate", DECEMBER_31)
    # Cases close (the case-record system's export lists them with no
    # allocated worker) until only the poor audit's case and two others are
    # open and not already being audited: fewer than January's seven auditors,
    # so a draw run first would take every one of them, whatever its seed.
    busy = {r["child_case"] for r in await Allocation.select(Allocation.child_case).where(Allocation.finalised_at.is_null())}
    open_cases = await ChildCase.select(ChildCase.id, ChildCase.external_id, ChildCase.category).where(
        ChildCase.allocated_worker.is_not_null()
    ).order_by(ChildCase.id)
    idle = [c for c in open_cases if c["id"] not in busy and c["id"] != poor["child_case"]]
    keep, close = idle[:2], idle[2:]
    csv = "external_id,category,allocated_worker_username\n" + "".join(f"{c['external_id']},{c['category']},\n" for c in close)
    await imports.import_cases(await _as(registry, "haringey.qa_officer", DECEMBER_31), csv.encode())

    _, rows = await _cycle(registry, 2027, 1, JANUARY_4)
    sm = await person("haringey.service_manager")
    # Every case due a re-audit, with a re-auditor free to do it, has it ...
    assert [(r["kind"], r["auditor"], r["previous"], r["child_case"]) for r in _re_audits(rows)] == [
        ("re_audit", sm["id"], poor["id"], poor["child_case"])
    ]
    # ... no case is allocated twice in the cycle ...
    assert [case for case, n in Counter(r["child_case"] for r in rows).items() if n > 1] == []
    # ... and the draw takes the other open cases, and says what it left out.
    audits_drawn = [r for r in rows if r["kind"] == "audit"]
    assert sorted(r["child_case"] for r in audits_drawn) == sorted(c["id"] for c in keep)
    assert all("cases already being audited or due a re-audit this month" in r["reason"] for r in audits_drawn)


# ------------------------------------------ 3. who hears of a re-audit (HAR-7)


@pytest.mark.req("HAR-7")
@pytest.mark.req("HAR-14")
async def test_a_first_re_audit_that_stays_requires_improvement_reaches_the_head_of_service(registry, demo, client):
    kept = await allocation_of("haringey.cp_chair")
    improving = await allocation_of("haringey.iro")
    await _finalise(registry, "haringey.cp_chair", kept["id"], "requires_improvement", DECEMBER_31)
    await _finalise(registry, "haringey.iro", improving["id"], "requires_improvement", DECEMBER_31 + dt.timedelta(minutes=30))

    # QA allocates the other's re-audit by hand at once, to the LADO;
    # January's cycle gives the service manager the first one (HAR 1.4).
    qa = await _as(registry, "haringey.qa_officer", DECEMBER_31 + dt.timedelta(hours=2))
    lado = await person("haringey.lado")
    second = await allocations.allocate_re_audit(qa, improving["id"], lado["id"], "Re-audit of a requires improvement audit")
    _, rows = await _cycle(registry, 2027, 1, JANUARY_4)
    (first,) = _re_audits(rows)
    assert first["previous"] == kept["id"]
    await _finalise(registry, "haringey.service_manager", first["id"], "requires_improvement", JANUARY_20)
    row = await audits.load_row(first["id"])
    people = await audits.relations_of(Context(registry=registry), row)
    practitioner = await Person.select(Person.username).where(Person.id == people["practitioner"]).first()
    manager = await Person.select(Person.username).where(Person.id == people["team_manager"]).first()
    # HAR 2.14: emailed to the practitioner, team manager and service manager,
    # with SMART actions to agree (HAR 2.13); HAR 2.6: the alert also goes to
    # the service manager and head of service. Everyone either section names.
    expected = {
        practitioner["username"]: "escalation:reaudit_same_or_worse",
        manager["username"]: "escalation:reaudit_same_or_worse",
        "haringey.service_manager": "escalation:reaudit_same_or_worse",
        "haringey.head_of_service": "escalation:reaudit_kept_grade",
    }
    for username, kind in expected.items():
        assert kind in await _kinds_about(username, first["id"]), username
    # A first re-audit: not yet the assistant director's (HAR 2.14's repeat).
    assert await _kinds_about("haringey.assistant_director", first["id"]) == []
    # The head of service sees it on their notifications page.
    await sign_in(client, "haringey.head_of_service")
    page = await client.get("/notifications")
    assert f"Re-audit of case {row['case_external_id']}: same (Requires Improvement)" in page.text
    assert "Note the re-audit that kept its grade" in page.text

    # The LADO's re-audit of the other improves to Good: no re-audit alert for anyone.
    await _finalise(registry, "haringey.lado", second, "good", JANUARY_20 + dt.timedelta(hours=2))
    alerts = await Notification.select(Notification.kind).where(
        (Notification.allocation == second) & Notification.kind.like("escalation:%reaudit%")
    )
    assert alerts == []
    # Not for want of telling: the practitioner and team manager heard it is final (HAR 2.6).
    told = await Notification.select(Notification.kind).where(Notification.allocation == second)
    assert "escalation:final_alert" in [n["kind"] for n in told]
