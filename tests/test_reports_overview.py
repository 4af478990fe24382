"""Bedford's monthly QA overview for DMT (BED-6, with BED-3's 48-hour
remedial actions) and quarterly supervision audit summary (BED-7): every
figure from audits driven through the real services, on both databases."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.calendar import london_date
from core.db.engine import transaction
from core.db.tables import Allocation, ChildCase, FollowUp, Person
from core.plugins import load_plugins
from core.services import actions, audits, imports, qa_overview, reports
from core.services.allocations import create_allocation
from core.services.errors import Forbidden
from core.services.sweep import complete_follow_up
from helpers import audit_day, acting, allocation_of, filled_answers, person, sign_in
from support.snapshots import snapshot_demo

# The suite's 15 minutes: this module's rules are the same code on both
# databases; PostgreSQL runs the services', migrations', workers' and trail's tests.
SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems

pytestmark = pytest.mark.asyncio(loop_scope="session")

HOUR = dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("bedford"), "sqlite:///unused", councils=("bedford",))).registry


@pytest_asyncio.fixture(loop_scope="session")
async def bedford_demo(bedford, database_url):
    return await snapshot_demo(bedford, "bedford")


async def supervision_audit(registry, auditor: str, form: str, due_at, answers: dict[str, str], *, complete: bool = True) -> int:
    """A supervision audit (App. B) allocated by the S&QA manager, filled in
    and, when ``complete``, submitted and reviewed at supervision."""
    admin = await acting(registry, "bedford.sqa_manager")
    who = await person(auditor)
    case = await ChildCase.select().where(ChildCase.organisation == who["organisation"]).order_by(ChildCase.id).first()
    async with transaction():
        allocation_id = await create_allocation(
            admin, organisation_id=who["organisation"], case=case, auditor=who, kind="audit",
            reason="Monthly supervision audit (s.4)", form_key=f"bedford:{form}", workflow_key="bedford:supervision_audit",
            due_at=due_at,
        )
    ctx = await acting(registry, auditor)
    view = await audits.audit_view(ctx, allocation_id)
    filled = {}
    for field in view.fields.fields:
        short = field.name.removeprefix("answer.")
        if field.from_record:
            continue  # issue 17: the record's (the auditor, the supervisee)
        if short in answers:
            filled[field.name] = answers[short]
        elif field.kind == "date" and field.required:
            filled[field.name] = audit_day()
        elif field.required and field.kind != "yes_no":
            filled[field.name] = "Recorded."
    revision = await audits.save_answers(ctx, allocation_id, view.revision, filled)
    if complete:
        await audits.submit(ctx, allocation_id, revision)
        await audits.take_step(ctx, allocation_id, "reviewed")
    return allocation_id


CASE_YES = {
    "case_file_supervision.safe_defensible": "yes",
    "case_file_supervision.clear_decisions": "yes",
    "case_file_supervision.management_support": "yes",
    "case_file_supervision.drives_case_forward": "yes",
    "case_file_supervision.reflection": "yes",
    "case_file_supervision.regular_supervision": "yes",
    "case_file_supervision.statutory_requirements": "yes",
    "case_file_supervision.escalation": "yes",
    "case_file_supervision.child_safe": "yes",
}
PROFESSIONAL = {
    "professional_supervision.monthly_supervision": "no",
    "professional_supervision.linked_to_learning": "yes",
    "professional_supervision.performance_issues": "yes",
    "professional_supervision.good_performance": "yes",
    "outcome.actions_agreed": "Monthly supervision to be booked a year ahead.",
}


async def line_manage(registry, username: str, manager: str) -> None:
    """The S&QA manager's staff import puts ``username`` under ``manager``."""
    admin = await acting(registry, "bedford.sqa_manager")
    who = await person(username)
    await imports.import_staff(
        admin,
        f"username,display_name,role,line_manager_username\n{username},{who['display_name']},{who['role']},{manager}\n".encode(),
    )


