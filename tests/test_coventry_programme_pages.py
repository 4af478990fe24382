"""What a Coventry QA lead and Coventry staff see of the Children's QAF Plan
2017 (C17-1, C17-2, C17-4): a Coventry organisation loaded on a real database
(SQLite file and PostgreSQL), the programme pages fetched through the app.

The expected grid is the plan's, written here as data with the seed line it
comes from (seed file 000_d3697d5ea7cff48f.txt, "L<n>" = a line of it); where
the plan's month ticks were lost, the months are the plugin's recorded
reading of "as per schedule" (councils/coventry/definitions/schedules.yaml),
named in the comment. The role and activity names are those the pages show.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.calendar import UTC
from core.plugins import load_plugins
from helpers import api_token, person, sign_in
from support.snapshots import snapshot_demo

YEAR = 2017  # the plan's year: "COVENTRY CHILDREN'S QAF PLAN - 2017" (L3)
# The organisation is set up on the plan's date, 29/03/17 (L1), never today.
SET_UP = dt.datetime(2017, 3, 29, 9, 30, tzinfo=UTC)
QA_LEAD = "coventry.senior_leader"  # the senior leadership run the plan (L44-L64)

SM_HP = "Service manager - social care (Help and Protection)"
TM_HP = "Team manager - social care (Help and Protection)"
SM_EH = "Service manager - Early Help & C&FF"
TM_CFF = "Team manager - C&FF"
CCM = "Children's centre manager"
CAF = "CAF co-ordinator"
SLT = "Senior leadership team (SLT) member"
IRO = "Independent reviewing officer (IRO)"
CP_CHAIR = "Child protection (CP) chair"
IRO_M = "IRO manager"
CP_M = "CP chair manager"
DO = "Designated officer (LADO)"
COMM = "Commissioning (Quality and Performance)"
YOS_SM = "Service manager - Youth Offending Services"
YOS_CM = "Case manager - Youth Offending Services"
R21_SM = "Service manager - Route 21 (leaving care)"
R21_TM = "Team manager - Route 21 (leaving care)"
CWD_SM = "Service manager - Children's Disability"
CWD_TM = "Team manager - Children's Disability"
FA_SM = "Service manager - Fostering and Adoption"
FA_TM = "Team manager - Fostering and Adoption"
LT_SM = "Service manager - Long-term Looked After Children"
LT_TM = "Team manager - Long-term Looked After Children"
EXT = "External auditors"

# The months (Jan = 1) a frequency of the plan falls due in, 2017.
QUARTERLY = (3, 6, 9, 12)  # "on a quarterly basis" (L10), "Quarterly ..." (L115)
THREE_A_YEAR = (4, 8, 12)  # "3 times per year" (L11), spread over the year
TWICE_YEARLY = (6, 12)  # "twice yearly" (L19), spread over the year
FEB_AUG = (2, 8)  # "Re-audit: February and August" (L214)
FROM_JUNE = (6, 9, 12)  # "To commence in June" (L25, L38)
MONTHLY = tuple(range(1, 13))  # "Monthly ..." (L121, L122, L154)
SIX_WEEKLY = (2, 3, 5, 6, 7, 9, 10, 12)  # "6 weekly" (L116), "Six weekly" (L143)
BI_MONTHLY = (2, 4, 6, 8, 10, 12)  # "Bi-Monthly" (L142): every two months
ANNUAL = (12,)  # "Annual self assessment" (L119, L131, L138)
AS_REQUIRED = ()  # no month: counted under "As required" (C17-4)


def _row(people: int, months: tuple[int, ...], each: int = 1) -> tuple[int, list[int], int]:
    """(People, the twelve month cells, As required) as the page shows them:
    every person in the role does ``each`` at every occurrence."""
    cells = [people * each if m in months else 0 for m in range(1, 13)]
    return people, cells, (people * each if months == AS_REQUIRED else 0)


# (role, activity) -> (people, Jan..Dec, As required) for the demo
# organisation: one person in each role, three social care team managers.
EXPECTED = {
    # HELP AND PROTECTION (L5-L19)
    (SM_HP, "Case File Audit"): _row(1, QUARTERLY),  # L10 "audit 1 case on a quarterly basis"
    (SM_HP, "Observation of Practice"): _row(1, THREE_A_YEAR),  # L11 "3 times per year"
    (SM_HP, "Supervision Assessments Plans"): _row(1, THREE_A_YEAR),  # L12 "3 plans per year"
    (TM_HP, "Case File"): _row(3, QUARTERLY),  # L17 "as per schedule": read as quarterly
    (TM_HP, "Re-Audit Case File"): _row(3, FEB_AUG),  # L18 "twice yearly" + L214
    (TM_HP, "Supervision Assessments Plans"): _row(3, TWICE_YEARLY),  # L19 "twice yearly"
    # EARLY HELP AND PREVENTION (L22-L38)
    (SM_EH, "Supervision Observation"): _row(1, FROM_JUNE),  # L25 "3 times per year. To commence in June"
    (SM_EH, "Reflective"): _row(1, (7,)),  # L26 "audit 1 case. To commence in July"
    (SM_EH, "Re-Audit"): _row(1, (10,)),  # L27 "re-audit 1 case in October"
    (TM_CFF, "Case File"): _row(1, QUARTERLY),  # L30 "as per schedule": quarterly
    (TM_CFF, "Re-Audit Case File"): _row(1, FEB_AUG),  # L31 "as per schedule": L214's months
    (CCM, "Practice Case Audit"): _row(1, QUARTERLY),  # L34 "as per schedule": quarterly
    (CCM, "Practice Observation"): _row(1, TWICE_YEARLY),  # L35 "twice yearly"
    (CAF, "Reflective Practice Case Audit"): _row(1, FROM_JUNE),  # L38 "as per schedule commencing in June"
    # SENIOR LEADERSHIP (L46-L64); L64's "Quality Assure Audit Process" is
    # Neil Macdonald's alone: nobody in the demo holds that post yet.
    (SLT, "Social Care Case File"): _row(1, QUARTERLY),  # L49 "as per schedule": quarterly
    (SLT, "Early Help Reflective (CAF)"): _row(1, QUARTERLY),  # L50 "as per schedule": quarterly
    (SLT, "Visit LAC in Placement"): _row(1, TWICE_YEARLY),  # L55-L59 "To complete 2 visits per year"
    (SLT, "Thematic audit"): _row(1, AS_REQUIRED),  # L214-L229 AUDIT THEMES (C17-3): started on a theme when needed
    # QUALITY AND PERFORMANCE (L66-L104)
    (IRO, "Case File"): _row(1, QUARTERLY),  # L66 "To audit 4 x cases as per schedule" (2 IRO & 2 CP Chairs)
    (IRO, "Re-Audit"): _row(1, FEB_AUG),  # L66 "To re-audit 4 x cases as per schedule"
    (IRO, "Dip Sample"): _row(1, TWICE_YEARLY),  # L66 "To 'dip sample' 4 x cases (themes tbc) twice yearly"
    (CP_CHAIR, "Case File"): _row(1, QUARTERLY),
    (CP_CHAIR, "Re-Audit"): _row(1, FEB_AUG),
    (CP_CHAIR, "Dip Sample"): _row(1, TWICE_YEARLY),
    (IRO_M, "LAC Review"): _row(1, THREE_A_YEAR, 2),  # L66 "To complete 2 x Reviews; 3 times per year"
    (IRO_M, "Dip Sample"): _row(1, THREE_A_YEAR, 2),  # L66 "minutes of at least 2 cases; 3 times per year"
    (IRO_M, "Observation of Practice"): _row(1, TWICE_YEARLY, 2),  # L66 "2 x observations at least twice yearly"
    (CP_M, "CP Review"): _row(1, THREE_A_YEAR, 2),
    (CP_M, "Dip Sample"): _row(1, THREE_A_YEAR, 2),
    (CP_M, "Observation of Practice"): _row(1, TWICE_YEARLY, 2),
    (DO, "DO/LAC"): _row(1, AS_REQUIRED),  # L104 "To be aligned with existing programme"
    # QUALITY AND PERFORMANCE - COMMISSIONING (L110-L143), RESIDENTIAL
    (COMM, "Residential: visit Coventry Hexagon block provision"): _row(1, QUARTERLY),  # L115
    (COMM, "Residential: contract meeting with Hexagon"): _row(1, SIX_WEEKLY),  # L116
    (COMM, "Residential: visit Verve and Progress Coventry provision"): _row(1, QUARTERLY),  # L117
    (COMM, "Residential: visits to Out of City spot provision"): _row(1, AS_REQUIRED),  # L118 "Ad-hoc"
    (COMM, "Residential: annual self-assessment"): _row(1, ANNUAL),  # L119
    (COMM, "Residential: action plans for Inadequate and Requires Improvement providers"): _row(1, AS_REQUIRED),  # L120
    (COMM, "Residential: report Ofsted ratings and issues to Corporate Parenting Board"): _row(1, MONTHLY),  # L121
    (COMM, "Residential: review Reg 44 reports"): _row(1, MONTHLY),  # L122
    (COMM, "Residential: responses to complaints and issues"): _row(1, AS_REQUIRED),  # L123 "As required"
    # FOSTERING (L124-L132)
    (COMM, "Fostering: review placements to identify top 5 providers"): _row(1, QUARTERLY),  # L126
    (COMM, "Fostering: feedback from social workers and IROs on top 5 provider placements"): _row(1, QUARTERLY),  # L127
    (COMM, "Fostering: contract meetings with top 5 providers"): _row(1, QUARTERLY),  # L129
    (COMM, "Fostering: action plans for Inadequate and Requires Improvement providers"): _row(1, AS_REQUIRED),  # L130
    (COMM, "Fostering: annual self assessment"): _row(1, ANNUAL),  # L131
    (COMM, "Fostering: responses to complaints and issues"): _row(1, AS_REQUIRED),  # L132
    # SUPPORTED ACCOMMODATION (L133-L139)
    (COMM, "Supported accommodation: SARP panel"): _row(1, AS_REQUIRED),  # L135
    (COMM, "Supported accommodation: monitoring returns from block and spot providers"): _row(1, QUARTERLY),  # L136
    (COMM, "Supported accommodation: visits to providers with concerns"): _row(1, QUARTERLY),  # L137
    (COMM, "Supported accommodation: annual self assessment"): _row(1, ANNUAL),  # L138
    (COMM, "Supported accommodation: responses to complaints and issues"): _row(1, AS_REQUIRED),  # L139
    # ALL PROVISION (L140-L143)
    (COMM, "All provision: audit of placements"): _row(1, BI_MONTHLY),  # L142
    (COMM, "All provision: market management meeting"): _row(1, SIX_WEEKLY),  # L143
    # YOUTH OFFENDING SERVICES (L146-L154)
    (YOS_SM, "YJB National Standards"): _row(1, AS_REQUIRED),  # L149: no frequency given, to be agreed
    (YOS_CM, "Case File"): _row(1, QUARTERLY),  # L152, COMMENTS empty: quarterly
    (YOS_CM, "Case File (Safeguarding Board Audits)"): _row(1, AS_REQUIRED),  # L153 "in line with their audit timetable"
    (YOS_CM, "National Standard Contact"): _row(1, MONTHLY),  # L154 "Monthly levels"
    # LOOKED AFTER CHILDREN (L160-L203)
    (R21_SM, "Case File"): _row(1, QUARTERLY),  # L165 "on a quarterly basis"
    (R21_SM, "Observation of Practice"): _row(1, THREE_A_YEAR),  # L166
    (R21_SM, "Supervision Assessments Plans"): _row(1, THREE_A_YEAR),  # L167 "3 plans per year"
    (R21_TM, "Case File"): _row(1, QUARTERLY),  # L170
    (R21_TM, "Re-Audit Case File"): _row(1, FEB_AUG),  # L171
    (R21_TM, "Supervision Assessments Plans"): _row(1, TWICE_YEARLY),  # L172 "twice yearly"
    (CWD_SM, "Case File"): _row(1, QUARTERLY),  # L175
    (CWD_SM, "Observation of Practice"): _row(1, THREE_A_YEAR),  # L176
    (CWD_SM, "Supervision Assessments Plans"): _row(1, THREE_A_YEAR),  # L178
    (CWD_TM, "Case File"): _row(1, QUARTERLY),  # L181
    (CWD_TM, "Re-Audit Case File"): _row(1, FEB_AUG),  # L182
    (CWD_TM, "Supervision Assessments Plans"): _row(1, TWICE_YEARLY),  # L183
    (FA_SM, "Regulation 44 Visits and Actions"): _row(1, THREE_A_YEAR),  # L186 "1 x visit, 3 times per year"
    (FA_SM, "Observation of Practice"): _row(1, THREE_A_YEAR),  # L187
    (FA_TM, "Case File"): _row(1, QUARTERLY),  # L190
    (FA_TM, "Fostering and Adoption"): _row(1, QUARTERLY),  # L191 "as per schedule (number tba)"
    (LT_SM, "Case File"): _row(1, QUARTERLY),  # L195
    (LT_SM, "Observation of Practice"): _row(1, THREE_A_YEAR),  # L196
    (LT_SM, "Supervision Assessments Plans"): _row(1, THREE_A_YEAR),  # L197
    (LT_TM, "Case File"): _row(1, QUARTERLY),  # L201
    (LT_TM, "Re-Audit Case File"): _row(1, FEB_AUG),  # L202
    (LT_TM, "Supervision Assessments Plans"): _row(1, TWICE_YEARLY),  # L203
    # EXTERNAL AUDIT (L206-L209): "150 x Case file audits to be conducted in
    # January/February ... in September/October", due by each window's end.
    (EXT, "Case File"): _row(1, (2, 10), 150),
}


@pytest.fixture(scope="module")
def coventry(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("coventry"), "sqlite:///unused", councils=("coventry",))).registry


@pytest_asyncio.fixture(loop_scope="session")
async def coventry_client(coventry, database_url, tmp_path):
    from web.app import create_app

    await snapshot_demo(coventry, "coventry", now=SET_UP)
    settings = make_settings(tmp_path, database_url, councils=("coventry",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _grid(page: str) -> dict[tuple[str, str], tuple[int, list[int], int]]:
    """The programme page's table: (role, activity) -> (people, Jan..Dec, As required)."""
    body = page.split('<tbody class="govuk-table__body">', 1)[1].split("</tbody>", 1)[0]
    grid = {}
    for row in re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', body, re.S):
        role = _text(re.search(r'<th scope="row"[^>]*>(.*?)</th>', row, re.S).group(1))
        cells = [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        activity, people, *months, as_required = cells
        assert len(months) == 12, row
        key = (role, activity)
        assert key not in grid, f"{key} shown twice"
        grid[key] = (int(people), [int(m or 0) for m in months], int(as_required or 0))
    return grid


def _mine(page: str) -> list[tuple[str, str, str, str]]:
    """My programme: (due, activity, how many, notes), row by row."""
    year = page.split("My activities, soonest first", 1)[1]
    body = year.split('<tbody class="govuk-table__body">', 1)[1].split("</tbody>", 1)[0]
    return [
        tuple(_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S))
        for row in re.findall(r'<tr class="govuk-table__row">(.*?)</tr>', body, re.S)
    ]


