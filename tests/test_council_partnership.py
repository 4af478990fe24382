"""The Coventry Safeguarding Children Partnership framework as the
``partnership`` council plugin, loaded through the real plugin loader and
registry, and checked against what the framework says.

Every expected value below was copied from the seed (the CSCP Quality
Assurance and Continuous Improvement Framework 2023 - 25, seed
``004_44cd6c3af1253d89``) and is written here as data, with the section it
comes from in a comment ("CSCP 5.2" = section 5.2; "App. 1" / "App. 2" = the
appendices). Nothing is read from outside the repository: a clone is enough.

These tests read definitions and call pure functions, so they carry no
requirement tag: the partnership's journeys through the database, services
and pages are in test_partnership_journeys.py (and test_action_plans.py,
test_reports_lenses.py, test_reports_agencies.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque

import pytest

from core import workflow as wf
from core.definitions.model import AuditForm, Workflow
from core.forms import fields_of, problems_for_submit
from core.grading import compare
from core.plugins import load_plugins
from core.programme import StaffMember, expand
from core.settings import Settings

NS = "partnership"
YEAR = 2023  # the partnership year April 2023 - March 2024


# --- what the framework says, as data ----------------------------------------------

# The passages of the framework that the plugin's `source` fields quote, each
# whitespace-collapsed as the framework prints it. A quotation in a source must
# be found in one of these (test_every_quoted_source_is_in_the_seed).
SEED_PASSAGES: dict[str, str] = {
    "1.0": "The Partnership has three main priorities; each priority has a set of actions to ensure they are delivered, "
    "and a quality assurance schedule to test their implementation and outcomes for children and families in Coventry.",
    "3.0 list": "Contributing to audits and reviews of practice undertaken by the CSCP",
    "3.0": "The implementation and sustainability of the framework is the responsibility of the CSCP Audit & Performance "
    "(A&P) Subgroup; this group will maintain and develop the framework responding to local and national policy and "
    "agenda. They will also retain responsibility for reporting progress to the CSCP on a quarterly basis.",
    "4.0 Provider Lens": "Services for children and young people are provided by a range of providers: statutory bodies, "
    "the voluntary sector and private businesses. Information in this area comes from these providers. The Local "
    "Authority Designated Officer (LADO) provides regular information to the CSCP through their annual report and "
    "updates to the CSCP Executive Group. This information is useful in understanding how service providers are "
    "keeping children safe. Any services for children that are provided as a commissioned service should be subject "
    "to contract monitoring. Contract monitoring activity can also provide safeguarding intelligence and is reported "
    "to the Audit and Performance Subgroup.",
    "4.0 Professional Lens, visits": "The CSCP Executive Group, Coventry Children's Services Leadership Team and Lead "
    "Member form a visit team and spend time within a particular service area, which affords them the opportunity to "
    "gain further assurance in relation to the functioning of that service and creates a clearer line of sight "
    "between senior leaders and frontline practitioners.",
    "4.0 Professional Lens, STAG": "The Safeguarding Together Action Group (STAG) is comprised of frontline staff and "
    "team managers from organisations across the city. The purpose of this forum is to capture the views of "
    "practitioners, to share learning from local and national reviews, to look at the effects of action on frontline "
    "practice, to increase awareness of new policy and procedures and to identify emerging safeguarding issues across "
    "the City. The Safeguarding Together Action Group meet 3/4 times per year for approx. 2 hours each meeting.",
    "5.0": "It is essential that the multi-agency work conducted is evaluated and monitored to continually drive and "
    "improve performance, identify areas for development, evidence best practice, and provide effective challenge to "
    "all partners to improve the lived experience of Coventry children.",
    "5.0 strand 3": "Other assurance activity via the A&P subgroup to provide assurance of best practice and areas of "
    "learning to the Partnership Board and Executive Group. This can include monitoring and sharing single agency "
    "audits and ensuring that partners have effective quality assurance processes in place.",
    "5.0 agencies": "The role of partner agencies is crucial to the success of the quality assurance work of the CSCP, "
    "and agencies will be expected to submit performance data and respond to multi-agency audit requests within the "
    "agreed timescales.",
    "5.1": "The Performance Scorecard is populated by the Quality Assurance Manager on a quarterly basis and taken to "
    "the A&P subgroup for consideration and refinement before being presented, by the Quality Assurance Manager, to "
    "the Partnership Board. The data should derive from all partners represented at A&P and actively provide "
    "assurance that work is improving outcomes for children across the city and allow for appropriate support and "
    "challenge to partners on their performance, on both an individual and multi-agency perspective. Partners are "
    "also required to provide a brief narrative/commentary alongside their data which affords the A&P subgroup and "
    "Board members with context, accurate interpretation of the data and a deeper understanding of the what the data "
    "is telling us about the effectiveness and impact of work with children and families.",
    "5.2 thematic": "The CSCP aims to conduct a maximum of 4 multi-agency thematic audits each year (one per quarter) "
    "reviewing specific areas aligned to the Partnership's priorities and emerging safeguarding themes in Coventry. "
    "The annual audit programme will be discussed and agreed by the A&P Subgroup before any audits commence.",
    "5.2 statutory": "The CSCP is also responsible for co-ordinating statutory Section 11 (bi-annual) and Section "
    "175/157 (annual) audits; this includes setting the audit questions, receiving the submissions, analysing the "
    "data, and producing a report that includes recommendations and/or actions for each agency.",
    "5.2 report": "The Quality Assurance Manager is responsible for collating and analysing the results from all audit "
    "activity and producing the final audit report which goes to the Audit Chair for sign-off. The report then goes "
    "to the Subgroup for their consideration and final amendments, and once agreed the final report is presented at "
    "the Partnership Board meeting.",
    "5.2.2": "Section 11 audits are completed bi-annually in line with the regional approach using the CSCP online "
    "audit tool. Partner agencies are required to complete the self-evaluation of their compliance against the "
    "standards; it is the responsibility of partner agencies to ensure that they complete the audit on time and that "
    "the information provided is accurate.",
    "5.2.2 report": "The Quality Assurance Manager will co-ordinate this audit and complete the report for the A&P "
    "subgroup to approve before presenting the report at the Coventry Safeguarding Children Partnership Board meeting.",
    "5.2.2 progress": "Agencies are also expected to report on progress of improvements to their safeguarding "
    "procedures during the previous 12 months.",
    "5.2.3": "Section 175 and Section 157 of the Education Act 2002 require school governing bodies, local education "
    "authorities and further education institutions to make arrangements to safeguard and promote the welfare of "
    "children.",
    "5.2.3 monitoring": "The CSCP is required to monitor the effectiveness of safeguarding arrangements in schools and "
    "undertake this audit annually using the online audit tool. The Quality Assurance Manager will work in "
    "conjunction with the Safeguarding in Education Advisor to support schools in thorough and timely audit "
    "completion. The findings are analysed, and report written with suggested improvements made to assist schools "
    "who have not yet reached the required standard.",
    "5.3": "The CSCP may decide to undertake an impromptu audit at any time; this would normally be the case following "
    "a Rapid Review or Safeguarding Practice Review highlighting areas of concern or following receipt of other "
    "information indicating areas for quality assurance focus.",
    "5.3 schedule": "If such work is requested, the A&P subgroup must consult the audit schedule and decide on the "
    "priority area to be quality assured. Timings must be considered in relation to other audits being undertaken by "
    "the QA manager and Partnership agencies to ensure no clash of timings, and that staff are not being asked to "
    "complete too much audit activity simultaneously.",
    "5.4": "A Joint Targeted Area Inspection is a multi-agency inspection which is conducted by Ofsted, the Care "
    "Quality Commission (CQC), Her Majesty's Inspectorate of Constabulary (HMIC), and Her Majesty's Inspectorate of "
    "Probation (HMI Probation). A JTA focusses on a particular theme and inspects the partnership work of all "
    "agencies in the area to form an opinion of positive work being done and any gaps in provision.",
    "5.4 lead": "All inspection documentation and organisation is led by the Local Authority lead with whom the Lead "
    "Inspector will regularly liaise.",
    "5.4 preparation": "There is a preparation plan in place which includes identifying the cohort, partners "
    "completing self-assessment audits and a focus group to identify good practice and areas for improvement to "
    "inform a city-wide action plan.",
    # The framework breaks this sentence across a page ("The" ... "recommendations").
    "5.5": "At the end of each audit or piece of quality assurance work, a set of concise and appropriate "
    "recommendations will be made that aim to drive improvement and influence future practice. The recommendations "
    "will be formulated into a SMART Action Plan and the implementation of this will be monitored by the A&P "
    "Subgroup until completion.",
    "5.5 learning": "The A&P subgroup will also consider the most appropriate and effective ways for sharing the "
    "learning from each thematic audit across the Partnership. This could include several approaches:",
    "App. 1 Multi-agency Thematic Audit, Who": "Partner agencies Relevant organisations Safeguarding Partnerships Office",
    "App. 1 Section S175/175, Description": "Annual self-assessment of all schools in Coventry reviewing the "
    "effectiveness of their arrangements for safeguarding children in relation to their duties under S157 and S175 "
    "Education Act 2002, Keeping Children Safe in Education (KCSIE) 2020 and Working Together 2018",
    "App. 1 Section S175/175, Who": "All primary and secondary schools (including academies), independent schools, "
    "free schools, special schools, colleges, the hospital education service, and extended learning centres",
    "App. 1 Quality Assurance Visits, Who": "The CSCP Executive Group",
    "App. 1 Actions to improve practice": "Single and Multi-agency action plans from Section 11 audits.",
    "App. 2 header": "Agency ID Number (LCS ID, NHS number etc)",
    "App. 2 Case Grading": "Overall case grade Exceeds Good / Meets Good / Does Not Meet Good Yet",
}

# CSCP 1.0: "The Partnership has three main priorities".
PRIORITIES = 3

# CSCP 3.0, 4.0, 5.2.3, 5.4 and App. 1 name the partners; the plugin's agency keys for them.
NAMED_AGENCIES = ("local_authority", "police", "health", "probation", "schools", "colleges", "voluntary_sector")
# CSCP 5.4: "Her Majesty's Inspectorate of Constabulary (HMIC)", "the Care Quality
# Commission (CQC)", "Her Majesty's Inspectorate of Probation (HMI Probation)":
# how the framework names police, health and probation. App. 2: "Agency ID
# Number (LCS ID, NHS number etc)" identifies the child to health.
INSPECTORATES = {"police": "Constabulary", "health": "Care Quality Commission", "probation": "Probation"}

# CSCP 4.0: each lens's heading and the first sentence under it.
LENSES = (
    ("Independent Lens", "Information in this area comes primarily from the CSCP Performance Scorecard and from benchmarking and contextual data"),
    ("Provider Lens", "Services for children and young people are provided by a range of providers: statutory bodies, the voluntary sector and private businesses"),
    ("Professional Lens", "CSCP routinely collects information about safeguarding and outcomes for children from a range of professionals, through a range of activities"),
    ("Citizen Lens", "Capturing the voice of the child, whether directly or indirectly, is an important element of evaluating outcomes for children"),
)

# CSCP 5.2: "a maximum of 4 multi-agency thematic audits each year (one per quarter)".
THEMATIC_MAXIMUM = 4

# App. 2, Multi-Agency Audit Tool: the header's fields, in the tool's order.
HEADER_FIELDS = (
    "Date of completion",
    "Name of Child",
    "Gender",
    "Date of birth",
    "Age",
    "Address",
    "Agency ID Number (LCS ID, NHS number etc)",
    "Case Status",
    "Agency completing audit",
    "Name and role of auditor",
    "Audit scoping period",
)
# App. 2: the family composition table's heading and columns.
FAMILY_COMPOSITION = "Family Composition (and other significant children/adults in the child's immediate family network)"
FAMILY_COLUMNS = ("Name", "Age", "Relationship to Child", "Lives in household?")
# App. 2, Summary.
BRIEF_CASE_SUMMARY = (
    "Brief Case Summary (provide a brief summary of your agency's involvement with the child AND the individuals "
    "listed in the family composition and any pertinent history that would help inform this audit)"
)

# App. 2, Key Lines of Enquiry: each title (its row reads "<title> | What worked
# well? | Areas for development") and its prompts, word for word.
KEY_LINES_OF_ENQUIRY = (
    ("Identification of risk/need", (
        "Was risk/need identified, understood and responded to in timely way?",
        "Were referrals timely, good quality and in line with RHRT?",
    )),
    ("Assessments", (
        "Have robust and up-to-date assessments been completed for this child and are risks, needs, strengths and protective factors clear?",
        "Have individual needs and circumstances of the child been considered?",
        "Does the assessment use a Signs of Safety approach and considers the whole family including fathers and significant males?",
        "Are assessments informed by a chronology, family history and information from partner agencies?",
        "Does the assessment demonstrate professional curiosity?",
    )),
    ("Decision-making", (
        "How effective and timely is the decision making for this child/young person? Is there clearly recorded rationale for decisions made?",
        "What difference is this making for this child - is this improving their situation?",
        "Has overall decision making by the multi-agency group resulted in keeping the child/young person safe from further harm?",
        "What research/evidence based practice has been used to inform practice/decision making?",
        "Is there evidence of management oversight?",
    )),
    ("Plan", (
        "Is there a co-ordinated, up to date multi-agency plan with clear objectives/outcomes? Is it SMART?",
        "Has a Lead Practitioner been identified? Is there evidence of relational practice",
        "Is the plan dynamic? Has been amended in light of emerging need and risk?",
        "Are their clear roles for each agency within the plan?",
        "Is it sufficient to address risk and needs in relation to abuse? Is it making a difference?",
        "Are actions by all agencies progressing in a timely manner or is there evidence of drift and delay?",
        "Is case recording clear, comprehensive, reflective of work undertaken?",
        "Is it clear how progress will be evaluated and regularly reviewed and is management oversight evident?",
    )),
    ("Multi-Agency Working", (
        "Is there evidence of effective coordination between agencies including information sharing, communication and joint working?",
        "Are there any barriers to joint working and information sharing?",
        "Are all relevant agencies engaged and in attendance at multi-agency meetings?",
        "Is there evidence that the range of Early Help services available is understood by professionals?",
        "Is there evidence of professional challenge and/or formal escalation where appropriate?",
    )),
    ("Voice of the Child", (
        "Is the voice of the child evident?",
        "Is there a good understanding of the child's lived experience?",
        "Has the child been involved / engaged at all stages including assessment, planning and attendance and contribution at meetings",
        "What difference has the consideration of the child's voice and their lived experience made for the child and their family?",
    )),
    ("Family/Parental Engagement", (
        "Is there evidence that a family/community network is identified (including fathers/significant males) and established in the best interests of the child at the earliest opportunity?",
        "Is there evidence that professionals have built trusted relationships with the child and their family?",
        "Are the family appropriately involved in assessments, plans and interventions?",
        "Is there evidence that the Early Help support available is well communicated to parents?",
    )),
    ("Equality, Diversity and Identity", (
        "Has the impact of diversity been considered? (culture, ethnicity, identity, disability, faith, language etc)",
        "Is this understood, addressed and recorded?",
    )),
    ("Impact of involvement", (
        "How has intervention/involvement improved outcomes for this child/young person?",
        "What difference has this made to the child and their family?",
        "Are actions taken by agencies reducing risk?",
    )),
)

# App. 2, Case Grading: "Overall case grade | Exceeds Good / Meets Good / Does Not
# Meet Good Yet" (best first), then "Auditors rationale for judgement" and two questions.
OVERALL_GRADE_LEVELS = ("Exceeds Good", "Meets Good", "Does Not Meet Good Yet")
CASE_GRADING_QUESTIONS = (
    "Is there any good/innovative practice that should be highlighted?",
    "Do you have any suggestions for practice improvement for your agency or the multi-agency partnership working with children and families",
)
# App. 2, Recommended Improvement Actions: the table's columns.
SMART_ACTION_COLUMNS = ("Action (SMART)", "By Whom", "By When", "Progress/update")

# CSCP 5.5: "This could include several approaches:" - the six, word for word.
LEARNING_APPROACHES = (
    "Development of One Minute Guides",
    "Webinars",
    "Presentations at relevant forums",
    "CSCP newsletter, website and social media platforms",
    "Safeguarding Together Action Group (STAG)",
    "Used to inform and update multi- agency safeguarding training",
)

# App. 1, Section S175/175, Who: the settings the annual self-assessment covers.
SECTION_175_157_SETTINGS = (
    "primary", "secondary", "independent school", "free school", "special school", "college",
    "hospital education service", "extended learning centre",
)


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


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def in_the_framework(phrase: str) -> bool:
    """Whether ``phrase`` is in one of the framework's passages above."""
    return any(_squash(phrase) in passage for passage in SEED_PASSAGES.values())


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


