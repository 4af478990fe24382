"""The Bedford Borough Quality Assurance and Learning Framework (April 2018)
as the ``bedford`` plugin (BED-1 .. BED-11).

Expected values are read from the seed itself,
../shared/seeds/001_b0430567246ecb7f.txt (from "Transcription:"), wherever the
seed states them: question wording, the sixteen criteria, the five family
feedback questions, the seven meeting types and fourteen areas, the scales and
their descriptors, "48 hours", "c.140". The transcription interleaves page
numbers (and App. B's "Yes No Comments" header) with the text and drops curly
apostrophes; ``SEED`` undoes only that.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest

from core import workflow as wf
from core.forms import fields_of, problems_for_submit
from core.plugins import load_plugins
from core.programme import StaffMember, expand
from core.settings import Settings

SEED_FILE = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "001_b0430567246ecb7f.txt"


def norm(text: str) -> str:
    """Apostrophes as the transcription has them (none), one space between words."""
    return re.sub(r"\s+", " ", re.sub(r"['\u2019]", " ", text)).strip()


def _seed_text() -> str:
    raw = SEED_FILE.read_text(encoding="utf-8")
    raw = raw[raw.index("Transcription:") + len("Transcription:") :]
    # Page footers: "... 13\n\nreduction of risk?" and App. B's repeated header.
    raw = re.sub(r"\s+(?:Yes No Comments\s+)?\d{1,2}\s*\n\s*\n", " ", raw)
    return norm(raw)


if not SEED_FILE.exists():
    # The seeds live beside the repository (../shared), as they do in CI.
    pytest.skip(f"the Bedford seed is not at {SEED_FILE}", allow_module_level=True)
SEED = _seed_text()


def in_seed(text: str) -> bool:
    return norm(text) in SEED


def between(start: str, end: str) -> str:
    """The seed's text after ``start`` and before the next ``end``."""
    i = SEED.index(norm(start)) + len(norm(start))
    return SEED[i : SEED.index(norm(end), i)].strip()


def quotes(source: str) -> list[str]:
    """The quoted fragments of a ``source``, split at ellipses."""
    out = []
    for quoted in re.findall(r'"(.*?)"', source):
        out.extend(part.strip() for part in quoted.split("...") if part.strip())
    return out


@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("bedford"),
        database_url="sqlite:///unused",
        councils=("bedford",),
        secret_key="k" * 40,
    )
    return load_plugins(settings)


@pytest.fixture(scope="module")
def reg(bedford):
    return bedford.registry


def form(reg, key):
    return reg.form(f"bedford:{key}")


def section(form_, key):
    return next(s for s in form_.sections if s.key == key)


def question(form_, key):
    sec, q = key.split(".")
    return next(x for x in section(form_, sec).questions if x.key == q)


def schedule(reg, key):
    return reg.schedules[f"bedford:{key}"].value


def rule(reg, key):
    return reg.escalations[f"bedford:{key}"].value


def workflow(reg, key):
    return reg.workflow(f"bedford:{key}")


# A Team Manager with six supervisees (one of them an Advanced Practitioner
# who supervises two workers) reporting to the Head of Service, the senior
# managers and the CRS Team Manager.
TM = StaffMember(1, "Tara Manager", "team_manager", line_manager=2)
AP = StaffMember(10, "Ada Practitioner", "advanced_practitioner", line_manager=1)
TEAM = [AP] + [StaffMember(10 + n, f"Worker {n}", "social_worker", line_manager=1) for n in range(1, 6)]
AP_TEAM = [StaffMember(20 + n, f"AP worker {n}", "social_worker", line_manager=10) for n in range(1, 3)]
STAFF = [
    TM,
    *TEAM,
    *AP_TEAM,
    StaffMember(2, "Hal Head", "head_of_service"),
    StaffMember(3, "Cleo Chief", "chief_officer"),
    StaffMember(4, "Dora Director", "director"),
    StaffMember(5, "Sue Quality", "sqa_manager"),
    StaffMember(6, "Ollie Officer", "sqa_officer"),
    StaffMember(7, "Cara Review", "crs_team_manager"),
    StaffMember(8, "Ira Reviewing", "iro", line_manager=7),
    StaffMember(9, "Cal Chair", "cp_chair", line_manager=7),
    StaffMember(30, "DMT", "dmt"),
    StaffMember(31, "SLT", "slt"),
]
YEAR = 2018  # the framework's year from April 2018 (council year_start_month: 4)
MONTH_ENDS = [
    dt.date(2018, 4, 30), dt.date(2018, 5, 31), dt.date(2018, 6, 29), dt.date(2018, 7, 31),
    dt.date(2018, 8, 31), dt.date(2018, 9, 28), dt.date(2018, 10, 31), dt.date(2018, 11, 30),
    dt.date(2018, 12, 31), dt.date(2019, 1, 31), dt.date(2019, 2, 28), dt.date(2019, 3, 29),
]  # fmt: skip
QUARTER_ENDS = [MONTH_ENDS[i] for i in (2, 5, 8, 11)]


