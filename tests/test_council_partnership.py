"""The Coventry Safeguarding Children Partnership framework (CSCP-1 ... CSCP-10)
as the ``partnership`` council plugin, loaded through the real plugin loader
and registry, and checked against the seed it encodes
(``../shared/seeds/004_44cd6c3af1253d89.txt``): expected values are read
from the seed text wherever the seed states them."""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from pathlib import Path

import pytest

from core import workflow as wf
from core.definitions.model import AuditForm, Workflow
from core.forms import fields_of, problems_for_submit
from core.grading import compare
from core.plugins import load_plugins
from core.programme import StaffMember, expand
from core.settings import Settings

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "004_44cd6c3af1253d89.txt"
NS = "partnership"
YEAR = 2023  # the partnership year April 2023 - March 2024


# --- fixtures ----------------------------------------------------------------


def _load(tmp_path_factory, councils):
    return load_plugins(
        Settings(
            data_dir=tmp_path_factory.mktemp("partnership"),
            database_url="sqlite:///unused",
            councils=councils,
            secret_key="k" * 40,
        )
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return _load(tmp_path_factory, ("partnership",))


@pytest.fixture(scope="module")
def reg(loaded):
    return loaded.registry


@pytest.fixture(scope="module")
def council(reg):
    return reg.council(NS)


@pytest.fixture(scope="module")
def seed_lines() -> list[str]:
    if not SEED.exists():
        pytest.skip(f"the CSCP seed is not at {SEED}")
    return SEED.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def seed(seed_lines) -> str:
    """The seed as one string with whitespace collapsed, for phrase checks."""
    return _squash("\n".join(seed_lines))


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def form(reg, key: str) -> AuditForm:
    return reg.form(f"{NS}:{key}")


def workflow(reg, key: str) -> Workflow:
    return reg.workflow(f"{NS}:{key}")


def schedule(reg, key: str):
    return reg.schedules[f"{NS}:{key}"].value


def schedules(reg):
    return [s.value for k, s in reg.schedules.items() if k.startswith(f"{NS}:")]


def section(f: AuditForm, key: str):
    return next(s for s in f.sections if s.key == key)


def question(f: AuditForm, section_key: str, key: str):
    return next(q for q in section(f, section_key).questions if q.key == key)


def programme(reg, year: int, *staff: StaffMember):
    return expand(reg, NS, year, list(staff))


def reachable(w: Workflow, start: str, without: set[str] = frozenset()) -> set[str]:
    graph: dict[str, set[str]] = {s.key: set() for s in w.states}
    for t in w.transitions:
        for source in t.from_:
            graph[source].add(t.to)
    seen, queue = {start}, deque([start])
    while queue:
        for nxt in graph[queue.popleft()]:
            if nxt not in seen and nxt not in without:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def by(w: Workflow, key: str) -> tuple[str, ...]:
    return wf.transition(w, key).by


def lens_of(schedule) -> str:
    """The schedule's lens; activities that run the framework have none."""
    return schedule.lens or "governance"


# --- seed readers ----------------------------------------------------------------


def seed_kloes(lines: list[str]) -> list[tuple[str, list[str]]]:
    """(title, prompts) of each key line of enquiry in Appendix 2."""
    out = []
    for i, line in enumerate(lines):
        match = re.match(r"^(.+)\tWhat worked well\?\tAreas for development$", line)
        if match:
            prompts = [p.strip() for p in re.findall(r"<i>(.*?)</i>", lines[i + 1])]
            out.append((match.group(1), prompts))
    return out


def seed_row(lines: list[str], first: str) -> list[str]:
    """The tab-separated cells of the seed's line that starts with ``first``."""
    line = next(line for line in lines if line.startswith(first))
    return [cell.strip() for cell in line.split("\t") if cell.strip()]


def seed_header_fields(lines: list[str]) -> list[str]:
    start = lines.index("Multi-Agency Audit Tool") + 1
    end = next(i for i, line in enumerate(lines) if line.startswith("Family Composition"))
    fields = []
    for line in lines[start:end]:
        fields.extend(cell.strip().rstrip(":").strip() for cell in line.split("\t") if cell.strip())
    return fields


def seed_lenses(lines: list[str]) -> list[tuple[str, str]]:
    """(heading, first sentence) of each lens in section 4.0."""
    out = []
    for i, line in enumerate(lines):
        if re.fullmatch(r"\w+ Lens", line):
            paragraph = next(p for p in lines[i + 1 :] if p.strip())
            out.append((line, paragraph.split(". ")[0].rstrip(".")))
    return out


def quoted(text: str) -> list[str]:
    """The phrases a ``source`` quotes: text in double quotes, split at '...'."""
    pieces = []
    for quote in re.findall(r'"([^"]+)"', text):
        pieces.extend(p.strip(" .,;:") for p in quote.split("...") if p.strip(" .,;:"))
    return pieces


# --- CSCP-1: partner agencies ---------------------------------------------------------


@pytest.mark.req("CSCP-1")
def test_partner_agencies_are_the_ones_the_seed_names(council, seed):
    keys = [a.key for a in council.agencies]
    for expected in ("local_authority", "police", "health", "probation", "schools", "colleges", "voluntary_sector"):
        assert expected in keys
    assert len(keys) == len(set(keys))
    # Each agency's evidence is a quotation that really is in the framework.
    for agency in council.agencies:
        phrases = quoted(agency.source)
        assert phrases, f"agency {agency.key} quotes nothing from the seed"
        for phrase in phrases:
            assert _squash(phrase) in seed, f"agency {agency.key}: {phrase!r} is not in the seed"
    # The inspectorates the seed names are how it names police, health and probation.
    for inspectorate in ("Her Majesty's Inspectorate of Constabulary", "Care Quality Commission", "HMI Probation"):
        assert inspectorate in seed
    sources = {a.key: a.source for a in council.agencies}
    assert "Constabulary" in sources["police"]
    assert "Care Quality Commission" in sources["health"] and "NHS number" in sources["health"]
    assert "Probation" in sources["probation"]


@pytest.mark.req("CSCP-1")
def test_every_return_says_which_agency_it_comes_from(reg, council):
    agencies = [(a.key, a.label) for a in council.agencies]
    asked = {
        "multi_agency_audit": question(form(reg, "multi_agency_audit"), "details", "agency_completing_audit"),
        "section_11": question(form(reg, "section_11"), "agency", "agency"),
        "scorecard_return": question(form(reg, "scorecard_return"), "return_details", "agency"),
    }
    for name, q in asked.items():
        assert q.type == "choice" and q.required, name
        assert [(o.value, o.label) for o in q.options] == agencies, name
    plan = question(form(reg, "audit_report"), "recommendations", "action_plan")
    agency_column = next(c for c in plan.columns if c.key == "agency")
    assert [(o.value, o.label) for o in agency_column.options] == agencies


@pytest.mark.req("CSCP-1")
def test_agencies_submit_their_own_returns_and_the_partnership_sees_all(reg):
    roles = {r.key: r for r in reg.roles_of(NS)}
    for agency_role in ("multi_agency_auditor", "agency_lead", "school_dsl"):
        assert "audit" in roles[agency_role].capabilities
        assert "view_all_audits" not in roles[agency_role].capabilities
    for partnership_role in ("qa_manager", "audit_chair"):
        assert "view_all_audits" in roles[partnership_role].capabilities


# --- CSCP-2: the quarterly Performance Scorecard ---------------------------------------


@pytest.mark.req("CSCP-2")
def test_one_indicator_group_per_partnership_priority(council, seed):
    words = {"two": 2, "three": 3, "four": 4, "five": 5}
    priorities = words[re.search(r"The Partnership has (\w+) main priorities", seed).group(1)]
    assert [i.key for i in council.indicators] == [f"priority_{n}" for n in range(1, priorities + 1)]
    assert "The Performance Scorecard key indicators should align with the CSCP priorities" in seed


@pytest.mark.req("CSCP-2")
def test_scorecard_return_has_figures_and_narrative_per_indicator(reg, council, seed):
    f = form(reg, "scorecard_return")
    assert f.workflow == "agency_response"
    assert f.grading is None  # a data return is not graded
    by_priority = [s for s in f.sections if s.key.startswith("priority_")]
    assert [s.key for s in by_priority] == [i.key for i in council.indicators]
    for s in by_priority:
        (table,) = s.questions
        assert table.type == "table"
        columns = {c.key: c.type for c in table.columns}
        assert columns == {"indicator": "text", "figure": "number", "commentary": "long_text"}
    assert "narrative/commentary" in seed
    assert any("narrative/commentary" in c.label.lower() for c in by_priority[0].questions[0].columns)
    quarter = question(f, "return_details", "quarter")
    assert [o.value for o in quarter.options] == ["q1", "q2", "q3", "q4"]


@pytest.mark.req("CSCP-2")
def test_each_partner_returns_scorecard_data_every_quarter(reg, seed):
    assert "populated by the Quality Assurance Manager on a quarterly basis" in seed
    lead = StaffMember(1, "Agency lead", "agency_lead")
    qa = StaffMember(2, "QA manager", "qa_manager")
    items = programme(reg, YEAR, lead, qa)
    returns = [i for i in items if i.schedule == "scorecard_return"]
    assert [i.person for i in returns] == ["Agency lead"] * 4
    # Quarters of an April-March year end in June, September, December, March.
    assert [(i.due.year, i.due.month) for i in returns] == [(2023, 6), (2023, 9), (2023, 12), (2024, 3)]
    assert all(not i.optional for i in returns)
    compiled = [i for i in items if i.schedule == "scorecard"]
    assert [i.due for i in compiled] == [i.due for i in returns]
    assert {i.person for i in compiled} == {"QA manager"}


@pytest.mark.req("CSCP-2")
def test_scorecard_goes_to_the_subgroup_before_the_board(reg, seed):
    w = workflow(reg, "scorecard")
    assert "taken to the A&P subgroup for consideration and refinement before being presented" in seed
    final = next(s for s in w.states if s.final)
    assert final.notify == ("partnership_board",)
    assert final.key not in reachable(w, w.initial, without={"subgroup_consideration"})
    assert by(w, "present") == ("qa_manager",)


@pytest.mark.req("CSCP-2")
def test_indicator_change_needs_a_recorded_quorate_approval(reg, seed):
    assert "approved by a quorate A&P subgroup and formally recorded in the meeting minutes" in seed
    w = workflow(reg, "indicator_change")
    approve = wf.transition(w, "approve")
    assert approve.to == "approved" and approve.reason_required
    assert approve.by == ("audit_chair",)
    assert "quorate" in approve.label
    # Only the approve transition reaches the approved state, and only from a
    # subgroup meeting.
    into_approved = [t for t in w.transitions if t.to == "approved"]
    assert into_approved == [approve] and approve.from_ == ("tabled",)
    # A proposer cannot approve their own change.
    assert not wf.may_take(approve, {"qa_manager", "ap_member", "agency_lead"})


# --- CSCP-3: thematic audits -----------------------------------------------------------


@pytest.mark.req("CSCP-3")
def test_at_most_four_thematic_audits_a_year_one_a_quarter(reg, seed):
    maximum = int(re.search(r"a maximum of (\d+) multi-agency thematic audits each year \(one per quarter\)", seed).group(1))
    for key in ("thematic_audit", "thematic_audit_agency_return"):
        s = schedule(reg, key)
        assert s.frequency.every == "quarter"
        assert s.frequency.at_most == maximum
    items = [
        i
        for i in programme(reg, YEAR, StaffMember(1, "QA manager", "qa_manager"), StaffMember(2, "Police auditor", "multi_agency_auditor"))
        if i.schedule in ("thematic_audit", "thematic_audit_agency_return")
    ]
    for person in ("QA manager", "Police auditor"):
        mine = [i for i in items if i.person == person]
        assert len(mine) == maximum
        assert all(i.optional for i in mine), "a maximum is a ceiling, not a target"
        assert all(f"up to {maximum} a year" in i.note for i in mine)
        assert len({(i.due.year, (i.due.month - 4) % 12 // 3) for i in mine}) == maximum, "one per quarter"
    auditor_items = [i for i in items if i.person == "Police auditor"]
    assert schedule(reg, "thematic_audit_agency_return").form == "multi_agency_audit"
    assert auditor_items[0].activity.startswith("Complete the Multi-Agency Audit Tool")


@pytest.mark.req("CSCP-3")
def test_programme_is_agreed_by_the_subgroup_before_any_audit_starts(reg, seed):
    assert "The annual audit programme will be discussed and agreed by the A&P Subgroup before any audits commence" in seed
    items = programme(reg, YEAR, StaffMember(1, "Chair", "audit_chair"), StaffMember(2, "QA", "qa_manager"))
    agreed = [i for i in items if i.schedule == "audit_programme_agreement"]
    audits = [i for i in items if i.schedule == "thematic_audit"]
    assert len(agreed) == 1 and agreed[0].person == "Chair"
    assert agreed[0].due < min(i.due for i in audits)
    w = workflow(reg, "audit_programme")
    assert by(w, "agree") == ("audit_chair",)
    # An agency is asked only from the planned programme, by the QA manager.
    response = workflow(reg, "agency_response")
    assert response.initial == "planned"
    assert [t.key for t in response.transitions if "planned" in t.from_] == ["request"]
    assert by(response, "request") == ("qa_manager",)


# --- CSCP-4: Section 11 and Section 175/157 -------------------------------------------


@pytest.mark.req("CSCP-4")
def test_section_11_every_two_years_for_partner_agencies(reg, seed):
    assert "Section 11 (bi-annual) and Section 175/157 (annual)" in seed
    s = schedule(reg, "section_11_self_assessment")
    assert (s.role, s.form, s.frequency.every, s.frequency.first_year) == ("agency_lead", "section_11", "two_years", 2023)
    lead = StaffMember(1, "Health lead", "agency_lead")

    def section_11(year):
        return [i for i in programme(reg, year, lead) if i.schedule == "section_11_self_assessment"]

    assert len(section_11(2023)) == 1
    assert section_11(2024) == []
    assert len(section_11(2025)) == 1
    # Due within the partnership year it falls in (April 2023 - March 2024).
    assert dt.date(2023, 4, 1) <= section_11(2023)[0].due <= dt.date(2024, 3, 31)
    qa = [i for i in programme(reg, 2024, StaffMember(2, "QA", "qa_manager")) if i.schedule == "section_11_report"]
    assert qa == []


@pytest.mark.req("CSCP-4")
def test_section_175_157_every_year_for_each_schools_dsl(reg, seed):
    assert "undertake this audit annually using the online audit tool" in seed
    s = schedule(reg, "section_175_157_self_assessment")
    assert (s.role, s.form, s.frequency.every) == ("school_dsl", "section_175_157", "year")
    dsls = [StaffMember(1, "DSL, primary school", "school_dsl"), StaffMember(2, "DSL, college", "school_dsl")]
    for year in (2023, 2024, 2025):
        items = [i for i in programme(reg, year, *dsls) if i.schedule == "section_175_157_self_assessment"]
        assert sorted(i.person for i in items) == ["DSL, college", "DSL, primary school"]
        assert all(dt.date(year, 4, 1) <= i.due <= dt.date(year + 1, 3, 31) for i in items)


@pytest.mark.req("CSCP-4")
def test_self_assessments_report_progress_and_get_recommendations_per_agency(reg, seed):
    assert "report on progress of improvements to their safeguarding procedures during the previous 12 months" in seed
    s11 = form(reg, "section_11")
    progress = question(s11, "progress", "progress_of_improvements")
    assert "previous 12 months" in progress.label and progress.required
    assert question(s11, "declaration", "information_accurate").type == "yes_no"
    # The report with recommendations and/or actions for each agency.
    assert "producing a report that includes recommendations and/or actions for each agency" in seed
    for key in ("section_11_report", "section_175_157_report"):
        assert schedule(reg, key).form == "audit_report"
    plan = question(form(reg, "audit_report"), "recommendations", "action_plan")
    assert {"recommendation", "agency", "action", "by_whom", "by_when", "progress"} <= {c.key for c in plan.columns}
    kinds = [o.value for o in question(form(reg, "audit_report"), "audit", "kind").options]
    assert "section_11" in kinds and "section_175_157" in kinds


@pytest.mark.req("CSCP-4")
def test_section_175_157_covers_the_settings_appendix_1_lists(reg, seed_lines):
    who = next(line for line in seed_lines if line.startswith("Section S175/175")).split("\t")[2]
    f = form(reg, "section_175_157")
    labels = " ".join(o.label.lower() for o in question(f, "school", "setting").options)
    for setting in ("primary", "secondary", "independent school", "free school", "special school", "college", "hospital education service", "extended learning centre"):
        assert setting in who.lower()
        assert setting in labels
    duty = [o.value for o in question(f, "school", "duty").options]
    assert duty == ["section_175", "section_157"]
    assert form(reg, "section_175_157").grading.scale == "required_standard"
    levels = [lv.label for lv in reg.scale(f"{NS}:required_standard").levels]
    assert levels[1].lower().startswith("not yet reached the required standard")
    assert "have not yet reached the required standard" in " ".join(seed_lines)


# --- CSCP-5: the multi-agency audit tool (Appendix 2) ----------------------------------


@pytest.mark.req("CSCP-5")
def test_audit_tool_header_fields_are_the_seeds(reg, seed_lines):
    f = form(reg, "multi_agency_audit")
    assert [q.label for q in section(f, "details").questions] == seed_header_fields(seed_lines)
    assert question(f, "details", "date_of_completion").type == "date"
    assert question(f, "details", "date_of_birth").type == "date"


@pytest.mark.req("CSCP-5")
def test_family_composition_and_summary(reg, seed_lines):
    f = form(reg, "multi_agency_audit")
    table = question(f, "family_composition", "members")
    assert table.type == "table"
    assert [c.label for c in table.columns] == seed_row(seed_lines, "Name\tAge\t")
    assert table.label == next(line for line in seed_lines if line.startswith("Family Composition ("))
    summary = question(f, "summary", "brief_case_summary")
    assert summary.type == "long_text"
    seed_summary = next(line for line in seed_lines if line.startswith("Brief Case Summary"))
    assert seed_summary.startswith(summary.label)
    assert summary.guidance in seed_summary


@pytest.mark.req("CSCP-5")
def test_nine_key_lines_of_enquiry_with_the_seeds_prompts(reg, seed_lines):
    kloes = seed_kloes(seed_lines)
    assert len(kloes) == 9
    questions = section(form(reg, "multi_agency_audit"), "key_lines_of_enquiry").questions
    assert [q.label for q in questions] == [title for title, _ in kloes]
    for q, (title, prompts) in zip(questions, kloes):
        assert q.type == "strengths_development", title
        assert list(q.prompts) == prompts, title


@pytest.mark.req("CSCP-5")
def test_each_key_line_of_enquiry_asks_what_worked_well_and_areas_for_development(reg, seed_lines):
    f = form(reg, "multi_agency_audit")
    fields = fields_of(reg, NS, f).fields
    for title, _ in seed_kloes(seed_lines):
        labels = [x.label.lower() for x in fields if x.label.startswith(title)]
        assert any("what worked well" in label for label in labels), title
        assert any("areas for development" in label for label in labels), title


@pytest.mark.req("CSCP-5")
def test_three_level_overall_grade_with_rationale(reg, seed_lines):
    levels = seed_row(seed_lines, "Overall case grade")[1].split(" / ")
    scale = reg.scale(f"{NS}:three_level")
    assert [lv.label for lv in scale.levels] == levels  # best first
    assert [lv.key for lv in scale.levels] == ["exceeds_good", "meets_good", "does_not_meet_good_yet"]
    assert compare(scale, "does_not_meet_good_yet", "meets_good") == "improved"
    assert compare(scale, "exceeds_good", "meets_good") == "downgraded"
    f = form(reg, "multi_agency_audit")
    assert f.grading.scale == "three_level" and f.grading.rationale_required
    assert "Auditors rationale for judgement" in seed_lines[seed_lines.index("Case Grading") + 5]
    # Through the real form code: an overall grade without a rationale is refused.
    form_fields = fields_of(reg, NS, f)
    scheme = reg.scheme(reg.ref(NS, f.grading.scheme, "schemes"))
    answers = {"grade.initial.overall": "meets_good", "grade.initial.case_grading": "meets_good"}
    problems = problems_for_submit(form_fields, answers, scheme)
    assert "evidence.initial.overall" in problems
    options = next(x.options for x in form_fields.fields if x.name == "grade.initial.overall")
    assert [label for _, label in options] == levels


@pytest.mark.req("CSCP-5")
def test_good_practice_suggestions_and_smart_actions(reg, seed_lines):
    f = form(reg, "multi_agency_audit")
    grading = section(f, "case_grading")
    start = seed_lines.index("Case Grading")
    seed_questions = [line.rstrip("\t") for line in seed_lines[start + 6 : start + 8]]
    assert [q.label for q in grading.questions] == seed_questions
    actions = question(f, "recommended_improvement_actions", "actions")
    assert actions.type == "table"
    assert [c.label for c in actions.columns] == seed_row(seed_lines, "Action (SMART)")
    assert [c.type for c in actions.columns] == ["long_text", "text", "date", "long_text"]
    assert [s.key for s in f.sections] == [
        "details",
        "family_composition",
        "summary",
        "key_lines_of_enquiry",
        "case_grading",
        "recommended_improvement_actions",
    ]


# --- CSCP-6: report sign-off -------------------------------------------------------------


@pytest.mark.req("CSCP-6")
def test_report_sign_off_chain_in_the_seeds_order(reg, seed):
    sentence = seed[seed.index("The Quality Assurance Manager is responsible for collating") :]
    sentence = sentence[: sentence.index("Partnership Board meeting")]
    order = [sentence.index(who) for who in ("Quality Assurance Manager", "Audit Chair", "Subgroup", "final report is presented")]
    assert order == sorted(order)

    w = workflow(reg, "report_sign_off")
    assert form(reg, "audit_report").workflow == "report_sign_off"
    # The forward path, one step at a time, and who takes each step.
    path, state = [w.initial], w.initial
    for step, actors in (
        ("submit", {"qa_manager"}),
        ("sign_off", {"audit_chair"}),
        ("agree", {"audit_chair", "ap_member"}),
        ("present", {"qa_manager"}),
    ):
        t = wf.transition(w, step)
        assert state in t.from_
        assert actors <= set(t.by)
        state = t.to
        path.append(state)
    assert path == ["drafting", "audit_chair_sign_off", "subgroup_consideration", "agreed", "presented"]
    final = wf.state(w, "presented")
    assert final.final and final.notify == ("partnership_board",)


@pytest.mark.req("CSCP-6")
def test_no_step_of_the_chain_can_be_skipped(reg):
    w = workflow(reg, "report_sign_off")
    assert "subgroup_consideration" not in reachable(w, w.initial, without={"audit_chair_sign_off"})
    assert "presented" not in reachable(w, w.initial, without={"subgroup_consideration"})
    assert "presented" not in reachable(w, w.initial, without={"agreed"})
    # Only the Audit Chair signs off; only the subgroup agrees.
    assert [t.key for t in wf.available(w, "audit_chair_sign_off", {"qa_manager", "auditor"})] == []
    assert {t.key for t in wf.available(w, "audit_chair_sign_off", {"audit_chair"})} == {"sign_off", "decline_sign_off"}
    assert "agree" not in {t.key for t in wf.available(w, "subgroup_consideration", {"qa_manager", "auditor"})}
    assert "agree" not in {t.key for t in wf.available(w, "subgroup_consideration", {"partnership_board"})}
    # The subgroup's final amendments go back to the subgroup, not round the chair.
    assert wf.transition(w, "return_amended").to == "subgroup_consideration"


# --- CSCP-7: impromptu audits ---------------------------------------------------------------


@pytest.mark.req("CSCP-7")
def test_impromptu_audit_is_as_required_and_checked_against_the_schedule(reg, seed):
    assert "following a Rapid Review or Safeguarding Practice Review" in seed
    assert "the A&P subgroup must consult the audit schedule" in seed
    s = schedule(reg, "impromptu_audit")
    assert s.frequency.every == "as_required"
    assert "Rapid Review" in s.activity
    assert "checked" in s.reading and "schedule" in s.reading and "too much at once" in s.reading
    items = [i for i in programme(reg, YEAR, StaffMember(1, "QA", "qa_manager")) if i.schedule == "impromptu_audit"]
    assert len(items) == 1 and items[0].due is None and items[0].note == "as required"


@pytest.mark.req("CSCP-7")
def test_no_impromptu_audit_is_scheduled_without_the_schedule_check(reg):
    w = workflow(reg, "impromptu_audit")
    final = next(s.key for s in w.states if s.final)
    assert final not in reachable(w, w.initial, without={"schedule_checked"})
    check = wf.transition(w, "check_schedule")
    assert check.reason_required, "the check must be recorded"
    assert "clash" in check.label and "too much" in check.label
    assert wf.transition(w, "schedule").reason_required  # the priority area decided


# --- CSCP-8: SMART action plans and learning ---------------------------------------------------


@pytest.mark.req("CSCP-8")
def test_action_plans_are_monitored_by_the_subgroup_until_complete(reg, seed):
    assert "formulated into a SMART Action Plan and the implementation of this will be monitored by the A&P Subgroup until completion" in seed
    s = schedule(reg, "action_plan_monitoring")
    assert s.role == "audit_chair" and s.frequency.every == "quarter"
    assert "until completion" in s.source
    items = [i for i in programme(reg, YEAR, StaffMember(1, "Chair", "audit_chair")) if i.schedule == "action_plan_monitoring"]
    assert len(items) == 4 and not any(i.optional for i in items)
    plan = question(form(reg, "audit_report"), "recommendations", "action_plan")
    assert plan.required
    assert {c.key: c.type for c in plan.columns}["by_when"] == "date"
    assert "SMART" in section(form(reg, "audit_report"), "recommendations").title


@pytest.mark.req("CSCP-8")
def test_learning_is_recorded_with_how_it_was_shared(reg, seed_lines):
    start = next(i for i, line in enumerate(seed_lines) if line.startswith("The A&P subgroup will also consider"))
    approaches = []
    for line in seed_lines[start + 1 :]:
        if line.startswith("- "):
            approaches.append(line[2:].strip())
        elif approaches and line.strip():
            break
    assert len(approaches) == 6
    shared = question(form(reg, "audit_report"), "learning", "shared")
    method = next(c for c in shared.columns if c.key == "method")
    assert [o.label for o in method.options] == approaches
    assert {"details", "date"} <= {c.key for c in shared.columns}
    assert schedule(reg, "learning_dissemination").frequency.at_most == 4


# --- CSCP-9: agency responses have a deadline that is chased --------------------------------


@pytest.mark.req("CSCP-9")
def test_agency_responses_have_a_deadline_that_is_chased(reg, seed):
    assert "respond to multi-agency audit requests within the agreed timescales" in seed
    w = workflow(reg, "agency_response")
    requested = wf.state(w, "requested")
    deadline = requested.deadline
    assert deadline is not None
    assert {"agency_lead", "qa_manager"} <= set(deadline.escalate_to)
    start = dt.datetime(2023, 5, 2, 9, 0, tzinfo=dt.timezone.utc)
    assert wf.due(deadline, start) > start
    # The deadline runs until the agency submits: submitting is the only way out.
    assert [t.key for t in w.transitions if "requested" in t.from_] == ["submit"]
    assert by(w, "submit") == ("auditor",)
    # Every return an agency makes to the CSCP runs on this workflow.
    for key in ("multi_agency_audit", "section_11", "section_175_157", "scorecard_return"):
        assert form(reg, key).workflow == "agency_response", key


@pytest.mark.req("CSCP-9")
def test_late_responses_are_chased_then_challenged(reg):
    rules = {k.split(":", 1)[1]: s.value for k, s in reg.escalations.items() if k.startswith(f"{NS}:")}
    first = rules["agency_response_overdue"]
    # The request's own deadline, and no other.
    assert (first.event, first.deadline, first.workflows, first.states) == ("deadline_passed", "state", ("agency_response",), ("requested",))
    assert set(first.notify) == {"agency_lead", "qa_manager"}
    assert "Chase" in first.action and first.within_working_days == 10
    # Still not submitted when the chasing task falls due: the challenge.
    again = rules["agency_response_still_overdue"]
    assert (again.event, again.deadline, again.follow_ups, again.states) == ("deadline_passed", "follow_up", ("agency_response_overdue",), ("requested",))
    assert again.notify == ("audit_chair",)
    # The agency lead's ladder climbs to the Audit Chair.
    assert reg.role(f"{NS}:agency_lead").escalates_to == "audit_chair"


# --- CSCP-10: the four lenses ------------------------------------------------------------------


@pytest.mark.req("CSCP-10")
def test_the_four_lenses_with_the_seeds_descriptions(council, seed_lines):
    lenses = seed_lenses(seed_lines)
    assert [heading for heading, _ in lenses] == [lens.label for lens in council.lenses]
    assert [lens.key for lens in council.lenses] == ["independent", "provider", "professional", "citizen"]
    for lens, (heading, first_sentence) in zip(council.lenses, lenses):
        assert _squash(first_sentence) in _squash(lens.description), heading


@pytest.mark.req("CSCP-10")
def test_every_scheduled_source_of_assurance_is_classified_by_lens(reg, council):
    lens_keys = {lens.key for lens in council.lenses}
    by_lens: dict[str, list[str]] = {}
    for s in schedules(reg):
        lens = lens_of(s)
        assert lens in lens_keys | {"governance"}, s.key
        by_lens.setdefault(lens, []).append(s.key)
    # Appendix 1 (the professional lens list) activities, and the scorecard.
    for key in ("thematic_audit", "section_11_self_assessment", "section_175_157_self_assessment", "quality_assurance_visit", "action_plan_monitoring"):
        assert key in by_lens["professional"]
    assert "scorecard_return" in by_lens["independent"]
    assert "lado_annual_report" in by_lens["provider"]
    # A programme can be cut by lens.
    staff = [StaffMember(1, "QA", "qa_manager"), StaffMember(2, "Lead", "agency_lead"), StaffMember(3, "LADO", "lado")]
    purposes = {s.key: lens_of(s) for s in schedules(reg)}
    cut: dict[str, int] = {}
    for item in programme(reg, YEAR, *staff):
        cut[purposes[item.schedule]] = cut.get(purposes[item.schedule], 0) + 1
    assert cut["independent"] >= 8  # four scorecard returns and four compilations
    assert cut["provider"] == 1
    assert cut["professional"] > 0


# --- the framework's words, and living alongside another council ---------------------------


def test_every_quoted_source_is_in_the_seed(reg, council, seed):
    sources = [(f"agency {a.key}", a.source) for a in council.agencies]
    sources += [(f"indicator {i.key}", i.source) for i in council.indicators]
    sources += [(f"schedule {s.key}", s.source) for s in schedules(reg)]
    sources += [(f"form {k[0]}", s.value.source) for k, s in reg.forms.items() if k[0].startswith(f"{NS}:")]
    sources += [(f"escalation {k}", s.value.source) for k, s in reg.escalations.items() if k.startswith(f"{NS}:")]
    sources += [(f"scale {k}", s.value.source) for k, s in reg.scales.items() if k.startswith(f"{NS}:")]
    checked = 0
    for name, text in sources:
        for phrase in quoted(text):
            assert _squash(phrase) in seed, f"{name}: {phrase!r} is not in the seed"
            checked += 1
    assert checked > 40


def test_every_schedule_quotes_the_seed_and_says_its_reading(reg):
    for s in schedules(reg):
        assert quoted(s.source), s.key
        if s.frequency.every in ("as_required", "two_years") or s.frequency.at_most:
            assert s.reading, f"{s.key}: an ambiguous frequency needs a reading"


def test_haringey_and_partnership_load_together_without_collisions(tmp_path_factory, reg):
    both = _load(tmp_path_factory, ("haringey", "partnership")).registry
    assert set(both.councils) == {"haringey", "partnership"}
    # Same local keys in both councils stay apart.
    for key in ("practitioner", "team_manager"):
        assert f"haringey:{key}" in both.roles and f"partnership:{key}" in both.roles
    assert both.role("partnership:practitioner").label != both.role("haringey:practitioner").label
    # Everything the partnership supplies alone, it still supplies alongside Haringey.
    for table in ("roles", "scales", "forms", "workflows", "schedules", "escalations"):
        alone = {k for k in getattr(reg, table) if (k[0] if isinstance(k, tuple) else k).startswith(f"{NS}:")}
        together = {k for k in getattr(both, table) if (k[0] if isinstance(k, tuple) else k).startswith(f"{NS}:")}
        assert alone == together and alone, table
    assert {r.key for r in both.roles_of("partnership")} == {r.key for r in reg.roles_of(NS)}
    # A partnership programme holds only partnership schedules.
    staff = [StaffMember(1, "QA", "qa_manager"), StaffMember(2, "TM", "team_manager", post="STAG member")]
    keys = {i.schedule for i in expand(both, "partnership", YEAR, staff)}
    assert keys and keys <= {k.split(":", 1)[1] for k in both.schedules if k.startswith("partnership:")}