def quoted(text: str) -> list[str]:
    """The phrases a ``source`` quotes: text in double quotes, split at '...'."""
    pieces = []
    for quote in re.findall(r'"([^"]+)"', text):
        pieces.extend(p.strip(" .,;:") for p in quote.split("...") if p.strip(" .,;:"))
    return pieces


def test_the_passages_are_whole_and_distinct():
    """The data above is the framework's words: no passage is empty or repeated."""
    assert all(p == _squash(p) and len(p) > 10 for p in SEED_PASSAGES.values())
    assert len(set(SEED_PASSAGES.values())) == len(SEED_PASSAGES)
    assert len(KEY_LINES_OF_ENQUIRY) == 9  # App. 2: nine key lines of enquiry
    assert len(LEARNING_APPROACHES) == 6  # CSCP 5.5's six approaches


# --- partner agencies ---------------------------------------------------------


def test_partner_agencies_are_the_ones_the_seed_names(council):
    keys = [a.key for a in council.agencies]
    for expected in NAMED_AGENCIES:
        assert expected in keys
    assert len(keys) == len(set(keys))
    # Each agency's evidence is a quotation that really is in the framework.
    for agency in council.agencies:
        phrases = quoted(agency.source)
        assert phrases, f"agency {agency.key} quotes nothing from the seed"
        for phrase in phrases:
            assert in_the_framework(phrase), f"agency {agency.key}: {phrase!r} is not in the seed"
    # The inspectorates (5.4) are how the framework names police, health and probation.
    sources = {a.key: a.source for a in council.agencies}
    for key, inspectorate in INSPECTORATES.items():
        assert inspectorate in SEED_PASSAGES["5.4"]
        assert inspectorate in sources[key], key
    # App. 2: the child's "NHS number" ties health to the audit tool.
    assert "NHS number" in sources["health"]


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


