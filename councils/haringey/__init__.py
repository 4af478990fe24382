"""Haringey Children's Services QAF (May 2020) as a qaf council plugin.

Source: ../shared/seeds/003_7833d56b66ded6fb.txt. Everything the framework
says lives in ``definitions/*.yaml``; this module only points core at it.
"""

from pathlib import Path

from core.hookspecs import hookimpl

QAF_COUNCIL = "haringey"


@hookimpl
def qaf_definition_files() -> list[Path]:
    return [Path(__file__).with_name("definitions")]
