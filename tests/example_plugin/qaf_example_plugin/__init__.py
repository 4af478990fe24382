"""An example qaf plugin: a grading scheme added without touching core (CORE-5)."""

from core.grading import rank
from core.hookspecs import hookimpl


class NoBetterThanWorstDomain:
    key = "no_better_than_worst"
    label = "Overall no better than the worst domain"
    description = "The overall grade may not be better than any domain grade."

    def problems(self, scale, domain_grades, overall, rationale):
        given = [rank(scale, grade) for grade in domain_grades.values() if grade]
        problems = []
        if overall is None:
            problems.append("Choose an overall grade")
        elif given and rank(scale, overall) < max(given):
            problems.append("The overall grade cannot be better than the worst domain grade")
        return problems


@hookimpl
def qaf_grading_schemes():
    return [NoBetterThanWorstDomain()]
