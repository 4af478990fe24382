"""Monthly cycles and their allocation lists (CORE-9, HAR-1, HAR-2).

A cycle runs from the first to the last working day of its month and issues
its allocation list on the first working day (HAR 2, Appendix A). Sampling
is seeded from the organisation and month, so issuing the same month again
anywhere gives the same list; the unique index on (organisation, year,
month) makes a second issue a no-op rather than a duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from dataclasses import dataclass

from core.calendar import end_of_london_day, first_working_day, last_working_day, london_date
from core.db.engine import transaction
from core.db.tables import Allocation, ChildCase, Cycle, Grade, Organisation, Person, PracticeWeek
from core.services import notifications, trail
from core.services.allocations import create_allocation
from core.services.context import Context


@dataclass(frozen=True, slots=True)
class Planned:
    auditor: dict
    case: dict
    reason: str
    kind: str = "audit"
    previous: int | None = None


@dataclass(frozen=True, slots=True)
class Issued:
    cycle_id: int
    created: bool
    allocations: int


def _may_audit(rules, auditor: dict, case: dict) -> bool:
    """Never the auditor's own case; never their own team unless the council allows it."""
    if case["allocated_worker"] == auditor["id"]:
        return False
    return rules.allow_own_team or auditor["team"] is None or case["team"] != auditor["team"]


async def _plan_re_audits(ctx: Context, organisation_id: int, rules, starts_on: dt.date, busy: set[int]) -> list[Planned]:
    """HAR 1.4: re-audits drawn from earlier final audits whose final overall
    grade calls for one, oldest first, one re-audit per audit."""
    if not rules.re_auditor_roles:
        return []
    roles = [ref.split(":")[-1] for ref in rules.re_auditor_roles]
    re_auditors = (
        await Person.select(Person.id, Person.display_name, Person.team)
        .where((Person.organisation == organisation_id) & Person.role.is_in(roles) & (Person.active == True))  # noqa: E712
        .order_by(Person.id)
    )
    if not re_auditors:
        return []
    already = {r["previous"] for r in await Allocation.select(Allocation.previous).where(Allocation.previous.is_not_null())}
    finals = (
        await Grade.select(
            Grade.allocation,
            Grade.level,
            Grade.allocation.kind.as_alias("kind"),
            Grade.allocation.finalised_at.as_alias("finalised_at"),
            Grade.allocation.child_case.as_alias("case_id"),
        )
        .where(
            (Grade.organisation == organisation_id)
            & (Grade.phase == "final")
            & (Grade.domain == "overall")
            & Grade.level.is_in(list(rules.re_audit_grades) or [""])
            & (Grade.allocation.finalised_at < end_of_london_day(starts_on - dt.timedelta(days=1)))
        )
        .order_by(Grade.allocation.finalised_at)
    )
    candidates = [f for f in finals if f["allocation"] not in already and f["case_id"] not in busy]
    if not candidates:
        return []
    cases = {
        c["id"]: c
        for c in await ChildCase.select(ChildCase.id, ChildCase.external_id, ChildCase.category, ChildCase.team, ChildCase.allocated_worker).where(
            ChildCase.id.is_in(sorted({f["case_id"] for f in candidates}))
        )
    }
    planned: list[Planned] = []
    for re_auditor in re_auditors:
        for _ in range(rules.re_audits_per_auditor):
            choice = next((f for f in candidates if _may_audit(rules, re_auditor, cases[f["case_id"]])), None)
            if choice is None:
                break
            candidates.remove(choice)
            kind = "second_re_audit" if choice["kind"] in ("re_audit", "second_re_audit") else "re_audit"
            reason = (
                f"Re-audit of audit {choice['allocation']} (final grade {choice['level'].replace('_', ' ')}, "
                f"{choice['finalised_at']:%B %Y}): the oldest final audit awaiting a re-audit (HAR 1.4)."
            )
            planned.append(Planned(re_auditor, cases[choice["case_id"]], reason, kind, choice["allocation"]))
    return planned


def cycle_seed(organisation_id: int, year: int, month: int) -> int:
    digest = hashlib.sha256(f"qaf-cycle:{organisation_id}:{year}:{month}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


async def issue_cycle(ctx: Context, organisation_id: int, year: int, month: int) -> Issued:
    """Open the month's cycle and allocate its audits; idempotent, also when
    two processes issue the same month at once (the unique index decides)."""
    try:
        return await _issue_cycle(ctx, organisation_id, year, month)
    except Exception as error:
        if not is_unique_violation(error):
            raise
        existing = await Cycle.select(Cycle.id).where(
            (Cycle.organisation == organisation_id) & (Cycle.year == year) & (Cycle.month == month)
        ).first()
        return Issued(existing["id"], False, 0)


def is_unique_violation(error: Exception) -> bool:
    import sqlite3

    import asyncpg

    if isinstance(error, asyncpg.UniqueViolationError):
        return True
    return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)


