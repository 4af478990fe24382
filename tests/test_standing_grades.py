"""The report summaries (standing grades, monthly counts) agree with the grade
chain after every kind of change: QA's acceptance, moderation and a dispute's
amendment; and a rebuild from the chain gives the same rows as the upkeep."""

from __future__ import annotations

import pytest

from core.calendar import london_date
from core.db.tables import AgreementMonth, GradeMonth, StandingGrade
from core.services import audits, disputes, month_counts, reports
from core.services.context import Context
from helpers import acting, allocation_of, finalise


async def _month_rows() -> list[tuple]:
    rows = await GradeMonth.select(
        GradeMonth.month, GradeMonth.domain, GradeMonth.final_level, GradeMonth.n, GradeMonth.by_moderation, GradeMonth.by_dispute
    ).where(GradeMonth.n != 0).order_by(GradeMonth.month).order_by(GradeMonth.domain).order_by(GradeMonth.final_level)
    return [tuple(r.values()) for r in rows]


async def _agreement_rows() -> list[tuple]:
    rows = await AgreementMonth.select(
        AgreementMonth.month, AgreementMonth.auditor, AgreementMonth.team, AgreementMonth.moderated, AgreementMonth.agreed
    ).where(AgreementMonth.moderated != 0).order_by(AgreementMonth.month).order_by(AgreementMonth.auditor).order_by(AgreementMonth.team)
    return [tuple(r.values()) for r in rows]


async def _standing_rows() -> list[tuple]:
    rows = await StandingGrade.select(
        StandingGrade.allocation, StandingGrade.domain, StandingGrade.auditor_level, StandingGrade.moderated_level,
        StandingGrade.final_level, StandingGrade.final_rank, StandingGrade.previous, StandingGrade.auditor, StandingGrade.team,
    ).order_by(StandingGrade.allocation).order_by(StandingGrade.domain)
    return [tuple(r.values()) for r in rows]


@pytest.mark.req("CORE-15")
@pytest.mark.req("HAR-11")
async def test_a_disputed_grade_moves_in_every_report_and_a_rebuild_agrees(registry, demo):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    qa = await acting(registry, "haringey.head_of_qa")
    month = reports.period("month", london_date(allocation["due_at"]))

    async def overall(scope):
        report = await reports.report(qa, month, scope)
        grades = {g.domain: g for g in report.grades}["overall"]
        return {k: v for k, v in grades.levels.items() if v}, grades.changed_by_dispute

    before = await overall(reports.Scope("org"))
    assert before == ({"requires_improvement": 1}, 0)

    # Informal stage: the team manager records the meeting and amends the grade.
    people = await audits.relations_of(Context(registry=registry), await audits.load_row(allocation["id"]))
    practitioner = await person_by_id(people["practitioner"])
    manager = await person_by_id(people["team_manager"])
    dispute_id = await disputes.raise_dispute(
        await acting(registry, practitioner["username"]), allocation["id"], "safeguarding_corporate_parenting_dct",
        {"overall": {"proposed": "good", "rationale": "The plan was SMART and reviewed."}},
    )
    tm = await acting(registry, manager["username"])
    await disputes.take_step(tm, dispute_id, "meeting_held", participants="TM, SW, auditor")
    await disputes.take_step(tm, dispute_id, "resolve_informally", "Agreed at the meeting", outcome="amended",
                             amendments={"overall": "good"})

    # The council-wide report (monthly counts) and the team's (standing grades) both move.
    assert await overall(reports.Scope("org")) == ({"good": 1}, 1)
    assert await overall(reports.Scope("team", manager["team"])) == ({"good": 1}, 1)

    # The upkeep and a rebuild from the whole chain give the same rows.
    kept_months, kept_standing, kept_agreement = await _month_rows(), await _standing_rows(), await _agreement_rows()
    await month_counts.rebuild_all()
    assert await _month_rows() == kept_months
    assert await _standing_rows() == kept_standing
    assert await _agreement_rows() == kept_agreement
    # QA accepted the auditor's grades: every moderated domain agreed, counted
    # against the auditor, the same by month (roll-up) as by the rows.
    by_auditor = await reports.moderation_agreement(qa, month, reports.Scope("org"))
    assert [(r.moderated, r.agreed) for r in by_auditor] == [(sum(r[3] for r in kept_agreement), sum(r[4] for r in kept_agreement))]
    assert by_auditor[0].moderated > 0 and by_auditor[0].rate == 1.0
    assert any(r[1] == "overall" and r[2] == "good" and r[5] == 1 for r in kept_months)


async def person_by_id(person_id: int) -> dict:
    from core.db.tables import Person

    return await Person.select().where(Person.id == person_id).first()