async def bedford_month(registry) -> dict:
    """The demo's case file audits (three team managers and the advanced
    practitioner): one inadequate, one good, two left open; remedial actions
    set and followed through or not; and four supervision audits. The
    advanced practitioner reports to team manager 1, who audits their
    supervision (as in the demo)."""
    ids = {u: (await allocation_of(u))["id"] for u in ("bedford.team_manager.1", "bedford.team_manager.2")}
    first = await Allocation.select().where(Allocation.id == ids["bedford.team_manager.1"]).first()
    due_at = first["due_at"]
    # Both audits make recommendations (remedial actions, BED-3).
    for auditor, grade in (("bedford.team_manager.1", "inadequate"), ("bedford.team_manager.2", "good")):
        ctx = await acting(registry, auditor)
        view = await audits.audit_view(ctx, ids[auditor])
        answers = filled_answers(view, grade) | {"answer.section_5.recommendations.1.recommendation": "Update the chronology"}
        revision = await audits.save_answers(ctx, ids[auditor], view.revision, answers)
        await audits.submit(ctx, ids[auditor], revision)
        await audits.review(await acting(registry, "bedford.head_of_service"), ids[auditor], "accept")
    # BED-3: TM1 sends their remedial actions within the hour; TM2 never does.
    task = await FollowUp.select().where(
        (FollowUp.allocation == ids["bedford.team_manager.1"]) & (FollowUp.rule == "bedford:remedial_actions")
    ).output(load_json=True).first()
    assert task["assignees"] == [(await person("bedford.team_manager.1"))["id"]]
    done = await acting(registry, "bedford.team_manager.1")
    done.now = done.now + HOUR
    await complete_follow_up(done, task["id"], "Actions sent by email to the worker and manager and copied into Azeus.")
    row = await Allocation.select(Allocation.child_case.allocated_worker.as_alias("worker")).where(Allocation.id == ids["bedford.team_manager.1"]).first()
    worker = await Person.select().where(Person.id == row["worker"]).first()
    # Two SMART remedial actions on the inadequate audit: one done, one open past its date later.
    hos = await acting(registry, "bedford.head_of_service")
    today = london_date(hos.now)
    closed = await actions.create(hos, what="Update the chronology", owner_id=worker["id"], due_on=today, allocation_id=ids["bedford.team_manager.1"])
    await actions.create(hos, what="Review the plan", owner_id=worker["id"], due_on=today, allocation_id=ids["bedford.team_manager.1"])
    await actions.update(hos, closed, "Chronology brought up to date", status="done")

    # BED-7: the head of service audits a team manager's case and professional
    # supervision; team manager 1 audits the advanced practitioner's (one left open).
    ids["hos_case"] = await supervision_audit(registry, "bedford.head_of_service", "case_supervision_audit", due_at, {**CASE_YES, "case_file_supervision.child_safe": "no"})
    ids["hos_professional"] = await supervision_audit(registry, "bedford.head_of_service", "professional_supervision_audit", due_at, PROFESSIONAL)
    ids["tm_case"] = await supervision_audit(registry, "bedford.team_manager.1", "case_supervision_audit", due_at, {**CASE_YES, "outcome.actions_agreed": "Escalate stuck cases."})
    ids["tm_professional"] = await supervision_audit(registry, "bedford.team_manager.1", "professional_supervision_audit", due_at, PROFESSIONAL, complete=False)
    ids["due_at"] = due_at
    return ids


@pytest.mark.req("BED-6")
@pytest.mark.req("BED-3")
async def test_the_monthly_overview_counts_all_qa_activity_by_type(bedford, bedford_demo):
    ids = await bedford_month(bedford)
    month = reports.period("month", london_date(ids["due_at"]))
    dmt = await acting(bedford, "bedford.dmt")
    dmt.now = month.end_at + dt.timedelta(days=2)
    ov = await qa_overview.overview(dmt, month, reports.Scope("org"))
    rows = {r.key: r for r in ov.activities}
    # Every activity type the framework defines, labelled by its own title.
    assert rows["bedford:case_file_audit"].title == "Case File Audit"
    assert "bedford:audit_dip_sample" in rows and rows["bedford:audit_dip_sample"].allocated == 0
    audits_row = rows["bedford:case_file_audit"]
    assert (audits_row.allocated, audits_row.completed, audits_row.on_time, audits_row.overdue) == (4, 2, 2, 2)
    assert audits_row.grades == {"bedford:four_point": {"outstanding": 0, "good": 1, "requires_improvement": 0, "inadequate": 1}}
    assert (audits_row.actions_raised, audits_row.actions_closed, audits_row.actions_overdue) == (2, 1, 1)
    # BED-3: a remedial-actions task per final audit with recommendations; one sent in time.
    assert (audits_row.follow_ups, audits_row.follow_ups_in_time, audits_row.follow_ups_overdue) == (2, 1, 1)
    remedial = next(r for r in ov.follow_up_rules if r.rule == "bedford:remedial_actions")
    assert (remedial.within, remedial.raised, remedial.in_time, remedial.late, remedial.open, remedial.overdue) == ("48 hours", 2, 1, 0, 1, 1)
    case_sup = rows["bedford:case_supervision_audit"]
    assert (case_sup.allocated, case_sup.completed, case_sup.on_time, case_sup.overdue) == (2, 2, 2, 0)
    assert case_sup.grades == {}
    prof = rows["bedford:professional_supervision_audit"]
    assert (prof.allocated, prof.completed, prof.overdue) == (2, 1, 1)
    assert (ov.total.allocated, ov.total.completed, ov.total.overdue) == (8, 5, 3)
    assert ov.by_lens == ()  # Bedford defines no lenses

    practitioner = await acting(bedford, "bedford.team_manager.2")
    with pytest.raises(Forbidden):
        await qa_overview.overview(practitioner, month, reports.Scope("org"))