def test_agencies_submit_their_own_returns_and_the_partnership_sees_all(reg):
    roles = {r.key: r for r in reg.roles_of(NS)}
    for agency_role in ("multi_agency_auditor", "agency_lead", "school_dsl"):
        assert "audit" in roles[agency_role].capabilities
        assert "view_all_audits" not in roles[agency_role].capabilities
    for partnership_role in ("qa_manager", "audit_chair"):
        assert "view_all_audits" in roles[partnership_role].capabilities


# --- the quarterly Performance Scorecard ---------------------------------------


def test_one_indicator_group_per_partnership_priority(council):
    # CSCP 5.1: "The Performance Scorecard key indicators should align with the
    # CSCP priorities"; 1.0: three of them.
    assert [i.key for i in council.indicators] == [f"priority_{n}" for n in range(1, PRIORITIES + 1)]
    for indicator in council.indicators:
        assert "The Partnership has three main priorities" in indicator.source


def test_scorecard_return_has_figures_and_narrative_per_indicator(reg, council):
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
    # CSCP 5.1: "Partners are also required to provide a brief narrative/commentary alongside their data".
    assert "narrative/commentary" in SEED_PASSAGES["5.1"]
    assert any("narrative/commentary" in c.label.lower() for c in by_priority[0].questions[0].columns)
    quarter = question(f, "return_details", "quarter")
    assert [o.value for o in quarter.options] == ["q1", "q2", "q3", "q4"]


