"""Grading scales compared, and grading schemes (CORE-4, CORE-5)."""

from __future__ import annotations

from typing import Literal, Protocol

from core.definitions.model import GradingScale

Movement = Literal["improved", "same", "downgraded"]


def rank(scale: GradingScale, level: str) -> int:
    """Position on the scale, 0 = best (levels are listed best first)."""
    for index, candidate in enumerate(scale.levels):
        if candidate.key == level:
            return index
    raise KeyError(f"{level!r} is not a level of scale {scale.key!r}")


def compare(scale: GradingScale, before: str, after: str) -> Movement:
    """Improved, same or downgraded, going from ``before`` to ``after``."""
    old, new = rank(scale, before), rank(scale, after)
    if new < old:
        return "improved"
    if new > old:
        return "downgraded"
    return "same"


def label(scale: GradingScale, level: str | None) -> str:
    if level is None:
        return ""
    return scale.levels[rank(scale, level)].label


class GradingScheme(Protocol):
    """How a form's overall grade relates to its domain grades.

    ``problems`` returns what is wrong with a submitted set of grades, in
    words an auditor can act on; an empty list means the grades stand.
    """

    key: str
    label: str
    description: str

    def problems(
        self,
        scale: GradingScale,
        domain_grades: dict[str, str | None],
        overall: str | None,
        rationale: str,
    ) -> list[str]: ...
