"""Coventry Safeguarding Children Partnership Quality Assurance and Continuous
Improvement Framework 2023 - 25 as a qaf council plugin.

Source: ../shared/seeds/004_44cd6c3af1253d89.txt. Everything the framework
says lives in ``definitions/*.yaml``; this module only points core at it.
"""

from pathlib import Path

from core.hookspecs import hookimpl

QAF_COUNCIL = "partnership"


@hookimpl
def qaf_definition_files() -> list[Path]:
    return [Path(__file__).with_name("definitions")]