@pytest.fixture(scope="module")
def programme(reg):
    return expand(reg, "bedford", YEAR, STAFF)


def items(programme, person, schedule_key):
    return [i for i in programme if i.person == person.name and i.schedule == schedule_key]


# --- the council ---------------------------------------------------------------


@pytest.mark.req("BED-1")
def test_the_council_its_year_and_the_case_categories_of_appendix_a(bedford, reg):
    council = reg.council("bedford")
    assert {i.name: i.council for i in bedford.info}["bedford"] == "bedford"
    assert council.year_start_month == 4
    assert council.practitioner_role == "social_worker" and council.team_manager_role == "team_manager"
    # "Category of case (CAF/ TAC; CiN; CP; LAC; CwD; Care Leaver)"
    categories = between("Category of case (", ")").split("; ")
    assert [c.label for c in council.case_categories] == categories == ["CAF/ TAC", "CiN", "CP", "LAC", "CwD", "Care Leaver"]
    choice = question(form(reg, "case_file_audit"), "section_1.category")
    assert [(o.value, o.label) for o in choice.options] == [(c.key, c.label) for c in council.case_categories]
    assert council.cycles.form == "case_file_audit"
    assert council.cycles.auditor_roles == ("team_manager", "advanced_practitioner")


@pytest.mark.req("BED-5")
@pytest.mark.req("BED-11")
def test_roles_and_the_escalation_ladder(reg):
    roles = {r.key: r for r in reg.roles_of("bedford")}
    assert set(roles) >= {
        "social_worker", "advanced_practitioner", "team_manager", "head_of_service", "chief_officer",
        "director", "sqa_manager", "sqa_officer", "crs_team_manager", "iro", "cp_chair", "dmt", "slt",
    }  # fmt: skip
    ladder, role = ["social_worker"], roles["social_worker"]
    while role.escalates_to:
        ladder.append(role.escalates_to)
        role = roles[role.escalates_to]
    # s.3 "Senior Managers (Heads of Service, Chief Officer, Director)".
    assert ladder == ["social_worker", "team_manager", "head_of_service", "chief_officer", "director"]
    assert in_seed("Senior Managers (Heads of Service, Chief Officer, Director)")
    assert roles["iro"].escalates_to == roles["cp_chair"].escalates_to == "crs_team_manager"
    for senior in ("head_of_service", "chief_officer", "director", "sqa_officer"):
        assert "qa_review" in roles[senior].capabilities
    assert "qa_review" not in roles["team_manager"].capabilities
    assert "audit" not in roles["social_worker"].capabilities


# --- BED-1 case file audit tool ---------------------------------------------------


@pytest.mark.req("BED-1")
def test_section_1_key_information_and_the_four_in_time_checks(reg):
    audit = form(reg, "case_file_audit")
    s1 = section(audit, "section_1")
    assert in_seed(s1.title)
    for q in s1.questions:
        assert in_seed(q.label), q.label
    # "Was last visit in time? y/n Is assessment in time? y/n Is Plan in time? y/n ..."
    checks = re.findall(r"([A-Z][^?]*\?) y/n", between("Please note gaps in essential information", "SECTION 2"))
    assert len(checks) == 4
    yes_no = [q.label for q in s1.questions if q.type == "yes_no"]
    assert yes_no == checks == ["Was last visit in time?", "Is assessment in time?", "Is Plan in time?", "Is last supervision in time?"]
    assert all(q.required for q in s1.questions if q.type == "yes_no")
    labels = [q.label for q in s1.questions]
    for field in ("Audit Tracking Number", "Azeus Number", "Date of audit", "Name of Auditor and Designation",
                  "Team Name", "Team Manager", "Social Worker", "Age of child", "Ethnicity", "Gender",
                  "Referral Date", "Disability", "Previous Referrals and Contacts (dates)", "Referral Source",
                  "Reason for Referral", "Start/ end date(s) of CiN/ CP/ LAC periods", "Placement Type",
                  "Is the child / young person living out of Borough and if so where?",
                  "Please note gaps in essential information"):  # fmt: skip
        assert field in labels and in_seed(field)
    assert labels[0] == "1a. CASE SUMMARY / PEN PICTURE"


@pytest.mark.req("BED-1")
def test_section_2_has_the_sixteen_criteria_each_an_evaluation_and_a_grade(reg):
    audit = form(reg, "case_file_audit")
    assert audit.scope_months == 6 and in_seed("SECTION 2 (review the past 6 months)")
    s2 = section(audit, "section_2")
    seed_s2 = between("AUDIT QUESTIONS Criteria", "SECTION 3-")
    numbers = [int(n) for n in re.findall(r"(?:^|\s)(\d{1,2})\. [A-Z(]", seed_s2)]
    assert numbers == list(range(1, 17))
    assert len(s2.questions) == 16
    for number, q in zip(numbers, s2.questions):
        assert q.graded, q.key
        assert q.label.startswith(f"{number}. ")
        assert norm(q.label) in seed_s2, q.label
        for prompt in q.prompts:
            assert norm(prompt) in seed_s2, prompt
    assert question(audit, "section_2.criterion_01").prompts == (
        "Has previous historical information been taken in to account?",
        "What is the quality of the referral?",
        "Has early intervention been appropriately undertaken?",
    )
    assert question(audit, "section_2.criterion_02").prompts[:6] == (
        "sexual exploitation", "neglect", "emotional abuse", "sexual abuse", "physical abuse", "domestic abuse",
    )  # fmt: skip
    assert question(audit, "section_2.criterion_16").label == "16. Is the child/ young person at risk of or involved in offending?"
    # Graded on Bedford's four-point scale, with the evaluation required.
    assert audit.grading.scale == "four_point" and audit.grading.evidence_required


