"""A demo organisation for one council: teams, staff in every role, cases.

Names are invented. Every demo account shares one password, printed by
``qaf demo``: this is for trying qaf out, never for real data.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from core.calendar import london_date
from core.db.engine import transaction
from core.db.tables import Agency, AgencyRequest, Allocation, ChildCase, Deadline, Organisation, Person, Service, Team
from core.services import cycles, month_counts, trail, work
from core.services.accounts import hash_password
from core.services.context import Context

DEMO_PASSWORD = "qaf-demo-2026"

_FIRST = ["Amara", "Ben", "Chloe", "Dev", "Ewa", "Femi", "Grace", "Hassan", "Isla", "Jonah", "Kemi", "Liam",
          "Maya", "Niall", "Olu", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vik", "Wren", "Yusuf"]
_LAST = ["Adeyemi", "Brooks", "Chowdhury", "Dempsey", "Evans", "Fraser", "Gill", "Hughes", "Ibrahim", "Jones",
         "Khan", "Lewis", "Morgan", "Nowak", "Okafor", "Patel", "Quigley", "Reid", "Singh", "Taylor"]
_TEAMS = [
    ("Assessment and Safeguarding", "Assessment Team 1"),
    ("Assessment and Safeguarding", "Safeguarding Team 2"),
    ("Corporate Parenting", "Young People in Care"),
]
PRACTITIONERS_PER_TEAM = 2
CASES_PER_PRACTITIONER = 4


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    display_name: str
    role_label: str


@dataclass(frozen=True, slots=True)
class DemoResult:
    council: str
    created: bool
    logins: list[Login]
    allocations: int


async def load_demo(ctx: Context, council_key: str, *, issue_work: bool = True, examples: bool = False) -> DemoResult:
    council = ctx.registry.council(council_key)
    existing = await Organisation.select(Organisation.id).where(Organisation.council == council_key).first()
    if existing:
        logins = [
            Login(p["username"], p["display_name"], ctx.registry.role(f"{council_key}:{p['role']}").label)
            for p in await Person.select(Person.username, Person.display_name, Person.role)
            .where(Person.organisation == existing["id"])
            .order_by(Person.id)
        ]
        return DemoResult(council_key, False, logins, 0)

    names = (f"{a} {b}" for a, b in zip(itertools.cycle(_FIRST), itertools.cycle(_LAST)))
    password_hash = hash_password(DEMO_PASSWORD)
    roles = ctx.registry.roles_of(council_key)
    practitioner = council.practitioner_role.split(":")[-1]
    team_manager = council.team_manager_role.split(":")[-1]
    logins: list[Login] = []

    async with transaction():
        org_id = (
            await Organisation.insert(Organisation(name=council.name, council=council_key, created_at=ctx.now)).returning(
                Organisation.id
            )
        )[0]["id"]
        # The council's own agency, where its staff belong; a partnership's
        # other agencies (CSCP-1) exist for its staff to be moved into.
        defined = {a.key: a.label for a in council.agencies}
        agency_id = (
            await Agency.insert(
                Agency(organisation=org_id, key="local_authority", name=defined.pop("local_authority", council.name))
            ).returning(Agency.id)
        )[0]["id"]
        for key, label in defined.items():
            await Agency.insert(Agency(organisation=org_id, key=key, name=label))

        async def person(role_key: str, username: str, team: int | None = None, manager: int | None = None) -> int:
            name = next(names)
            row = await Person.insert(
                Person(
                    organisation=org_id,
                    team=team,
                    agency=agency_id,
                    role=role_key,
                    display_name=name,
                    email=f"{username}@example.org",
                    username=username,
                    password_hash=password_hash,
                    line_manager=manager,
                    active=True,
                    created_at=ctx.now,
                )
            ).returning(Person.id)
            logins.append(Login(username, name, ctx.registry.role(f"{council_key}:{role_key}").label))
            await trail.record(ctx, organisation_id=org_id, entity="person", entity_id=row[0]["id"], action="created", changes={"role": role_key})
            return row[0]["id"]

        # Everyone above the teams, top of the ladder first so managers exist.
        by_key = {role.key: role for role in roles}

        def depth(key: str) -> int:
            steps, role = 0, by_key[key]
            while role.escalates_to:
                steps += 1
                role = by_key[role.escalates_to.split(":")[-1]]
            return steps

        singletons: dict[str, int] = {}
        # Roles a team manager manages (Bedford's advanced practitioner) join
        # the first team once it has its manager, below.
        under_team_manager = []
        for role in sorted(roles, key=lambda r: depth(r.key)):
            if role.key in (practitioner, team_manager):
                continue
            if role.escalates_to and role.escalates_to.split(":")[-1] == team_manager:
                under_team_manager.append(role)
                continue
            manager = singletons.get(role.escalates_to.split(":")[-1]) if role.escalates_to else None
            singletons[role.key] = await person(role.key, f"{council_key}.{role.key}", manager=manager)

        services: dict[str, int] = {}
        tm_manager_role = by_key[team_manager].escalates_to
        practitioner_ids: list[tuple[int, int]] = []
        for number, (service_name, team_name) in enumerate(_TEAMS, start=1):
            if service_name not in services:
                services[service_name] = (
                    await Service.insert(Service(organisation=org_id, agency=agency_id, name=service_name)).returning(Service.id)
                )[0]["id"]
            team_id = (
                await Team.insert(Team(organisation=org_id, service=services[service_name], name=team_name)).returning(Team.id)
            )[0]["id"]
            manager = singletons.get(tm_manager_role.split(":")[-1]) if tm_manager_role else None
            tm = await person(team_manager, f"{council_key}.{team_manager}.{number}", team=team_id, manager=manager)
            if number == 1:
                # BED s.4: team managers audit their advanced practitioner's supervision.
                for role in under_team_manager:
                    singletons[role.key] = await person(role.key, f"{council_key}.{role.key}", team=team_id, manager=tm)
            for index in range(1, PRACTITIONERS_PER_TEAM + 1):
                worker = await person(practitioner, f"{council_key}.{practitioner}.{number}{index}", team=team_id, manager=tm)
                practitioner_ids.append((worker, team_id))

        categories = [c.key for c in council.case_categories] or ["general"]
        category = itertools.cycle(categories)
        case_number = itertools.count(1001)
        case_index = itertools.count(0)
        for worker, team_id in practitioner_ids:
            for _ in range(CASES_PER_PRACTITIONER):
                # Only the columns every release has (a Piccolo insert names
                # them all): the demo also populates a database migrated only
                # to an earlier release (tests/test_migrate_work.py).
                case = await ChildCase.raw(
                    "INSERT INTO child_case (organisation, external_id, category, team, allocated_worker, created_at)"
                    " VALUES ({}, {}, {}, {}, {}, {}) RETURNING id",
                    org_id, f"{council_key[:3].upper()}-{next(case_number)}", next(category), team_id, worker, ctx.now,
                )
                attributes = _demo_attributes(council, next(case_index), london_date(ctx.now))
                if attributes:
                    await ChildCase.update({getattr(ChildCase, k): v for k, v in attributes.items()}).where(
                        ChildCase.id == case[0]["id"])
                await trail.record(ctx, organisation_id=org_id, entity="child_case", entity_id=case[0]["id"], action="created")

    if council_key == "partnership":
        logins += await _partnership_agencies(ctx, org_id, password_hash)
    allocations = 0
    if council.cycles is not None:
        today = london_date(ctx.now)
        allocations = (await cycles.issue_cycle(ctx, org_id, today.year, today.month)).allocations
    # And the programme's work whose period has opened, as the sweep would
    # issue it (``issue_work=False``: an organisation whose programme starts later).
    if issue_work:
        await work.issue_due_work(ctx)
    # ``qaf demo``: a partnership's example scorecard, programme and thematic audit (issue 14).
    if examples and council.lenses and council.agencies:
        from core.services import partnership_demo

        await partnership_demo.load(ctx, council_key, org_id)
    return DemoResult(council_key, True, logins, allocations)


def _demo_attributes(council, index: int, today: dt.date) -> dict:
    """PLAT-3: plausible case attributes for a council that declares some
    (none otherwise): a spread of dates, numbers and answers, every seventh
    case with none recorded, and when involvement began, so that schedules'
    criteria and windows have cases to choose from."""
    if not council.case_attributes or index % 7 == 6:
        return {}
    from core.case_criteria import add_months

    values: dict[str, object] = {}
    for number, attribute in enumerate(council.case_attributes):
        spread = index * 5 + number * 3
        if attribute.type == "date":
            # A date of birth is years back (0 to 17); any other date months back (0 to 35).
            months = 12 * (spread % 18) + index % 12 if "birth" in attribute.key else spread % 36
            values[attribute.key] = add_months(today.replace(day=1), -(months + 1)).replace(day=1 + index % 28).isoformat()
        elif attribute.type == "yes_no":
            values[attribute.key] = spread % 3 == 0
        elif attribute.type == "number":
            values[attribute.key] = 1 + spread % 3
        else:
            values[attribute.key] = attribute.options[spread % len(attribute.options)].value
    return {"attributes": values, "involvement_started_on": add_months(today, -(1 + index * 3 % 30))}


# Issue 14: the partnership's agencies with their leads, and last round's
# Section 11 returns (accepted two years ago) that this round carries forward.
_DEMO_AGENCY_LEADS = (("police", "Dev Sharma"), ("health", "Hannah Okafor"))


async def _partnership_agencies(ctx: Context, org_id: int, password_hash: str) -> list[Login]:
    from core.calendar import add_working_days
    from core.services import agency_requests
    from core.services.context import actor_for

    logins = []
    for key, name in _DEMO_AGENCY_LEADS:
        agency = await Agency.select(Agency.id).where((Agency.organisation == org_id) & (Agency.key == key)).first()
        username = f"partnership.agency_lead.{key}"
        await Person.insert(Person(organisation=org_id, agency=agency["id"], role="agency_lead", display_name=name,
                                   email=f"{username}@example.org", username=username, password_hash=password_hash,
                                   active=True, created_at=ctx.now))
        logins.append(Login(username, name, ctx.registry.role("partnership:agency_lead").label))
    qa = await Person.select().where((Person.organisation == org_id) & (Person.role == "qa_manager")).first()
    then = ctx.now - dt.timedelta(days=730)
    earlier = Context(registry=ctx.registry, now=then)
    earlier.actor = actor_for(ctx.registry, qa, "partnership")
    agencies = [a["id"] for a in await agency_requests.agencies(earlier) if a["lead"]]
    request_id = await agency_requests.issue(
        earlier, kind="section_11", agency_ids=agencies, due_on=add_working_days(london_date(then), 20),
        title=f"Section 11 self-assessment {london_date(then).year}", period=f"{london_date(then).year}",
    )
    accepted = then + dt.timedelta(days=25)
    for row in await Allocation.select(Allocation.id, Allocation.agency.name.as_alias("agency"),
                                       Allocation.agency.key.as_alias("agency_key")).where(Allocation.agency_request == request_id):
        answers = {
            "answer.agency.agency": row["agency_key"],
            "answer.agency.date_of_completion": london_date(accepted).isoformat(),
            "grade.initial.overall": "compliant", "evidence.initial.overall": "Compliant with every standard.",
            "answer.agency.completed_by": "Safeguarding lead",
            "answer.progress.progress_of_improvements": f"{row['agency']}: safeguarding training refreshed for every team.",
            "answer.declaration.information_accurate": "yes",
            "answer.self_evaluation.standards.1.standard": "Senior management commitment to safeguarding",
            "answer.self_evaluation.standards.1.self_evaluation": "Met: a named board lead and an annual report.",
            "grade.initial.self_evaluation": "compliant", "evidence.initial.self_evaluation": "Every standard met.",
        }
        await Allocation.update({Allocation.answers: answers, Allocation.state: "accepted", Allocation.submitted_at: accepted,
                                 Allocation.finalised_at: accepted}).where(Allocation.id == row["id"])
        await month_counts.finalised(row["id"])
    await Deadline.update({Deadline.status: "met", Deadline.closed_at: accepted}).where(
        Deadline.allocation.is_in(Allocation.select(Allocation.id).where(Allocation.agency_request == request_id)))
    await AgencyRequest.update({AgencyRequest.state: "closed"}).where(AgencyRequest.id == request_id)
    await trail.record(earlier, organisation_id=org_id, entity="agency_request", entity_id=request_id, action="closed")
    return logins
