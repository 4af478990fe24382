"""Reports leaders read (CORE-15, HAR-16): every figure from audits driven
through the real services."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from core.calendar import london_date
from core.db.tables import Allocation, ChildCase, FollowUp, Team
from core.services import audits, reports
from core.services.allocations import allocate_re_audit
from core.services.context import Context
from core.services.errors import Forbidden
from core.services.sweep import complete_follow_up, sweep
from tests.helpers import acting, allocation_of, finalise, person
from helpers import audit_day

# The suite's 15 minutes: this module's rules are the same code on both
# databases; PostgreSQL runs the services', migrations', workers' and trail's tests.
SQLITE_ONLY = True  # see tests/conftest.py: pytest_collection_modifyitems



async def submit_with(registry, auditor: str, allocation_id: int, grade: str) -> None:
    """Fill in and submit, leaving QA's decision to the test."""
    ctx = await acting(registry, auditor)
    view = await audits.audit_view(ctx, allocation_id)
    answers = {}
    for field in view.fields.fields:
        if field.kind == "grade":
            answers[field.name] = grade
        elif field.kind == "date":
            answers[field.name] = audit_day()
        elif field.required:
            answers[field.name] = f"Evidence: {grade} practice seen."
    revision = await audits.save_answers(ctx, allocation_id, view.revision, answers)
    await audits.submit(ctx, allocation_id, revision)



# The scenario runs on Friday 20 November 2026: the inadequate audit's
# follow-up (5 working days) falls due within the month, on Friday 27th, and
# the requires-improvement discussion (10 working days) after it, on Friday
# 4 December; the sweep after the month finds what the month left open.
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.clock("2026-11-20T10:00:00+00:00")]

async def scenario(registry) -> dict:
    """Seven demo audits: three final as given, one moderated up by QA, one
    re-audit of the RI audit that improves; the rest left open (overdue later)."""
    ids = {u: (await allocation_of(u))["id"] for u in ("haringey.cp_chair", "haringey.iro", "haringey.lado", "haringey.team_manager.1")}
    await finalise(registry, "haringey.cp_chair", ids["haringey.cp_chair"], "good")
    await finalise(registry, "haringey.iro", ids["haringey.iro"], "requires_improvement")
    await finalise(registry, "haringey.lado", ids["haringey.lado"], "inadequate")
    # QA moderates the overall grade of team manager 1's audit up to good.
    await submit_with(registry, "haringey.team_manager.1", ids["haringey.team_manager.1"], "requires_improvement")
    qa = await acting(registry, "haringey.head_of_qa")
    await audits.review(qa, ids["haringey.team_manager.1"], "accept", "Evidence supports good", moderated={"overall": "good"})
    # The RI audit is re-audited, and now good throughout.
    re_auditor = await person("haringey.cp_chair")
    re_audit = await allocate_re_audit(qa, ids["haringey.iro"], re_auditor["id"])
    await finalise(registry, "haringey.cp_chair", re_audit, "good")
    ids["re_audit"] = re_audit
    return ids


def month_of(row: dict) -> reports.Period:
    return reports.period("month", london_date(row["due_at"]))