def test_each_partner_returns_scorecard_data_every_quarter(reg):
    # CSCP 5.1: "populated by the Quality Assurance Manager on a quarterly basis".
    assert "populated by the Quality Assurance Manager on a quarterly basis" in schedule(reg, "scorecard").source
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


def test_scorecard_goes_to_the_subgroup_before_the_board(reg):
    # CSCP 5.1: "taken to the A&P subgroup for consideration and refinement before being presented".
    w = workflow(reg, "scorecard")
    final = next(s for s in w.states if s.final)
    assert final.notify == ("partnership_board",)
    assert final.key not in reachable(w, w.initial, without={"subgroup_consideration"})
    assert by(w, "present") == ("qa_manager",)


def test_indicator_change_needs_a_recorded_quorate_approval(reg):
    # CSCP 5.1: "approved by a quorate A&P subgroup and formally recorded in the meeting minutes".
    w = workflow(reg, "indicator_change")
    approve = wf.transition(w, "approve")
    assert approve.to == "approved" and approve.reason_required
    assert approve.by == ("audit_chair",)
    assert "quorate" in approve.label and "minute" in approve.label
    assert "quorate" in wf.state(w, "approved").label and "minutes" in wf.state(w, "approved").label
    # Only the approve transition reaches the approved state, and only from a
    # subgroup meeting.
    into_approved = [t for t in w.transitions if t.to == "approved"]
    assert into_approved == [approve] and approve.from_ == ("tabled",)
    # A proposer cannot approve their own change.
    assert not wf.may_take(approve, {"qa_manager", "ap_member", "agency_lead"})