@pytest.mark.req("BED-7")
async def test_the_quarterly_supervision_summary(bedford, bedford_demo):
    ids = await bedford_month(bedford)
    quarter = reports.period("quarter", london_date(ids["due_at"]))
    dmt = await acting(bedford, "bedford.dmt")
    forms = qa_overview.parse_forms(dmt, ["case_supervision_audit", "professional_supervision_audit"])
    summary = await qa_overview.question_summary(dmt, quarter, reports.Scope("org"), forms)
    lines = {(r.form.split(":")[1], r.role): (r.people, r.auditing, r.required, r.allocated, r.done) for r in summary.roles}
    # s.4: one professional and one case supervision audit a month each: three
    # a quarter per person with someone to audit (only team manager 1 has an AP).
    assert lines == {
        ("case_supervision_audit", "head_of_service"): (1, 1, 3, 1, 1),
        ("case_supervision_audit", "team_manager"): (3, 1, 3, 1, 1),
        ("professional_supervision_audit", "head_of_service"): (1, 1, 3, 1, 1),
        ("professional_supervision_audit", "team_manager"): (3, 1, 3, 1, 0),
    }
    answers = {(q.form.split(":")[1], q.question): (q.yes, q.no, q.unanswered) for q in summary.questions}
    assert answers[("case_supervision_audit", "safe_defensible")] == (2, 0, 0)
    assert answers[("case_supervision_audit", "child_safe")] == (1, 1, 0)
    assert answers[("case_supervision_audit", "actions_agreed")] == (1, 0, 1)
    assert answers[("professional_supervision_audit", "monthly_supervision")] == (0, 1, 0)
    assert answers[("professional_supervision_audit", "actions_agreed")] == (1, 0, 0)
    assert summary.completed == {"bedford:case_supervision_audit": 2, "bedford:professional_supervision_audit": 1}