@pytest.mark.req("CORE-15")
@pytest.mark.req("HAR-16")
async def test_the_monthly_report_counts_every_figure(registry, demo):
    ids = await scenario(registry)
    first = await Allocation.select().where(Allocation.id == ids["haringey.cp_chair"]).first()
    month = month_of(first)
    # After the month: the sweep marks the open audits overdue.
    after = month.end_at + dt.timedelta(days=2)
    await sweep(Context(registry=registry, now=after))

    ctx = await acting(registry, "haringey.head_of_qa")
    ctx.now = after
    report = await reports.report(ctx, month, reports.Scope("org"))
    assert report.counts == reports.Counts(allocated=8, completed=5, on_time=5, overdue=3)
    overall = report.overall
    assert overall.levels == {"outstanding": 0, "good": 3, "requires_improvement": 1, "inadequate": 1}
    assert (overall.changed_by_moderation, overall.changed_by_dispute) == (1, 0)
    assert [g.domain for g in report.grades][0] == "overall"
    for domain in report.grades[1:]:
        # QA moderated only the overall grade: each domain is as the auditors gave it.
        assert domain.levels == {"outstanding": 0, "good": 2, "requires_improvement": 2, "inadequate": 1}
        assert domain.changed_by_moderation == 0
    assert {m.domain: (m.improved, m.same, m.downgraded) for m in report.movement} == {
        g.domain: (1, 0, 0) for g in report.grades
    }
    assert {t.domain: t.count for t in report.strengths} == {g.domain: 2 for g in report.grades[1:]}
    assert {t.domain: t.count for t in report.development} == {g.domain: 3 for g in report.grades[1:]}
    assert "Evidence: requires_improvement practice seen." in report.development[0].quotes
    assert dict(report.escalations) == {
        "final_alert": 5,
        "inadequate_alert": 1,
        "inadequate_smart_actions": 1,
        "requires_improvement_discussion": 1,
    }
    # Two actions opened; the inadequate one (5 working days) was due in the month.
    assert report.follow_ups == reports.FollowUps(opened=2, closed=0, overdue=1)
    assert [p.period for p in report.trend] == [month.previous().previous().previous(), month.previous().previous(), month.previous(), month]
    assert report.trend[-1].counts == report.counts
    assert report.trend[0].counts == reports.Counts()

    # Pseudonymised: no worker's name anywhere in the report.
    text = repr(report)
    for username in ("haringey.cp_chair", "haringey.iro", "haringey.lado", "haringey.team_manager.1"):
        assert (await person(username))["display_name"] not in text

    # Moderation by auditor and team: QA only, names auditors.
    by_auditor = await reports.moderation_agreement(ctx, month, reports.Scope("org"))
    assert sum(r.moderated for r in by_auditor) == 5 * len(report.grades)
    changed = {r.who: (r.moderated, r.agreed) for r in by_auditor}
    tm1 = (await person("haringey.team_manager.1"))["display_name"]
    assert changed[tm1] == (len(report.grades), len(report.grades) - 1)
    by_team = await reports.moderation_agreement(ctx, month, reports.Scope("org"), by="team")
    assert sum(r.agreed for r in by_team) == 5 * len(report.grades) - 1


@pytest.mark.req("CORE-15")
@pytest.mark.req("HAR-16")
async def test_scopes_periods_and_access(registry, demo):
    ids = await scenario(registry)
    row = await Allocation.select(Allocation.due_at, Allocation.child_case.team.as_alias("team")).where(
        Allocation.id == ids["haringey.lado"]
    ).first()
    team = await Team.select().where(Team.id == row["team"]).first()
    ctx = await acting(registry, "haringey.qa_officer")
    month = month_of(row)

    by_team = await reports.report(ctx, month, await reports.parse_scope(ctx, f"team:{team['id']}"))
    in_team = await Allocation.count().where(
        Allocation.child_case.team == team["id"]
    )
    assert by_team.counts.allocated == in_team
    assert by_team.scope.name == team["name"]
    assert by_team.overall.levels["inadequate"] == 1
    if team["service"]:
        by_service = await reports.report(ctx, month, await reports.parse_scope(ctx, f"service:{team['service']}"))
        assert by_team.counts.allocated <= by_service.counts.allocated <= 8

    # Wider periods hold the month.
    for kind in ("quarter", "year", "financial_year"):
        wider = await reports.report(ctx, reports.period(kind, month.start), reports.Scope("org"), trend=1)
        assert wider.counts.allocated == 8
        assert wider.overall.levels == {"outstanding": 0, "good": 3, "requires_improvement": 1, "inadequate": 1}

    # Nobody outside the QA team and the managers who see all audits.
    practitioner = await acting(registry, "haringey.team_manager.2")
    with pytest.raises(Forbidden):
        await reports.report(practitioner, month, reports.Scope("org"))
    with pytest.raises(Forbidden):
        await reports.moderation_agreement(practitioner, month, reports.Scope("org"))


