"""Definitions as data: strict decoding, cross-checks, versions, scales (CORE-2..5)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import councils.haringey
from conftest import TEST_PLUGIN_GROUPS
from core.cli import main as qaf
from core.definitions.errors import DefinitionError
from core.definitions.loader import load_file
from core.definitions.registry import build_registry
from core.grading import compare
from core.hookspecs import hookimpl
from core.plugins import load_plugins
from core.settings import Settings
from plugins.grading import AuditorJudgement
from helpers import audit_day

HARINGEY = Path(councils.haringey.__file__).with_name("definitions")


def _settings(tmp_path, **kw) -> Settings:
    return Settings(data_dir=tmp_path, database_url="sqlite:///x", councils=("haringey",), secret_key="k" * 40, **kw)


def _broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    target = tmp_path / "definitions"
    shutil.copytree(HARINGEY, target)
    path = target / file
    text = path.read_text()
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1))
    return target


def _load_with(monkeypatch, tmp_path, definitions: Path):
    """Load plugins with Haringey's hook pointed at a (broken) copy of its data."""
    monkeypatch.setattr(councils.haringey, "qaf_definition_files", hookimpl(lambda: [definitions]))
    return load_plugins(_settings(tmp_path), groups=TEST_PLUGIN_GROUPS)


def test_haringey_loads_through_its_entry_point_with_everything_it_defines(tmp_path):
    plugins = load_plugins(_settings(tmp_path))
    names = {info.name: info for info in plugins.info}
    assert names["haringey"].council == "haringey" and not names["haringey"].builtin
    # The suite's example plugin is installed, but not in the group a deployment loads.
    assert "example" not in names
    assert names["qaf.scales"].builtin
    supplied = plugins.registry.supplied_by()["haringey"]
    assert "role haringey:qa_officer" in supplied
    assert "scale haringey:four_point" in supplied
    assert "form haringey:case_audit v1" in supplied
    assert "workflow haringey:case_audit v1" in supplied
    # The ladder escalations climb (HAR 2.13-2.15).
    registry = plugins.registry
    ladder, role = [], registry.role("haringey:practitioner")
    while role.escalates_to:
        ladder.append(role.escalates_to)
        role = registry.role(f"haringey:{role.escalates_to}")
    assert ladder == ["team_manager", "service_manager", "head_of_service", "assistant_director", "director"]


def test_an_unknown_council_in_settings_stops_start_up(tmp_path):
    from core.plugins import PluginError

    with pytest.raises(PluginError, match="'hackney', which is not installed; installed councils: .*haringey"):
        load_plugins(Settings(data_dir=tmp_path, database_url="sqlite:///x", councils=("hackney",), secret_key="k" * 40))


def test_a_blocked_plugin_is_not_loaded(tmp_path):
    # Blocking the grading built-in leaves Haringey's form naming an unknown scheme.
    with pytest.raises(DefinitionError) as error:
        load_plugins(_settings(tmp_path, plugins_block=("qaf.grading",)))
    assert error.value.field == "grading.scheme"


def test_haringey_grades_have_their_descriptors_and_compare(registry):
    scale = registry.scale("haringey:four_point")
    assert [(level.label, level.descriptor) for level in scale.levels] == [
        ("Outstanding", "A service that significantly/consistently exceeds minimum requirements"),
        ("Good", "A service that regularly exceeds minimum requirements"),
        ("Requires Improvement", "A service that only meets minimum requirements"),
        ("Inadequate", "A service that does not meet minimum requirements"),
    ]
    assert compare(scale, "requires_improvement", "good") == "improved"
    assert compare(scale, "inadequate", "inadequate") == "same"
    assert compare(scale, "good", "inadequate") == "downgraded"
    assert [level.key for level in registry.scale("qaf:yes_no").levels] == ["yes", "no"]


def test_default_scheme_needs_overall_grade_and_rationale(registry):
    scale = registry.scale("haringey:four_point")
    scheme = registry.scheme("qaf:auditor_judgement")
    assert isinstance(scheme, AuditorJudgement)
    assert scheme.problems(scale, {"a": "good"}, None, "") == ["Choose an overall grade", "Explain the overall grade in the rationale"]
    assert scheme.problems(scale, {"a": "good"}, "inadequate", "Child unseen for 3 months") == []


