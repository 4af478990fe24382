"""Escalation events and what plugins answer (CORE-11).

Core fires an event when a grade is final, a re-audit is compared with its
predecessor, a child-safety concern is raised, a deadline passes or an
auditor misses an allocation. Every plugin's ``qaf_escalations`` hook may
answer with escalations: who must be told, and what they must do by when.
The built-in ``qaf.escalation_rules`` plugin answers from the council's
``escalations`` definitions; a council can add code of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.definitions.model import EscalationRule


@dataclass(frozen=True, slots=True)
class EscalationEvent:
    kind: str  # an EscalationEvent literal of core.definitions.model
    council: str
    allocation_id: int | None = None
    form: str | None = None  # qualified form key
    overall_grade: str | None = None  # level key of the final overall grade
    movement: str | None = None  # improved | same | downgraded (re-audits)
    # A re-audit of a re-audit; a second missed allocation by the same person.
    repeat: bool = False
    # grade_final / reaudit_compared: the audit's questions ("section.question")
    # that have an answer (core fills it in before asking the plugins).
    answered: frozenset[str] | None = None
    # deadline_passed: what passed. ``deadline`` is state | follow_up | action |
    # dispute; ``workflow`` the qualified key of the audit's workflow and
    # ``state`` the state the audit is in (for a state deadline: the state not
    # done in time); ``follow_up`` the key of the rule whose follow-up task was
    # not done; ``stage`` the dispute stage not done in time.
    deadline: str | None = None
    workflow: str | None = None
    state: str | None = None
    follow_up: str | None = None
    stage: str | None = None


@dataclass(frozen=True, slots=True)
class Escalation:
    rule: str
    notify: tuple[str, ...]  # relations or role keys
    action: str
    within_working_days: int | None = None
    within_hours: int | None = None


def rule_applies(rule: EscalationRule, event: EscalationEvent) -> bool:
    """Every condition a rule gives must hold."""
    if rule.event != event.kind:
        return False
    if rule.grades and event.overall_grade not in rule.grades:
        return False
    if rule.movement and event.movement not in rule.movement:
        return False
    if rule.repeat is not None and rule.repeat != event.repeat:
        return False
    if rule.answered and not set(rule.answered) <= (event.answered or frozenset()):
        return False
    if rule.deadline is not None and rule.deadline != event.deadline:
        return False
    if rule.workflows and event.workflow not in {ref if ":" in ref else f"{event.council}:{ref}" for ref in rule.workflows}:
        return False
    if rule.states and event.state not in rule.states:
        return False
    if rule.follow_ups and event.follow_up not in rule.follow_ups:
        return False
    if rule.stages and event.stage not in rule.stages:
        return False
    return True


def answered(answers: dict | None) -> frozenset[str]:
    """What an answer document answered: each question ("section.question")
    with any part not blank (``answer.<section>.<question>``, a table's
    cells, a comment), and each table column ("section.question.column")
    filled in on at least one row."""
    out: set[str] = set()
    for name, value in (answers or {}).items():
        parts = name.split(".")
        if parts[0] != "answer" or len(parts) < 3 or not str(value or "").strip():
            continue
        out.add(f"{parts[1]}.{parts[2]}")
        if len(parts) == 5 and parts[3].isdigit():  # answer.<section>.<table>.<row>.<column>
            out.add(f"{parts[1]}.{parts[2]}.{parts[4]}")
    return frozenset(out)


def from_rule(rule: EscalationRule) -> Escalation:
    return Escalation(
        rule=rule.key,
        notify=rule.notify,
        action=rule.action,
        within_working_days=rule.within_working_days,
        within_hours=rule.within_hours,
    )