@pytest.mark.req("CORE-15")
def test_periods_are_london_months_quarters_and_years():
    day = dt.date(2027, 2, 14)
    assert reports.period("month", day).label == "February 2027"
    quarter = reports.period("quarter", day)
    assert (quarter.start, quarter.end, quarter.label) == (dt.date(2027, 1, 1), dt.date(2027, 4, 1), "January to March 2027")
    fy = reports.period("financial_year", day)
    assert (fy.start, fy.end, fy.label) == (dt.date(2026, 4, 1), dt.date(2027, 4, 1), "Financial year 2026 to 2027")
    assert reports.period("financial_year", dt.date(2027, 4, 1)).start == dt.date(2027, 4, 1)
    assert reports.period("year", day).previous().start == dt.date(2026, 1, 1)
    assert quarter.previous().start == dt.date(2026, 10, 1)
    # Midnight in London: summer time puts the start an hour before UTC midnight.
    july = reports.period("month", dt.date(2026, 7, 9))
    assert july.start_at == dt.datetime(2026, 6, 30, 23, 0, tzinfo=dt.timezone.utc)
    assert reports.parse_period("month", "2026-11", dt.date(2020, 1, 1)).start == dt.date(2026, 11, 1)
    assert reports.parse_period("quarter", "", dt.date(2026, 11, 22)).start == dt.date(2026, 10, 1)


@pytest.mark.req("CORE-15")
def test_charts_are_accessible_svg():
    from core import charts

    grades = [
        reports.DomainGrades("overall", "Overall grade", {"good": 3, "inadequate": 1}, 1, 0),
        reports.DomainGrades("planning", "Planning <and> review", {"good": 2, "inadequate": 2}, 0, 0),
    ]
    svg = str(charts.grade_distribution("g", grades, (("good", "Good"), ("inadequate", "Inadequate"))))
    assert svg.startswith("<svg") and 'role="img"' in svg and 'aria-labelledby="g-title g-desc"' in svg
    assert '<title id="g-title">Final grades by domain</title>' in svg
    assert "<desc id=\"g-desc\">Overall grade: 3 Good, 1 Inadequate; Planning &lt;and&gt; review: 2 Good, 2 Inadequate</desc>" in svg
    assert "style=" not in svg and "<script" not in svg
    assert svg.count("<rect") == 2 + 4  # the legend's two, then one per non-zero value
    # Issue 17: legible at its display size, its own width in CSS px: sans-serif, 16 px,
    # no text smaller; each bar's count labelled directly on it.
    assert 'viewBox="0 0 640 ' in svg and 'width="640"' in svg and "100%" not in svg
    assert 'font-family="Arial, Helvetica, sans-serif" font-size="16"' in svg
    assert "font-size=" not in svg.split("</desc>", 1)[1]
    assert '<text x="406.2" y="54" text-anchor="middle" fill="#ffffff" aria-hidden="true">3</text>' in svg
    assert '<text x="606.0" y="54" font-weight="bold">4</text>' in svg  # the bar's total, beside it
    moves = [reports.DomainMovement("overall", "Overall grade", 1, 2, 0)]
    svg = str(charts.movement("m", moves))
    assert "Overall grade: 1 Improved, 2 Same, 0 Downgraded" in svg
    p = reports.period("month", dt.date(2026, 11, 1))
    points = [reports.TrendPoint(p.previous(), reports.Counts(4, 3, 2, 1), {}), reports.TrendPoint(p, reports.Counts(8, 5, 5, 5), {})]  # completed and overdue meet
    svg = str(charts.trend("t", points))
    assert "<polyline" in svg and "Allocated: Oct 2026 4, Nov 2026 8" in svg
    assert 'role="img" aria-labelledby="t-title t-desc"' in svg and 'font-family="Arial, Helvetica, sans-serif" font-size="16"' in svg
    # Direct labels, no legend: each line's name and last value at its end, top to bottom.
    labels = re.findall(r'<text x="[\d.]+" y="([\d.]+)">(\w+ \d+)</text>', svg)
    assert [text for _, text in labels] == ["Allocated 8", "Completed 5", "Overdue 5"]
    assert float(labels[2][0]) - float(labels[1][0]) >= 18  # two lines ending at 5: not drawn over each other


