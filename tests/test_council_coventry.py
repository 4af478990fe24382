"""The Coventry Children's QAF Plan 2017 as the ``coventry`` plugin's
definitions (C17-1..C17-4): roles, task rows, frequencies, themes.

Every expected value below was transcribed from the seed, the council's plan
as text extracted from its PDF (seed file 000_d3697d5ea7cff48f.txt; "L<n>" =
a line of it): role headings, task rows, the COMMENTS column and purpose
texts. The seed's cells are written here as data (SEED_ROWS), so the test
reads nothing outside the repository and still fails when the YAML in
councils/coventry/definitions drifts from the plan. Where the seed's month
ticks were lost the plugin records a ``reading``; the tests pin the reading
too, so changing it is a deliberate act.

These tests read definitions and call the pure programme expansion, so they
carry no requirement tag: what a person sees of the plan (the programme pages
on a real database) is proved in tests/test_coventry_programme_pages.py.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from core.plugins import load_plugins
from core.programme import StaffMember, expand
from core.settings import Settings

MONTHS = ["", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
D = dt.date

# Last working days of 2017 (England and Wales): 29 Apr/30 Apr and 30 Sep are
# weekends; 30/31 Dec a weekend and 25/26 Dec bank holidays.
LAST_WORKING_DAY_2017 = {
    1: D(2017, 1, 31), 2: D(2017, 2, 28), 3: D(2017, 3, 31), 4: D(2017, 4, 28),
    5: D(2017, 5, 31), 6: D(2017, 6, 30), 7: D(2017, 7, 31), 8: D(2017, 8, 31),
    9: D(2017, 9, 29), 10: D(2017, 10, 31), 11: D(2017, 11, 30), 12: D(2017, 12, 29),
}  # fmt: skip
QUARTER_ENDS_2017 = [LAST_WORKING_DAY_2017[m] for m in (3, 6, 9, 12)]


def _settings(tmp_path: Path, councils: tuple[str, ...]) -> Settings:
    return Settings(data_dir=tmp_path, database_url="sqlite:///unused", councils=councils, secret_key="k" * 40)


@pytest.fixture(scope="module")
def plugins(tmp_path_factory):
    return load_plugins(_settings(tmp_path_factory.mktemp("coventry"), ("coventry",)))


@pytest.fixture(scope="module")
def registry(plugins):
    return plugins.registry


def schedules(registry, role: str | None = None):
    found = [s.value for k, s in registry.schedules.items() if k.startswith("coventry:")]
    return [s for s in found if role is None or s.role == role]


def schedule(registry, key: str):
    return registry.schedules[f"coventry:{key}"].value


def describe(s) -> str:
    """A schedule's frequency in words, to compare with the seed's."""
    f = s.frequency
    if s.to_be_agreed:
        return "to be agreed"
    if f.every == "as_required":
        return "as required"
    words = {
        "year": "yearly" if f.times == 1 else f"{f.times}/year",
        "quarter": "quarterly" if f.times == 1 else f"{f.times}/quarter",
        "month": "monthly" if f.times == 1 else f"{f.times}/month",
        "n_weeks": f"every {f.interval} weeks",
        "n_months": f"every {f.interval} months",
    }
    parts = [words[f.every]]
    if f.months:
        parts.append("in " + ",".join(MONTHS[m] for m in f.months))
    if f.start_month:
        parts.append("from " + MONTHS[f.start_month])
    if f.count != 1:
        parts.append(f"x{f.count}")
    return " ".join(parts)


def programme(registry, staff, year=2017):
    return expand(registry, "coventry", year, staff)


def items_of(items, person_id: int, schedule_key: str):
    return [i for i in items if i.person_id == person_id and i.schedule == schedule_key]


# --- C17-1: every role the plan lists, each with its task rows --------------

# Role key -> words its label must carry (seed headings).
ROLES = {
    "practitioner": ("Practitioner",),
    "hp_service_manager": ("Service manager", "social care", "Help and Protection"),  # L7 "ER - SC"
    "hp_team_manager": ("Team manager", "social care", "Help and Protection"),  # L14
    "eh_service_manager": ("Service manager", "Early Help", "C&FF"),  # L23
    "cff_team_manager": ("Team manager", "C&FF"),  # L28
    "childrens_centre_manager": ("Children's centre manager",),  # L32
    "caf_coordinator": ("CAF co-ordinator",),  # L36
    "senior_leader": ("Senior leadership",),  # L46
    "iro": ("IRO",),  # L66
    "cp_chair": ("CP", "chair"),  # L66
    "iro_manager": ("IRO manager",),  # L66
    "cp_chair_manager": ("CP chair manager",),  # L66
    "designated_officer": ("Designated officer",),  # L66 "DESIGNATED OFFICERS"
    "commissioning": ("Commissioning",),  # L110
    "yos_service_manager": ("Service manager", "Youth Offending"),  # L147
    "yos_case_manager": ("Case manager", "Youth Offending"),  # L150
    "route21_service_manager": ("Service manager", "Route 21"),  # L163
    "route21_team_manager": ("Team manager", "Route 21"),  # L168
    "cwd_service_manager": ("Service manager", "Children's Disability"),  # L173
    "cwd_team_manager": ("Team manager", "Children's Disability"),  # L179
    "fa_service_manager": ("Service manager", "Fostering and Adoption"),  # L184
    "fa_team_manager": ("Team manager", "Fostering and Adoption"),  # L188
    "lt_lac_service_manager": ("Service manager", "Long-term Looked After Children"),  # L192
    "lt_lac_team_manager": ("Team manager", "Long-term Looked After Children"),  # L199
    "external_auditor": ("External auditors",),  # L207
    "strategic_improvement_lead": ("Strategic Lead for Improvement",),  # L209 purpose
}

# Role -> (activity, frequency) for every task row, from the seed's TASK and
# COMMENTS columns (or the purpose, where the frequency is written there).
# Commissioning rows have no TASK text: they are listed by purpose.
SUPERVISION = "Supervision Assessments Plans"
CASE_FILE_SM = [("Case File", "quarterly"), ("Observation of Practice", "3/year"), (SUPERVISION, "3/year")]
CASE_FILE_TM = [("Case File", "quarterly"), ("Re-Audit Case File", "2/year in Feb,Aug"), (SUPERVISION, "2/year")]
IRO_CP = [("Case File", "quarterly"), ("Re-Audit", "2/year in Feb,Aug"), ("Dip Sample", "2/year")]
ROWS = {
    # L10 "audit 1 case on a quarterly basis"; L11 "3 times per year"; L12 "3 plans per year (1 per quarter)"
    "hp_service_manager": [("Case File Audit", "quarterly"), ("Observation of Practice", "3/year"), (SUPERVISION, "3/year")],
    # L17 "as per schedule"; L18 "re-audit 1 case twice yearly" (+ L214 Feb and Aug); L19 "1 plan, twice yearly"
    "hp_team_manager": CASE_FILE_TM,
    # L25 "3 times per year. To commence in June"; L26 "1 case. To commence in July"; L27 "in October"
    "eh_service_manager": [
        ("Supervision Observation", "3/year from Jun"),
        ("Reflective", "yearly in Jul from Jul"),
        ("Re-Audit", "yearly in Oct"),
    ],
    "cff_team_manager": [("Case File", "quarterly"), ("Re-Audit Case File", "2/year in Feb,Aug")],  # L30-L31
    "childrens_centre_manager": [("Practice Case Audit", "quarterly"), ("Practice Observation", "2/year")],  # L34-L35
    "caf_coordinator": [("Reflective Practice Case Audit", "quarterly from Jun")],  # L38 "commencing in June"
    "senior_leader": [
        ("Social Care Case File", "quarterly"),  # L49
        ("Early Help Reflective (CAF)", "quarterly"),  # L50
        ("Visit LAC in Placement", "2/year"),  # L55-L59 "To complete 2 visits per year"
        ("Quality Assure Audit Process", "to be agreed"),  # L64
        ("Thematic audit", "as required"),  # L211-L229 AUDIT THEMES (C17-3): started on a theme when needed
    ],
    "iro": IRO_CP,  # L66 "as per schedule" x2, "twice yearly"
    "cp_chair": IRO_CP,
    "iro_manager": [("LAC Review", "3/year x2"), ("Dip Sample", "3/year x2"), ("Observation of Practice", "2/year x2")],
    "cp_chair_manager": [("CP Review", "3/year x2"), ("Dip Sample", "3/year x2"), ("Observation of Practice", "2/year x2")],
    "designated_officer": [("DO/LAC", "as required")],  # L104 "To be aligned with existing programme"
    "commissioning": [
        # RESIDENTIAL L115-L123
        ("Quarterly visit to all Coventry Hexagon block provision", "quarterly"),
        ("6 weekly contract meetings with Hexagon", "every 6 weeks"),
        ("Quarterly visit to the Verve and Progress Coventry provision", "quarterly"),
        ("Ad-hoc visits to Out of City spot provision", "as required"),
        ("Annual self -assessment", "yearly"),
        ("Obtain and monitor action plans for all Inadequate and Requires Improvement providers", "as required"),
        ("Monthly reporting on Ofsted ratings and issues to Corporate Parenting Board", "monthly"),
        ("Monthly review of Reg 44 reports to identify issues and concerns.", "monthly"),
        ("As required responses to complaints and issues", "as required"),
        # FOSTERING L126-L132
        ("Quarterly review of placements to identify top 5 Providers (80% of provision)", "quarterly"),
        ("Quarterly feedback from social workers and IROs on placements with top 5 Providers", "quarterly"),
        (
            "Quarterly contract meetings with top 5 Providers to review placement stability, outcomes, "
            "contract issues and sufficiency",
            "quarterly",
        ),
        ("Obtain and monitor action plans for all Inadequate and Requires Improvement providers", "as required"),
        ("Annual self assessment", "yearly"),
        ("As required responses to complaints and issues", "as required"),
        # SUPPORTED ACCOMMODATION L135-L139
        ("SARP panel to review cases of young people at risk of eviction", "as required"),
        (
            "Quarterly monitoring returns from all block and spot providers to measure occupancy, safeguarding "
            "issues, inter-agency working and feedback from stakeholders and residents.",
            "quarterly",
        ),
        (
            "Quarterly visits to block and spot providers where concerns are identified during the quarter "
            "e.g. complaints, placement breakdowns.",
            "quarterly",
        ),
        ("Annual self assessment", "yearly"),
        ("As required responses to complaints and issues", "as required"),
        # ALL PROVISION L142-L143
        (
            "Bi-Monthly audit of placements to review identification of risk and need, recording, matching, "
            "coordination between agencies and the quality of the placement",
            "every 2 months",
        ),
        (
            "Six weekly market management meeting with placements and social care to review all quality "
            "issues during the quarter",
            "every 6 weeks",
        ),
    ],
    "yos_service_manager": [("YJB National Standards", "to be agreed")],  # L149
    "yos_case_manager": [  # L152-L154
        ("Case File", "quarterly"),
        ("Case File (Safeguarding Board Audits)", "as required"),
        ("National Standard Contact", "monthly"),
    ],
    "route21_service_manager": CASE_FILE_SM,  # L165-L167
    "route21_team_manager": CASE_FILE_TM,  # L170-L172
    "cwd_service_manager": CASE_FILE_SM,  # L175-L178
    "cwd_team_manager": CASE_FILE_TM,  # L181-L183
    # L186 "1 x visit, 3 times per year"; L187 "3 times per year"
    "fa_service_manager": [("Regulation 44 Visits and Actions", "3/year"), ("Observation of Practice", "3/year")],
    # L190 "as per schedule"; L191 "as per schedule (number tba)"
    "fa_team_manager": [("Case File", "quarterly"), ("Fostering and Adoption", "quarterly")],
    "lt_lac_service_manager": CASE_FILE_SM,  # L195-L197
    "lt_lac_team_manager": CASE_FILE_TM,  # L201-L203
    # L209 "150 x ... in January/February 150 x ... in September/October"
    "external_auditor": [("Case File", "2/year in Feb,Oct x150")],
}


def test_every_role_the_plan_lists_is_defined_with_its_label(registry):
    roles = {role.key: role for role in registry.roles_of("coventry")}
    assert set(roles) == set(ROLES)
    for key, words in ROLES.items():
        for word in words:
            assert word in roles[key].label, f"{key}: {word!r} not in {roles[key].label!r}"
    council = registry.council("coventry")
    assert council.name == "Coventry Children's Services"
    assert council.year_start_month == 1  # the grids run JAN..DEC
    assert council.cycles is None  # no monthly allocation cycle in the plan
    assert council.practitioner_role == "practitioner"
    assert council.team_manager_role == "hp_team_manager"
    assert {c.key for c in council.case_categories} >= {"cin", "cp", "lac", "early_help", "care_leaver", "cwd"}


def test_the_escalation_ladder_climbs_each_service_to_senior_leadership(registry):
    roles = {role.key: role for role in registry.roles_of("coventry")}
    # Each team manager reports to the service manager of the same heading.
    pairs = {
        "practitioner": "hp_team_manager",
        "hp_team_manager": "hp_service_manager",
        "cff_team_manager": "eh_service_manager",
        "childrens_centre_manager": "eh_service_manager",
        "caf_coordinator": "eh_service_manager",
        "iro": "iro_manager",
        "cp_chair": "cp_chair_manager",
        "yos_case_manager": "yos_service_manager",
        "route21_team_manager": "route21_service_manager",
        "cwd_team_manager": "cwd_service_manager",
        "fa_team_manager": "fa_service_manager",
        "lt_lac_team_manager": "lt_lac_service_manager",
        "external_auditor": "strategic_improvement_lead",
    }
    for role, manager in pairs.items():
        assert roles[role].escalates_to == manager, role
    assert roles["senior_leader"].escalates_to is None
    for key in roles:
        seen, current = [], key
        while roles[current].escalates_to:
            current = roles[current].escalates_to
            seen.append(current)
        assert key == "senior_leader" or seen[-1] == "senior_leader", (key, seen)
    # Every role with an audit, re-audit, dip sample, review or placement audit row may audit.
    auditors = {k for k, r in roles.items() if "audit" in r.capabilities}
    assert auditors == set(ROLES) - {"practitioner", "fa_service_manager", "strategic_improvement_lead"}
    assert "qa_review" in roles["senior_leader"].capabilities  # L64 quality-assure the audit process


def test_each_role_has_exactly_the_plans_task_rows_and_frequencies(registry):
    actual: dict[str, list[tuple[str, str]]] = {}
    for s in schedules(registry):
        label = s.purpose if s.role == "commissioning" else s.activity
        actual.setdefault(s.role, []).append((label, describe(s)))
    expected = {role: sorted(rows) for role, rows in ROWS.items()}
    assert {role: sorted(rows) for role, rows in actual.items()} == expected
    # Every task row of the plan, one per role it names, and the AUDIT THEMES
    # page's thematic audit (C17-3).
    assert len(schedules(registry)) == 81


# --- The seed's task rows, as data ------------------------------------------
#
# (line, TASK, PURPOSE, COMMENTS) for every task row of the plan and of its
# AUDIT THEMES page (THEME, PURPOSE OF AUDIT, COMMENTS), cell by cell as the
# seed has them, misreadings included ("I ()hservation of Practice I" L187,
# "vear" L66). "" is a blank cell. The JAN..DEC grids are left out: their
# ticks were lost in extraction (see VISITS_PER_MONTH for the one column
# that survived).

# Purposes the plan repeats word for word.
CASE_RECORDS = (  # L165, L170, L175, L181, L195, L201
    "Monitor case records against good quality assessment standards with practitioners, planning, and "
    "management analysis, and decision-making, evidence of multi-disciplinary activity, audit at "
    "transfer or step down point to be recorded"
)
OBSERVE = (  # L11, L166, L176, L187, L196
    "Observe Quality of Practice. Complete 1 Practice Observation e.g. home visits/core groups/LAC reviews"
)
SAP = "Supervision, Assessments & Plans"  # L12, L19, L167, L172, L178, L183, L197, L203
RE_AUDIT_1X = (  # L171, L182, L202
    "1 x Case File Audit - Identify possible trends, gaps and issues that warrant further analysis and action"
)
LAC_VISIT = (  # L55-L59
    "Safeguarding visits of LAC placed out of City. Visit LAC in placement - Ascertain wishes and feelings"
)
IRO_CP_OBSERVE = (  # L66, IRO MANAGER and CP CHAIR MANAGER
    "Observe quality of practice - Complete at least 1 practice observations. E.g., home visits/core "
    "groups/LAC Reviews/Conferences. Dedicated feedback to worker"
)

# fmt: off
SEED_ROWS: tuple[tuple[int, str, str, str], ...] = (
    # HELP AND PROTECTION (L5), SERVICE MANAGER "ER - SC" (L7)
    (10, "Case File Audit",
     "Monitor case records against good quality assessment standards with practitioners, planning, and "
     "management analysis, and decision-making, evidence of multi-disciplinary activity, audit at "
     "transfer or step down point to be recorded. 1 per manager",
     "Each manager to audit 1 case on a quarterly basis"),
    (11, "Observation of Practice",
     OBSERVE,
     "Each manager to complete an observation of practice, 3 times per year"),
    (12, "Supervision Assessments Plans",
     SAP,
     "Each manager to review 3 plans per year (1 per quarter)"),
    # TEAM MANAGER - SOCIAL CARE (L14)
    (17, "Case File",
     "1 x Case File Audit per manager - Audit case records against quality standards with "
     "practitioners to include themes such as DV and Neglect",
     "Each manager to audit 1 case as per schedule"),
    (18, "Re-Audit Case File",
     "1 x Case File Audit per manager - Identify possible trends, gaps and issues that warrant further "
     "analysis and action",
     "Each manager to re-audit 1 case twice yearly"),
    (19, "Supervision Assessments Plans",
     SAP,
     "Each manager to review 1 plan, twice yearly"),
    # EARLY HELP AND PREVENTION (L22), SERVICE MANAGER - Early Help & C&FF (L23)
    (25, "Supervision Observation",
     "Supervision observation to assess how well we support our workforce to deliver the best for "
     "children and families. Complete 1 supervision observation",
     "Each manager to observe Supervision, 3 times per year. To commence in June"),
    (26, "Reflective",
     "Qualitative reflective practice case audit to assess how well we are helping children and "
     "families. Identify possible trends, gaps and issues that warrant further analysis and action",
     "Each manager to audit 1 case. To commence in July"),
    (27, "Re-Audit",
     "Re-audit of qualitative reflective practice case to assess how well we are helping children and "
     "families. Identify possible trends, gaps and issues that warrant further analysis and action",
     "Each manager to re-audit 1 case in October"),
    # TEAM MANAGER - C&FF (L28)
    (30, "Case File",
     "1 x Case File Audit - Audit case records against quality standards",
     "Each manager to audit 1 case as per schedule"),
    (31, "Re-Audit Case File",
     "1 x Case File Re- Audit - Identify possible trends, gaps and issues that warrant further "
     "analysis and action",
     "Each manager to re-audit 1 case as per schedule"),
    # CHILDREN'S CENTRE MANAGERS (L32)
    (34, "Practice Case Audit",
     "Monitor CAF case records against good quality assessment standards with practitioners, planning "
     "and management analysis and decision making. Evidence of multi-disciplinary activity, audit at "
     "transfer or step down point to be recorded",
     "Each manager to complete 1 Practice Case audit as per schedule"),
    (35, "Practice Observation",
     "Observe a supervision led by a senior reporting directly to the team manager",
     "Each manager to complete an observation, twice yearly"),
    # CAF CO-ORDINATORS (L36); the purpose is cut off after "how well"
    (38, "Reflective Practice Case Audit",
     "Compliance and qualitative reflective practice case audit to assess how well",
     "Each co-ordinator to complete audit as per schedule commencing in June"),
    # SAFEGUARDING, EARLY HELP AND PREVENTION (L44), SENIOR LEADERSHIP (L46)
    (49, "Social Care Case File",
     "Monitor 1 x case records against good quality assessment standards with practitioners, planning, "
     "and management analysis, and decision-making, evidence of multi-disciplinary activity, audit at "
     "transfer or step down point to be recorded.",
     "Each member of SLT to audit 1 SC case as per schedule"),
    (50, "Early Help Reflective (CAF)",
     "1 x Qualitative reflective practice case audit to assess how well we are helping children and "
     "families. Identify possible trends, gaps and issues that warrant further analysis and action.",
     "Each member of SLT to audit 1 Early Help case as per schedule"),
    # Visit LAC in Placement (L52): five rows, their TASK cells (names) blank
    (55, "",
     LAC_VISIT,
     "To complete 2 visits per year"),
    (56, "",
     LAC_VISIT,
     "To complete 2 visits per year"),
    (57, "",
     LAC_VISIT,
     "To complete 2 visits per year"),
    (58, "",
     LAC_VISIT,
     "To complete 2 visits per year"),
    (59, "",
     LAC_VISIT,
     "To complete 2 visits per year"),
    # Quality Assurance (L61)
    (64, "Neil Macdonald - Quality Assure Audit Process",
     "Ensure Audits conducted are reviewed and assessed against good quality audit to ensure "
     "consistency across the service",
     "Process and timescale to be agreed"),
    # QUALITY AND PERFORMANCE, IRO & CP CHAIRS (L66). The whole page is one line
    # whose cells are interleaved; each cell is put back in its row here.
    (66, "Case File",
     "4 x Case File Audit - Audit case records against quality standards with practitioners "
     "(2 IRO & 2 CP Chairs)",
     "To audit 4 x cases as per schedule"),
    (66, "Re-Audit",
     "4 x Case File Audit - Identify possible trends, gaps and issues that warrant further analysis "
     "and action (2 IRO & 2 CP Chairs)",
     "To re-audit 4 x cases as per schedule"),
    (66, "Dip Sample",
     "4 x Cases -Dip Sampling - Identify possible trends, gaps and issues that warrant further "
     "analysis and action (2 IRO & 2 CP Chairs)",
     "To 'dip sample' 4 x cases (themes tbc) twice yearly"),
    # IRO MANAGER (L66)
    (66, "LAC Review",
     "Monitor quality of 2 x LAC review records",
     "To complete 2 x Reviews; 3 times per year"),
    (66, "Dip Sample",
     "Review Minutes of IRO Meetings",
     "To dip sample minutes of at least 2 cases; 3 times per vear"),
    (66, "Observation of Practice",
     IRO_CP_OBSERVE,
     "To complete 2 x observations at least twice yearly"),
    # CP CHAIR MANAGER (L66)
    (66, "CP Review",
     "Monitor quality of 2 x CP Conference records",
     "To complete 2 x Reviews; 3 times per year"),
    (66, "Dip Sample",
     "Review Minutes of CP Meeting",
     "To dip sample minutes of at least 2 cases; 3 times per vear"),
    (66, "Observation of Practice",
     IRO_CP_OBSERVE,
     "To complete 2 x observations at least twice yearly"),
    # DESIGNATED OFFICERS (L66): one row laid out a cell per line, TASK L70,
    # PURPOSE L74-L76, COMMENTS L104.
    (70, "DO/LAC",
     "Review of LADO case progression and ensure child protection measures have been identified and "
     "delivered",
     "To be aligned with existing programme"),
    # QUALITY AND PERFORMANCE - COMMISSIONING (L110), RESIDENTIAL (L113). No TASK
    # text on any row; L115's TASK and grid cells are the header misread ("TASK",
    # "JAIN", "CONNINIENTS"), not cells of the row.
    (115, "",
     "Quarterly visit to all Coventry Hexagon block provision",
     ""),
    (116, "",
     "6 weekly contract meetings with Hexagon",
     ""),
    (117, "",
     "Quarterly visit to the Verve and Progress Coventry provision",
     ""),
    (118, "",
     "Ad-hoc visits to Out of City spot provision",
     ""),
    (119, "",
     "Annual self -assessment",
     ""),
    (120, "",
     "Obtain and monitor action plans for all Inadequate and Requires Improvement providers",
     ""),
    (121, "",
     "Monthly reporting on Ofsted ratings and issues to Corporate Parenting Board",
     ""),
    (122, "",
     "Monthly review of Reg 44 reports to identify issues and concerns.",
     ""),
    (123, "",
     "As required responses to complaints and issues",
     ""),
    # FOSTERING (L124)
    (126, "",
     "Quarterly review of placements to identify top 5 Providers (80% of provision)",
     ""),
    (127, "",
     "Quarterly feedback from social workers and IROs on placements with top 5 Providers",
     ""),
    (129, "",
     "Quarterly contract meetings with top 5 Providers to review placement stability, outcomes, "
     "contract issues and sufficiency",
     ""),
    (130, "",
     "Obtain and monitor action plans for all Inadequate and Requires Improvement providers",
     ""),
    (131, "",
     "Annual self assessment",
     ""),
    (132, "",
     "As required responses to complaints and issues",
     ""),
    # SUPPORTED ACCOMMODATION (L133)
    (135, "",
     "SARP panel to review cases of young people at risk of eviction",
     ""),
    (136, "",
     "Quarterly monitoring returns from all block and spot providers to measure occupancy, "
     "safeguarding issues, inter-agency working and feedback from stakeholders and residents.",
     ""),
    (137, "",
     "Quarterly visits to block and spot providers where concerns are identified during the quarter "
     "e.g. complaints, placement breakdowns.",
     ""),
    (138, "",
     "Annual self assessment",
     ""),
    (139, "",
     "As required responses to complaints and issues",
     ""),
    # ALL PROVISION (L140)
    (142, "",
     "Bi-Monthly audit of placements to review identification of risk and need, recording, matching, "
     "coordination between agencies and the quality of the placement",
     ""),
    (143, "",
     "Six weekly market management meeting with placements and social care to review all quality "
     "issues during the quarter",
     ""),
    # YOUTH OFFENDING SERVICES (L146), SERVICE MANAGER (L147); no COMMENTS on any YOS row
    (149, "YJB National Standards",
     "To identify a set of National standards which must be audited to include QA of Quality and "
     "adherence to timeliness targets",
     ""),
    # CASE MANAGERS (L150)
    (152, "Case File",
     "1 x Case File Audit - Audit case records against learning actions from our HMIP Short Quality "
     "Screening Action Plan",
     ""),
    (153, "Case File",
     "To participate in Safeguarding Board Audits, in line with their audit timetable",
     ""),
    (154, "National Standard Contact",
     "Monthly levels of national standard contact",
     ""),
    # LOOKED AFTER CHILDREN (L160), ROUTE 21 SERVICE MANAGER (L163)
    (165, "Case File",
     CASE_RECORDS,
     "To audit 1 case on a quarterly basis"),
    (166, "Observation of Practice",
     OBSERVE,
     "To complete an observation of practice, 3 times per year"),
    (167, "Supervision Assessments Plans",
     SAP,
     "To review 3 plans per year as per schedule"),
    # ROUTE 21 - TEAM MANAGERS (L168)
    (170, "Case File",
     CASE_RECORDS,
     "Each manager to audit 1 case as per schedule"),
    (171, "Re-Audit Case File",
     RE_AUDIT_1X,
     "Each manager to re- audit 1 case as per schedule"),
    (172, "Supervision Assessments Plans",
     SAP,
     "Each manager to review 1 plan , twice yearly"),
    # CHILDREN'S DISABILITY - SERVICE MANAGER (L173)
    (175, "Case File",
     CASE_RECORDS,
     "To audit 1 case on a quarterly basis"),
    (176, "Observation of Practice",
     OBSERVE,
     "To complete an observation of practice, 3 times per year"),
    (178, "Supervision Assessments Plans",
     SAP,
     "To review 3 plans per year as per schedule"),
    # CHILDREN'S DISABILITY - TEAM MANAGERS (L179); L182's TASK cell is blank
    (181, "Case File",
     CASE_RECORDS,
     "Each manager to audit 1 case as per schedule"),
    (182, "",
     RE_AUDIT_1X,
     "Each manager to re-audit 1 case as per schedule"),
    (183, "Supervision Assessments Plans",
     SAP,
     "Each manager to review 1 plan , twice yearly"),
    # FOSTERING AND ADOPTION - SERVICE MANAGERS (L184); L186's TASK survives as "and Actions"
    (186, "and Actions",
     "Independent Regulation 44 visits of Children's Homes to undertake the role of Independent "
     "visitor and QA standards of care. Strategic Manager to quality assure all visits and ensure "
     "actions are taken forward",
     "Each manager to complete 1 x visit, 3 times per year"),
    (187, "I ()hservation of Practice I",
     OBSERVE,
     "To complete an observation of practice, 3 times per year"),
    # FOSTERING AND ADOPTION - TEAM MANAGERS (L188)
    (190, "I Case File",
     "1 x Case File Audit - Audit case records against quality standards with practitioners",
     "Each manager to audit 1 case as per schedule"),
    (191, "Fostering and Adoption",
     "Monitor support given to adopters/foster carers including supervision, training etc.",
     "Each manager to monitor support provided to families as per schedule (number tba)"),
    # LONG-TERM LOOKED AFTER CHILDREN - SERVICE MANAGER (L192)
    (195, "Case File",
     CASE_RECORDS,
     "To audit 1 case on a quarterly basis"),
    (196, "Observation of Practice",
     OBSERVE,
     "To complete an observation of practice, 3 times per year"),
    (197, "Supervision Assessments Plans",
     SAP,
     "To review 3 plans per year as per schedule"),
    # LONG TERM LOOKED AFTER CHILDREN - TEAM MANAGERS (L199)
    (201, "Case File",
     CASE_RECORDS,
     "Each manager to audit 1 case as per schedule"),
    (202, "Re-Audit Case File",
     RE_AUDIT_1X,
     "Each manager to re-audit 1 case as per schedule"),
    (203, "Supervision Assessments Plans",
     SAP,
     "Each manager to review 1 plan , twice yearly"),
    # EXTERNAL AUDIT (L206), EXTERNAL AUDITORS (L207)
    (209, "Case File",
     "Case file audit to assess how well thresholds are being applied. 150 cases to be audited based "
     "on a thematic rota. Strategic Improvement Lead for Improvement to compile a report based on "
     "findings",
     "150 x Case file audits to be conducted in January/February 150 x Case file audits to be "
     "conducted in September/October"),
    # AUDIT THEMES (L212): THEME, PURPOSE OF AUDIT, COMMENTS
    (214, "Full Case File Audit",
     "To audit case records against quality standards. Re-audit will identify possible trends, gaps "
     "and issues that warrant further analysis and action",
     "Re-audit: February and August"),
    (215, "CP Plans over 18 Months",
     "To identify possible trends, gaps and issues that warrant further analysis and action",
     ""),
    (216, "Emerging Themes from External Audits",
     "To audit themes arising from the audits completed by the External Auditors that raise areas of "
     "concern",
     ""),
    (217, "Re-referrals (within 12 months of previous referral)",
     "To identify any themes in relation to re referrals which might suggest the need for practice "
     "improvement. In identifying any areas for improvement the relevant heads of service with their "
     "staff can then look at developing an action plan to ensure that improvements to practice are "
     "facilitated. The audit will also identify areas of strength which should be embedded across the "
     "service.",
     ""),
    (218, "CIN",
     "To audit cases of CIN as per Ofsted schedule",
     ""),
    (219, "Young Carers",
     "To identify any themes in relation to Young Carers which might suggest the need for practice "
     "improvement.",
     ""),
    (220, "Emerging themes from Performance Report",
     "To identify emerging themes from the monthly performance report that warrant further investigation",
     ""),
    (221, "Private Fostering",
     "To ensure that all children classed by Coventry City Council as privately fostered have an "
     "appropriate assessment of their needs",
     ""),
    (222, "Children with disabilities",
     "To consider whether the safeguarding needs of disabled children have been effectively "
     "identified, quality and timeliness of transition planning, assessed and acted upon",
     ""),
    (223, "Adoption",
     "To identify any themes in relation to Adoption which might suggest the need for practice "
     "improvement. The audit will also identify areas of strength which should be embedded across the "
     "service.",
     ""),
    (224, "Domestic Violence",
     "To identify any themes in relation to Domestic Violence which might suggest the need for "
     "practice improvement. The audit will also identify areas of strength which should be embedded "
     "across the service.",
     ""),
    (225, "FDAC",
     "To identify any themes in relation to FDAC cases which might suggest the need for practice "
     "improvement.",
     ""),
    (226, "Neglect",
     "To identify any themes in relation to Neglect which might suggest the need for practice improvement.",
     ""),
    (227, "Young people age 13-16 coming into Care",
     "To identify any themes in relation to Young People (13-16) coming into care which might suggest "
     "the need for practice improvement. The audit will evidence that YP have an understanding about "
     "why they are coming into care and to also identify areas of strength which should be embedded "
     "across the service.",
     ""),
    (228, "Young people in Care",
     "To evidence that Young People in care have an understanding about why they are in care.",
     ""),
    (229, "Children seen and impact",
     "To identify any themes in relation to Children See and Impact which might suggest the need for "
     "practice improvement.",
     ""),
)
# fmt: on

# L55-L59: the VISIT PER MONTH column of the five "Visit LAC in Placement" rows.
VISITS_PER_MONTH = {55: "1", 56: "1", 57: "1", 58: "1", 59: "1"}
# Extraction slips a schedule's source may quote corrected, with a note:
# L66 "3 times per vear" (both managers' dip samples).
SLIPS = (("per vear", "per year"),)


def _cited_lines(source: str) -> set[int]:
    """The seed lines a source names: "L18", "L55-L59", "L18 ...; L214 ..."."""
    lines: set[int] = set()
    for first, last in re.findall(r"\bL(\d+)(?:-L(\d+))?", source):
        lines.update(range(int(first), int(last or first) + 1))
    return lines


def _seed_rows(lines: set[int]) -> list[tuple[int, str, str, str]]:
    return [row for row in SEED_ROWS if row[0] in lines]


def _seed_text(lines: set[int]) -> str:
    cells = [cell for row in _seed_rows(lines) for cell in row[1:]]
    cells += [VISITS_PER_MONTH[n] for n in sorted(lines & set(VISITS_PER_MONTH))]
    return _norm(" | ".join(cells))


def test_every_schedule_quotes_the_seed_it_comes_from(registry):
    def appears(quote: str, text: str) -> bool:
        pieces = [_norm(p) for p in quote.split("...") if p.strip()]
        corrected = text
        for slip, word in SLIPS:
            corrected = corrected.replace(slip, word)
        return bool(pieces) and (all(p in text for p in pieces) or all(p in corrected for p in pieces))

    cited_by_any: set[int] = set()
    for s in schedules(registry):
        assert s.source, s.key
        lines = _cited_lines(s.source)
        assert _seed_rows(lines), f"{s.key}: {s.source!r} names no task row of the seed"
        cited_by_any |= lines
        text = _seed_text(lines)
        quotes = re.findall(r'"([^"]+)"', s.source)
        assert quotes, f"{s.key}: source quotes nothing"
        for quote in quotes:
            assert appears(quote, text), f"{s.key}: {quote!r} is not in seed lines {sorted(lines)}"
        # The purpose is the PURPOSE cell of the row it cites, word for word.
        purposes = {_norm(row[2]) for row in _seed_rows(lines)}
        assert s.purpose and _norm(s.purpose) in purposes, f"{s.key}: purpose is not that of seed lines {sorted(lines)}"
    # Every task row of the plan (L10-L209) is the source of a schedule.
    task_rows = {row[0] for row in SEED_ROWS if row[0] < 214}
    assert task_rows - cited_by_any == set()
    # Every theme is its row of the AUDIT THEMES page (L214-L229): the THEME
    # cell its label, the PURPOSE OF AUDIT (and COMMENTS) its description.
    themes = registry.council("coventry").themes
    assert [row[0] for row in SEED_ROWS if row[0] >= 214] == list(range(214, 230))
    for theme in themes:
        (line,) = _cited_lines(theme.source.split(":")[0])
        ((_, label, purpose, comments),) = _seed_rows({line})
        assert theme.label == label, theme.key
        assert _norm(theme.description) == _norm(f"{purpose} {comments}"), theme.key
    assert sorted(_cited_lines(" ".join(t.source.split(":")[0] for t in themes))) == list(range(214, 230))


def test_senior_leaders_visit_looked_after_children_out_of_city_twice_a_year_each(registry):
    s = schedule(registry, "slt_visit_lac_in_placement")
    assert "LAC placed out of City" in s.purpose and "2 visits per year" in s.source
    staff = [StaffMember(1, "SLT one", "senior_leader"), StaffMember(2, "SLT two", "senior_leader")]
    items = programme(registry, staff)
    for person in (1, 2):
        visits = items_of(items, person, "slt_visit_lac_in_placement")
        assert [(i.due, i.count) for i in visits] == [(D(2017, 6, 30), 1), (D(2017, 12, 29), 1)]


def test_iro_manager_and_cp_chair_manager_reviews_dip_samples_and_observations(registry):
    staff = [StaffMember(1, "IRO manager", "iro_manager"), StaffMember(2, "CP chair manager", "cp_chair_manager")]
    items = programme(registry, staff)
    three_a_year = [D(2017, 4, 28), D(2017, 8, 31), D(2017, 12, 29)]
    for person, review in ((1, "iro_manager_lac_review"), (2, "cp_chair_manager_cp_review")):
        reviews = items_of(items, person, review)
        # "To complete 2 x Reviews; 3 times per year"
        assert [i.due for i in reviews] == three_a_year and {i.count for i in reviews} == {2}
    for person, key in ((1, "iro_manager_dip_sample"), (2, "cp_chair_manager_dip_sample")):
        # "To dip sample minutes of at least 2 cases; 3 times per year"
        dips = items_of(items, person, key)
        assert len(dips) == 3 and sum(i.count for i in dips) == 6
    for person, key in ((1, "iro_manager_observation_of_practice"), (2, "cp_chair_manager_observation_of_practice")):
        # "To complete 2 x observations at least twice yearly"
        observations = items_of(items, person, key)
        assert [(i.due, i.count) for i in observations] == [(D(2017, 6, 30), 2), (D(2017, 12, 29), 2)]
    assert "IRO Meetings" in schedule(registry, "iro_manager_dip_sample").purpose
    assert "CP Meeting" in schedule(registry, "cp_chair_manager_dip_sample").purpose


def test_fostering_and_adoption_service_managers_do_regulation_44_visits_three_times_a_year(registry):
    s = schedule(registry, "fa_sm_regulation_44_visits")
    assert "Independent Regulation 44 visits of Children's Homes" in s.purpose
    items = items_of(programme(registry, [StaffMember(7, "F&A SM", "fa_service_manager")]), 7, s.key)
    assert [(i.due, i.count) for i in items] == [(D(2017, 4, 28), 1), (D(2017, 8, 31), 1), (D(2017, 12, 29), 1)]


def test_external_auditors_audit_150_case_files_in_jan_feb_and_in_sep_oct(registry):
    s = schedule(registry, "external_case_file_audit")
    assert "conducted in January/February" in s.source and "conducted in September/October" in s.source
    assert "January" in s.reading and "September" in s.reading  # the windows' first months
    items = items_of(programme(registry, [StaffMember(9, "External audit", "external_auditor")]), 9, s.key)
    assert [(i.due, i.count) for i in items] == [(D(2017, 2, 28), 150), (D(2017, 10, 31), 150)]


def test_qaf_plugins_check_passes_with_coventry_enabled(monkeypatch, tmp_path, capsys):
    from core.cli import main as qaf
    from core.settings import get_settings

    monkeypatch.setenv("QAF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QAF_COUNCILS", "coventry")
    get_settings.cache_clear()
    try:
        assert qaf(["plugins", "--check"]) == 0
        assert qaf(["plugins"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "coventry  (council coventry, councils.coventry)" in out
    assert "schedule coventry:external_case_file_audit" in out


def test_haringey_and_coventry_load_together_without_collisions(tmp_path):
    both = load_plugins(_settings(tmp_path, ("haringey", "coventry"))).registry
    assert set(both.councils) == {"haringey", "coventry"}
    # Both define an "iro" and a "cp_chair" role: qualified, they stay apart.
    assert both.role("haringey:iro").escalates_to == "head_of_qa"
    assert both.role("coventry:iro").escalates_to == "iro_manager"
    supplied = both.supplied_by()
    assert "role coventry:iro" in supplied["coventry"] and "role haringey:iro" in supplied["haringey"]
    assert len([k for k in both.schedules if k.startswith("coventry:")]) == 81
    coventry_keys = {k.split(":", 1)[1] for k in both.schedules if k.startswith("coventry:")}
    staff = [StaffMember(1, "An IRO", "iro"), StaffMember(2, "A team manager", "team_manager")]
    items = expand(both, "coventry", 2017, staff)
    assert items and {i.schedule for i in items} <= coventry_keys
    assert {i.person_id for i in items} == {1}  # "team_manager" is Haringey's role, not Coventry's
    assert not {i.schedule for i in expand(both, "haringey", 2017, staff)} & {"iro_dip_sample", "iro_re_audit"}


# --- C17-2: frequencies as written, expanded into dated items ---------------


def test_quarterly_case_file_audit_falls_due_at_each_quarter_end(registry):
    # L10 "Each manager to audit 1 case on a quarterly basis"
    s = schedule(registry, "hp_sm_case_file_audit")
    assert "on a quarterly basis" in s.source
    items = items_of(programme(registry, [StaffMember(1, "H&P SM", "hp_service_manager")]), 1, s.key)
    assert [(i.due, i.count) for i in items] == [(d, 1) for d in QUARTER_ENDS_2017]


def test_three_times_a_year_gives_three_items_spread_over_the_year(registry):
    # L11 "Each manager to complete an observation of practice, 3 times per year"
    items = items_of(
        programme(registry, [StaffMember(1, "H&P SM", "hp_service_manager")]), 1, "hp_sm_observation_of_practice"
    )
    assert [i.due for i in items] == [D(2017, 4, 28), D(2017, 8, 31), D(2017, 12, 29)]


def test_iro_and_cp_chair_dip_samples_twice_yearly_give_two_each(registry):
    # L66 "To 'dip sample' 4 x cases (themes tbc) twice yearly" (2 IRO & 2 CP Chairs)
    staff = [
        StaffMember(1, "IRO one", "iro"),
        StaffMember(2, "IRO two", "iro"),
        StaffMember(3, "CP chair one", "cp_chair"),
        StaffMember(4, "CP chair two", "cp_chair"),
    ]
    items = programme(registry, staff)
    for person, key in ((1, "iro_dip_sample"), (2, "iro_dip_sample"), (3, "cp_chair_dip_sample"), (4, "cp_chair_dip_sample")):
        dips = items_of(items, person, key)
        assert [(i.due, i.count) for i in dips] == [(D(2017, 6, 30), 1), (D(2017, 12, 29), 1)], person
    # Two IROs and two CP chairs: the row's "4 x cases" each time.
    june = [i for i in items if i.activity == "Dip Sample" and i.due == D(2017, 6, 30)]
    assert sum(i.count for i in june) == 4


def test_case_file_re_audits_twice_yearly_fall_in_february_and_august(registry):
    # L18 "re-audit 1 case twice yearly"; L214 "Re-audit: February and August"
    staff = [StaffMember(1, "TM social care", "hp_team_manager"), StaffMember(2, "Route 21 TM", "route21_team_manager")]
    items = programme(registry, staff)
    for person, key in ((1, "hp_tm_re_audit_case_file"), (2, "route21_tm_re_audit_case_file")):
        assert [i.due for i in items_of(items, person, key)] == [D(2017, 2, 28), D(2017, 8, 31)]
    # and "review 1 plan, twice yearly" has no named months: June and December.
    plans = items_of(items, 1, "hp_tm_supervision_assessments_plans")
    assert [i.due for i in plans] == [D(2017, 6, 30), D(2017, 12, 29)]


def test_to_commence_in_june_puts_the_first_caf_audit_in_june(registry):
    # L38 "Each co-ordinator to complete audit as per schedule commencing in June"
    s = schedule(registry, "caf_reflective_practice_case_audit")
    assert s.frequency.start_month == 6
    items = items_of(programme(registry, [StaffMember(1, "CAF co-ordinator", "caf_coordinator")]), 1, s.key)
    assert [i.due for i in items] == [D(2017, 6, 30), D(2017, 9, 29), D(2017, 12, 29)]


def test_supervision_observations_three_times_a_year_none_before_june(registry):
    # L25 "Each manager to observe Supervision, 3 times per year. To commence in June"
    s = schedule(registry, "eh_sm_supervision_observation")
    assert (s.frequency.every, s.frequency.times, s.frequency.start_month) == ("year", 3, 6)
    items = items_of(programme(registry, [StaffMember(1, "EH SM", "eh_service_manager")]), 1, s.key)
    assert len(items) == 3
    assert all(D(2017, 6, 1) <= i.due <= D(2017, 12, 31) for i in items)


def test_to_commence_in_june_puts_the_first_supervision_observation_in_june(registry):
    items = items_of(
        programme(registry, [StaffMember(1, "EH SM", "eh_service_manager")]), 1, "eh_sm_supervision_observation"
    )
    assert items[0].due == D(2017, 6, 30)


def test_reflective_audit_commences_in_july_and_its_re_audit_is_in_october(registry):
    # L26 "Each manager to audit 1 case. To commence in July"; L27 "re-audit 1 case in October"
    items = programme(registry, [StaffMember(1, "EH SM", "eh_service_manager")])
    assert [(i.due, i.count) for i in items_of(items, 1, "eh_sm_reflective")] == [(D(2017, 7, 31), 1)]
    assert [(i.due, i.count) for i in items_of(items, 1, "eh_sm_re_audit")] == [(D(2017, 10, 31), 1)]


def test_six_weekly_meetings_fall_every_six_weeks(registry):
    # L116 "6 weekly contract meetings with Hexagon"; L143 "Six weekly market management meeting"
    items = programme(registry, [StaffMember(1, "Commissioning", "commissioning")])
    expected = [D(2017, 2, 10), D(2017, 3, 24), D(2017, 5, 5), D(2017, 6, 16),
                D(2017, 7, 28), D(2017, 9, 8), D(2017, 10, 20), D(2017, 12, 1)]  # fmt: skip
    for key in ("res_hexagon_contract_meeting", "all_market_management_meeting"):
        dates = [i.due for i in items_of(items, 1, key)]
        assert dates == expected, key
        assert {(b - a).days for a, b in zip(dates, dates[1:])} == {42}


def test_bi_monthly_monthly_and_annual_commissioning_tasks(registry):
    items = programme(registry, [StaffMember(1, "Commissioning", "commissioning")])
    # L142 "Bi-Monthly audit of placements": every two months
    assert [i.due for i in items_of(items, 1, "all_placements_audit")] == [
        LAST_WORKING_DAY_2017[m] for m in (2, 4, 6, 8, 10, 12)
    ]
    # L121/L122 "Monthly reporting ...", "Monthly review of Reg 44 reports"; L154 "Monthly levels ..."
    for key in ("res_ofsted_reporting", "res_reg44_report_review"):
        assert [i.due for i in items_of(items, 1, key)] == list(LAST_WORKING_DAY_2017.values())
    contact = programme(registry, [StaffMember(2, "YOS CM", "yos_case_manager")])
    assert len(items_of(contact, 2, "yos_cm_national_standard_contact")) == 12
    # L119/L131/L138 "Annual self assessment": once a year
    for key in ("res_annual_self_assessment", "fos_annual_self_assessment", "sa_annual_self_assessment"):
        assert [i.due for i in items_of(items, 1, key)] == [D(2017, 12, 29)]
    # L115/L117/L126/L127/L129/L136/L137 "Quarterly ..."
    quarterly = [s.key for s in schedules(registry, "commissioning") if s.purpose.startswith("Quarterly")]
    assert len(quarterly) == 7
    for key in quarterly:
        assert [i.due for i in items_of(items, 1, key)] == QUARTER_ENDS_2017, key


def test_as_per_schedule_rows_say_how_the_lost_ticks_were_read(registry):
    rows = [s for s in schedules(registry) if "as per schedule" in s.source.lower()]
    assert len(rows) >= 20
    for s in rows:
        assert s.reading, f"{s.key}: 'as per schedule' with no reading"
        assert "per schedule" in s.reading or "3 plans per year" in s.reading, s.key
    # One-case audits "as per schedule" are read as quarterly; re-audits as Feb and Aug.
    for s in rows:
        if "re-audit" in s.source.lower() or "re- audit" in s.source.lower():
            assert s.frequency.months == (2, 8), s.key
        elif "audit 1" in s.source and "case" in s.source:
            assert s.frequency.every == "quarter", s.key


# --- C17-3: the audit themes ------------------------------------------------

THEMES = [  # L214-L229, in the plan's order
    "Full Case File Audit",
    "CP Plans over 18 Months",
    "Emerging Themes from External Audits",
    "Re-referrals (within 12 months of previous referral)",
    "CIN",
    "Young Carers",
    "Emerging themes from Performance Report",
    "Private Fostering",
    "Children with disabilities",
    "Adoption",
    "Domestic Violence",
    "FDAC",
    "Neglect",
    "Young people age 13-16 coming into Care",
    "Young people in Care",
    "Children seen and impact",
]


def test_the_audit_themes_list_has_every_theme_in_order(registry):
    themes = registry.council("coventry").themes
    assert [t.label for t in themes] == THEMES
    assert len({t.key for t in themes}) == len(THEMES)
    by_key = {t.key: t for t in themes}
    assert "within 12 months" in by_key["re_referrals_within_12_months"].label
    assert "over 18 Months" in by_key["cp_plans_over_18_months"].label
    assert "13-16" in by_key["young_people_13_16_coming_into_care"].label
    assert "External Auditors" in by_key["emerging_themes_external_audits"].description
    assert "monthly performance report" in by_key["emerging_themes_performance_report"].description
    assert by_key["cin"].description == "To audit cases of CIN as per Ofsted schedule"
    for theme in themes:
        assert theme.description and theme.source, theme.key


def test_full_case_file_audit_is_re_audited_in_february_and_august(registry):
    theme = {t.key: t for t in registry.council("coventry").themes}["full_case_file_audit"]
    assert "Re-audit: February and August" in theme.source
    assert "Re-audit: February and August" in theme.description
    # The case-file re-audit rows are scheduled in those months.
    re_audits = [
        s for s in schedules(registry) if s.activity in ("Re-Audit Case File", "Re-Audit") and s.role != "eh_service_manager"
    ]
    assert {s.role for s in re_audits} == {
        "hp_team_manager", "cff_team_manager", "route21_team_manager", "cwd_team_manager",
        "lt_lac_team_manager", "iro", "cp_chair",
    }  # fmt: skip
    for s in re_audits:
        assert s.frequency.months == (2, 8), s.key


# --- C17-4: "as required" and "to be agreed" without an invented frequency ---


def test_quality_assurance_of_the_audit_process_is_present_and_undated(registry):
    s = schedule(registry, "slt_quality_assure_audit_process")
    assert s.to_be_agreed and "Process and timescale to be agreed" in s.source
    assert "Neil Macdonald" in s.source
    assert not s.frequency.months and s.frequency.start_month is None
    staff = [
        StaffMember(1, "Neil Macdonald", "senior_leader", post="Quality Assurance"),
        StaffMember(2, "Another SLT member", "senior_leader"),
    ]
    for year in (2017, 2018):
        items = programme(registry, staff, year)
        mine = items_of(items, 1, s.key)
        assert [(i.due, i.count, i.note) for i in mine] == [(None, 1, "process and timescale to be agreed")]
        assert items_of(items, 2, s.key) == []  # the plan names one person for it


def test_as_required_tasks_are_present_once_and_undated(registry):
    as_required = [s for s in schedules(registry) if s.frequency.every == "as_required" and not s.to_be_agreed]
    # L118 ad-hoc, L120/L130 action plans, L123/L132/L139 complaints, L135 SARP,
    # L104 designated officers, L153 Safeguarding Board audits, and L214-L229's
    # thematic audits (C17-3), started on a theme when needed.
    assert len(as_required) == 10
    complaints = [s for s in as_required if s.purpose == "As required responses to complaints and issues"]
    assert len(complaints) == 3
    staff = [
        StaffMember(1, "Commissioning", "commissioning"),
        StaffMember(2, "DO", "designated_officer"),
        StaffMember(3, "YOS CM", "yos_case_manager"),
        StaffMember(4, "SLT", "senior_leader"),
    ]
    items = programme(registry, staff)
    for s in as_required:
        found = [i for i in items if i.schedule == s.key]
        assert [(i.due, i.count, i.note) for i in found] == [(None, 1, "as required")], s.key


def test_no_frequency_is_invented_for_undated_tasks(registry):
    undated = [s for s in schedules(registry) if s.to_be_agreed or s.frequency.every == "as_required"]
    for s in undated:
        f = s.frequency
        assert (f.every, f.times, f.months, f.start_month, f.interval) == ("as_required", 1, (), None, None), s.key
        # Either the plan says so, or a reading says why there is no frequency.
        words = s.source.lower()
        assert "as required" in words or "to be agreed" in words or s.reading, s.key
    assert {s.key for s in undated if s.to_be_agreed} == {"slt_quality_assure_audit_process", "yos_sm_yjb_national_standards"}


# --- helpers ------------------------------------------------------------------


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()