@pytest.mark.req("BED-1")
def test_each_criterion_becomes_a_grade_and_an_evaluation_field(reg):
    audit = form(reg, "case_file_audit")
    fields = fields_of(reg, "bedford", audit).by_name()
    graded = [n for n in fields if n.startswith("grade.initial.section_2.criterion_")]
    assert len(graded) == 16
    grade = fields["grade.initial.section_2.criterion_07"]
    assert [label for _, label in grade.options] == ["Outstanding", "Good", "Requires Improvement", "Inadequate"]
    assert fields["evidence.initial.section_2.criterion_07"].required


@pytest.mark.req("BED-1")
def test_section_3_five_family_questions_or_the_reason_feedback_was_not_sought(reg):
    audit = form(reg, "case_file_audit")
    s3 = section(audit, "section_3")
    seed_s3 = between("SECTION 3-", "Section 4-")
    assert norm(s3.guidance) in seed_s3
    asked = [q for q in s3.questions if q.show_if and q.show_if.equals == ("yes",)]
    assert len(asked) == 5 == len(re.findall(r"(?:^|\s)(\d)\. [A-Z]", seed_s3))
    for number, q in enumerate(asked, start=1):
        assert q.label.startswith(f"{number}. ") and norm(q.label) in seed_s3
        for prompt in q.prompts:
            assert norm(prompt) in seed_s3
    assert asked[0].label == "1. Can you please tell me about your experience of working with children's services/ your social worker?"
    assert asked[4].label == "5. Was support put in place for you and how did it make a difference for you and your family?"
    not_sought = [q.key for q in s3.questions if q.show_if and q.show_if.equals == ("no",)]
    assert not_sought == ["reasons_not_sought", "another_manager"]
    assert all(q.show_if.question == "section_3.feedback_sought" for q in s3.questions if q.show_if)

    # Through core's form rules: the questions are required only on their branch.
    fields = fields_of(reg, "bedford", audit)
    scheme = reg.scheme("qaf:auditor_judgement")
    sought = problems_for_submit(fields, {"answer.section_3.feedback_sought": "yes"}, scheme)
    assert "answer.section_3.q1_experience" in sought and "answer.section_3.reasons_not_sought" not in sought
    refused = problems_for_submit(fields, {"answer.section_3.feedback_sought": "no"}, scheme)
    assert "answer.section_3.reasons_not_sought" in refused and "answer.section_3.q1_experience" not in refused


@pytest.mark.req("BED-1")
def test_sections_4_5_and_6_comments_recommendations_summary_overall_grade(reg):
    audit = form(reg, "case_file_audit")
    s4 = section(audit, "section_4")
    assert in_seed(s4.title) and in_seed(s4.guidance)
    assert s4.guidance == "To be completed following a discussion between the Social Worker and the auditor:"
    table = question(audit, "section_5.recommendations")
    assert table.type == "table"
    columns = [c.label for c in table.columns]
    assert " ".join(columns) == between("To be completed by the auditor", "SECTION 5 - Summary")
    assert columns == ["Recommendations", "Date for completion/review", "Who is responsible for action"]
    assert [c.type for c in table.columns] == ["long_text", "date", "text"]
    summary = question(audit, "section_5_summary.summary")
    assert summary.label == between("SECTION 5 - Summary", "SECTION 6")
    # Section 6: the overall grade with its rationale ("Rationale for Grade:").
    assert audit.grading.rationale_required and in_seed("Rationale for Grade:")
    fields = fields_of(reg, "bedford", audit).by_name()
    assert fields["grade.initial.overall"].required and fields["evidence.initial.overall"].required


@pytest.mark.req("BED-1")
def test_the_four_point_scale_has_bedfords_own_descriptors(reg):
    scale = reg.scale("bedford:four_point")
    tick_box = between("Overall Grade Tick Box", "Rationale for Grade:")
    seed_levels = re.findall(r"(Outstanding|Good|Requires Improvement|Inadequate): (.*?)(?= Good:| Requires Improvement:| Inadequate:|$)", tick_box)
    assert [(level.label, level.descriptor) for level in scale.levels] == seed_levels
    assert [level.key for level in scale.levels] == ["outstanding", "good", "requires_improvement", "inadequate"]
    assert scale.levels[0].descriptor == "Extraordinary work is consistently of the highest standard."


