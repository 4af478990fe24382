"""Bedford Borough Quality Assurance and Learning Framework (April 2018) as a
qaf council plugin.

Source: ../shared/seeds/001_b0430567246ecb7f.txt (from "Transcription:").
Everything the framework says lives in ``definitions/*.yaml``; this module
only points core at it.
"""

from pathlib import Path

from core.hookspecs import hookimpl

QAF_COUNCIL = "bedford"


@hookimpl
def qaf_definition_files() -> list[Path]:
    return [Path(__file__).with_name("definitions")]