@pytest.mark.req("CORE-2")
@pytest.mark.parametrize(
    ("file", "old", "new", "definition", "field", "message"),
    [
        # wrong type
        ("forms.yaml", "version: 1", "version: one", "forms.case_audit", "version", "Expected `int`, got `str`"),
        # unknown answer type
        ("forms.yaml", "type: date", "type: datetime", "forms.case_audit", "sections[5].questions[0].type", "Invalid enum value 'datetime'"),
        # unknown field
        ("roles.yaml", "    label: \"Team manager\"", "    label: \"Team manager\"\n    lable: \"typo\"", "roles.team_manager", "lable", "Object contains unknown field `lable`"),
        # unknown reference
        ("forms.yaml", "scale: four_point", "scale: five_point", "forms.case_audit", "grading.scale", "unknown scale 'five_point'"),
        ("workflows.yaml", "by: [qa_officer, head_of_qa]", "by: [qa_oficer, head_of_qa]", "workflows.case_audit", "transitions[2].by[0]", "unknown role 'qa_oficer'"),
        ("roles.yaml", "escalates_to: director", "escalates_to: directorate", "roles.assistant_director", "escalates_to", "unknown role 'directorate'"),
        ("schedules.yaml", "    role: team_manager\n", "    role: team_manager\n    subject: advanced_practioner\n", "schedules.team_manager_case_audit", "subject", "unknown role 'advanced_practioner'"),
        # unreachable state
        ("workflows.yaml", "        from: [allocated]\n        to: in_progress", "        from: [allocated]\n        to: allocated", "workflows.case_audit", "states[1]", "state 'in_progress' cannot be reached from 'allocated'"),
        # duplicate key
        ("roles.yaml", "  - key: lado", "  - key: iro", "roles.iro", "key", "duplicate key: also defined in"),
        # a ladder that loops
        ("roles.yaml", "escalates_to: director\n", "escalates_to: practitioner\n", "roles.", "escalates_to", "loops back"),
    ],
)
def test_a_broken_definition_stops_start_up_naming_plugin_file_definition_and_field(
    monkeypatch, tmp_path, file, old, new, definition, field, message
):
    broken = _broken_copy(tmp_path, file, old, new)
    with pytest.raises(DefinitionError) as error:
        _load_with(monkeypatch, tmp_path, broken)
    exc = error.value
    assert exc.plugin == "haringey"
    assert exc.file.endswith(f"definitions/{file}")
    assert exc.definition.startswith(definition)
    assert exc.field == field
    assert message in exc.message
    assert f"plugin 'haringey', file {exc.file}, definition {exc.definition!r}, field {field!r}" in str(exc)


@pytest.mark.req("CORE-2")
def test_qaf_plugins_check_exits_non_zero_naming_file_and_field(monkeypatch, tmp_path, capsys):
    broken = _broken_copy(tmp_path, "scales.yaml", "      - key: good\n", "      - key: 7good\n")
    monkeypatch.setattr(councils.haringey, "qaf_definition_files", hookimpl(lambda: [broken]))
    monkeypatch.setenv("QAF_DATA_DIR", str(tmp_path))
    from core.settings import get_settings

    get_settings.cache_clear()
    try:
        assert qaf(["plugins", "--check"]) == 1
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "plugin 'haringey'" in err
    assert "scales.yaml" in err
    assert "definition 'scales.four_point', field 'levels[1].key'" in err


# Haringey's data (councils/haringey/definitions) with one schedule, frequency
# or council field made wrong. The first "frequency" line is the team
# managers' monthly case audit (HAR 2), "{every: year, times: 2}" the
# director's practice weeks, "{every: quarter}" the quarterly findings and
# "{every: as_required}" the thematic audits (HAR 1.5).
MONTHLY = "frequency: {every: month, replaced_by: practice_week, look_back_months: 6}"
TM_AUDIT = "schedules.team_manager_case_audit"
_CYCLE = "  practice_weeks_replace_cycle: true\n"


def _attributes(*entries: str) -> str:
    """Haringey's council given case attributes (PLAT-3), as YAML lines."""
    return "  case_attributes:\n" + "".join(f"    - {entry}\n" for entry in entries)


