"""Built-in grading schemes (CORE-5)."""

from __future__ import annotations

from core.definitions.model import GradingScale
from core.hookspecs import hookimpl


class AuditorJudgement:
    """The overall grade is the auditor's judgement, explained in a rationale.

    Every framework in the seeds works this way (HAR 2.3, BED App. A s.6,
    CSCP App. 2): domain grades inform the overall grade but do not fix it.
    """

    key = "auditor_judgement"
    label = "Auditor judgement with rationale"
    description = "The auditor sets the overall grade and must explain it; domain grades inform it."

    def problems(
        self,
        scale: GradingScale,
        domain_grades: dict[str, str | None],
        overall: str | None,
        rationale: str,
    ) -> list[str]:
        problems = []
        if overall is None:
            problems.append("Choose an overall grade")
        if not rationale.strip():
            problems.append("Explain the overall grade in the rationale")
        return problems


@hookimpl
def qaf_grading_schemes():
    return [AuditorJudgement()]
