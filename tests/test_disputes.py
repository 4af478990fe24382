"""Disputes of a final audit's grades through Haringey's stages (HAR-11, HAR-9)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.calendar import UTC, to_london
from core.db.tables import Allocation, Deadline, Dispute, Grade, Notification, Trail
from core.services import audits, disputes, sweep
from core.services.context import Context
from core.services.errors import Forbidden, Invalid, NotFound
from helpers import acting, allocation_of, finalise, person

TUESDAY = dt.datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
# The audits are made final the day before the dispute is raised.
pytestmark = pytest.mark.clock(dt.datetime(2026, 12, 21, 9, 0, tzinfo=UTC))


async def _final_audit(registry, grade="requires_improvement") -> tuple[int, dict, dict]:
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], grade)
    row = await audits.load_row(allocation["id"])
    people = await audits.relations_of(Context(registry=registry), row)
    from core.db.tables import Person

    practitioner = await Person.select().where(Person.id == people["practitioner"]).first()
    manager = await Person.select().where(Person.id == people["team_manager"]).first()
    return allocation["id"], practitioner, manager


async def _as(registry, username: str, now: dt.datetime | None = None) -> Context:
    ctx = await acting(registry, username)
    if now is not None:
        ctx.now = now
    return ctx


def _day(instant) -> dt.date:
    return to_london(instant).date()


@pytest.mark.req("HAR-11")
@pytest.mark.req("HAR-9")
# The audit is final on Tuesday 22 December before the dispute about it is
# raised that morning: the amended grade comes after the grade it amends.
@pytest.mark.clock("2026-12-22T09:00:00+00:00")
async def test_a_practitioner_disputes_grades_citing_the_criteria_with_dated_stage_deadlines(registry, demo):
    allocation_id, practitioner, manager = await _final_audit(registry)
    ctx = await _as(registry, practitioner["username"], TUESDAY)

    # Per-field errors: the criteria must be the council's; every domain needs a grade and a rationale.
    with pytest.raises(Invalid) as refused:
        await disputes.raise_dispute(ctx, allocation_id, "made_up", {"overall": {"proposed": "good", "rationale": ""}, "nonsense": {}})
    assert set(refused.value.errors) == {"criteria", "domains", "domains.overall.rationale"}

    dispute_id = await disputes.raise_dispute(
        ctx, allocation_id, "safeguarding_corporate_parenting_dct",
        {"overall": {"proposed": "good", "rationale": "The plan was SMART and reviewed; see the criteria for good."}},
    )
    dispute = await Dispute.select().where(Dispute.id == dispute_id).output(load_json=True).first()
    assert dispute["state"] == "informal"
    assert dispute["domains"]["overall"] == {
        "current": "requires_improvement", "proposed": "good",
        "rationale": "The plan was SMART and reviewed; see the criteria for good.",
    }
    # Raised Tuesday 22 December: 5 working days skip Christmas Day, the weekend
    # and the Boxing Day substitute (Monday 28th): the meeting is due Thursday 31st.
    assert _day(dispute["state_due_at"]) == dt.date(2026, 12, 31)
    deadline = await Deadline.select().where(Deadline.dispute == dispute_id).output(load_json=True).first()
    assert (deadline["kind"], deadline["status"], deadline["escalate_to"]) == ("dispute:informal", "open", ["team_manager"])
    # The auditor and the QA team are kept informed.
    auditor = await person("haringey.cp_chair")
    assert await Notification.exists().where((Notification.recipient == auditor["id"]) & (Notification.kind == "dispute"))

    # Only one dispute at a time; and the auditor cannot dispute.
    with pytest.raises(Forbidden):
        await disputes.raise_dispute(await _as(registry, "haringey.cp_chair"), allocation_id, "fostering", {})

    # Meeting held on Thursday 24th -> outcome due within 2 working days: Wednesday 30th (25th and 28th are holidays).
    thursday = dt.datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    await disputes.take_step(await _as(registry, manager["username"], thursday), dispute_id, "meeting_held", participants="TM, SW, auditor")
    dispute = await Dispute.select().where(Dispute.id == dispute_id).first()
    assert dispute["state"] == "informal_outcome" and _day(dispute["state_due_at"]) == dt.date(2026, 12, 30)
    assert await Deadline.select(Deadline.status).where(Deadline.kind == "dispute:informal").first() == {"status": "met"}

    # Unresolved: going formal needs a reason; only the team manager may.
    with pytest.raises(Forbidden):
        await disputes.take_step(await _as(registry, practitioner["username"]), dispute_id, "go_formal", "No agreement")
    with pytest.raises(Invalid) as refused:
        await disputes.take_step(await _as(registry, manager["username"], thursday), dispute_id, "go_formal", "")
    assert "reason" in refused.value.errors
    await disputes.take_step(await _as(registry, manager["username"], thursday), dispute_id, "go_formal", "No agreement on the plan")
    dispute = await Dispute.select().where(Dispute.id == dispute_id).first()
    assert dispute["state"] == "formal" and _day(dispute["state_due_at"]) == dt.date(2027, 1, 5)  # New Year's Day skipped

    # Formal: the QA team with the head of QA/PSW, then the written response.
    qa = await _as(registry, "haringey.qa_officer", thursday)
    await disputes.take_step(qa, dispute_id, "agree_course")
    await disputes.take_step(qa, dispute_id, "send_response", "The plan is not SMART: the grade stands.")
    # The service manager (who cannot see audits) sees the dispute and escalates it.
    sm = await _as(registry, "haringey.service_manager", thursday)
    view = await disputes.dispute_view(sm, dispute_id)
    assert [t.key for t in view["transitions"]] == ["escalate_to_head_of_service"]
    await disputes.take_step(sm, dispute_id, "escalate_to_head_of_service", "Still disputed")
    hos = await _as(registry, "haringey.head_of_service", thursday)
    with pytest.raises(Invalid) as refused:
        await disputes.take_step(hos, dispute_id, "resolve_at_head_of_service", "", outcome="amended", amendments={})
    assert {"amendments", "reason"} <= set(refused.value.errors)
    await disputes.take_step(
        hos, dispute_id, "resolve_at_head_of_service", "Evidence of a SMART plan meets the criteria for good",
        outcome="amended", amendments={"overall": "good"},
    )
    dispute = await Dispute.select().where(Dispute.id == dispute_id).first()
    assert (dispute["state"], dispute["outcome"]) == ("resolved", "amended")
    assert not await Deadline.exists().where((Deadline.dispute == dispute_id) & (Deadline.status == "open"))

    # The grade chain shows the disputed grade and the amended final one, with who and why.
    chain = await Grade.select(Grade.phase, Grade.level, Grade.evidence, Grade.set_by).where(
        (Grade.allocation == allocation_id) & (Grade.domain == "overall")
    ).order_by(Grade.id)
    assert [(g["phase"], g["level"]) for g in chain][-2:] == [("disputed", "requires_improvement"), ("final", "good")]
    assert chain[-1]["set_by"] == (await person("haringey.head_of_service"))["id"]
    assert "SMART plan" in chain[-1]["evidence"]
    assert (await disputes.latest_final_grades(allocation_id))["overall"] == "good"
    answers = (await Allocation.select(Allocation.answers).where(Allocation.id == allocation_id).output(load_json=True).first())["answers"]
    assert "good" in [v for k, v in answers.items() if k.startswith("grade.") and k.endswith(".overall")]
    assert await disputes.counts(await _as(registry, "haringey.qa_officer")) == {
        "disputes": 1, "resolved": 1, "grades_disputed": 1, "grades_changed": 1,
    }
    steps = [t["action"] for t in await Trail.select(Trail.action).where((Trail.entity == "dispute") & (Trail.entity_id == dispute_id)).order_by(Trail.id)]
    assert steps == ["dispute_raised", "transition:meeting_held", "transition:go_formal", "transition:agree_course",
                     "transition:send_response", "transition:escalate_to_head_of_service", "transition:resolve_at_head_of_service"]


@pytest.mark.req("HAR-11")
async def test_a_dispute_stage_not_done_in_time_is_escalated_by_the_sweep(registry, demo):
    allocation_id, practitioner, manager = await _final_audit(registry)
    dispute_id = await disputes.raise_dispute(
        await _as(registry, practitioner["username"], TUESDAY), allocation_id, "safeguarding_corporate_parenting_dct",
        {"overall": {"proposed": "good", "rationale": "Criteria met."}},
    )
    # Not yet due on the 31st itself; passed on 1 January.
    await sweep.sweep(Context(registry=registry, now=dt.datetime(2026, 12, 31, 12, tzinfo=UTC)))
    assert await Deadline.select(Deadline.status).where(Deadline.dispute == dispute_id).first() == {"status": "open"}
    report = await sweep.sweep(Context(registry=registry, now=dt.datetime(2027, 1, 1, 9, tzinfo=UTC)))
    assert report.by_kind.get("dispute:informal") == 1
    told = await Notification.select().where((Notification.recipient == manager["id"]) & (Notification.kind == "dispute_overdue"))
    assert len(told) == 1 and "informal" in told[0]["subject"].lower()
    # Exactly once.
    await sweep.sweep(Context(registry=registry, now=dt.datetime(2027, 1, 2, 9, tzinfo=UTC)))
    assert await Notification.count().where((Notification.recipient == manager["id"]) & (Notification.kind == "dispute_overdue")) == 1


@pytest.mark.req("HAR-11")
async def test_others_cannot_see_or_take_a_dispute_and_upheld_keeps_the_grade(registry, demo):
    allocation_id, practitioner, manager = await _final_audit(registry)
    dispute_id = await disputes.raise_dispute(
        await _as(registry, manager["username"]), allocation_id, "safeguarding_corporate_parenting_dct",
        {"overall": {"proposed": "good", "rationale": "Criteria met."}},
    )
    other = await Allocation.select().where(Allocation.id != allocation_id).first()
    # Another team's practitioner sees nothing.
    from core.db.tables import Person

    stranger = await Person.select().where((Person.role == "practitioner") & (Person.id != practitioner["id"]) & (Person.line_manager != manager["id"])).first()
    assert other is not None and stranger is not None
    sctx = await _as(registry, stranger["username"])
    with pytest.raises(NotFound):
        await audits.audit_view(sctx, allocation_id)
    with pytest.raises(NotFound):
        await disputes.dispute_view(sctx, dispute_id)
    ctx = await _as(registry, manager["username"])
    await disputes.take_step(ctx, dispute_id, "meeting_held")
    await disputes.take_step(ctx, dispute_id, "resolve_informally", "Grade explained", outcome="upheld")
    assert (await disputes.latest_final_grades(allocation_id))["overall"] == "requires_improvement"
    assert not await Grade.exists().where((Grade.allocation == allocation_id) & (Grade.phase == "disputed"))