# --- BED-2 / BED-3 -------------------------------------------------------------


@pytest.mark.req("BED-2")
def test_an_inadequate_case_makes_the_auditor_inform_manager_and_social_worker(reg):
    r = rule(reg, "inadequate_case")
    assert r.event == "grade_final" and r.grades == ("inadequate",)
    assert set(r.notify) == {"team_manager", "practitioner"}
    assert "immediate" in r.action.lower()
    sentence = "Where a case is found to INADEQUATE, the auditor must inform the Manager and Social Worker for immediate actions to take place to rectify any issues that are apparent."
    assert in_seed(sentence) and sentence in r.source
    assert sentence in section(form(reg, "case_file_audit"), "section_2").guidance
    assert "inadequate" in [level.key for level in reg.scale("bedford:four_point").levels]


@pytest.mark.req("BED-3")
def test_remedial_actions_reach_worker_manager_and_chair_within_48_hours(reg):
    r = rule(reg, "remedial_actions")
    hours = int(re.search(r"Remedial Actions are notified to the Worker and Manager within (\d+) hours", SEED).group(1))
    assert r.within_hours == hours == 48
    assert r.within_working_days is None
    # "and copied to IRO/CP Chair as required": the case's own chair.
    assert set(r.notify) == {"practitioner", "team_manager", "case_chair"}
    for fragment in quotes(r.source):
        assert in_seed(fragment)
    # The workflow tells the same people the moment the audit is completed.
    done = wf.state(workflow(reg, "case_file_audit"), "qa_review")
    assert {"practitioner", "team_manager", "case_chair", "sqa_officer"} <= set(done.notify)


# --- BED-4 -------------------------------------------------------------------------


@pytest.mark.req("BED-4")
@pytest.mark.req("CORE-7")
def test_a_team_manager_with_six_supervisees(programme):
    audits = items(programme, TM, "tm_case_file_audit")
    assert [i.due for i in audits] == MONTH_ENDS and all(i.count == 1 for i in audits)
    thematic = items(programme, TM, "tm_thematic_audit")
    assert len(thematic) == 4 and all(i.optional for i in thematic)
    assert "up to 4 a year" in thematic[0].note
    compliance = items(programme, TM, "tm_compliance_audit")
    assert sum(i.count for i in compliance) == 6 * 12 * 2 == 144
    assert {i.count for i in compliance} == {2} and not any(i.optional for i in compliance)
    per_supervisee = Counter(i.supervisee for i in compliance)
    assert per_supervisee == {m.name: 12 for m in TEAM}
    assert sorted({i.due for i in compliance}) == MONTH_ENDS
    # The AP's own supervisees are the AP's to compliance-audit, not the TM's.
    assert not {m.name for m in AP_TEAM} & set(per_supervisee)


@pytest.mark.req("BED-4")
def test_an_advanced_practitioner_has_the_same_duties(programme):
    assert len(items(programme, AP, "ap_case_file_audit")) == 12
    thematic = items(programme, AP, "ap_thematic_audit")
    assert len(thematic) == 4 and all(i.optional for i in thematic)
    compliance = items(programme, AP, "ap_compliance_audit")
    assert Counter(i.supervisee for i in compliance) == {m.name: 12 for m in AP_TEAM}
    assert sum(i.count for i in compliance) == 2 * 12 * 2


@pytest.mark.req("BED-4")
def test_the_schedules_say_what_the_seed_says(reg):
    for role in ("tm", "ap"):
        audit = schedule(reg, f"{role}_case_file_audit")
        assert audit.frequency.every == "month" and audit.form == "case_file_audit"
        thematic = schedule(reg, f"{role}_thematic_audit").frequency
        assert (thematic.every, thematic.at_most) == ("year", 4)
        compliance = schedule(reg, f"{role}_compliance_audit")
        assert (compliance.frequency.every, compliance.frequency.per, compliance.frequency.count) == ("month", "supervisee", 2)
        assert compliance.form == "compliance_audit"
    for who in ("Team Managers", "Advanced Practitioners"):
        assert in_seed(f"{who} may undertake up to four additional thematic audits each year")
        assert in_seed(f"{who} will ensure at least 2 compliance audits for each member of staff they supervise are completed prior to supervision.")
    # The reading that makes supervision monthly, quoting App. B.
    reading = schedule(reg, "tm_compliance_audit").reading
    assert "Is there evidence of monthly personal supervision over the past 6 months?" in reading
    assert in_seed("Is there evidence of monthly personal supervision over the past 6 months?")


