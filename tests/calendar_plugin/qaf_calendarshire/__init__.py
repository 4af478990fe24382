"""Calendarshire: a council written in the tests, for the programme's calendar
with named posts (tests/test_calendar_plugin.py)."""

from pathlib import Path

from core.hookspecs import hookimpl

QAF_COUNCIL = "calendarshire"


@hookimpl
def qaf_definition_files() -> list[Path]:
    return [Path(__file__).with_name("definitions")]