async def _issue_cycle(ctx: Context, organisation_id: int, year: int, month: int) -> Issued:
    existing = await Cycle.select(Cycle.id).where(
        (Cycle.organisation == organisation_id) & (Cycle.year == year) & (Cycle.month == month)
    ).first()
    if existing:
        return Issued(existing["id"], False, 0)
    organisation = await Organisation.select().where(Organisation.id == organisation_id).first()
    council = ctx.registry.council(organisation["council"])
    rules = council.cycles
    if rules is None:
        raise ValueError(f"council {council.key!r} defines no audit cycles")
    form_key = ctx.registry.ref(council.key, rules.form, "forms")
    form = ctx.registry.form(form_key)
    workflow_key = ctx.registry.ref(council.key, form.workflow, "workflows")
    seed = cycle_seed(organisation_id, year, month)
    starts_on, ends_on = first_working_day(year, month), last_working_day(year, month)
    if council.practice_weeks_replace_cycle and await PracticeWeek.exists().where(
        (PracticeWeek.organisation == organisation_id) & (PracticeWeek.year == year) & (PracticeWeek.month == month)
    ):
        # HAR 2: a practice week "will replace the monthly audit process for that
        # month": the month is recorded as a practice week, with no allocations.
        async with transaction():
            rows = await Cycle.insert(
                Cycle(organisation=organisation_id, year=year, month=month, kind="practice_week",
                      starts_on=starts_on, ends_on=ends_on, seed=seed, issued_at=ctx.now)
            ).returning(Cycle.id)
            await trail.record(ctx, organisation_id=organisation_id, entity="cycle", entity_id=rows[0]["id"],
                               action="practice_week", changes={"year": year, "month": month})
        return Issued(rows[0]["id"], True, 0)
    # HAR 2: "Each audit cycle generally runs from the first working day of the
    # month to the last working day of the month": allocations are due then.
    due_at = end_of_london_day(ends_on)

    auditor_roles = [ref.split(":")[-1] for ref in rules.auditor_roles]
    auditors = (
        await Person.select(Person.id, Person.display_name, Person.team, Person.team.name.as_alias("team_name"))
        .where((Person.organisation == organisation_id) & Person.role.is_in(auditor_roles) & (Person.active == True))  # noqa: E712
        .order_by(Person.id)
    )
    busy = {
        row["child_case"]
        for row in await Allocation.select(Allocation.child_case).where(
            (Allocation.organisation == organisation_id) & (Allocation.finalised_at.is_null())
        )
    }
    cases = [
        case
        for case in await ChildCase.select(
            ChildCase.id, ChildCase.external_id, ChildCase.category, ChildCase.team, ChildCase.allocated_worker
        )
        .where((ChildCase.organisation == organisation_id) & ChildCase.allocated_worker.is_not_null())
        .order_by(ChildCase.id)
        if case["id"] not in busy
    ]
    rng = random.Random(seed)
    rng.shuffle(cases)
    taken: set[int] = set()
    planned: list[Planned] = []
    categories: dict[str, int] = {}
    exclusions = "the auditor's own cases" + ("" if rules.allow_own_team else " and own team")
    per_auditor = rules.audits_per_auditor
    share_note = ""
    if rules.yearly_share and auditors:
        open_cases = len(cases) + len(busy)
        monthly = math.ceil(rules.yearly_share * open_cases / 12)
        per_auditor = max(per_auditor, math.ceil(monthly / len(auditors)))
        share_note = (
            f" Part of the yearly sample of {rules.yearly_share:.0%} of {open_cases} open cases"
            f" ({math.ceil(rules.yearly_share * open_cases)} a year, {monthly} this month)."
        )
    for auditor in auditors:
        for _ in range(per_auditor):
            eligible = [c for c in cases if c["id"] not in taken and _may_audit(rules, auditor, c)]
            if not eligible:
                break
            # CORE-9 category mix: the least-sampled category this month first;
            # the shuffled order decides within it.
            case = min(eligible, key=lambda c: categories.get(c["category"], 0)) if rules.category_mix else eligible[0]
            categories[case["category"]] = categories.get(case["category"], 0) + 1
            taken.add(case["id"])
            mix = ", balancing case categories" if rules.category_mix else ""
            reason = (
                f"Sampled at random (seed {seed}) from {len(eligible)} eligible open cases for the "
                f"{dt.date(year, month, 1):%B %Y} cycle, excluding {exclusions} and cases already being audited{mix}."
                + share_note
            )
            planned.append(Planned(auditor, case, reason))
    planned.extend(await _plan_re_audits(ctx, organisation_id, rules, starts_on, busy | taken))
    team_managers: dict[int, list[int]] = {}
    for tm in await Person.select(Person.id, Person.team).where(
        (Person.organisation == organisation_id)
        & (Person.role == council.team_manager_role.split(":")[-1])
        & (Person.active == True)  # noqa: E712
        & Person.team.is_not_null()
    ):
        team_managers.setdefault(tm["team"], []).append(tm["id"])

    async with transaction():
        cycle_rows = await Cycle.insert(
            Cycle(
                organisation=organisation_id,
                year=year,
                month=month,
                kind="monthly",
                starts_on=starts_on,
                ends_on=ends_on,
                seed=seed,
                issued_at=ctx.now,
            )
        ).returning(Cycle.id)
        cycle_id = cycle_rows[0]["id"]
        await trail.record(
            ctx,
            organisation_id=organisation_id,
            entity="cycle",
            entity_id=cycle_id,
            action="issued",
            changes={"year": year, "month": month, "seed": seed, "allocations": len(planned)},
        )
        for plan in planned:
            auditor, case, reason = plan.auditor, plan.case, plan.reason
            allocation_id = await create_allocation(
                ctx,
                organisation_id=organisation_id,
                case=case,
                auditor=auditor,
                kind=plan.kind,
                reason=reason,
                form_key=form_key,
                workflow_key=workflow_key,
                due_at=due_at,
                cycle_id=cycle_id,
                previous=plan.previous,
            )
            due_text = f"{ends_on:%A %-d %B %Y}"
            await notifications.notify(
                ctx,
                organisation_id=organisation_id,
                recipients=[auditor["id"]],
                kind="allocated",
                subject=f"New audit: case {case['external_id']}, due {due_text}",
                body=f"You have been allocated case {case['external_id']} to audit in the "
                f"{dt.date(year, month, 1):%B %Y} cycle. Complete it by {due_text}.",
                link=f"/audits/{allocation_id}",
                allocation_id=allocation_id,
            )
            # Appendix A: the allocation list also goes to practitioners and their
            # team managers (HAR 2: "to all relevant auditors, team manager and practitioners").
            what = "re-audited" if plan.kind != "audit" else "audited"
            await notifications.notify(
                ctx,
                organisation_id=organisation_id,
                recipients=[case["allocated_worker"]],
                kind="case_allocated_for_audit",
                subject=f"Case {case['external_id']} will be {what} this month",
                body=f"{auditor['display_name']} will audit case {case['external_id']} in the "
                f"{dt.date(year, month, 1):%B %Y} cycle and will arrange a conversation with you (HAR 2.4).",
                allocation_id=allocation_id,
            )
            await notifications.notify(
                ctx,
                organisation_id=organisation_id,
                recipients=team_managers.get(case["team"], []),
                kind="team_case_allocated_for_audit",
                subject=f"Case {case['external_id']} in your team will be {what} this month",
                body=f"{auditor['display_name']} will audit case {case['external_id']} in the "
                f"{dt.date(year, month, 1):%B %Y} cycle." + (" HAR 2.5: as a second re-audit, the re-auditor will meet you and the practitioner." if plan.kind == "second_re_audit" else ""),
                allocation_id=allocation_id,
            )
    return Issued(cycle_id, True, len(planned))