@pytest.mark.req("BED-4")
def test_the_compliance_audit_checks_and_management_direction(reg):
    compliance = form(reg, "compliance_audit")
    checks = section(compliance, "checks")
    listed = between("Compliance audits should cover the following:", "4. Supervision Audit")
    assert " ".join(q.label for q in checks.questions) == listed
    assert [q.label for q in checks.questions] == [
        "Religion", "Ethnicity", "Up to date Chronology", "Assessment in time", "Up to date Plan", "Visit in time", "Supervision in time",
    ]  # fmt: skip
    assert all(q.type == "yes_no_comment" and q.required for q in checks.questions)
    note = question(compliance, "remedial_actions.management_direction_note")
    assert note.show_if.question == "remedial_actions.required" and note.show_if.equals == ("yes",)
    assert note.label.startswith("Management direction case note") and "detailing the required actions and timescales" in note.label
    assert in_seed("the manager will add a management direction case note detailing the required actions and timescales and will then review completion of these actions within supervision.")
    flow = workflow(reg, "compliance_audit")
    assert [t.to for t in flow.transitions if t.key in ("submit", "reviewed")] == ["review_in_supervision", "closed"]
    assert wf.state(flow, "closed").final


# --- BED-5 -------------------------------------------------------------------------


@pytest.mark.req("BED-5")
def test_senior_managers_quality_assure_audits_and_can_commission_an_independent_audit(reg):
    flow = workflow(reg, "case_file_audit")
    for senior in ("head_of_service", "chief_officer", "director"):
        keys = {t.key for t in wf.available(flow, "qa_review", {senior})}
        assert keys == {"accept", "return", "commission_independent_audit"}, senior
    # The auditor (a TM or AP) cannot quality-assure their own audit.
    assert wf.available(flow, "qa_review", {"auditor", "team_manager"}) == []
    with pytest.raises(wf.TransitionRefused):
        wf.check(flow, "qa_review", "accept", {"auditor"})
    assert wf.check(flow, "qa_review", "return", {"head_of_service"}).reason_required
    # Feedback goes back to the TM/AP who audited; the S&QA manager hears of a commission.
    assert wf.state(flow, "final").notify == ("auditor",)
    commissioned = wf.state(flow, "independent_audit_commissioned")
    assert commissioned.final and "sqa_manager" in commissioned.notify
    assert in_seed("All Senior Managers will review the audits completed within the service and Quality Assure the audits, sharing feedback with the relevant Team Manager/ Advanced Practitioner.")
    assert in_seed("where required the Manager will commission the Safeguarding and Quality Assurance team to undertake an independent audit")
    independent = schedule(reg, "sqa_independent_audit")
    assert independent.role == "sqa_officer" and independent.form == "case_file_audit"
    for role in ("hos", "chief_officer", "director"):
        qa = schedule(reg, f"{role}_audit_quality_assurance")
        assert qa.frequency.every == "as_required"
        for fragment in quotes(qa.source):
            assert in_seed(fragment)


# --- BED-6 -------------------------------------------------------------------------


@pytest.mark.req("BED-6")
def test_the_sqa_team_reports_monthly_dip_samples_and_leads_themed_audit_days(reg, programme):
    sqa_manager = next(m for m in STAFF if m.role == "sqa_manager")
    report = items(programme, sqa_manager, "sqa_monthly_overview_report")
    assert [i.due for i in report] == MONTH_ENDS
    assert in_seed("Complete monthly overview reports on all quality assurance activity, reporting to DMT.")
    dip = form(reg, "audit_dip_sample")
    assert [q.label for q in section(dip, "findings").questions] == [
        "Is the quality of audits of a high standard?", "Are remedial actions being followed through?",
    ]  # fmt: skip
    assert in_seed("Dip sample audits to ensure that the quality of audits is of a high standard and remedial actions are being followed through.")
    assert schedule(reg, "sqa_dip_sample").form == "audit_dip_sample"
    day = schedule(reg, "sqa_themed_audit_day")
    assert "targeted action plan" in day.activity
    assert in_seed("The S&QA team will ensure that the outcome of each themed audit day leads to a targeted action plan")
    # DMT (and SLT where relevant) at least quarterly, in the April-March year.
    for group, key in (("dmt", "dmt_case_file_audit_findings"), ("slt", "slt_case_file_audit_findings")):
        member = next(m for m in STAFF if m.role == group)
        assert [i.due for i in items(programme, member, key)] == QUARTER_ENDS
    assert in_seed("DMT and where relevant, SLT will all consider the findings of case file audits at least quarterly")


# --- BED-7 -------------------------------------------------------------------------