# PLAT-3: Haringey given four case attributes, then its team managers' draw
# given criteria (``cases``) that do not fit them.
ATTRIBUTES = _attributes(
    '{key: cp_plan_started_on, label: "Child protection plan started on", type: date}',
    '{key: cp_plan_number, label: "Plan number", type: number}',
    '{key: looked_after, label: "Looked after", type: yes_no}',
    '{key: legal_status, label: "Legal status", type: choice, options: [{value: s31, label: "Care order"}, {value: s20, label: "Accommodated"}]}',
)
CASES = "cases: {draw: random, count: 1}"

THEMATIC = 'activity: "Thematic audit"'


@pytest.mark.req("CORE-2")
@pytest.mark.req("CORE-7")
@pytest.mark.parametrize(
    ("file", "old", "new", "definition", "field", "message"),
    [
        # --- field bounds (the model) ---
        ("council.yaml", "year_start_month: 1", "year_start_month: 13", "council", "year_start_month", "Expected `int` <= 12"),
        ("council.yaml", "year_start_month: 1", "year_start_month: 0", "council", "year_start_month", "Expected `int` >= 1"),
        ("schedules.yaml", "look_back_months: 6", "look_back_months: -3", TM_AUDIT, "frequency.look_back_months", "Expected `int` >= 1"),
        ("schedules.yaml", MONTHLY, "frequency: {every: n_months, interval: 0}", TM_AUDIT, "frequency.interval", "Expected `int` >= 1"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, times: 0}", "schedules.director_practice_week", "frequency.times", "Expected `int` >= 1"),
        ("schedules.yaml", MONTHLY, "frequency: {every: month, count: 0}", TM_AUDIT, "frequency.count", "Expected `int` >= 1"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, at_most: 0}", "schedules.director_practice_week", "frequency.at_most", "Expected `int` >= 1"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: two_years, first_year: 223}", "schedules.director_practice_week", "frequency.first_year", "Expected `int` >= 2000"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, start_month: 13}", "schedules.director_practice_week", "frequency.start_month", "Expected `int` <= 12"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, months: [6, 0]}", "schedules.director_practice_week", "frequency.months[1]", "Expected `int` >= 1"),
        ("schedules.yaml", "{every: as_required}", "{every: as_required, per: manager}", "schedules.thematic_audits", "frequency.per", "Invalid enum value 'manager'"),
        ("schedules.yaml", "{every: quarter}", "{every: fortnight}", "schedules.quarterly_audit_findings", "frequency.every", "Invalid enum value 'fortnight'"),
        ("schedules.yaml", 'activity: "Thematic audit"', 'activity: ""', "schedules.thematic_audits", "activity", "Expected `str` of length >= 1"),
        ("council.yaml", "due_calendar_months: 1", "due_calendar_months: 0", "council", "cycles.due_calendar_months", "Expected `int` >= 1"),
        # --- what fields mean together (the registry's checks) ---
        ("schedules.yaml", MONTHLY, "frequency: {every: n_weeks}", TM_AUDIT, "frequency.interval", "'every: n_weeks' needs an interval"),
        ("schedules.yaml", MONTHLY, "frequency: {every: n_months}", TM_AUDIT, "frequency.interval", "'every: n_months' needs an interval"),
        ("schedules.yaml", MONTHLY, "frequency: {every: n_months, interval: 13}", TM_AUDIT, "frequency.interval", "interval of 1 to 12 months"),
        ("schedules.yaml", MONTHLY, "frequency: {every: month, interval: 2}", TM_AUDIT, "frequency.interval", "only goes with every: n_weeks or n_months"),
        ("schedules.yaml", MONTHLY, "frequency: {every: n_weeks, interval: 6, times: 2}", TM_AUDIT, "frequency.times", "say how many each time with count"),
        ("schedules.yaml", "{every: quarter}", "{every: quarter, months: [3]}", "schedules.quarterly_audit_findings", "frequency.months", "named months go with every: year"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, months: [6, 6]}", "schedules.director_practice_week", "frequency.months", "a month is named twice"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, times: 3, months: [6, 12]}", "schedules.director_practice_week", "frequency.times", "times must match the number of named months"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, months: [3, 9], start_month: 6}", "schedules.director_practice_week", "frequency.months", "month 3 comes before the start_month 6"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, times: 13}", "schedules.director_practice_week", "frequency.times", "13 a year do not fit in the 12 months"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, times: 4, start_month: 10}", "schedules.director_practice_week", "frequency.times", "4 a year do not fit in the 3 months"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, times: 3, at_most: 2}", "schedules.director_practice_week", "frequency.at_most", "it cannot be below times"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: two_years}", "schedules.director_practice_week", "frequency.first_year", "needs the first_year it falls in"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, first_year: 2027}", "schedules.director_practice_week", "frequency.first_year", "first_year only goes with every: two_years"),
        ("schedules.yaml", "{every: as_required}", "{every: as_required, months: [3]}", "schedules.thematic_audits", "frequency.months", "named months go with every: year"),
        ("schedules.yaml", "{every: as_required}", "{every: as_required, start_month: 3}", "schedules.thematic_audits", "frequency.every", "an 'as required' task has no months"),
        ("schedules.yaml", "{every: as_required}", "{every: as_required, times: 2}", "schedules.thematic_audits", "frequency.times", "say how many each time with count"),
        ("schedules.yaml", "{every: as_required}", "{every: as_required, at_most: 4}", "schedules.thematic_audits", "frequency.at_most", "at_most needs a dated every"),
        ("schedules.yaml", "{every: as_required}", "{every: as_required, per: supervisee}", "schedules.thematic_audits", "frequency.per", "not per supervisee"),
        ("schedules.yaml", "{every: as_required}", "{every: as_required}\n    themed: true", "schedules.thematic_audits", "themed", "the council lists no themes"),
        ("schedules.yaml", "{every: quarter}", "{every: quarter}\n    themed: true", "schedules.quarterly_audit_findings", "themed", "it needs every: as_required"),
        ("schedules.yaml", "{every: quarter}", "{every: quarter}\n    to_be_agreed: true", "schedules.quarterly_audit_findings", "frequency.every", "write every: as_required"),
        # PLAT-2: a completion record's workflow is one the council has, and only without a form.
        ("schedules.yaml", "{every: quarter}", "{every: quarter}\n    workflow: findings_sign_off", "schedules.quarterly_audit_findings", "workflow", "unknown workflow 'findings_sign_off'"),
        ("schedules.yaml", MONTHLY, MONTHLY + "\n    workflow: case_audit", TM_AUDIT, "workflow", "name a workflow only without a form"),
        ("schedules.yaml", "{every: quarter}", "{every: quarter, replaced_by: practice_week}", "schedules.quarterly_audit_findings", "frequency.replaced_by", "replaced_by goes with every: month"),
        ("council.yaml", "practice_weeks_replace_cycle: true", "practice_weeks_replace_cycle: false", TM_AUDIT, "frequency.replaced_by", "practice_weeks_replace_cycle"),
        ("schedules.yaml", 'activity: "Thematic audit"', 'activity: "Thematic audit"\n    post: " Lead "', "schedules.thematic_audits", "post", "has spaces at its ends"),
        ("council.yaml", "re_audit_grades: [requires_improvement, inadequate]", "re_audit_grades: [requires_improvement, poor]", "council.haringey", "cycles.re_audit_grades[1]", "'poor' is not a level of the form's scale"),
        # Cases drawn for each owner (issue 13): at least one, by a known draw,
        # month by month, on a form, under the council's sampling rules.
        ("schedules.yaml", "cases: {draw: random, count: 1}", "cases: {draw: random, count: 0}", TM_AUDIT, "cases.count", "Expected `int` >= 1"),
        ("schedules.yaml", "cases: {draw: random, count: 1}", "cases: {draw: lucky, count: 1}", TM_AUDIT, "cases.draw", "Invalid enum value 'lucky'"),
        ("schedules.yaml", "    form: case_audit\n    # HAR 1.2, 2", "    # HAR 1.2, 2", TM_AUDIT, "cases", "the schedule needs a form"),
        ("schedules.yaml", MONTHLY, "frequency: {every: quarter}", TM_AUDIT, "cases", "the schedule needs every: month"),
        # PLAT-3: a window that ends before the due month needs its length, and is bounded.
        ("schedules.yaml", "look_back_months: 6", "look_back_ends_months_before: 2", TM_AUDIT,
         "frequency.look_back_ends_months_before", "say how many months the window covers (look_back_months)"),
        ("schedules.yaml", "look_back_months: 6", "look_back_months: 3, look_back_ends_months_before: 25", TM_AUDIT,
         "frequency.look_back_ends_months_before", "Expected `int` <= 24"),
        # PLAT-3: the council's case attributes: a known type, options for a
        # choice only, keys of their own.
        ("council.yaml", _CYCLE, _CYCLE + _attributes("{key: status, label: Status, type: text}"), "council",
         "case_attributes[0].type", "Invalid enum value 'text'"),
        ("council.yaml", _CYCLE, _CYCLE + _attributes("{key: status, label: Status, type: choice}"), "council.haringey",
         "case_attributes[0].options", "a choice attribute needs options"),
        ("council.yaml", _CYCLE, _CYCLE + _attributes("{key: age, label: Age, type: number, options: [{value: a, label: A}]}"),
         "council.haringey", "case_attributes[0].options", "only a choice attribute has options"),
        ("council.yaml", _CYCLE, _CYCLE + _attributes("{key: team, label: Team, type: yes_no}"), "council.haringey",
         "case_attributes[0].key", "a column the case import already has"),
        ("council.yaml", _CYCLE, _CYCLE + _attributes("{key: cla, label: CLA, type: yes_no}", "{key: cla, label: LAC, type: yes_no}"),
         "council.haringey", "case_attributes[1].key", "duplicate key 'cla'"),
        ("council.yaml", _CYCLE, _CYCLE + _attributes("{key: Looked After, label: LAC, type: yes_no}"), "council",
         "case_attributes[0].key", "Expected `str` matching regex"),
        # Who does it (PLAT-4): co-auditors by a known role (and post), not the
        # lead's own, each once; peer pairs on dated work whose cases the peers choose.
        ("schedules.yaml", THEMATIC, THEMATIC + "\n    co_auditors: [{role: auditor_general}]", "schedules.thematic_audits", "co_auditors[0].role", "unknown role 'auditor_general'"),
        ("schedules.yaml", THEMATIC, THEMATIC + "\n    co_auditors: [{role: iro, grade: 3}]", "schedules.thematic_audits", "co_auditors[0].grade", "unknown field"),
        ("schedules.yaml", THEMATIC, THEMATIC + "\n    co_auditors: iro", "schedules.thematic_audits", "co_auditors", "Expected `array`"),
        ("schedules.yaml", THEMATIC, THEMATIC + '\n    co_auditors: [{role: iro, post: " Lead IRO"}]', "schedules.thematic_audits", "co_auditors[0].post", "has spaces at its ends"),
        ("schedules.yaml", THEMATIC, THEMATIC + "\n    co_auditors: [{role: qa_officer}]", "schedules.thematic_audits", "co_auditors[0]", "the lead's own role and post"),
        ("schedules.yaml", THEMATIC, THEMATIC + "\n    co_auditors: [{role: iro}, {role: iro}]", "schedules.thematic_audits", "co_auditors[1]", "named twice"),
        ("schedules.yaml", THEMATIC, THEMATIC + "\n    peer_pairs: 2", "schedules.thematic_audits", "peer_pairs", "Expected `bool`"),
        ("schedules.yaml", THEMATIC, THEMATIC + "\n    peer_pairs: true", "schedules.thematic_audits", "peer_pairs", "needs a dated every"),
        ("schedules.yaml", MONTHLY, MONTHLY + "\n    peer_pairs: true", TM_AUDIT, "peer_pairs", "leave out cases"),
        ("schedules.yaml", "{every: quarter}", "{every: quarter}\n    peer_pairs: true\n    co_auditors: [{role: iro}]", "schedules.quarterly_audit_findings", "peer_pairs", "not both"),
        ("schedules.yaml", "{every: quarter}", "{every: quarter, per: supervisee}\n    peer_pairs: true", "schedules.quarterly_audit_findings", "peer_pairs", "not a supervisee's"),
    ],
)
def test_a_bad_schedule_or_council_field_stops_start_up_naming_plugin_file_definition_and_field(
    monkeypatch, tmp_path, file, old, new, definition, field, message
):
    broken = _broken_copy(tmp_path, file, old, new)
    with pytest.raises(DefinitionError) as error:
        _load_with(monkeypatch, tmp_path, broken)
    exc = error.value
    assert (exc.plugin, exc.definition, exc.field) == ("haringey", definition, field)
    # The file the faulty definition is in (a schedule's, when the council's change makes it wrong).
    assert exc.file.endswith("definitions/" + ("schedules.yaml" if definition.startswith("schedules.") else "council.yaml"))
    assert message in exc.message, exc.message
    assert f"plugin 'haringey', file {exc.file}, definition {definition!r}, field {field!r}: " in str(exc)