@pytest.mark.req("BED-7")
async def test_supervision_audits_are_required_only_of_managers_with_someone_to_audit(bedford, bedford_demo):
    dmt = await acting(bedford, "bedford.dmt")
    quarter = reports.period("quarter", london_date(dmt.now))
    forms = qa_overview.parse_forms(dmt, ["case_supervision_audit", "professional_supervision_audit"])

    async def required() -> dict[tuple[str, str], tuple[int, int | None, int | None]]:
        summary = await qa_overview.question_summary(dmt, quarter, reports.Scope("org"), forms)
        return {(r.form.split(":")[1], r.role): (r.people, r.auditing, r.required) for r in summary.roles}

    async def staff() -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        """Active people per role, and per (role, report's role) how many of the
        role line-manage at least one active person in the report's role."""
        rows = await Person.select(Person.id, Person.role, Person.line_manager).where(
            (Person.organisation == dmt.actor.organisation_id) & (Person.active == True)  # noqa: E712
        )
        role_of = {r["id"]: r["role"] for r in rows}
        holding: dict[str, int] = {}
        for r in rows:
            holding[r["role"]] = holding.get(r["role"], 0) + 1
        managing: dict[tuple[str, str], set[int]] = {}
        for r in rows:
            if r["line_manager"] in role_of:
                managing.setdefault((role_of[r["line_manager"]], r["role"]), set()).add(r["line_manager"])
        return holding, {pair: len(ids) for pair, ids in managing.items()}

    # The demo: one head of service over the three team managers; its
    # advanced practitioner reports to team manager 1.
    holding, managing = await staff()
    assert (holding["head_of_service"], managing.get(("head_of_service", "team_manager"), 0)) == (1, 1)
    assert (holding["team_manager"], managing[("team_manager", "advanced_practitioner")]) == (3, 1)
    # s.4: one audit of each kind a month, three in the quarter, for each head
    # of service with a team manager to audit, and from team manager 1 alone:
    # team managers 2 and 3 have no advanced practitioner, and owe none,
    # though the role still counts its three people.
    assert await required() == {
        ("case_supervision_audit", "head_of_service"): (1, 1, 3),
        ("case_supervision_audit", "team_manager"): (3, 1, 3),
        ("professional_supervision_audit", "head_of_service"): (1, 1, 3),
        ("professional_supervision_audit", "team_manager"): (3, 1, 3),
    }

    # The advanced practitioner moves to report to the head of service: no
    # team manager has one to audit now.
    await line_manage(bedford, "bedford.advanced_practitioner", "bedford.head_of_service")
    holding, managing = await staff()
    assert managing.get(("team_manager", "advanced_practitioner"), 0) == 0
    # The month's audits already issued to team manager 1 (the demo issued
    # December's work) stay owed; none are owed by a team manager after them.
    assert await required() == {
        ("case_supervision_audit", "head_of_service"): (1, 1, 3),
        ("case_supervision_audit", "team_manager"): (3, 0, 1),
        ("professional_supervision_audit", "head_of_service"): (1, 1, 3),
        ("professional_supervision_audit", "team_manager"): (3, 0, 1),
    }


