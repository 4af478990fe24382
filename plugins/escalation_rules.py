"""Answer escalation events from the council's ``escalations`` definitions."""

from __future__ import annotations

from core.escalation import Escalation, EscalationEvent, from_rule, rule_applies
from core.hookspecs import hookimpl


@hookimpl
def qaf_escalations(registry, event: EscalationEvent) -> list[Escalation]:
    prefix = f"{event.council}:"
    return [
        from_rule(supplied.value)
        for key, supplied in registry.escalations.items()
        if key.startswith(prefix) and rule_applies(supplied.value, event)
    ]
