"""Cases chosen by council-defined attributes and a look-back window (issue 13,
PLAT-3), in Calendarshire, the council written in the tests
(tests/calendar_plugin), on SQLite and PostgreSQL.

Calendarshire records five case attributes (council.yaml): when the child
protection plan started, the plan's number, whether the child is looked
after, the date of birth, and the category of plan. From June its director
audits, each month, a case drawn from second or later plans that started 18
or more months before the month's first day, with involvement in "the three
months ending two months before" the month the work is due (the Coventry
2017 plan's audit theme "CP Plans over 18 Months", seed 000 "AUDIT THEMES");
in February the director chooses a looked-after young person aged 16 or over
("Young people in Care").

The year runs April 2027 to March 2028 as in tests/test_calendar_plugin.py:
the cases file is imported (a bad one first: every bad value reported with
its line and column, nothing lost), the sweep runs on each month's first
working day, and after each sweep the director has been given exactly the
case that first qualifies that month, or none. 18 months after 31 August
2026 is 1 March 2028 (there is no 31 February), so that plan qualifies in
March 2028 and not on 29 February; a young person born on 29 February 2012 is
16 on 29 February 2028, after the February work's first day.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from pypdf import PdfReader

from core.calendar import london_date
from core.db.tables import Allocation, ChildCase, Person, Work
from core.services import sweep
from core.services.case_attributes import loaded
from core.services.context import Context
from support.snapshots import snapshot_demo
from helpers import api_token, csrf_from, sign_in
from test_calendar_plugin import (  # noqa: F401  (fixtures)
    DIRECTOR,
    MONTHS,
    _text,
    at,
    calendarshire,
    calendarshire_client,
    calendarshire_path,
)

D = dt.date
LONG = "Child protection plans over 18 months"
YOUNG = "Young people in care"
HEADER = ("external_id,category,allocated_worker_username,involvement_started_on,cp_plan_started_on,"
          "cp_plan_number,looked_after,date_of_birth,plan_category")
WORKER = "calendarshire.practitioner.11"
# The cases the test adds: (id, involvement began, plan started, plan number, looked after, date of birth, category).
CASES = [
    # 1 December 2025 + 18 months = 1 June 2027: drawn in June, the first month.
    ("LP-B", "2025-11-20", "2025-12-01", "3", "", "", "physical"),
    # 2 December 2025 + 18 months = 2 June 2027, after June's first day: July.
    ("LP-C", "20/11/2025", "02/12/2025", "2", "", "", "Neglect"),
    # 31 August 2026 + 18 months: no 31 February 2028, so 1 March 2028.
    ("LP-A", "2026-09-01", "2026-08-31", "2", "", "", ""),
    # A first plan: never.
    ("LP-E", "2019-01-01", "2019-06-01", "1", "", "", ""),
    # When involvement began is not recorded: never in the window.
    ("LP-F", "", "2019-06-01", "2", "", "", ""),
    # Young people: 16 on 29 February 2028; not looked after; 16 on 1 February 2028.
    ("YP-1", "2024-01-01", "", "", "yes", "29/02/2012", ""),
    ("YP-2", "2024-01-01", "", "", "no", "2012-01-31", ""),
    ("YP-3", "2024-01-01", "", "", "Y", "2012-02-01", ""),
]
# Taken on on 2 August 2027: in the window of October's work (June to August) first.
LATE_CASE = f"{HEADER}\nLP-D,general,{WORKER},2027-08-02,2019-05-10,2,,,\n".encode()
# The case the director is given after each month's sweep, by the day it was issued.
DRAWN = {D(2027, 6, 1): "LP-B", D(2027, 7, 1): "LP-C", D(2027, 10, 1): "LP-D", D(2028, 3, 1): "LP-A"}
BAD_FILE = (
    f"{HEADER}\n"
    f"BAD-1,general,{WORKER},2026-01-01,2026-01-01,2nd,yes,,\n"
    f"BAD-2,general,{WORKER},2026-01-01,31/02/2026,2,maybe,,\n"
    f"BAD-3,general,{WORKER},2026-01-01,,,,2030-01-01,burns\n"
).encode()
BAD_PROBLEMS = [
    (2, "cp_plan_number", "'2nd' is not a whole number"),
    (3, "cp_plan_started_on", "'31/02/2026' is not a real date"),
    (3, "looked_after", "'maybe' is not yes or no"),
    (4, "date_of_birth", "1 January 2030 is in the future"),
    (4, "plan_category", "'burns' is not one of the choices: neglect, emotional (Emotional abuse), "
                         "physical (Physical abuse), sexual (Sexual abuse)"),
]


async def drawn_for_director() -> dict[dt.date, str]:
    """The cases drawn for the director by the month's sweep, by the London day."""
    rows = await Allocation.select(Allocation.created_at, Allocation.child_case.external_id.as_alias("case")).where(
        (Allocation.auditor.username == DIRECTOR) & Allocation.cycle.is_not_null()
    )
    return {london_date(r["created_at"]): r["case"] for r in rows}


