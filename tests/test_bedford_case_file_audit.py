"""A Bedford team manager's case file audit (Appendix A) through the real
pages (BED-1), and Bedford installed beside Haringey through the plugins'
entry points, each council's staff seeing their own council's tool (CORE-1).

The expected wording is the seed's, written as data in
tests/test_council_bedford.py with the seed section each comes from. The
demo is loaded at a fixed instant (the last working day of December 2026),
so the month's cycle and the audit's dates never depend on today.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Allocation
from core.plugins import load_plugins
from support.snapshots import snapshot_demo
from helpers import allocation_of, csrf_from, person, sign_in
from test_council_bedford import (
    CATEGORIES,
    CRITERIA,
    FAMILY_QUESTIONS,
    FOUR_POINT,
    IN_TIME_CHECKS,
    INADEQUATE_SENTENCE,
    RECOMMENDATION_COLUMNS,
    SECTION_1_LABELS,
    SECTION_1_TITLE,
    SECTION_2_TITLE,
    SECTION_3_GUIDANCE,
    SECTION_3_TITLE,
    SECTION_4_GUIDANCE,
    SECTION_4_TITLE,
    SECTION_5_GUIDANCE,
    SECTION_5_TITLE,
    SECTION_6_TITLE,
    SUMMARY_LABEL,
    SUMMARY_TITLE,
    WITH_THE_WORKER,
)

# The last working day of December 2026, mid-morning.
INSTANT = dt.datetime(2026, 12, 31, 9, 30, tzinfo=dt.timezone.utc)
GRADES = [label for label, _ in FOUR_POINT]


def plain(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def form_sections(page: str) -> dict[str, str]:
    """The audit form's sections as the page shows them: heading -> its HTML."""
    # The answers' form (action "/audits/N"), not the evidence or co-auditor forms beside it.
    form = re.split(r'<form method="post" action="/audits/\d+" ', page, maxsplit=1)[1].split("</form>", 1)[0]
    parts = re.split(r'<h2 class="govuk-heading-m">(.*?)</h2>', form)
    return {plain(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


def asked(fragment: str) -> list[str]:
    """What each field of a section asks, in order: its legend or its label."""
    found = re.findall(
        r'<legend class="govuk-fieldset__legend[^"]*">(.*?)</legend>|<label class="govuk-label govuk-label--s" for="[^"]*">(.*?)</label>',
        fragment,
        re.S,
    )
    return [plain(legend or label) for legend, label in found]


def choices(fragment: str, name: str) -> list[str]:
    """The labels of the radio buttons called ``name``."""
    pattern = rf'name="{re.escape(name)}" type="radio" value="[^"]*"[^>]*>\s*<label class="govuk-label govuk-radios__label"[^>]*>(.*?)</label>'
    return [plain(label) for label in re.findall(pattern, fragment, re.S)]


def guidance(fragment: str) -> str:
    found = re.search(r'<p class="govuk-body qaf-guidance">(.*?)</p>', fragment, re.S)
    return plain(found.group(1)) if found else ""


def error_links(page: str) -> dict[str, str]:
    """The error summary: each link's target field -> its message."""
    summary = page.split('<div class="govuk-error-summary" data-module="govuk-error-summary">', 1)[1].split("</ul>", 1)[0]
    return {target: plain(text) for target, text in re.findall(r'<a href="#([^"]+)">(.*?)</a>', summary, re.S)}


def revision(page: str) -> str:
    return re.search(r'name="revision" value="(\d+)"', page).group(1)


def summary_rows(page: str) -> dict[str, str]:
    """The read-only audit's answers: question -> answer."""
    rows = re.findall(r'<dt class="govuk-summary-list__key">(.*?)</dt>\s*<dd class="govuk-summary-list__value[^"]*">(.*?)</dd>', page, re.S)
    return {plain(key): plain(value) for key, value in rows}


@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("bedford"), "sqlite:///unused", councils=("bedford",))).registry