@pytest.mark.req("CORE-2")
@pytest.mark.parametrize(
    ("cases", "field", "message"),
    [
        ("{draw: random, criteria: [{attribute: cp_plan_begun, at_least: 2}]}", "cases.criteria[0].attribute",
         "unknown case attribute 'cp_plan_begun'; the council's case attributes are cp_plan_number, cp_plan_started_on, "
         "legal_status, looked_after"),
        ("{draw: random, criteria: [{attribute: looked_after, at_least: 2}]}", "cases.criteria[0].at_least",
         "'Looked after' is a yes/no attribute: compare it with is"),
        ("{draw: random, criteria: [{attribute: cp_plan_number, months_ago_at_least: 18}]}",
         "cases.criteria[0].months_ago_at_least", "'Plan number' is a number attribute: compare it with at_least or at_most"),
        ("{draw: random, criteria: [{attribute: cp_plan_started_on, is: true}]}", "cases.criteria[0].is",
         "compare it with months_ago_at_least or months_ago_less_than or years_ago_at_least or years_ago_less_than"),
        ("{draw: random, criteria: [{attribute: cp_plan_number, at_least: 2, at_most: 3}]}", "cases.criteria[0]",
         "give exactly one comparison for 'Plan number': at_least or at_most"),
        ("{draw: random, criteria: [{attribute: cp_plan_number}]}", "cases.criteria[0]", "give exactly one comparison"),
        ("{draw: random, criteria: [{attribute: legal_status, one_of: [s31, s47]}]}", "cases.criteria[0].one_of[1]",
         "'s47' is not an option of 'Legal status'; its options are s31, s20"),
        ("{draw: random, criteria: [{attribute: cp_plan_started_on, months_ago_at_least: -18}]}",
         "cases.criteria[0].months_ago_at_least", "Expected `int` >= 0"),
        ("{draw: random, criteria: [{attribute: looked_after, equals: true}]}", "cases.criteria[0].equals",
         "Object contains unknown field `equals`"),
        ("{draw: random, criteria: [{attribute: looked_after, is: maybe}]}", "cases.criteria[0].is", "Expected `bool | null`, got `str`"),
    ],
)
def test_bad_case_criteria_stop_start_up_naming_the_field(monkeypatch, tmp_path, cases, field, message):
    """PLAT-3: a schedule's case criteria name one of the council's case
    attributes and one comparison that fits its type."""
    broken = _broken_copy(tmp_path, "council.yaml", _CYCLE, _CYCLE + ATTRIBUTES)
    schedules = broken / "schedules.yaml"
    schedules.write_text(schedules.read_text().replace(CASES, f"cases: {cases}", 1))
    with pytest.raises(DefinitionError) as error:
        _load_with(monkeypatch, tmp_path, broken)
    exc = error.value
    assert (exc.plugin, exc.definition, exc.field) == ("haringey", TM_AUDIT, field)
    assert exc.file.endswith("definitions/schedules.yaml")
    assert message in exc.message, exc.message