@pytest.mark.req("BED-7")
def test_the_supervision_audit_has_a_case_and_a_professional_variant(reg):
    case = form(reg, "case_supervision_audit")
    professional = form(reg, "professional_supervision_audit")
    seed_case = between("CASE FILE SUPERVISION Is the decision-making", "The following section should be filled in for audits of professional")
    case_qs = section(case, "case_file_supervision").questions
    assert len(case_qs) == 9 and len(re.findall(r"\?", seed_case)) >= 9
    assert case_qs[0].label == "Is the decision-making in this case safe and defensible?"
    assert case_qs[-1].label == "Is the child safe? (if not immediately raise with HOS)"
    professional_qs = section(professional, "professional_supervision").questions
    assert [q.label for q in professional_qs] == [
        "Is there evidence of monthly personal supervision over the past 6 months?",
        "If performance issues are raised from case supervision, is there evidence that this is linked to learning and development discussions held in professional supervision?",
        "Are performance issues addressed and clearly defined with expectations given around improvement?",
        "Is good performance highlighted and encouraged?",
    ]
    # Word for word, in the seed's order.
    for questions in (case_qs, professional_qs):
        positions = [SEED.index(norm(q.label)) for q in questions]
        assert positions == sorted(positions)
        assert all(q.type == "yes_no_comment" for q in questions)
    for f in (case, professional):
        assert f.scope_months == 6
        assert all(in_seed(q.label) for q in section(f, "details").questions)
    assert in_seed("The audit should review case supervision/ management oversight over the past 6 months.")
    assert in_seed("The audit should review personal supervision over the past 6 months.")
    # Actions are recorded in the audited supervisor's supervision record; a copy goes to S&QA.
    outcome = section(case, "outcome")
    assert "record these within the supervision record of the supervisor who was audited" in outcome.guidance
    assert in_seed(outcome.guidance)
    assert "sqa_officer" in wf.state(workflow(reg, "supervision_audit"), "final").notify


@pytest.mark.req("BED-7")
def test_heads_of_service_and_team_managers_audit_supervision_monthly(reg, programme):
    hos = next(m for m in STAFF if m.role == "head_of_service")
    for key, form_key in (("hos_professional_supervision_audit", "professional_supervision_audit"),
                          ("hos_case_supervision_audit", "case_supervision_audit"),
                          ("tm_professional_supervision_audit", "professional_supervision_audit"),
                          ("tm_case_supervision_audit", "case_supervision_audit")):  # fmt: skip
        assert schedule(reg, key).form == form_key
        person = hos if key.startswith("hos") else TM
        assert [i.due for i in items(programme, person, key)] == MONTH_ENDS
    assert in_seed("will undertake one audit of a Team Manager's professional supervision records each month and one audit of a Team Manager's case specific supervision each month")
    assert in_seed("Team Managers will undertake one audit of their Advanced Practitioner's professional supervision records each month")
    # "their Advanced Practitioner's": a Team Manager with none to audit has no
    # supervision audit in their programme (nor a Head of Service with no Team Manager).
    lone_tm = StaffMember(40, "Lone Manager", "team_manager", line_manager=2)
    lone_hos = StaffMember(41, "Lone Head", "head_of_service")
    others = expand(reg, "bedford", YEAR, [*STAFF, lone_tm, StaffMember(42, "Worker", "social_worker", line_manager=40), lone_hos])
    held = {(i.person, i.schedule) for i in others}
    assert ("Lone Manager", "tm_case_supervision_audit") not in held
    assert ("Lone Manager", "tm_compliance_audit") in held  # the worker's compliance audits still stand
    assert ("Lone Head", "hos_professional_supervision_audit") not in held
    assert ("Tara Manager", "tm_case_supervision_audit") in held and ("Hal Head", "hos_case_supervision_audit") in held
    assert [i.due for i in items(programme, hos, "hos_supervision_audit_summary")] == QUARTER_ENDS
    assert in_seed("Manager (Head of Service) will prepare a quarterly summary of issues and learning from supervision audits;")
    dmt = next(m for m in STAFF if m.role == "dmt")
    assert [i.due for i in items(programme, dmt, "dmt_supervision_audit_findings")] == QUARTER_ENDS


# --- BED-8 -------------------------------------------------------------------------


@pytest.mark.req("BED-8")
def test_the_practice_observation_form(reg):
    observation = form(reg, "practice_observation")
    areas = [s.title for s in observation.sections if s.domain]
    assert len(areas) == 6
    assert " ".join(areas) == between("Area of practice", "Skills not seen at all")
    assert observation.grading.scale == "observation_skills"
    scale = reg.scale("bedford:observation_skills")
    # Printed worst first in App. C; a qaf scale is best first.
    printed = between("Quality of decision making", "Any other comments:")
    assert " ".join(level.label for level in reversed(scale.levels)) == printed
    assert [level.label for level in scale.levels] == [
        "Skills demonstrated were outstanding", "A good level of skill seen",
        "Few skills seen, but could improve", "Skills not seen at all",
    ]  # fmt: skip
    details = section(observation, "details")
    went_well = question(observation, "details.went_well")
    development = question(observation, "details.needs_development")
    assert went_well.label == "Which aspects of the worker's presentation/involvement/contributions went well?"
    assert development.label == "Which aspects of the worker's presentation/involvement/contributions need further development?"
    for q in details.questions:
        if q.key not in ("pdr_priorities", "needs_support"):
            assert in_seed(q.label), q.label
    comments = section(observation, "comments")
    assert [q.label for q in comments.questions] == ["Any other comments", "Manager's/ Worker's comments", "Feedback from children/young people/ families and professionals"]
    assert all(in_seed(q.label) for q in comments.questions)
    # Shared with the worker, then with the line manager and S&QA.
    flow = workflow(reg, "practice_observation")
    assert wf.state(flow, "reflective_review").notify == ("practitioner",)
    assert {"head_of_service", "sqa_officer"} <= set(wf.state(flow, "final").notify)
    assert in_seed("All TMs/APs will share completed Observations with their line manager and the S&QA team;")