async def _programme(client) -> dict:
    page = await client.get(f"/programme?year={YEAR}")
    assert page.status_code == 200, page.text
    assert f"QA programme {YEAR}" in page.text
    assert [_text(m) for m in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', page.text)] == [
        "Role", "Activity", "People",
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",  # L9 "JAN ... DEC"
        "As required",
    ]  # fmt: skip
    return _grid(page.text)


@pytest.mark.req("C17-1")
async def test_the_qa_lead_sees_every_role_of_the_plan_with_each_of_its_tasks(coventry_client):
    client = coventry_client
    await sign_in(client, QA_LEAD)
    grid = await _programme(client)
    # Every role the plan lists, each with exactly its task rows and the
    # number of people doing them.
    assert {role for role, _ in grid} == {role for role, _ in EXPECTED}
    assert {key: row[0] for key, row in grid.items()} == {key: row[0] for key, row in EXPECTED.items()}
    # The plan's 80 rows and its thematic audits, but Neil Macdonald's, whose
    # post nobody holds yet: the page says so (PLAT-4).
    assert len(grid) == 80
    # Senior leaders visit looked-after children placed out of city, two a year each (L55-L59).
    assert grid[(SLT, "Visit LAC in Placement")][1].count(1) == 2
    # The external auditors' 150 case files, twice (L209).
    assert sum(grid[(EXT, "Case File")][1]) == 300