# --- thematic audits -------------------------------------------------------------


def test_at_most_four_thematic_audits_a_year_one_a_quarter(reg):
    maximum = THEMATIC_MAXIMUM
    for key in ("thematic_audit", "thematic_audit_agency_return"):
        s = schedule(reg, key)
        assert s.frequency.every == "quarter"
        assert s.frequency.at_most == maximum
        assert f"a maximum of {maximum} multi-agency thematic audits each year (one per quarter)" in s.source
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


def test_programme_is_agreed_by_the_subgroup_before_any_audit_starts(reg):
    # CSCP 5.2: "The annual audit programme will be discussed and agreed by the A&P Subgroup before any audits commence."
    assert "agreed by the A&P Subgroup before any audits commence" in schedule(reg, "audit_programme_agreement").source
    items = programme(reg, YEAR, StaffMember(1, "Chair", "audit_chair"), StaffMember(2, "QA", "qa_manager"))
    agreed = [i for i in items if i.schedule == "audit_programme_agreement"]
    audits = [i for i in items if i.schedule == "thematic_audit"]
    assert len(agreed) == 1 and agreed[0].person == "Chair"
    assert agreed[0].due < min(i.due for i in audits)
    w = workflow(reg, "audit_programme")
    assert by(w, "agree") == ("audit_chair",)
    # Issue 14: the QA manager's request opens an agency's return; the QA
    # manager alone accepts or sends it back.
    response = workflow(reg, "agency_response")
    assert response.initial == "requested"
    assert by(response, "accept") == ("qa_manager",) and by(response, "return") == ("qa_manager",)


# --- Section 11 and Section 175/157 ------------------------------------------------


def test_section_11_every_two_years_for_partner_agencies(reg):
    # CSCP 5.2: "Section 11 (bi-annual) and Section 175/157 (annual)".
    s = schedule(reg, "section_11_self_assessment")
    assert "Section 11 (bi-annual) and Section 175/157 (annual)" in s.source
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


def test_section_175_157_every_year_for_each_schools_dsl(reg):
    # CSCP 5.2.3: "undertake this audit annually using the online audit tool".
    s = schedule(reg, "section_175_157_self_assessment")
    assert "undertake this audit annually using the online audit tool" in s.source
    assert (s.role, s.form, s.frequency.every) == ("school_dsl", "section_175_157", "year")
    dsls = [StaffMember(1, "DSL, primary school", "school_dsl"), StaffMember(2, "DSL, college", "school_dsl")]
    for year in (2023, 2024, 2025):
        items = [i for i in programme(reg, year, *dsls) if i.schedule == "section_175_157_self_assessment"]
        assert sorted(i.person for i in items) == ["DSL, college", "DSL, primary school"]
        assert all(dt.date(year, 4, 1) <= i.due <= dt.date(year + 1, 3, 31) for i in items)