async def issue_due_cycles(ctx: Context) -> list[Issued]:
    """Issue this month's cycle for every organisation once its first working day has come."""
    today = london_date(ctx.now)
    issued = []
    for organisation in await Organisation.select(Organisation.id, Organisation.council):
        if organisation["council"] not in ctx.registry.councils:
            continue
        if ctx.registry.council(organisation["council"]).cycles is None:
            continue
        if today >= first_working_day(today.year, today.month):
            result = await issue_cycle(ctx, organisation["id"], today.year, today.month)
            if result.created:
                issued.append(result)
    return issued


async def list_cycles(ctx: Context) -> list[dict]:
    assert ctx.actor
    return (
        await Cycle.select(
            Cycle.all_columns(),
        )
        .where(Cycle.organisation == ctx.actor.organisation_id)
        .order_by(Cycle.year, ascending=False)
        .order_by(Cycle.month, ascending=False)
    )


async def schedule_practice_week(ctx: Context, year: int, month: int, agreed_by: str = "") -> None:
    """Record a practice week agreed by the Director (HAR 2); refused once the month's cycle is issued."""
    from core.services.errors import Conflict, Forbidden

    assert ctx.actor
    if not ctx.actor.can("administer"):
        raise Forbidden("Only the QA team can schedule practice weeks")
    organisation_id = ctx.actor.organisation_id
    if await Cycle.exists().where((Cycle.organisation == organisation_id) & (Cycle.year == year) & (Cycle.month == month)):
        raise Conflict(f"The {dt.date(year, month, 1):%B %Y} cycle has already been issued")
    if await PracticeWeek.exists().where(
        (PracticeWeek.organisation == organisation_id) & (PracticeWeek.year == year) & (PracticeWeek.month == month)
    ):
        return
    async with transaction():
        rows = await PracticeWeek.insert(
            PracticeWeek(organisation=organisation_id, year=year, month=month, agreed_by=agreed_by, created_at=ctx.now)
        ).returning(PracticeWeek.id)
        await trail.record(ctx, organisation_id=organisation_id, entity="practice_week", entity_id=rows[0]["id"],
                           action="scheduled", changes={"year": year, "month": month, "agreed_by": agreed_by})


async def practice_weeks(organisation_id: int) -> frozenset[tuple[int, int]]:
    rows = await PracticeWeek.select(PracticeWeek.year, PracticeWeek.month).where(PracticeWeek.organisation == organisation_id)
    return frozenset((r["year"], r["month"]) for r in rows)
