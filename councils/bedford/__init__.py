"""Bedford council plugin: definitions arrive with the definitions-framework issue."""

from pathlib import Path

from core.hookspecs import hookimpl

QAF_COUNCIL = "bedford"


@hookimpl
def qaf_definition_files() -> list[Path]:
    return [Path(__file__).with_name("definitions")]