def test_self_assessments_report_progress_and_get_recommendations_per_agency(reg):
    s11 = form(reg, "section_11")
    # CSCP 5.2.2: "report on progress of improvements to their safeguarding procedures during the previous 12 months".
    assert "report on progress of improvements to their safeguarding procedures during the previous 12 months" in s11.source
    progress = question(s11, "progress", "progress_of_improvements")
    assert "previous 12 months" in progress.label and progress.required
    assert question(s11, "declaration", "information_accurate").type == "yes_no"
    # CSCP 5.2: "producing a report that includes recommendations and/or actions for each agency".
    assert "recommendations and/or actions for each agency" in schedule(reg, "section_11_report").source
    for key in ("section_11_report", "section_175_157_report"):
        assert schedule(reg, key).form == "audit_report"
    plan = question(form(reg, "audit_report"), "recommendations", "action_plan")
    assert {"recommendation", "agency", "action", "by_whom", "by_when", "progress"} <= {c.key for c in plan.columns}
    kinds = [o.value for o in question(form(reg, "audit_report"), "audit", "kind").options]
    assert "section_11" in kinds and "section_175_157" in kinds


def test_section_175_157_covers_the_settings_appendix_1_lists(reg):
    who = SEED_PASSAGES["App. 1 Section S175/175, Who"]
    f = form(reg, "section_175_157")
    labels = " ".join(o.label.lower() for o in question(f, "school", "setting").options)
    for setting in SECTION_175_157_SETTINGS:
        assert setting in who.lower()
        assert setting in labels
    duty = [o.value for o in question(f, "school", "duty").options]
    assert duty == ["section_175", "section_157"]
    assert form(reg, "section_175_157").grading.scale == "required_standard"
    levels = [lv.label for lv in reg.scale(f"{NS}:required_standard").levels]
    # CSCP 5.2.3: "schools who have not yet reached the required standard".
    assert levels[1].lower().startswith("not yet reached the required standard")
    assert "have not yet reached the required standard" in SEED_PASSAGES["5.2.3 monitoring"]


# --- the multi-agency audit tool (Appendix 2) --------------------------------------


def test_audit_tool_header_fields_are_the_seeds(reg):
    f = form(reg, "multi_agency_audit")
    assert tuple(q.label for q in section(f, "details").questions) == HEADER_FIELDS
    assert question(f, "details", "date_of_completion").type == "date"
    assert question(f, "details", "date_of_birth").type == "date"


def test_family_composition_and_summary(reg):
    f = form(reg, "multi_agency_audit")
    table = question(f, "family_composition", "members")
    assert table.type == "table"
    assert tuple(c.label for c in table.columns) == FAMILY_COLUMNS
    assert table.label == FAMILY_COMPOSITION
    summary = question(f, "summary", "brief_case_summary")
    assert summary.type == "long_text"
    assert BRIEF_CASE_SUMMARY.startswith(summary.label)
    assert summary.guidance and _squash(summary.guidance) in BRIEF_CASE_SUMMARY


def test_nine_key_lines_of_enquiry_with_the_seeds_prompts(reg):
    questions = section(form(reg, "multi_agency_audit"), "key_lines_of_enquiry").questions
    assert [q.label for q in questions] == [title for title, _ in KEY_LINES_OF_ENQUIRY]
    for q, (title, prompts) in zip(questions, KEY_LINES_OF_ENQUIRY):
        assert q.type == "strengths_development", title
        assert tuple(q.prompts) == prompts, title


def test_each_key_line_of_enquiry_asks_what_worked_well_and_areas_for_development(reg):
    f = form(reg, "multi_agency_audit")
    fields = fields_of(reg, NS, f).fields
    for title, _ in KEY_LINES_OF_ENQUIRY:
        labels = [x.label.lower() for x in fields if x.label.startswith(title)]
        assert any("what worked well" in label for label in labels), title
        assert any("areas for development" in label for label in labels), title


def test_three_level_overall_grade_with_rationale(reg):
    levels = list(OVERALL_GRADE_LEVELS)
    scale = reg.scale(f"{NS}:three_level")
    assert [lv.label for lv in scale.levels] == levels  # best first
    assert [lv.key for lv in scale.levels] == ["exceeds_good", "meets_good", "does_not_meet_good_yet"]
    assert compare(scale, "does_not_meet_good_yet", "meets_good") == "improved"
    assert compare(scale, "exceeds_good", "meets_good") == "downgraded"
    f = form(reg, "multi_agency_audit")
    assert f.grading.scale == "three_level" and f.grading.rationale_required
    # App. 2: "Auditors rationale for judgement" is the overall grade's rationale.
    assert "rationale for the judgement" in section(f, "case_grading").guidance
    # Through the real form code: an overall grade without a rationale is refused.
    form_fields = fields_of(reg, NS, f)
    scheme = reg.scheme(reg.ref(NS, f.grading.scheme, "schemes"))
    answers = {"grade.initial.overall": "meets_good", "grade.initial.case_grading": "meets_good"}
    problems = problems_for_submit(form_fields, answers, scheme)
    assert "evidence.initial.overall" in problems
    options = next(x.options for x in form_fields.fields if x.name == "grade.initial.overall")
    assert [label for _, label in options] == levels