@pytest.mark.req("C17-2")
async def test_each_task_falls_due_in_the_months_its_frequency_says(coventry_client):
    client = coventry_client
    await sign_in(client, QA_LEAD)
    grid = await _programme(client)
    wrong = {key: (grid.get(key), want) for key, want in EXPECTED.items() if grid.get(key) != want}
    assert wrong == {}

    # Each person sees their own dates: the commissioning officer's six-weekly
    # meetings (L116, L143) every 42 days, and the monthly and bi-monthly tasks.
    await sign_in(client, "coventry.commissioning")
    mine = await client.get(f"/programme/mine?year={YEAR}")
    assert mine.status_code == 200 and f"My programme {YEAR}" in mine.text
    rows = _mine(mine.text)
    hexagon = [due for due, activity, _, _ in rows if activity == "Residential: contract meeting with Hexagon"]
    assert hexagon == [
        "10 February 2017", "24 March 2017", "5 May 2017", "16 June 2017",
        "28 July 2017", "8 September 2017", "20 October 2017", "1 December 2017",
    ]  # fmt: skip
    placements = [due for due, activity, _, _ in rows if activity == "All provision: audit of placements"]
    assert placements == ["28 February 2017", "28 April 2017", "30 June 2017", "31 August 2017", "31 October 2017", "29 December 2017"]
    # Quarterly falls on each quarter's last working day: 30 September 2017
    # is a Saturday, 30/31 December a weekend after the Christmas bank holidays.
    visits = [due for due, activity, _, _ in rows if activity == "Residential: visit Coventry Hexagon block provision"]
    assert visits == ["31 March 2017", "30 June 2017", "29 September 2017", "29 December 2017"]

    # "To commence in June" (L25) and "in October" (L27), as the Early Help service manager sees them.
    await sign_in(client, "coventry.eh_service_manager")
    rows = _mine((await client.get(f"/programme/mine?year={YEAR}")).text)
    assert [(due, activity, n) for due, activity, n, _ in rows] == [
        ("30 June 2017", "Supervision Observation", "1"),
        ("31 July 2017", "Reflective", "1"),
        ("29 September 2017", "Supervision Observation", "1"),
        ("31 October 2017", "Re-Audit", "1"),
        ("29 December 2017", "Supervision Observation", "1"),
    ]


