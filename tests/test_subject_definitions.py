"""What an audit is on (issue 13), checked at start-up: a schedule ``about:
person`` needs a way to choose the person, ``about: meeting`` the council's
meeting types; each field only where it means something. Haringey's data
with one schedule made wrong; the error names the plugin, the definition and
the field, as every definition error does (CORE-2)."""

from __future__ import annotations

import pytest

from core.definitions.errors import DefinitionError
from test_definitions import _broken_copy, _load_with

THEMATIC = 'activity: "Thematic audit"'  # Haringey's "as required" thematic audits, no form of their own
ON_A_FORM = THEMATIC + "\n    form: case_audit"
TM_AUDIT = "schedules.team_manager_case_audit"


@pytest.mark.parametrize(
    ("old", "new", "definition", "field", "message"),
    [
        (THEMATIC, THEMATIC + "\n    about: person", "schedules.thematic_audits", "about", "the schedule needs a form"),
        (THEMATIC, ON_A_FORM + "\n    about: someone", "schedules.thematic_audits", "about", "Invalid enum value 'someone'"),
        (THEMATIC, ON_A_FORM + "\n    about: person", "schedules.thematic_audits", "person_from", "say who may be chosen"),
        (THEMATIC, ON_A_FORM + "\n    about: person\n    person_from: supervisee", "schedules.thematic_audits", "person_from",
         "needs frequency.per: supervisee"),
        (THEMATIC, ON_A_FORM + "\n    about: person\n    person_from: everyone", "schedules.thematic_audits", "person_from",
         "Invalid enum value 'everyone'"),
        (THEMATIC, ON_A_FORM + "\n    person_from: line", "schedules.thematic_audits", "person_from", "goes with about: person"),
        (THEMATIC, ON_A_FORM + "\n    about: meeting", "schedules.thematic_audits", "about",
         "the council lists no meeting types"),
        (THEMATIC, ON_A_FORM + "\n    meeting_types: [core_group]", "schedules.thematic_audits", "meeting_types",
         "go with about: meeting"),
        ("    cases: {draw: random, count: 1}", "    cases: {draw: random, count: 1}\n    about: person\n    person_from: team",
         TM_AUDIT, "cases", "not for audits on a person"),
    ],
)
def test_a_schedule_whose_subject_cannot_be_chosen_stops_start_up(monkeypatch, tmp_path, old, new, definition, field, message):
    broken = _broken_copy(tmp_path, "schedules.yaml", old, new)
    with pytest.raises(DefinitionError) as error:
        _load_with(monkeypatch, tmp_path, broken)
    assert (error.value.plugin, error.value.definition, error.value.field) == ("haringey", definition, field)
    assert message in error.value.message, error.value.message


def test_a_meeting_type_the_council_does_not_list_stops_start_up(monkeypatch, tmp_path):
    broken = _broken_copy(tmp_path, "schedules.yaml", THEMATIC,
                          ON_A_FORM + "\n    about: meeting\n    meeting_types: [core_group, panel]")
    council = broken / "council.yaml"
    council.write_text(council.read_text().replace(
        "  practice_weeks_replace_cycle:",
        "  meeting_types:\n    - {key: core_group, label: \"Core group meeting\"}\n  practice_weeks_replace_cycle:", 1))
    with pytest.raises(DefinitionError) as error:
        _load_with(monkeypatch, tmp_path, broken)
    assert (error.value.definition, error.value.field) == ("schedules.thematic_audits", "meeting_types[1]")
    assert "'panel' is not one of the council's meeting_types: core_group" in error.value.message
    # Listed, it loads: the work observes core group meetings.
    council.write_text(council.read_text().replace('    - {key: core_group, label: "Core group meeting"}',
                                                   '    - {key: core_group, label: "Core group meeting"}\n    - {key: panel, label: "Panel"}'))
    registry = _load_with(monkeypatch, tmp_path, broken).registry
    assert registry.schedules["haringey:thematic_audits"].value.meeting_types == ("core_group", "panel")
