"""Every frequency kind of CORE-7 expands to the dates a QA manager expects."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from core.definitions.model import Council, Schedule
from core.programme import schedule_dates

D = dt.date
CALENDAR = msgspec.convert({"key": "x", "name": "X", "practitioner_role": "a", "team_manager_role": "b"}, Council)
FINANCIAL = msgspec.structs.replace(CALENDAR, year_start_month=4)


def dates(frequency: dict, council: Council = CALENDAR, year: int = 2027, **kw):
    schedule = msgspec.convert({"key": "s", "role": "a", "activity": "Audit", "frequency": frequency} | kw, Schedule)
    return schedule_dates(schedule, council, year, **({"practice_weeks": kw.pop("weeks")} if "weeks" in kw else {}))


@pytest.mark.req("CORE-7")
@pytest.mark.parametrize(
    ("frequency", "months"),
    [
        ({"every": "month"}, [(m, 1) for m in range(1, 13)]),
        ({"every": "quarter"}, [(3, 1), (6, 1), (9, 1), (12, 1)]),
        ({"every": "year", "times": 3}, [(4, 1), (8, 1), (12, 1)]),
        ({"every": "year"}, [(12, 1)]),
        ({"every": "year", "months": [1, 9], "count": 150}, [(1, 150), (9, 150)]),
        ({"every": "year", "times": 3, "start_month": 6}, [(6, 1), (9, 1), (12, 1)]),
        ({"every": "n_months", "interval": 2}, [(m, 1) for m in (2, 4, 6, 8, 10, 12)]),
        ({"every": "n_months", "interval": 6, "start_month": 3}, [(3, 1), (9, 1)]),
        ({"every": "year", "at_most": 4}, [(3, 1), (6, 1), (9, 1), (12, 1)]),
        ({"every": "month", "times": 2, "count": 2}, [(m, 4) for m in range(1, 13)]),
    ],
)
def test_frequencies_fall_due_on_the_last_working_day_of_the_right_months(frequency, months):
    from core.calendar import last_working_day

    assert dates(frequency) == [(last_working_day(2027, m), n) for m, n in months]


@pytest.mark.req("CORE-7")
def test_as_required_has_one_undated_item():
    assert dates({"every": "as_required"}) == [(None, 1)]


@pytest.mark.req("CORE-7")
def test_biennial_falls_every_other_year_from_its_first_year():
    frequency = {"every": "two_years", "first_year": 2023, "months": [10]}
    assert dates(frequency, year=2025) == [(D(2025, 10, 31), 1)]
    assert dates(frequency, year=2026) == []
    assert dates(frequency, year=2027) == [(D(2027, 10, 29), 1)]


@pytest.mark.req("CORE-7")
def test_every_six_weeks_and_the_financial_year():
    six_weekly = dates({"every": "n_weeks", "interval": 6})
    assert six_weekly[0] == (D(2027, 2, 11), 1)
    assert all((b[0] - a[0]).days in (40, 41, 42, 43, 44) for a, b in zip(six_weekly, six_weekly[1:]))
    # A financial year starting April 2027 runs to March 2028.
    quarterly = dates({"every": "quarter"}, council=FINANCIAL)
    assert [d for d, _ in quarterly] == [D(2027, 6, 30), D(2027, 9, 30), D(2027, 12, 31), D(2028, 3, 31)]


@pytest.mark.req("CORE-7")
def test_to_be_agreed_has_no_invented_date():
    assert dates({"every": "month"}, to_be_agreed=True) == [(None, 1)]


@pytest.mark.req("CORE-7")
@pytest.mark.parametrize(
    ("council", "year", "expected"),
    [
        # Coventry 2017: IROs' dip samples twice a year (C17-1).
        ("coventry", 2017, "Dip Sample"),
        # Bedford: team managers' monthly case file audit (BED-4).
        ("bedford", 2026, "Case file audit"),
        # Haringey: monthly case audits (HAR 2).
        ("haringey", 2027, "Case audit"),
        # CSCP: Section 11 in its biennial year (CSCP-4).
        ("partnership", 2025, "Section 11"),
    ],
)
def test_qaf_programme_works_for_every_council(tmp_path, monkeypatch, capsys, council, year, expected):
    from core.cli import main
    from core.settings import get_settings

    monkeypatch.setenv("QAF_DATA_DIR", str(tmp_path))
    # The council must be enabled: `--council` names one of QAF_COUNCILS.
    monkeypatch.setenv("QAF_COUNCILS", council)
    get_settings.cache_clear()
    try:
        assert main(["programme", "--council", council, "--year", str(year), "--csv", str(tmp_path / "p.csv")]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "programme for the year starting" in out
    assert expected in out
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert len(rows) > 10 and rows[0].startswith("person,role,post,activity,due")
