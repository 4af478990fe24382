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
    return True


def from_rule(rule: EscalationRule) -> Escalation:
    return Escalation(
        rule=rule.key,
        notify=rule.notify,
        action=rule.action,
        within_working_days=rule.within_working_days,
        within_hours=rule.within_hours,
    )