@pytest.mark.req("C17-4")
async def test_as_required_and_to_be_agreed_tasks_are_listed_without_a_date(coventry_client):
    client = coventry_client
    await sign_in(client, QA_LEAD)
    grid = await _programme(client)
    undated = {key: row for key, row in grid.items() if row[2]}
    # Seven commissioning tasks (L118, L120, L123, L130, L132, L135, L139), the
    # designated officers' (L104), the Safeguarding Board audits (L153), the
    # thematic audits (L214-L229) and the YJB national standards to be agreed
    # (L149): one each, in no month.
    assert sorted(undated) == sorted(key for key, row in EXPECTED.items() if row[2])
    assert len(undated) == 11
    assert all(row[1] == [0] * 12 and row[2] == 1 for row in undated.values())

    # L64 "Neil Macdonald - Quality Assure Audit Process ... Process and
    # timescale to be agreed": the QA lead takes up the post of Quality
    # Assurance through the staff import, and the task appears, undated.
    me = await person(QA_LEAD)
    headers = await api_token(client, QA_LEAD)
    staff = f"username,display_name,role,post\n{QA_LEAD},{me['display_name']},senior_leader,Quality Assurance\n"
    imported = await client.post("/api/v1/imports/staff", content=staff.encode(), headers={**headers, "content-type": "text/csv"})
    assert imported.status_code == 200, imported.text
    assert (imported.json()["created"], imported.json()["updated"]) == (0, 1)
    for year in (YEAR, YEAR + 1):
        page = await client.get(f"/programme?year={year}")
        assert _grid(page.text)[(SLT, "Quality Assure Audit Process")] == (1, [0] * 12, 1), year
        mine = _mine((await client.get(f"/programme/mine?year={year}")).text)
        assert [row for row in mine if row[1] == "Quality Assure Audit Process"] == [
            ("As required", "Quality Assure Audit Process", "1", "process and timescale to be agreed")
        ], year

    # The designated officer's task keeps to "the existing programme" (L104): as required.
    await sign_in(client, "coventry.designated_officer")
    mine = _mine((await client.get(f"/programme/mine?year={YEAR}")).text)
    assert mine == [("As required", "DO/LAC", "1", "as required")]