@pytest.mark.req("CORE-15")
@pytest.mark.req("HAR-16")
async def test_the_report_page_and_its_exports(client, registry):
    import csv
    import io

    from openpyxl import load_workbook

    from tests.helpers import sign_in

    ids = await scenario(registry)
    row = await Allocation.select().where(Allocation.id == ids["haringey.cp_chair"]).first()
    month = month_of(row)
    query = f"period=month&date={month.key}&scope=org"

    await sign_in(client, "haringey.team_manager.2")
    assert (await client.get(f"/reports?{query}")).status_code == 403
    assert (await client.get(f"/reports/export.csv?{query}&table=completion")).status_code == 403
    await client.get("/logout")

    await sign_in(client, "haringey.head_of_qa")
    page = await client.get(f"/reports?{query}")
    assert page.status_code == 200, page.text
    html = page.text
    assert f"{month.label}: whole council" in html
    assert 'href="/reports"' in html  # in the navigation
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="app-chart" role="img"' in html
    assert "Moderation by auditor" in html  # QA sees moderation
    # Pseudonymised: no child's case number on the page.
    case = await ChildCase.select(ChildCase.external_id).where(ChildCase.id == row["child_case"]).first()
    assert case["external_id"] not in html

    response = await client.get(f"/reports/export.csv?{query}&table=completion")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    # A byte order mark first, so Excel reads accented names as UTF-8.
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["Measure", "Number"]
    assert rows[1:3] == [["Allocated", "8"], ["Completed", "5"]]
    grades = list(csv.reader(io.StringIO((await client.get(f"/reports/export.csv?{query}&table=grades")).content.decode("utf-8-sig"))))
    assert grades[0][:5] == ["Domain", "Outstanding", "Good", "Requires Improvement", "Inadequate"]
    assert grades[1][:8] == ["Overall grade", "0", "3", "1", "1", "5", "1", "0"]
    assert (await client.get(f"/reports/export.csv?{query}&table=nope")).status_code == 404

    response = await client.get(f"/reports/export.xlsx?{query}")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    # Sheets named in words (the tables' titles, cut to Excel's 31 characters),
    # the report's heading on the "About" sheet and in the workbook's title.
    assert book.sheetnames[:3] == ["Completion and timeliness", "Final grades by domain", "Re-audit movement by domain"]
    assert {"Strengths, evidence behind the", "Trend", "Moderation by auditor, how", "About"} <= set(book.sheetnames)
    assert all(len(name) <= 31 for name in book.sheetnames)
    assert book.properties.title == f"{month.label}: whole council"
    assert book["About"]["A1"].value == f"{month.label}: whole council"
    sheet = book["Completion and timeliness"]
    # The headings on row 1, frozen below, with a filter over the table.
    assert [c.value for c in sheet[1]] == ["Measure", "Number"]
    assert [c.value for c in sheet[2]] == ["Allocated", 8]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:B5"
    movement = book["Re-audit movement by domain"]
    assert [c.value for c in movement[2]] == ["Overall grade", 1, 0, 0]
    assert movement.freeze_panes == "A2" and movement.auto_filter.ref
    # A share is a number formatted as a percentage, not the text "83%".
    moderation = book["Moderation by auditor, how"]
    assert [c.value for c in moderation[1]] == ["Auditor", "Domain grades moderated", "Agreed", "Agreement"]
    moderated = [r for r in moderation.iter_rows(min_row=2) if r[1].value]
    assert moderated, "the month has moderated grades"
    for _, n, agreed, share in moderated:
        # (openpyxl reads a whole 1.0 back as 1)
        assert isinstance(share.value, (int, float)) and not isinstance(share.value, bool)
        assert share.value == pytest.approx(agreed.value / n.value) and share.number_format == "0%"