def test_a_window_narrowing_cases_needs_a_window(monkeypatch, tmp_path):
    """PLAT-3: ``in_window`` narrows cases by the schedule's window: without one it is refused."""
    broken = _broken_copy(tmp_path, "schedules.yaml", MONTHLY, "frequency: {every: month, replaced_by: practice_week}")
    schedules = broken / "schedules.yaml"
    schedules.write_text(schedules.read_text().replace(CASES, "cases: {draw: random, in_window: true}", 1))
    with pytest.raises(DefinitionError) as error:
        _load_with(monkeypatch, tmp_path, broken)
    assert (error.value.definition, error.value.field) == (TM_AUDIT, "cases.in_window")
    assert "the schedule has no window to narrow cases by: set frequency.look_back_months" in error.value.message


@pytest.mark.req("CORE-2")
@pytest.mark.parametrize(
    ("file", "old", "new", "named"),
    [
        # The two the issue names: both passed the check before.
        ("council.yaml", "year_start_month: 1", "year_start_month: 13",
         "definition 'council', field 'year_start_month': Expected `int` <= 12"),
        ("schedules.yaml", "look_back_months: 6", "look_back_months: -3",
         "definition 'schedules.team_manager_case_audit', field 'frequency.look_back_months': Expected `int` >= 1"),
        ("schedules.yaml", "{every: year, times: 2}", "{every: year, months: [6, 6]}",
         "definition 'schedules.director_practice_week', field 'frequency.months': a month is named twice"),
    ],
)
def test_qaf_plugins_check_refuses_a_bad_schedule_or_council_field(monkeypatch, tmp_path, capsys, file, old, new, named):
    broken = _broken_copy(tmp_path, file, old, new)
    monkeypatch.setattr(councils.haringey, "qaf_definition_files", hookimpl(lambda: [broken]))
    monkeypatch.setenv("QAF_DATA_DIR", str(tmp_path))
    from core.settings import get_settings

    get_settings.cache_clear()
    try:
        assert qaf(["plugins", "--check"]) == 1
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "Bad definition in plugin 'haringey', file " in err
    assert f"definitions/{file}, {named}" in err