@pytest.mark.req("BED-8")
def test_every_worker_is_observed_yearly_and_workers_needing_support_every_six_months(reg, programme):
    observed = items(programme, TM, "tm_practice_observation")
    assert Counter(i.supervisee for i in observed) == {m.name: 1 for m in TEAM}
    assert {i.due for i in observed} == {MONTH_ENDS[-1]}
    by_ap = items(programme, AP, "ap_practice_observation")
    assert Counter(i.supervisee for i in by_ap) == {m.name: 1 for m in AP_TEAM}
    support = items(programme, TM, "tm_support_observation")
    assert [i.due for i in support] == [MONTH_ENDS[5], MONTH_ENDS[11]]
    assert schedule(reg, "tm_support_observation").frequency.interval == 6
    assert in_seed("These workers will be observed at least every 6 months, and more frequently where required;")
    assert in_seed("will observe the practice of workers at least once every year;")


# --- BED-9 -------------------------------------------------------------------------


@pytest.mark.req("BED-9")
def test_meeting_observation_has_the_seven_meeting_types_and_fourteen_areas(reg):
    meeting = form(reg, "meeting_observation")
    types = [t.strip() for t in re.split(r";|\. ", between("The following meetings will be observed:", "Each meeting will be assessed"))]
    types = [t for t in types if t]
    assert len(types) == 7
    assert [o.label for o in question(meeting, "details.meeting").options] == types
    areas = [a.strip().rstrip(".") for a in between("Each meeting will be assessed in the following areas:", "Forms and Guidance").split(";")]
    assert len(areas) == 14
    # Thirteen graded domains; the fourteenth, "Overall effectiveness", is the overall grade.
    domains = [s.title for s in meeting.sections if s.domain]
    assert domains == areas[:13]
    assert section(meeting, "area_14").title == areas[13] == "Overall effectiveness"
    assert not section(meeting, "area_14").domain
    assert meeting.grading.scale == "observation_skills"
    assert in_seed("Observation of Meetings") and in_seed("Forms and Guidance Please see Appendix C: Practice Observation (Children's Services). 7. Themed Audit Days")


@pytest.mark.req("BED-9")
def test_who_observes_meetings_and_the_shared_record_with_the_chair(reg, programme):
    hos = next(m for m in STAFF if m.role == "head_of_service")
    chief = next(m for m in STAFF if m.role == "chief_officer")
    director = next(m for m in STAFF if m.role == "director")
    assert len(items(programme, hos, "hos_meeting_observation")) == 2
    assert len(items(programme, chief, "chief_officer_meeting_observation")) == 1
    assert len(items(programme, director, "director_meeting_observation")) == 1
    assert in_seed("Managers will observe a key meeting within their service at least twice per year;")
    assert in_seed("Senior Leaders will observe key meetings once per year;")
    chair = section(form(reg, "meeting_observation"), "chair_discussion")
    assert in_seed(chair.guidance) and "A shared record of learning and actions will be agreed and recorded" in chair.guidance
    assert {q.key for q in chair.questions} >= {"discussed_on", "learning", "actions"}
    flow = workflow(reg, "meeting_observation")
    assert [t.to for t in flow.transitions if t.key in ("submit", "complete")] == ["chair_discussion", "final"]
    assert wf.state(flow, "final").notify == ("sqa_officer",)


# --- BED-10 ------------------------------------------------------------------------


@pytest.mark.req("BED-10")
def test_a_random_sample_of_roughly_ten_percent_c140_a_year(reg, programme):
    sample = schedule(reg, "sqa_random_sample")
    seed_count = int(re.search(r"random 10% sample of cases each year \(c\.(\d+)\)", SEED).group(1))
    assert sample.frequency.count == seed_count == 140
    assert sample.frequency.every == "year"
    assert "roughly 10%" in sample.activity and in_seed("A random sample of roughly 10% of cases per year")
    assert "c.140" in sample.reading
    sqa_manager = next(m for m in STAFF if m.role == "sqa_manager")
    drawn = items(programme, sqa_manager, "sqa_random_sample")
    assert [(i.due, i.count) for i in drawn] == [(MONTH_ENDS[-1], 140)]


# --- BED-11 ------------------------------------------------------------------------