async def _kept_counts() -> dict[str, list[tuple]]:
    """Every monthly (and yearly) count the council-wide reports add up, as rows."""
    from core.db.tables import AgreementMonth, AgreementYear, AllocationMonth, EscalationMonth, FollowUpMonth, GradeMonth, MovementMonth

    out = {}
    for table, keys, counts in (
        (AllocationMonth, ("month",), ("allocated", "completed", "on_time")),
        (EscalationMonth, ("month", "kind"), ("raised",)),
        (MovementMonth, ("month", "domain"), ("improved", "same", "downgraded")),
        (GradeMonth, ("month", "domain", "final_level"), ("n", "by_moderation", "by_dispute")),
        (AgreementMonth, ("month", "auditor", "team"), ("moderated", "agreed")),
        (AgreementYear, ("year", "dimension", "who"), ("moderated", "agreed")),
        (FollowUpMonth, ("month",), ("opened", "closed")),
    ):
        rows = await table.select(*(getattr(table, c) for c in (*keys, *counts)))
        # A count that went back to nought is the same as no row.
        out[table._meta.tablename] = sorted(tuple(r.values()) for r in rows if any(r[c] for c in counts))
    return out


@pytest.mark.req("CORE-15")
@pytest.mark.req("HAR-16")
@pytest.mark.req("HAR-11")
async def test_the_monthly_counts_move_with_every_change_and_a_recount_agrees(registry, demo):
    """The council-wide figures come from counts kept by month; they follow
    allocation, completion, escalation, re-audit and a dispute concluded after
    the re-audit, and a recount from the rows gives the same counts."""
    from core.services import disputes, month_counts

    ids = await scenario(registry)
    first = await Allocation.select().where(Allocation.id == ids["haringey.cp_chair"]).first()
    month = month_of(first)
    qa = await acting(registry, "haringey.head_of_qa")

    # Before the due date: nothing is overdue yet, in the month or its quarter.
    qa.now = first["due_at"] - dt.timedelta(days=1)
    for p in (month, reports.period("quarter", month.start)):
        report = await reports.report(qa, p, reports.Scope("org"), trend=0)
        assert report.counts == reports.Counts(allocated=8, completed=5, on_time=5, overdue=0)

    # The predecessor of the re-audit is disputed after the re-audit is final,
    # and its overall grade amended from requires improvement to good: the
    # re-audit (good) no longer improved on it overall, it stayed the same.
    predecessor = await audits.load_row(ids["haringey.iro"])
    people = await audits.relations_of(Context(registry=registry), predecessor)
    practitioner = await Allocation.raw("SELECT username FROM person WHERE id = {}", people["practitioner"])
    manager = await Allocation.raw("SELECT username FROM person WHERE id = {}", people["team_manager"])
    dispute_id = await disputes.raise_dispute(
        await acting(registry, practitioner[0]["username"]), ids["haringey.iro"], "safeguarding_corporate_parenting_dct",
        {"overall": {"proposed": "good", "rationale": "The plan was SMART and reviewed."}},
    )
    tm = await acting(registry, manager[0]["username"])
    await disputes.take_step(tm, dispute_id, "meeting_held", participants="TM, SW, auditor")
    await disputes.take_step(tm, dispute_id, "resolve_informally", "Agreed at the meeting", outcome="amended",
                             amendments={"overall": "good"})

    # One of the two follow-ups is done (HAR 2.13), in the month.
    task = await FollowUp.select().where(FollowUp.organisation == qa.actor.organisation_id).order_by(FollowUp.id).output(load_json=True).first()
    assignee = await Allocation.raw("SELECT username FROM person WHERE id = {}", task["assignees"][0])
    await complete_follow_up(await acting(registry, assignee[0]["username"]), task["id"], "Discussed and agreed a plan")

    # After the month: the sweep marks the open audits overdue and escalates.
    qa.now = month.end_at + dt.timedelta(days=2)
    await sweep(Context(registry=registry, now=qa.now))
    report = await reports.report(qa, month, reports.Scope("org"))
    assert (report.follow_ups.opened, report.follow_ups.closed) == (2, 1)
    assert report.counts == reports.Counts(allocated=8, completed=5, on_time=5, overdue=3)
    movement = {m.domain: (m.improved, m.same, m.downgraded) for m in report.movement}
    assert movement.pop("overall") == (0, 1, 0)
    assert movement and set(movement.values()) == {(1, 0, 0)}
    assert report.overall.levels == {"outstanding": 0, "good": 4, "requires_improvement": 0, "inadequate": 1}
    assert report.overall.changed_by_dispute == 1
    escalations = dict(report.escalations)
    assert escalations["final_alert"] == 5
    # The quarter, mid-way (now in the month after): the month's open audits are overdue.
    # (The sweep also allocated the next month's cycle, not yet due.)
    q = reports.period("quarter", month.start)
    quarter = await reports.report(qa, q, reports.Scope("org"), trend=0)
    in_quarter = await Allocation.count().where((Allocation.due_at >= q.start_at) & (Allocation.due_at < q.end_at))
    assert quarter.counts == reports.Counts(allocated=in_quarter, completed=5, on_time=5, overdue=3)
    # The sweep, in the next month, escalated the three audits never submitted (HAR 2.15).
    assert "allocation_missed" not in escalations
    assert dict(quarter.escalations) == {**escalations, "allocation_missed": 3, "discussion_not_recorded": 1}
    assert quarter.movement == report.movement

    # Every case belongs to a team: the teams' reports (counted from the rows)
    # add up to the council's (from the monthly counts), figure by figure,
    # trend included; and so do the services'.
    def totals(found: list[reports.Report]) -> dict:
        out: dict = {"counts": [], "levels": {}, "movement": {}, "escalations": {}, "themes": {}, "follow_ups": [0, 0, 0]}
        for r in found:
            out["counts"].append([tuple(vars_of(t.counts)) for t in r.trend])
            for g in r.grades:
                for level, n in g.levels.items():
                    out["levels"][(g.domain, level)] = out["levels"].get((g.domain, level), 0) + n
            for m in r.movement:
                old = out["movement"].get(m.domain, (0, 0, 0))
                out["movement"][m.domain] = (old[0] + m.improved, old[1] + m.same, old[2] + m.downgraded)
            for kind, n in r.escalations:
                out["escalations"][kind] = out["escalations"].get(kind, 0) + n
            for t in (*r.strengths, *r.development):
                out["themes"][t.domain] = out["themes"].get(t.domain, 0) + t.count
            out["follow_ups"] = [a + b for a, b in zip(out["follow_ups"], vars_of(r.follow_ups))]
        out["counts"] = [tuple(sum(x) for x in zip(*period)) for period in zip(*out["counts"])]
        out["levels"] = {k: v for k, v in out["levels"].items() if v}
        return out

    council = totals([report])
    assert council["counts"][-1] == (8, 5, 5, 3)
    teams = [r["id"] for r in await Team.select(Team.id)]
    assert await ChildCase.count().where(ChildCase.team.is_null()) == 0
    by_team = [await reports.report(qa, month, reports.Scope("team", t)) for t in teams]
    assert totals(by_team) == council
    services = {t["service"] for t in await Team.select(Team.service)}
    by_service = [await reports.report(qa, month, reports.Scope("service", s)) for s in services]
    assert totals(by_service) == council

    # Moderation over a span holding a whole calendar year and a month either
    # side adds the year's counts (agreement_year) to the months'
    # (agreement_month): the same tables as the month's alone.
    span = reports.Period("year", dt.date(month.start.year - 1, 12, 1), dt.date(month.start.year + 1, 2, 1))
    for by in ("auditor", "team"):
        in_month = await reports.moderation_agreement(qa, month, reports.Scope("org"), by)
        assert in_month and await reports.moderation_agreement(qa, span, reports.Scope("org"), by) == in_month

    # The counts kept change by change equal a recount from the rows.
    kept = await _kept_counts()
    assert kept["allocation_month"] and kept["escalation_month"] and kept["movement_month"] and kept["follow_up_month"]
    for dimension in ("auditor", "team"):
        assert sum(r[3] for r in kept["agreement_year"] if r[1] == dimension) == sum(r[3] for r in kept["agreement_month"]) > 0
    await month_counts.rebuild_all()
    assert await _kept_counts() == kept


def vars_of(figures) -> tuple[int, ...]:
    """A dataclass of counts as a tuple, in field order."""
    import dataclasses

    return tuple(getattr(figures, f.name) for f in dataclasses.fields(figures))