@pytest.mark.req("CORE-2")
def test_qaf_plugins_lists_haringey_with_roles_scales_form_and_workflow(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("QAF_DATA_DIR", str(tmp_path))
    from core.settings import get_settings

    get_settings.cache_clear()
    try:
        assert qaf(["plugins"]) == 0
        assert qaf(["plugins", "--check"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "haringey  (council haringey, councils.haringey)" in out
    for line in ("role haringey:qa_officer", "scale haringey:four_point", "form haringey:case_audit v1", "workflow haringey:case_audit v1"):
        assert line in out


def test_two_versions_of_a_form_are_both_kept_and_the_latest_is_default(tmp_path, registry):
    forms = HARINGEY / "forms.yaml"
    v2 = tmp_path / "v2.yaml"
    v2.write_text(forms.read_text().replace("version: 1", "version: 2").replace('title: "Case audit"', 'title: "Case audit (2027)"'))
    loaded = [
        *[item for f in sorted(HARINGEY.glob("*.yaml")) for item in load_file("haringey", f)],
        *load_file("haringey", v2),
        *[item for item in load_file("qaf.scales", Path("plugins/scales.yaml"))],
    ]
    both = build_registry(loaded, [("qaf.grading", AuditorJudgement())])
    assert both.form("haringey:case_audit", 1).title == "Case audit"
    assert both.form("haringey:case_audit", 2).title == "Case audit (2027)"
    assert both.form("haringey:case_audit").version == 2


def test_a_grading_scheme_from_a_plugin_outside_core_governs_a_form(monkeypatch, tmp_path):
    """tests/example_plugin is installed through its entry point (in the
    suite's `qaf.tests` group) and its qaf_grading_schemes hook adds
    `example:no_better_than_worst`."""
    from core.forms import fields_of, problems_for_submit

    definitions = _broken_copy(tmp_path, "forms.yaml", "scheme: qaf:auditor_judgement", "scheme: example:no_better_than_worst")
    plugins = _load_with(monkeypatch, tmp_path, definitions)
    assert "example" in {info.name for info in plugins.info}
    registry = plugins.registry
    assert registry.schemes["example:no_better_than_worst"].plugin == "example"
    form = registry.form("haringey:case_audit")
    scheme = registry.scheme(registry.ref("haringey", form.grading.scheme, "schemes"))
    fields = fields_of(registry, "haringey", form)
    answers = {f.name: "good" if f.kind == "grade" else "Evidence." for f in fields.fields}
    answers["answer.conversation.held_on"] = audit_day()
    answers["grade.initial.planning"] = "inadequate"
    problems = problems_for_submit(fields, answers, scheme)
    assert problems == {"grade.initial.overall": "The overall grade cannot be better than the worst domain grade"}
    answers["grade.initial.overall"] = "inadequate"
    assert problems_for_submit(fields, answers, scheme) == {}