@pytest_asyncio.fixture(loop_scope="session")
async def bedford_client(bedford, database_url, tmp_path):
    from web.app import create_app

    await snapshot_demo(bedford, "bedford", now=INSTANT)
    settings = make_settings(tmp_path, database_url, councils=("bedford",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


CRITERION_KEYS = [f"criterion_{n:02d}" for n in range(1, 17)]
# Issue 17: what App. A section 1 asks that qaf holds is shown from the case
# record (in the seed's order), not asked.
FROM_RECORD = ("Azeus Number", "Name of Auditor and Designation", "Team Name", "Team Manager", "Social Worker", "Category of case")


def record_facts(section: str) -> dict[str, str]:
    """The summary list of what the record holds, at the top of a section."""
    rows = re.findall(r'<dt class="govuk-summary-list__key">(.*?)</dt>\s*<dd class="govuk-summary-list__value">(.*?)</dd>', section, re.S)
    return {plain(key): plain(value) for key, value in rows}
FAMILY_KEYS = ["q1_experience", "q2_listened", "q3_involved", "q4_meetings", "q5_support"]


@pytest.mark.req("BED-1")
async def test_a_team_manager_fills_in_and_completes_the_appendix_a_case_file_audit(bedford_client):
    client = bedford_client
    allocation = await allocation_of("bedford.team_manager.1")
    await sign_in(client, "bedford.team_manager.1")
    page = await client.get(f"/audits/{allocation['id']}")
    assert page.status_code == 200
    assert '<span class="govuk-caption-l">Case File Audit</span>' in page.text
    assert WITH_THE_WORKER in plain(page.text)
    sections = form_sections(page.text)
    # The tool's prompts under each criterion (App. A s.2), as the auditor reads them.
    assert "<li>Has previous historical information been taken in to account?</li>" in page.text
    assert "<li>sexual exploitation</li>" in page.text
    # The tool's six sections in the seed's order, then the overall grade's fields.
    assert list(sections) == [
        SECTION_1_TITLE, SECTION_2_TITLE, SECTION_3_TITLE, SECTION_4_TITLE, SECTION_5_TITLE, SUMMARY_TITLE, SECTION_6_TITLE,
        "Overall grade",
    ]  # fmt: skip

    # Section 1: key information, the case's category and the four in-time checks.
    s1 = sections[SECTION_1_TITLE]
    assert asked(s1) == [*(label for label in SECTION_1_LABELS if label not in FROM_RECORD), *IN_TIME_CHECKS]
    facts = record_facts(s1)
    assert list(facts) == list(FROM_RECORD)
    assert facts["Category of case"] in CATEGORIES
    assert 'name="answer.section_1.category"' not in s1
    for n, check in enumerate(("last_visit_in_time", "assessment_in_time", "plan_in_time", "last_supervision_in_time")):
        assert choices(s1, f"answer.section_1.{check}") == ["Yes", "No"], IN_TIME_CHECKS[n]

    # Section 2: the sixteen criteria, each a grade on Bedford's scale and an evaluation.
    s2 = sections[SECTION_2_TITLE]
    assert INADEQUATE_SENTENCE in guidance(s2)
    assert asked(s2) == [text for label, _ in CRITERIA for text in (f"{label}: grade", f"{label}: evaluation")]
    for key in CRITERION_KEYS:
        assert choices(s2, f"grade.initial.section_2.{key}") == GRADES

    # Section 3: feedback from the family, or why it was not sought.
    s3 = sections[SECTION_3_TITLE]
    assert guidance(s3) == SECTION_3_GUIDANCE
    assert asked(s3)[1:6] == [label for label, _ in FAMILY_QUESTIONS]
    assert asked(s3)[6:] == [
        "If this is not appropriate, the reasons must be detailed below",
        "Should another manager seek to gain this feedback?",
        "Should another manager seek to gain this feedback?: comments",
    ]
    # Sections 4-6: the worker's comments, recommendations (what, when, who), the
    # summary, and the overall grade with its rationale.
    assert guidance(sections[SECTION_4_TITLE]) == SECTION_4_GUIDANCE
    assert asked(sections[SECTION_4_TITLE]) == ["Social Worker comments on findings of the audit"]
    assert guidance(sections[SECTION_5_TITLE]) == SECTION_5_GUIDANCE
    assert asked(sections[SECTION_5_TITLE])[:3] == [f"Recommendations, row 1: {column}" for column in RECOMMENDATION_COLUMNS]
    assert asked(sections[SUMMARY_TITLE]) == [SUMMARY_LABEL]
    overall = sections["Overall grade"]
    assert asked(overall) == ["Overall grade", "Rationale for the overall grade"]
    assert choices(overall, "grade.initial.overall") == GRADES

    # Submitted empty, feedback not sought: every missing answer is listed, the
    # reasons in place of the five questions, each criterion by its own name.
    url = f"/audits/{allocation['id']}"
    refused = await client.post(url, data={
        "_csrf_token": csrf_from(page.text), "revision": revision(page.text), "action": "submit",
        "answer.section_3.feedback_sought": "no",
    })  # fmt: skip
    assert refused.status_code == 422
    errors = error_links(refused.text)
    for key, check in zip(("last_visit_in_time", "assessment_in_time", "plan_in_time", "last_supervision_in_time"), IN_TIME_CHECKS):
        assert errors[f"answer-section_1-{key}"] == f"Answer '{check}'"
    for key, (label, _) in zip(CRITERION_KEYS, CRITERIA):
        assert errors[f"grade-initial-section_2-{key}"] == f"{label}: choose a grade"
        assert errors[f"evidence-initial-section_2-{key}"] == f"{label}: give the evidence for the grade"
    assert errors["answer-section_3-reasons_not_sought"] == "Enter if this is not appropriate, the reasons must be detailed below"
    assert not any(f"answer-section_3-{key}" in errors for key in FAMILY_KEYS)
    assert errors["answer-section_5_summary-summary"] == f"Enter {SUMMARY_LABEL[0].lower()}{SUMMARY_LABEL[1:]}"
    assert errors["grade-initial-overall"] == "Overall grade: choose a grade"
    assert errors["evidence-initial-overall"] == "Overall grade: give the rationale for the grade"
    assert "answer-section_4-social_worker_comments" not in errors  # the worker's comments are optional

    # Feedback sought: now the five questions are asked and the reasons are not.
    sought = await client.post(url, data={
        "_csrf_token": csrf_from(refused.text), "revision": revision(refused.text), "action": "submit",
        "answer.section_3.feedback_sought": "yes",
    })  # fmt: skip
    assert sought.status_code == 422
    errors = error_links(sought.text)
    assert [errors[f"answer-section_3-{key}"] for key in FAMILY_KEYS] == [
        f"Enter {label[0].lower()}{label[1:]}" for label, _ in FAMILY_QUESTIONS
    ]
    assert "answer-section_3-reasons_not_sought" not in errors

    # Everything answered: the audit is completed and goes to a senior manager.
    answers = {
        "answer.section_1.case_summary": "Two siblings on a child protection plan for neglect.",
        # The day it was allocated (issue 17: not before, not in the future).
        "answer.section_1.date_of_audit": "2026-12-31",
        "answer.section_1.last_visit_in_time": "yes",
        "answer.section_1.assessment_in_time": "yes",
        "answer.section_1.plan_in_time": "no",
        "answer.section_1.last_supervision_in_time": "yes",
        "answer.section_3.feedback_sought": "yes",
        **{f"answer.section_3.{key}": f"Mother's answer {n}." for n, key in enumerate(FAMILY_KEYS, start=1)},
        "answer.section_4.social_worker_comments": "Agreed the plan needs updating.",
        "answer.section_5.recommendations.1.recommendation": "Update the child protection plan",
        "answer.section_5.recommendations.1.date": "2027-01-15",
        "answer.section_5.recommendations.1.who": "Social worker",
        "answer.section_5_summary.summary": "Good direct work; the plan is out of date.",
        **{f"grade.initial.section_2.{key}": "good" for key in CRITERION_KEYS},
        **{f"evidence.initial.section_2.{key}": f"Evaluation of criterion {n}." for n, key in enumerate(CRITERION_KEYS, start=1)},
        "grade.initial.section_2.criterion_08": "requires_improvement",
        "grade.initial.overall": "good",
        "evidence.initial.overall": "Practice is good in all areas of the audit but the plan.",
    }
    done = await client.post(url, data={
        "_csrf_token": csrf_from(sought.text), "revision": revision(sought.text), "action": "submit", **answers,
    }, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303, plain(done.text)[:2000]
    record = await client.get(url)
    assert "Completed: with senior manager for quality assurance" in plain(record.text)
    shown = summary_rows(record.text)
    assert shown["Category of case"] == facts["Category of case"]  # the case's, from the record
    assert shown["Team Name"] == facts["Team Name"]
    assert shown["Is Plan in time?"] == "No"
    assert shown[f"{CRITERIA[7][0]}: grade"] == "Requires Improvement"
    assert shown[f"{CRITERIA[7][0]}: evaluation"] == "Evaluation of criterion 8."
    assert shown[f"{CRITERIA[0][0]}: grade"] == "Good"
    assert shown[f"{FAMILY_QUESTIONS[0][0]}"] == "Mother's answer 1."
    assert shown["Recommendations, row 1: Date for completion/review"] == "15 January 2027"
    assert shown["Recommendations, row 1: Who is responsible for action"] == "Social worker"
    assert shown[SUMMARY_LABEL] == "Good direct work; the plan is out of date."
    assert shown["Overall grade"] == "Good"
    assert shown["Rationale for the overall grade"] == "Practice is good in all areas of the audit but the plan."
    row = await Allocation.select(Allocation.state).where(Allocation.id == allocation["id"]).first()
    assert row["state"] == "qa_review"


# --- CORE-1: two councils installed through their entry points --------------------------


@pytest.fixture(scope="module")
def two_councils(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("two"), "sqlite:///unused", councils=("haringey", "bedford")))


@pytest_asyncio.fixture(loop_scope="session")
async def two_council_client(two_councils, database_url, tmp_path):
    from web.app import create_app

    for council in ("haringey", "bedford"):
        await snapshot_demo(two_councils.registry, council, now=INSTANT)
    settings = make_settings(tmp_path, database_url, councils=("haringey", "bedford"))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


@pytest.mark.req("CORE-1")
async def test_bedford_beside_haringey_each_team_manager_sees_their_own_councils_audit(two_councils, two_council_client):
    client = two_council_client
    # Both councils come from their packages' entry points, as a third party's would.
    info = {i.name: i for i in two_councils.info}
    assert (info["bedford"].council, info["bedford"].builtin) == ("bedford", False)
    assert (info["haringey"].council, info["haringey"].builtin) == ("haringey", False)

    # The same role in each council; each sees their own council's tool.
    bedford_audit = await allocation_of("bedford.team_manager.1")
    haringey_audit = await allocation_of("haringey.team_manager.1")
    await sign_in(client, "bedford.team_manager.1")
    page = await client.get(f"/audits/{bedford_audit['id']}")
    assert page.status_code == 200
    assert '<span class="govuk-caption-l">Case File Audit</span>' in page.text
    assert list(form_sections(page.text))[:2] == [SECTION_1_TITLE, SECTION_2_TITLE]
    assert record_facts(form_sections(page.text)[SECTION_1_TITLE])["Category of case"] in CATEGORIES
    assert "Voice and lived experience of the child" not in page.text
    assert (await client.get(f"/audits/{haringey_audit['id']}")).status_code == 404
    await client.get("/logout")

    await sign_in(client, "haringey.team_manager.1")
    page = await client.get(f"/audits/{haringey_audit['id']}")
    assert page.status_code == 200
    assert '<span class="govuk-caption-l">Case audit</span>' in page.text
    assert "Voice and lived experience of the child" in form_sections(page.text)
    assert SECTION_1_TITLE not in page.text and "Category of case" not in page.text
    assert (await client.get(f"/audits/{bedford_audit['id']}")).status_code == 404
    # Each audit belongs to its own council's organisation.
    haringey_org = (await person("haringey.team_manager.1"))["organisation"]
    bedford_org = (await person("bedford.team_manager.1"))["organisation"]
    assert haringey_org != bedford_org
    assert (haringey_audit["organisation"], bedford_audit["organisation"]) == (haringey_org, bedford_org)