def test_good_practice_suggestions_and_smart_actions(reg):
    f = form(reg, "multi_agency_audit")
    grading = section(f, "case_grading")
    assert tuple(q.label for q in grading.questions) == CASE_GRADING_QUESTIONS
    actions = question(f, "recommended_improvement_actions", "actions")
    assert actions.type == "table"
    assert tuple(c.label for c in actions.columns) == SMART_ACTION_COLUMNS
    assert [c.type for c in actions.columns] == ["long_text", "text", "date", "long_text"]
    assert [s.key for s in f.sections] == [
        "details",
        "family_composition",
        "summary",
        "key_lines_of_enquiry",
        "case_grading",
        "recommended_improvement_actions",
    ]


# --- report sign-off --------------------------------------------------------------------

# CSCP 5.2: "producing the final audit report which goes to the Audit Chair for
# sign-off. The report then goes to the Subgroup for their consideration and
# final amendments, and once agreed the final report is presented at the
# Partnership Board meeting." Each step, who takes it, and where it leads.
SIGN_OFF_CHAIN = (
    ("submit", {"qa_manager"}, "audit_chair_sign_off"),
    ("sign_off", {"audit_chair"}, "subgroup_consideration"),
    ("agree", {"audit_chair", "ap_member"}, "agreed"),
    ("present", {"qa_manager"}, "presented"),
)


def test_report_sign_off_chain_in_the_seeds_order(reg):
    passage = SEED_PASSAGES["5.2 report"]
    order = [passage.index(who) for who in ("Quality Assurance Manager", "Audit Chair", "Subgroup", "final report is presented")]
    assert order == sorted(order)

    w = workflow(reg, "report_sign_off")
    assert form(reg, "audit_report").workflow == "report_sign_off"
    # The forward path, one step at a time, and who takes each step.
    path, state = [w.initial], w.initial
    for step, actors, target in SIGN_OFF_CHAIN:
        t = wf.transition(w, step)
        assert state in t.from_
        assert actors <= set(t.by)
        assert t.to == target
        state = t.to
        path.append(state)
    assert path == ["drafting", "audit_chair_sign_off", "subgroup_consideration", "agreed", "presented"]
    final = wf.state(w, "presented")
    assert final.final and final.notify == ("partnership_board",)
    assert "Partnership Board meeting" in final.label


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


# --- impromptu audits ---------------------------------------------------------------------


def test_impromptu_audit_is_as_required_and_checked_against_the_schedule(reg):
    s = schedule(reg, "impromptu_audit")
    # CSCP 5.3: "following a Rapid Review or Safeguarding Practice Review"; "the
    # A&P subgroup must consult the audit schedule".
    assert "following a Rapid Review or Safeguarding Practice Review" in _squash(s.source)
    assert "the A&P subgroup must consult the audit schedule" in _squash(s.source)
    assert s.frequency.every == "as_required"
    assert "Rapid Review" in s.activity
    assert "checked" in s.reading and "schedule" in s.reading and "too much at once" in s.reading
    items = [i for i in programme(reg, YEAR, StaffMember(1, "QA", "qa_manager")) if i.schedule == "impromptu_audit"]
    assert len(items) == 1 and items[0].due is None and items[0].note == "as required"


def test_no_impromptu_audit_is_scheduled_without_the_schedule_check(reg):
    w = workflow(reg, "impromptu_audit")
    final = next(s.key for s in w.states if s.final)
    assert final not in reachable(w, w.initial, without={"schedule_checked"})
    check = wf.transition(w, "check_schedule")
    assert check.reason_required, "the check must be recorded"
    assert "clash" in check.label and "too much" in check.label
    assert wf.transition(w, "schedule").reason_required  # the priority area decided


# --- SMART action plans and learning ------------------------------------------------------


def test_action_plans_are_monitored_by_the_subgroup_until_complete(reg):
    s = schedule(reg, "action_plan_monitoring")
    # CSCP 5.5: "formulated into a SMART Action Plan and the implementation of this
    # will be monitored by the A&P Subgroup until completion".
    assert "formulated into a SMART Action Plan and the implementation of this will be monitored by the A&P Subgroup until completion" in _squash(s.source)
    assert s.role == "audit_chair" and s.frequency.every == "quarter"
    items = [i for i in programme(reg, YEAR, StaffMember(1, "Chair", "audit_chair")) if i.schedule == "action_plan_monitoring"]
    assert len(items) == 4 and not any(i.optional for i in items)
    plan = question(form(reg, "audit_report"), "recommendations", "action_plan")
    assert plan.required
    assert {c.key: c.type for c in plan.columns}["by_when"] == "date"
    assert "SMART" in section(form(reg, "audit_report"), "recommendations").title