@pytest.mark.req("BED-11")
def test_the_conference_and_review_team_manager_each_month(reg, programme):
    crs = next(m for m in STAFF if m.role == "crs_team_manager")
    monthly = {
        "crs_observe_cp_conference": "crs_observation",
        "crs_observe_lac_review": "crs_observation",
        "crs_audit_cp_minutes": "crs_minutes_audit",
        "crs_audit_lac_minutes": "crs_minutes_audit",
        "crs_audit_cp_plan": "crs_plan_audit",
        "crs_audit_lac_plan": "crs_plan_audit",
    }
    for key, form_key in monthly.items():
        assert schedule(reg, key).form == form_key
        assert [(i.due, i.count) for i in items(programme, crs, key)] == [(d, 1) for d in MONTH_ENDS]
    assert in_seed("Observation of at least 1 child protection conference and 1 looked after child review per month")
    assert in_seed("Auditing of at least one set of minutes from a child protection conference and looked after child review per month")
    assert in_seed("Auditing of at least one child protection plan and looked after child plan per month, ensuring the plans are robust, SMART and child centred.")
    plan = section(form(reg, "crs_plan_audit"), "plan_quality")
    assert [q.key for q in plan.questions] == ["robust", "smart", "child_centred"]
    minutes = section(form(reg, "crs_minutes_audit"), "minutes")
    assert [q.label for q in minutes.questions] == ["Quality of minutes", "Evidence of multi-agency input and decision making", "Child centred planning"]
    assert in_seed("ensuring the quality of minutes, evidence of multi-agency input and decision making and child centred planning.")


@pytest.mark.req("BED-11")
def test_chairs_monitoring_forms_midway_reviews_and_escalations(reg):
    for role in ("iro", "cp_chair"):
        assert schedule(reg, f"{role}_monitoring_form").form == "crs_monitoring"
        assert schedule(reg, f"{role}_midway_review").form == "crs_midway_review"
        assert schedule(reg, f"{role}_monitoring_form").frequency.every == "as_required"
    monitoring = form(reg, "crs_monitoring")
    assert in_seed(monitoring.guidance)
    assert [q.label for q in section(monitoring, "monitoring").questions][:4] == [
        "Preparation for conference/ review", "Quality of assessment", "Quality of plan", "Any concerns",
    ]  # fmt: skip
    assert in_seed("These forms highlight the preparation for conference/ review, quality of assessment and plan and any concerns.")
    assert in_seed(form(reg, "crs_midway_review").guidance)
    # The escalation: to the relevant Team Manager, or the service's Manager when serious.
    to_tm, serious = rule(reg, "chair_escalation"), rule(reg, "chair_escalation_serious")
    assert (to_tm.event, to_tm.notify) == ("child_safety_concern", ("team_manager",))
    assert (serious.event, serious.notify) == ("child_safety_concern", ("head_of_service",))
    for r in (to_tm, serious):
        assert all(in_seed(fragment) for fragment in quotes(r.source))
    flow = workflow(reg, "crs_monitoring")
    assert wf.state(flow, wf.transition(flow, "escalate").to).notify == ("team_manager",)
    assert wf.state(flow, wf.transition(flow, "escalate_to_service_manager").to).notify == ("head_of_service",)
    # The Team Manager may pass an escalation up when it needs a management decision.
    assert {t.key for t in wf.available(flow, "escalated", {"team_manager"})} == {"escalate_to_service_manager", "resolve"}
    assert reg.role("bedford:head_of_service").label == "Manager (Head of Service)"


# --- fidelity and coexistence ----------------------------------------------------------


@pytest.mark.req("BED-4")
@pytest.mark.req("BED-6")
@pytest.mark.req("BED-7")
@pytest.mark.req("BED-8")
@pytest.mark.req("BED-9")
@pytest.mark.req("BED-10")
@pytest.mark.req("BED-11")
def test_every_quoted_source_is_in_the_seed(reg):
    checked = 0
    definitions = [s.value for k, s in reg.schedules.items() if k.startswith("bedford:")]
    definitions += [s.value for k, s in reg.escalations.items() if k.startswith("bedford:")]
    assert len(definitions) >= 55
    for definition in definitions:
        fragments = quotes(definition.source)
        assert fragments, f"{definition.key}: source quotes nothing"
        for fragment in fragments:
            assert in_seed(fragment), f"{definition.key}: {fragment!r} is not in the seed"
            checked += 1
    assert checked >= len(definitions)


@pytest.mark.req("CORE-1")
@pytest.mark.req("BED-1")
def test_bedford_and_haringey_load_together_without_collisions(tmp_path):
    both = load_plugins(
        Settings(data_dir=tmp_path, database_url="sqlite:///unused", councils=("haringey", "bedford"), secret_key="k" * 40)
    )
    registry = both.registry
    assert set(registry.councils) == {"haringey", "bedford"}
    # Same local key, two councils, two different scales.
    bedford_scale, haringey_scale = registry.scale("bedford:four_point"), registry.scale("haringey:four_point")
    assert bedford_scale.levels[1].descriptor == "Practice is good in all areas of the audit."
    assert haringey_scale.levels[1].descriptor != bedford_scale.levels[1].descriptor
    supplied = registry.supplied_by()
    assert "form bedford:case_file_audit v1" in supplied["bedford"]
    assert not any(item.startswith(("form haringey", "role haringey")) for item in supplied["bedford"])
    # Bedford's programme is unchanged by Haringey being there.
    assert len(expand(registry, "bedford", YEAR, STAFF)) == len(expand(load_plugins(
        Settings(data_dir=tmp_path, database_url="sqlite:///unused", councils=("bedford",), secret_key="k" * 40)
    ).registry, "bedford", YEAR, STAFF))