@pytest_asyncio.fixture(loop_scope="session")
async def bedford_client(bedford, bedford_demo, database_url, tmp_path):
    from web.app import create_app

    settings = make_settings(tmp_path, database_url, councils=("bedford",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # so Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.mark.req("BED-6")
@pytest.mark.req("BED-7")
@pytest.mark.req("BED-3")
async def test_the_overview_and_supervision_pages_and_their_exports(bedford, bedford_client):
    from openpyxl import load_workbook

    from test_report_pdf import pdf_text

    ids = await bedford_month(bedford)
    month = reports.period("month", london_date(ids["due_at"]))
    query = f"period=month&date={month.key}&scope=org"
    client = bedford_client

    # A team manager sees neither; DMT (who see all audits) see both.
    await sign_in(client, "bedford.team_manager.2")
    assert (await client.get(f"/reports/overview?{query}")).status_code == 403
    assert (await client.get("/reports/questions")).status_code == 403
    assert (await client.get(f"/reports/overview/export.csv?{query}&table=activity")).status_code == 403
    await client.get("/logout")
    await sign_in(client, "bedford.dmt")

    report = await client.get(f"/reports?{query}")
    assert report.status_code == 200, report.text
    assert f'href="/reports/overview?{query.replace("&", "&amp;")}"' in report.text
    assert "Quarterly summary of yes/no audits" in report.text
    assert 'name="lens"' not in report.text  # Bedford defines no lenses

    page = await client.get(f"/reports/overview?{query}")
    assert page.status_code == 200, page.text
    html = page.text
    assert f"{month.label}: whole council" in html
    assert "Case File Audit" in html and "Supervision Audit: case file supervision" in html
    assert "Email the remedial actions to the worker and manager" in html

    rows = csv_rows(await client.get(f"/reports/overview/export.csv?{query}&table=activity"))
    assert rows[0] == [
        "Activity", "Allocated", "Completed", "Completed on time", "Overdue", "Actions raised", "Actions closed",
        "Actions overdue", "Follow-ups required", "Follow-ups done in time", "Follow-ups overdue",
    ]
    by_title = {r[0]: r[1:] for r in rows[1:]}
    # Open audits are overdue only once their due day has passed; the remedial
    # actions' 48 hours have not passed yet, nor have the SMART actions' due days.
    late = dt.datetime.now(dt.timezone.utc) > ids["due_at"]
    assert by_title["Case File Audit"] == ["4", "2", "2", "2" if late else "0", "2", "1", "0", "2", "1", "0"]
    assert by_title["Supervision Audit: professional supervision"][:4] == ["2", "1", "1", "1" if late else "0"]
    assert by_title["All activity"][:4] == ["8", "5", "5", "3" if late else "0"]
    grades = csv_rows(await client.get(f"/reports/overview/export.csv?{query}&table=grades_four_point"))
    assert grades[0] == ["Activity", "Outstanding", "Good", "Requires Improvement", "Inadequate", "Total"]
    assert grades[1] == ["Case File Audit", "0", "1", "0", "1", "2"]
    follow = csv_rows(await client.get(f"/reports/overview/export.csv?{query}&table=follow_ups"))
    remedial = next(r for r in follow[1:] if r[0].startswith("Email the remedial actions"))
    assert remedial[1:] == ["48 hours", "2", "1", "0", "1", "0"]
    assert (await client.get(f"/reports/overview/export.csv?{query}&table=nope")).status_code == 404

    book = load_workbook(io.BytesIO((await client.get(f"/reports/overview/export.xlsx?{query}")).content))
    assert book.sheetnames[0] == "QA activity by type"
    assert {"Overall grades of completed", "Follow-ups required by", "About"} <= set(book.sheetnames)
    activity = book["QA activity by type"]
    assert [c.value for c in activity[1]][:5] == ["Activity", "Allocated", "Completed", "Completed on time", "Overdue"]
    assert activity.freeze_panes == "A2" and activity.auto_filter.ref == f"A1:K{activity.max_row}"
    sheet_rows = {r[0].value: [c.value for c in r[1:5]] for r in activity.iter_rows(min_row=2)}
    assert sheet_rows["Case File Audit"] == [4, 2, 2, 2 if late else 0]

    text = pdf_text(await client.get(f"/reports/overview.pdf?{query}"))
    assert "QA activity overview" in text and f"Case File Audit 4 2 2 {2 if late else 0} 2 1 0 2 1 0" in text

    # BED-7: the quarter's supervision audits.
    quarter = reports.period("quarter", month.start)
    squery = f"period=quarter&date={quarter.key}&scope=org&form=case_supervision_audit&form=professional_supervision_audit"
    page = await client.get(f"/reports/questions?{squery}")
    assert page.status_code == 200, page.text
    assert quarter.label in page.text
    required = csv_rows(await client.get(f"/reports/questions/export.csv?{squery}&table=required"))
    assert required[0] == ["Audit", "Auditor role", "People", "With someone to audit", "Required", "Allocated", "Done", "Still to do"]
    assert required[1:] == [
        ["Supervision Audit: case file supervision", "Manager (Head of Service)", "1", "1", "3", "1", "1", "2"],
        ["Supervision Audit: case file supervision", "Team Manager", "3", "1", "3", "1", "1", "2"],
        ["Supervision Audit: professional supervision", "Manager (Head of Service)", "1", "1", "3", "1", "1", "2"],
        ["Supervision Audit: professional supervision", "Team Manager", "3", "1", "3", "1", "0", "3"],
    ]
    answers = csv_rows(await client.get(f"/reports/questions/export.csv?{squery}&table=questions_case_supervision_audit"))
    assert answers[0] == ["Question", "Yes (or recorded)", "No", "Not answered"]
    by_question = {r[0]: r[1:] for r in answers[1:]}
    assert by_question["Is the child safe? (if not immediately raise with HOS)"] == ["1", "1", "0"]
    assert by_question["Actions agreed (recorded within the supervision record of the supervisor who was audited)"] == ["1", "", "1"]
    text = pdf_text(await client.get(f"/reports/questions.pdf?{squery}"))
    assert "Team Manager 3 1 3 1 0 3" in text
    assert "only the people with someone to audit" in page.text
    assert "only the people with someone to audit" in " ".join(text.split())
    book = load_workbook(io.BytesIO((await client.get(f"/reports/questions/export.xlsx?{squery}")).content))
    assert [c.value for c in book["Audits required and done, by"][1]][2:5] == ["People", "With someone to audit", "Required"]
    # Each yes/no audit's answers on a sheet named by its title, cut at a word's end.
    assert book.sheetnames == [
        "Audits required and done, by", "Supervision Audit, case file", "Supervision Audit, professional", "About",
    ]
    # A form that is not a yes/no audit is refused with a reason, not a 500.
    refused = await client.get("/reports/questions?form=case_file_audit")
    assert refused.status_code == 422 and "Choose the audits to summarise" in refused.text