def test_learning_is_recorded_with_how_it_was_shared(reg):
    shared = question(form(reg, "audit_report"), "learning", "shared")
    method = next(c for c in shared.columns if c.key == "method")
    assert tuple(o.label for o in method.options) == LEARNING_APPROACHES
    assert {"details", "date"} <= {c.key for c in shared.columns}
    assert schedule(reg, "learning_dissemination").frequency.at_most == THEMATIC_MAXIMUM


# --- agency responses have a deadline that is chased ----------------------------------------


def test_agency_responses_have_a_deadline_that_is_chased(reg):
    # CSCP 5.0: "respond to multi-agency audit requests within the agreed timescales".
    rules = {k.split(":", 1)[1]: s.value for k, s in reg.escalations.items() if k.startswith(f"{NS}:")}
    assert "respond to multi-agency audit requests within the agreed timescales" in rules["agency_response_overdue"].source
    w = workflow(reg, "agency_response")
    requested = wf.state(w, "requested")
    deadline = requested.deadline
    assert deadline is not None
    assert {"auditor", "qa_manager"} <= set(deadline.escalate_to)
    start = dt.datetime(2023, 5, 2, 9, 0, tzinfo=dt.timezone.utc)
    assert wf.due(deadline, start) > start
    # The deadline runs until the agency submits: its respondents send it to
    # the agency's signatory, who alone submits (PLAT-7).
    assert [t.key for t in w.transitions if "requested" in t.from_] == ["send_for_sign_off", "submit"]
    assert by(w, "submit") == ("auditor",) and by(w, "send_for_sign_off") == ("agency_respondent",)
    # Every return an agency makes to the CSCP runs on this workflow.
    for key in ("multi_agency_audit", "section_11", "section_175_157", "scorecard_return"):
        assert form(reg, key).workflow == "agency_response", key


def test_late_responses_are_chased_then_challenged(reg):
    rules = {k.split(":", 1)[1]: s.value for k, s in reg.escalations.items() if k.startswith(f"{NS}:")}
    first = rules["agency_response_overdue"]
    # The request's own deadline, and no other.
    assert (first.event, first.deadline, first.workflows, first.states) == ("deadline_passed", "state", ("agency_response",), ("requested",))
    # The agency lead is the return's auditor (issue 14).
    assert set(first.notify) == {"auditor", "qa_manager"}
    assert "Chase" in first.action and first.within_working_days == 10
    # Still not submitted when the chasing task falls due: the challenge.
    again = rules["agency_response_still_overdue"]
    assert (again.event, again.deadline, again.follow_ups, again.states) == (
        "deadline_passed", "follow_up", ("agency_response_overdue",), ("requested", "with_signatory"))
    assert again.notify == ("audit_chair",)
    # The agency lead's ladder climbs to the Audit Chair.
    assert reg.role(f"{NS}:agency_lead").escalates_to == "audit_chair"


# --- the four lenses ---------------------------------------------------------------------------


def test_the_four_lenses_with_the_seeds_descriptions(council):
    assert [heading for heading, _ in LENSES] == [lens.label for lens in council.lenses]
    assert [lens.key for lens in council.lenses] == ["independent", "provider", "professional", "citizen"]
    for lens, (heading, first_sentence) in zip(council.lenses, LENSES):
        assert _squash(first_sentence) in _squash(lens.description), heading


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


def test_every_quoted_source_is_in_the_seed(reg, council):
    sources = [(f"agency {a.key}", a.source) for a in council.agencies]
    sources += [(f"indicator {i.key}", i.source) for i in council.indicators]
    sources += [(f"schedule {s.key}", s.source) for s in schedules(reg)]
    sources += [(f"form {k[0]}", s.value.source) for k, s in reg.forms.items() if k[0].startswith(f"{NS}:")]
    sources += [(f"escalation {k}", s.value.source) for k, s in reg.escalations.items() if k.startswith(f"{NS}:")]
    sources += [(f"scale {k}", s.value.source) for k, s in reg.scales.items() if k.startswith(f"{NS}:")]
    checked = 0
    for name, text in sources:
        for phrase in quoted(text):
            assert in_the_framework(phrase), f"{name}: {phrase!r} is not in the seed"
            checked += 1
    assert checked > 40


def test_a_misquotation_is_caught():
    """The check above can fail: a changed word is not in the framework."""
    assert in_the_framework("a maximum of 4 multi-agency thematic audits each year")
    assert not in_the_framework("a maximum of 5 multi-agency thematic audits each year")
    assert not in_the_framework("Section 11 (annual)")


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
