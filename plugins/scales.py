"""Scales every council shares, supplied as data (``scales.yaml``)."""

from pathlib import Path

from core.hookspecs import hookimpl


@hookimpl
def qaf_definition_files() -> list[Path]:
    return [Path(__file__).with_name("scales.yaml")]