async def work_of(activity: str, starts: dt.date) -> int:
    row = await Work.select(Work.id).where((Work.activity == activity) & (Work.starts_on == starts)).first()
    return row["id"]


def page_text(html: str) -> str:
    return _text(html)


@pytest.mark.req("PLAT-3")
# SQLite only, to keep the suite's time: the same draws run on PostgreSQL in
# tests/test_calendar_plugin.py, which checks the director's cases qualify.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_cases_chosen_by_attributes_and_a_window_month_by_month(calendarshire, calendarshire_client, clock):
    registry = calendarshire.registry
    client = calendarshire_client
    await snapshot_demo(registry, "calendarshire", now=at(D(2027, 4, 1), 8))

    # 1 April 2027, 08:30: a cases file with bad values. Each is reported with
    # its line and column; nothing is imported, nothing is lost.
    clock.move_to(at(D(2027, 4, 1), 8, 30))
    token = await api_token(client, DIRECTOR)
    headers = {**token, "content-type": "text/csv"}
    before = {r["external_id"]: r["attributes"] for r in await ChildCase.select(ChildCase.external_id, ChildCase.attributes)}
    # The demo filled in the attributes Calendarshire records, for most cases.
    recorded = [loaded(a) for a in before.values() if loaded(a)]
    assert len(before) > len(recorded) >= len(before) * 3 // 4
    assert {a["cp_plan_number"] for a in recorded} == {1, 2, 3} and {a["looked_after"] for a in recorded} == {True, False}
    assert {a["plan_category"] for a in recorded} <= {"neglect", "emotional", "physical", "sexual"}
    assert all(D.fromisoformat(a["date_of_birth"]) < D(2027, 4, 1) for a in recorded)
    refused = await client.post("/api/v1/imports/cases", content=BAD_FILE, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"].startswith("Nothing was imported: the file has 5 problems")
    assert [(e["line"], e["column"], e["message"]) for e in refused.json()["errors"]] == BAD_PROBLEMS
    assert {r["external_id"]: r["attributes"] for r in await ChildCase.select(ChildCase.external_id, ChildCase.attributes)} == before
    # The import page says the same, line and column, in words.
    await sign_in(client, DIRECTOR)
    form = await client.get("/imports")
    assert "cp_plan_number" in form.text and "Child protection plan number: a whole number." in _text(form.text)
    posted = await client.post("/imports/cases", data={"_csrf_token": csrf_from(form.text), "action": "import"},
                               files={"file": ("cases.csv", BAD_FILE, "text/csv")})
    assert posted.status_code == 422
    assert "Line 3, looked_after: 'maybe' is not yes or no" in _text(posted.text)

    # The good file: the demo's cases with their attributes cleared (so that
    # only the test's cases can qualify), and the test's cases.
    demo_cases = await ChildCase.select(ChildCase.external_id, ChildCase.category,
                                        ChildCase.allocated_worker.username.as_alias("worker"))
    lines = [HEADER] + [f"{c['external_id']},{c['category']},{c['worker'] or ''},,,,,," for c in demo_cases]
    lines += [f"{case},general,{WORKER},{began},{plan},{number},{looked},{born},{category}"
              for case, began, plan, number, looked, born, category in CASES]
    imported = await client.post("/api/v1/imports/cases", content="\n".join(lines).encode(), headers=headers)
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == len(CASES)
    stored = {r["external_id"]: r["attributes"] for r in await ChildCase.select(ChildCase.external_id, ChildCase.attributes)
              .where(ChildCase.external_id.is_in(["LP-C", "YP-3"])).output(load_json=True)}
    assert stored == {
        "LP-C": {"cp_plan_started_on": "2025-12-02", "cp_plan_number": 2, "plan_category": "neglect"},
        "YP-3": {"looked_after": True, "date_of_birth": "2012-02-01"},
    }

    # The year, month by month: after each first working day's sweep the
    # director has been given the case that first qualifies that month.
    for issued, starts, due in MONTHS:
        if issued == D(2027, 8, 2):
            clock.move_to(at(issued, 8, 30))
            late = await client.post("/api/v1/imports/cases", content=LATE_CASE, headers=headers)
            assert late.status_code == 200, late.text
        await sweep.sweep(Context(registry=registry, now=at(issued)))
        drawn = await drawn_for_director()
        assert drawn == {day: case for day, case in DRAWN.items() if day <= issued}, f"after the sweep of {issued:%B %Y}"
        if starts >= D(2027, 6, 1):
            assert await Work.count().where((Work.activity == LONG) & (Work.starts_on == starts)) == 1

        if issued == D(2027, 9, 1):
            # September: nothing qualified. The director may choose a case,
            # but not one that fails the criteria or the window: the reason says why.
            clock.move_to(at(D(2027, 9, 1), 10))
            work_id = await work_of(LONG, starts)
            api = await client.post(f"/api/v1/work/{work_id}/audits", headers=token, json={"case": "LP-D"})
            assert api.status_code == 422, api.text
            assert api.json()["errors"]["case"] == (
                f"Case LP-D cannot be chosen for {LONG}: involvement began on 2 August 2027, after the window "
                "the audit looks back over (1 May 2027 to 31 July 2027)")
            await sign_in(client, DIRECTOR)
            shown = await client.get(f"/programme/work/{work_id}")
            assert ("Looks back over 1 May 2027 to 31 July 2027 (the three months ending two months before the month "
                    "it is due)") in _text(shown.text)
            assert ("Cases it is done on Child protection plan started on: 18 or more months ago Child protection plan "
                    "number: 2 or more Involvement in the window it looks back over") in _text(shown.text)
            page = await client.post(f"/programme/work/{work_id}/start",
                                     data={"_csrf_token": csrf_from(shown.text), "case": "LP-E"})
            assert page.status_code == 422
            assert (f"Case LP-E cannot be chosen for {LONG}: it does not meet Child protection plan number: 2 or more "
                    "(on 1 September 2027, the work's first day)") in _text(page.text)
            assert await Allocation.count().where(Allocation.work == work_id) == 0

        if issued == D(2027, 10, 1):
            # October's case, on its form page: the window, and why it was drawn.
            clock.move_to(at(D(2027, 10, 1), 10))
            await sign_in(client, DIRECTOR)
            october = await Allocation.select(Allocation.id, Allocation.revision).where(
                (Allocation.auditor.username == DIRECTOR) & (Allocation.child_case.external_id == "LP-D")).first()
            audit = await client.get(f"/audits/{october['id']}")
            text = _text(audit.text)
            assert ("Looks back over 1 June 2027 to 31 August 2027 (the three months ending two months before the month "
                    "it is due)") in text
            assert ("Only cases meeting the activity's criteria: Child protection plan started on: 18 or more months ago; "
                    "Child protection plan number: 2 or more; involvement in the three months ending two months before "
                    "the month it is due.") in text

        if issued == D(2028, 2, 1):
            # Tuesday 29 February 2028. The long plan started on 31 August 2026
            # is not 18 months old on February's first day; a young person
            # born on 29 February 2012 is 16 today, but was not on 1 February.
            clock.move_to(at(D(2028, 2, 29), 9, 30))
            refused = await client.post(f"/api/v1/work/{await work_of(LONG, starts)}/audits", headers=token,
                                        json={"case": "LP-A"})
            assert refused.status_code == 422
            assert refused.json()["errors"]["case"] == (
                f"Case LP-A cannot be chosen for {LONG}: it does not meet Child protection plan started on: 18 or more "
                "months ago (on 1 February 2028, the work's first day)")
            young = await work_of(YOUNG, starts)
            await sign_in(client, DIRECTOR)
            shown = await client.get(f"/programme/work/{young}")
            suggested = re.search(r"Cases you could choose.*?<ul class=\"govuk-list\">(.*?)</ul>", shown.text, re.S)
            assert re.findall(r"<li>(.*?)</li>", suggested.group(1)) == ["YP-3"]
            for case, reason in [
                ("YP-1", "it does not meet Date of birth: 16 or more years ago (on 1 February 2028, the work's first day)"),
                ("YP-2", "it does not meet Looked after: yes (on 1 February 2028, the work's first day)"),
            ]:
                page = await client.post(f"/programme/work/{young}/start",
                                         data={"_csrf_token": csrf_from(shown.text), "case": case})
                assert page.status_code == 422
                assert f"Case {case} cannot be chosen for {YOUNG}: {reason}" in _text(page.text)
            started = await client.post(f"/api/v1/work/{young}/audits", headers=token, json={"case": "YP-3"})
            assert started.status_code == 201, started.text
            assert [a["case"] for a in started.json()["work"]["audits"]] == ["YP-3"]

    # The October audit, done and final (after the year, so that its case was
    # being audited all year): its PDF for the case record says the same window.
    clock.move_to(at(D(2028, 3, 1), 10))
    october = await Allocation.select(Allocation.id).where(
        (Allocation.auditor.username == DIRECTOR) & (Allocation.child_case.external_id == "LP-D")).first()
    await sign_in(client, DIRECTOR)
    done = await client.post(f"/api/v1/allocations/{october['id']}/submit", headers=token, json={})
    assert done.status_code == 200, done.text
    pdf = await client.get(f"/audits/{october['id']}/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    words = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).split())
    assert ("Looks back over 1 June 2027 to 31 August 2027 (the three months ending two months before the "
            "month it is due)") in words

    # Nobody else was given a case: the director's draws were the only ones.
    assert await Allocation.count().where(Allocation.cycle.is_not_null()) == len(DRAWN)
    assert (await Person.select(Person.username).where(Person.username == DIRECTOR).first()) is not None


def test_qaf_programme_shows_the_window_and_the_cases_chosen(calendarshire_path, tmp_path, monkeypatch, capsys):
    """`qaf programme` (no organisation: a sample person per role) prints each
    schedule's window and criteria, and its CSV's note gives the window."""
    from core.cli import main
    from core.settings import get_settings

    monkeypatch.setenv("QAF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QAF_COUNCILS", "calendarshire")
    get_settings.cache_clear()
    try:
        assert main(["programme", "--council", "calendarshire", "--year", "2027", "--csv", str(tmp_path / "p.csv")]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert (f"  {LONG} (role: Director; window: the 3 months ending 2 months before the month it is due; cases: "
            "Child protection plan started on: 18 or more months ago; Child protection plan number: 2 or more; "
            "Involvement in the window it looks back over (the three months ending two months before the month it "
            "is due))\n") in out
    assert f"  {YOUNG} (role: Director; cases: Looked after: yes; Date of birth: 16 or more years ago)\n" in out
    rows = [r for r in csv.DictReader(io.StringIO((tmp_path / "p.csv").read_text())) if r["activity"] == LONG]
    assert len(rows) == 10 and {r["note"] for r in rows} == {"covers the 3 months ending 2 months before the month it is due"}


def test_whole_months_and_windows_are_counted_as_the_calendar_counts_them():
    """Months after a day the month does not have fall on the 1st of the next
    (a child born on 29 February is 16 on 29 February 2028, a leap year, and
    17 on 1 March 2029); a window ending months before the due month crosses
    the year's end."""
    import msgspec

    from core.case_criteria import add_months, window, window_words
    from core.definitions.model import Frequency

    assert add_months(D(2026, 8, 31), 18) == D(2028, 3, 1)
    assert add_months(D(2012, 2, 29), 16 * 12) == D(2028, 2, 29)
    assert add_months(D(2012, 2, 29), 17 * 12) == D(2029, 3, 1)
    assert add_months(D(2027, 12, 31), -10) == D(2027, 3, 1)
    ending = msgspec.convert({"every": "month", "look_back_months": 3, "look_back_ends_months_before": 2}, Frequency)
    assert window(ending, D(2028, 1, 31)) == (D(2027, 9, 1), D(2027, 11, 30))
    assert window(ending, D(2028, 4, 28)) == (D(2027, 12, 1), D(2028, 2, 29))
    past = msgspec.convert({"every": "month", "look_back_months": 6}, Frequency)
    assert window_words(past, D(2026, 12, 31)) == "1 July 2026 to 31 December 2026 (the past six months)"
