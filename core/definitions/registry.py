"""The registry: every definition from every plugin, keyed and cross-checked.

Built once at start-up and never changed afterwards. Keys are qualified
with the supplying plugin's namespace (``haringey:case_audit``); a local
reference in a data file resolves to the same namespace first and then to
the shared built-ins (``qaf:``).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from core.definitions.errors import DefinitionError
from core.definitions.loader import Loaded
from core.definitions.model import (
    RELATIONS,
    AuditForm,
    Council,
    EscalationRule,
    GradingScale,
    Role,
    Schedule,
    Workflow,
)
from core.grading import GradingScheme

BUILTIN = "qaf"
T = TypeVar("T")


def namespace_of(plugin: str) -> str:
    """``qaf.scales`` -> ``qaf``; ``haringey`` -> ``haringey``."""
    return plugin.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Supplied(Generic[T]):
    value: T
    plugin: str
    file: str

    @property
    def namespace(self) -> str:
        return namespace_of(self.plugin)


@dataclass
class Registry:
    councils: dict[str, Supplied[Council]] = field(default_factory=dict)
    roles: dict[str, Supplied[Role]] = field(default_factory=dict)
    scales: dict[str, Supplied[GradingScale]] = field(default_factory=dict)
    # Every version of every form and workflow is kept (CORE-3): a record
    # refers to the version it was created with.
    forms: dict[tuple[str, int], Supplied[AuditForm]] = field(default_factory=dict)
    workflows: dict[tuple[str, int], Supplied[Workflow]] = field(default_factory=dict)
    schemes: dict[str, Supplied[GradingScheme]] = field(default_factory=dict)
    schedules: dict[str, Supplied[Schedule]] = field(default_factory=dict)
    escalations: dict[str, Supplied[EscalationRule]] = field(default_factory=dict)
    # The plugins' hooks, for the calls core makes after start-up (escalations).
    hooks: object = None

    # --- lookups -------------------------------------------------------------

    def qualify(self, namespace: str, ref: str, table: dict) -> str | None:
        """The qualified key ``ref`` names from ``namespace``, or None."""
        if ":" in ref:
            return ref if self._has(table, ref) else None
        for candidate in (f"{namespace}:{ref}", f"{BUILTIN}:{ref}"):
            if self._has(table, candidate):
                return candidate
        return None

    @staticmethod
    def _has(table: dict, key: str) -> bool:
        if not table:
            return False
        if isinstance(next(iter(table)), tuple):
            return any(k == key for k, _ in table)
        return key in table

    def council(self, key: str) -> Council:
        return self.councils[key].value

    def role(self, qualified: str) -> Role:
        return self.roles[qualified].value

    def scale(self, qualified: str) -> GradingScale:
        return self.scales[qualified].value

    def form(self, qualified: str, version: int | None = None) -> AuditForm:
        return self._versioned(self.forms, qualified, version)

    def workflow(self, qualified: str, version: int | None = None) -> Workflow:
        return self._versioned(self.workflows, qualified, version)

    def scheme(self, qualified: str) -> GradingScheme:
        return self.schemes[qualified].value

    @staticmethod
    def _versioned(table: dict, key: str, version: int | None):
        if version is None:
            versions = [v for k, v in table if k == key]
            if not versions:
                raise KeyError(key)
            version = max(versions)
        return table[(key, version)].value

    def roles_of(self, council: str) -> list[Role]:
        return [s.value for k, s in self.roles.items() if k.startswith(f"{council}:")]

    def ref(self, namespace: str, ref: str, kind: str) -> str:
        """Resolve a reference known to be valid (checked at start-up)."""
        table = getattr(self, kind)
        found = self.qualify(namespace, ref, table)
        if found is None:
            raise KeyError(f"{kind} {ref!r} from {namespace!r}")
        return found

    def supplied_by(self) -> dict[str, list[str]]:
        """Plugin name -> what it supplied, for ``qaf plugins``."""
        out: dict[str, list[str]] = {}
        for kind in ("councils", "roles", "scales", "forms", "workflows", "schemes", "schedules", "escalations"):
            for key, supplied in getattr(self, kind).items():
                name = f"{key[0]} v{key[1]}" if isinstance(key, tuple) else key
                out.setdefault(supplied.plugin, []).append(f"{kind[:-1]} {name}")
        return out


def build_registry(loaded: list[Loaded], schemes: list[tuple[str, GradingScheme]]) -> Registry:
    registry = Registry()
    for item in loaded:
        _add(registry, item)
    for plugin, scheme in schemes:
        key = f"{namespace_of(plugin)}:{scheme.key}"
        if key in registry.schemes:
            other = registry.schemes[key]
            raise DefinitionError(
                plugin=plugin,
                file="(code)",
                definition=f"grading_schemes.{scheme.key}",
                field="key",
                message=f"duplicate key: also supplied by plugin {other.plugin!r}",
            )
        registry.schemes[key] = Supplied(scheme, plugin, "(code)")
    _cross_check(registry)
    return registry


def _add(registry: Registry, item: Loaded) -> None:
    namespace = namespace_of(item.plugin)
    value = item.value
    if item.kind == "council":
        table, key, field_name = registry.councils, namespace, "key"
        if value.key != namespace:
            raise DefinitionError(
                plugin=item.plugin,
                file=item.file,
                definition=f"council.{value.key}",
                field="key",
                message=f"a council's key must be its plugin name {namespace!r}",
            )
        key = value.key
    elif item.kind in ("forms", "workflows"):
        table = getattr(registry, item.kind)
        key, field_name = (f"{namespace}:{value.key}", value.version), "version"
    else:
        table = getattr(registry, item.kind)
        key, field_name = f"{namespace}:{value.key}", "key"
    if key in table:
        other = table[key]
        raise DefinitionError(
            plugin=item.plugin,
            file=item.file,
            definition=f"{item.kind}.{value.key}",
            field=field_name,
            message=f"duplicate key: also defined in {other.file} (plugin {other.plugin!r})",
        )
    table[key] = Supplied(value, item.plugin, item.file)


class _Checker:
    def __init__(self, registry: Registry, supplied: Supplied, definition: str):
        self.registry = registry
        self.supplied = supplied
        self.definition = definition

    def fail(self, field: str, message: str) -> DefinitionError:
        return DefinitionError(
            plugin=self.supplied.plugin,
            file=self.supplied.file,
            definition=self.definition,
            field=field,
            message=message,
        )

    def ref(self, field: str, ref: str, kind: str) -> str:
        found = self.registry.qualify(self.supplied.namespace, ref, getattr(self.registry, kind))
        if found is None:
            raise self.fail(field, f"unknown {kind[:-1]} {ref!r}")
        return found

    def actor(self, field: str, ref: str) -> None:
        if ref in RELATIONS:
            return
        if self.registry.qualify(self.supplied.namespace, ref, self.registry.roles) is None:
            raise self.fail(field, f"unknown role {ref!r} (nor one of {', '.join(RELATIONS)})")

    def unique(self, field: str, keys: list[str]) -> None:
        seen: set[str] = set()
        for index, key in enumerate(keys):
            if key in seen:
                raise self.fail(field.format(index=index), f"duplicate key {key!r}")
            seen.add(key)


def _cross_check(registry: Registry) -> None:
    for key, supplied in registry.roles.items():
        check = _Checker(registry, supplied, f"roles.{supplied.value.key}")
        role = supplied.value
        if role.escalates_to is not None:
            check.ref("escalates_to", role.escalates_to, "roles")
    for key, supplied in registry.roles.items():
        check = _Checker(registry, supplied, f"roles.{supplied.value.key}")
        role = supplied.value
        # The ladder must end: following escalates_to never comes back round.
        seen = {key}
        current = role
        while current.escalates_to is not None:
            nxt = registry.ref(key.split(":", 1)[0], current.escalates_to, "roles")
            if nxt in seen:
                raise check.fail("escalates_to", f"the escalation ladder loops back to {nxt!r}")
            seen.add(nxt)
            current = registry.role(nxt)

    for supplied in registry.scales.values():
        check = _Checker(registry, supplied, f"scales.{supplied.value.key}")
        if len(supplied.value.levels) < 2:
            raise check.fail("levels", "a scale needs at least two levels")
        check.unique("levels[{index}].key", [level.key for level in supplied.value.levels])

    for (_, _), supplied in registry.workflows.items():
        _check_workflow(_Checker(registry, supplied, f"workflows.{supplied.value.key}"), supplied.value)

    for (_, _), supplied in registry.forms.items():
        _check_form(_Checker(registry, supplied, f"forms.{supplied.value.key}"), supplied.value)

    for supplied in registry.schedules.values():
        _check_schedule(_Checker(registry, supplied, f"schedules.{supplied.value.key}"), supplied.value)

    for supplied in registry.escalations.values():
        check = _Checker(registry, supplied, f"escalations.{supplied.value.key}")
        for index, ref in enumerate(supplied.value.notify):
            check.actor(f"notify[{index}]", ref)
        _check_escalation(check, supplied.value)

    for supplied in registry.councils.values():
        check = _Checker(registry, supplied, f"council.{supplied.value.key}")
        council = supplied.value
        check.ref("practitioner_role", council.practitioner_role, "roles")
        check.ref("team_manager_role", council.team_manager_role, "roles")
        for name in ("case_categories", "agencies", "lenses", "themes", "indicators", "grading_criteria", "meeting_types"):
            check.unique(f"{name}[{{index}}].key", [c.key for c in getattr(council, name)])
        check.unique("bodies[{index}].key", [b.key for b in council.bodies])
        check.unique("scorecard_indicators[{index}].key", [i.key for i in council.scorecard_indicators])
        groups, agencies = {i.key for i in council.indicators}, {a.key for a in council.agencies}
        for index, indicator in enumerate(council.scorecard_indicators):
            if indicator.priority not in groups:
                raise check.fail(f"scorecard_indicators[{index}].priority",
                                 f"{indicator.priority!r} is not one of the council's indicators: {', '.join(sorted(groups)) or 'none'}")
            if indicator.owner_agency not in agencies:
                raise check.fail(f"scorecard_indicators[{index}].owner_agency",
                                 f"{indicator.owner_agency!r} is not one of the council's agencies: {', '.join(sorted(agencies)) or 'none'}")
            if (indicator.green < indicator.amber) if indicator.direction == "higher_is_better" else (indicator.green > indicator.amber):
                raise check.fail(f"scorecard_indicators[{index}].green",
                                 "green must be on the better side of amber for the indicator's direction")
        _check_case_attributes(check, council)
        for index, body in enumerate(council.bodies):
            if not body.roles:
                raise check.fail(f"bodies[{index}].roles", "a body needs at least one role that sits on it")
            for number, role in enumerate(body.roles):
                check.ref(f"bodies[{index}].roles[{number}]", role, "roles")
            check.unique(f"bodies[{index}].learning_channels[{{index}}].key", [c.key for c in body.learning_channels])
        if council.case_note is not None:
            fields = {"cycle", "overall_grade", "alerted", "report"}
            for name in ("title", "text"):
                for placeholder in re.findall(r"{(\w*)}", getattr(council.case_note, name)):
                    if placeholder not in fields:
                        raise check.fail(f"case_note.{name}", f"unknown placeholder {{{placeholder}}}; use {', '.join(sorted(fields))}")
        if council.cycles is not None:
            # HAR 1.4: re-audits are drawn from final audits with these grades,
            # so each must be a level of the scale of the form the council's
            # cases are drawn for.
            from core.programme import drawn_form

            form_key = drawn_form(registry, council.key)
            grading = registry.form(form_key).grading if form_key else None
            if grading is not None:
                scale_key = registry.qualify(form_key.split(":", 1)[0], grading.scale, registry.scales)
                levels = [level.key for level in registry.scale(scale_key).levels] if scale_key else []
                for index, grade in enumerate(council.cycles.re_audit_grades):
                    if levels and grade not in levels:
                        raise check.fail(f"cycles.re_audit_grades[{index}]",
                                         f"{grade!r} is not a level of the form's scale; its levels are {', '.join(levels)}")


# Which conditions each event can carry: a condition on something the event
# never carries would silently never hold.
_CONDITIONS = {
    "grades": ("grade_final", "reaudit_compared"),
    "movement": ("reaudit_compared",),
    "repeat": ("reaudit_compared", "allocation_missed"),
    "answered": ("grade_final", "reaudit_compared"),
    "deadline": ("deadline_passed",),
    "workflows": ("deadline_passed",),
    "states": ("deadline_passed",),
    "follow_ups": ("deadline_passed",),
    "stages": ("deadline_passed",),
}


def _check_escalation(check: _Checker, rule: EscalationRule) -> None:
    registry, namespace = check.registry, check.supplied.namespace
    for name, events in _CONDITIONS.items():
        value = getattr(rule, name)
        if value not in (None, ()) and rule.event not in events:
            raise check.fail(name, f"a {rule.event} event carries no {name}; only {' and '.join(events)} rules select on it")
    if rule.event == "deadline_passed" and rule.deadline is None:
        raise check.fail("deadline", "say which deadline passed: state, follow_up, action or dispute")
    only = {"workflows": ("state", "follow_up"), "states": ("state", "follow_up"), "follow_ups": ("follow_up",), "stages": ("dispute",)}
    for name, kinds in only.items():
        if getattr(rule, name) and rule.deadline not in kinds:
            raise check.fail(name, f"{name} only go with deadline: {' or '.join(kinds)}")
    own = [s.value for (k, _), s in registry.workflows.items() if k.startswith(f"{namespace}:")]
    workflows = own
    if rule.workflows:
        workflows = []
        for index, ref in enumerate(rule.workflows):
            found = check.ref(f"workflows[{index}]", ref, "workflows")
            workflows += [s.value for (k, _), s in registry.workflows.items() if k == found]
    for index, key in enumerate(rule.states):
        holding = [w for w in workflows if any(state.key == key for state in w.states)]
        if not holding:
            raise check.fail(f"states[{index}]", f"unknown state {key!r}: no workflow {'named' if rule.workflows else 'of the council'} has it")
        if rule.deadline == "state" and not any(st.key == key and st.deadline for w in holding for st in w.states):
            raise check.fail(f"states[{index}]", f"state {key!r} has no deadline, so its deadline never passes")
    for index, key in enumerate(rule.follow_ups):
        other = registry.escalations.get(f"{namespace}:{key}")
        if other is None:
            raise check.fail(f"follow_ups[{index}]", f"unknown escalation rule {key!r}")
        if other.value.within_working_days is None and not other.value.within_hours:
            raise check.fail(f"follow_ups[{index}]", f"rule {key!r} sets no follow-up deadline (within_working_days or within_hours)")
    if rule.stages:
        dispute = registry.qualify(namespace, "dispute", registry.workflows)
        if dispute is None:
            raise check.fail("stages", "the council has no dispute workflow")
        stages = [s.value for (k, _), s in registry.workflows.items() if k == dispute]
        for index, key in enumerate(rule.stages):
            if not any(st.key == key and st.deadline for w in stages for st in w.states):
                raise check.fail(f"stages[{index}]", f"{key!r} is not a dispute stage with a deadline")
    if rule.answered:
        forms = [s.value for (k, _), s in registry.forms.items() if k.startswith(f"{namespace}:")]
        known = {f"{section.key}.{q.key}" for form in forms for section in form.sections for q in section.questions}
        known |= {
            f"{section.key}.{q.key}.{column.key}"
            for form in forms for section in form.sections for q in section.questions for column in q.columns
        }
        for index, ref in enumerate(rule.answered):
            if ref not in known:
                raise check.fail(
                    f"answered[{index}]",
                    f"unknown question {ref!r}: no form of the council has it (write section.question, or section.question.column of a table)",
                )


def _check_workflow(check: _Checker, workflow: Workflow) -> None:
    states = [state.key for state in workflow.states]
    check.unique("states[{index}].key", states)
    check.unique("transitions[{index}].key", [t.key for t in workflow.transitions])
    if workflow.initial not in states:
        raise check.fail("initial", f"unknown state {workflow.initial!r}")
    if not any(state.final for state in workflow.states):
        raise check.fail("states", "no state is final")
    for index, state in enumerate(workflow.states):
        if state.deadline is not None:
            measures = [
                m
                for m in (state.deadline.working_days, state.deadline.working_hours, state.deadline.calendar_months)
                if m is not None
            ]
            if len(measures) != 1:
                raise check.fail(
                    f"states[{index}].deadline",
                    "give exactly one of working_days, working_hours, calendar_months",
                )
            for j, ref in enumerate(state.deadline.escalate_to):
                check.actor(f"states[{index}].deadline.escalate_to[{j}]", ref)
        for j, ref in enumerate(state.notify):
            check.actor(f"states[{index}].notify[{j}]", ref)
    graph: dict[str, set[str]] = {state: set() for state in states}
    for index, transition in enumerate(workflow.transitions):
        for j, source in enumerate(transition.from_):
            if source not in graph:
                raise check.fail(f"transitions[{index}].from[{j}]", f"unknown state {source!r}")
            graph[source].add(transition.to)
        if transition.to not in graph:
            raise check.fail(f"transitions[{index}].to", f"unknown state {transition.to!r}")
        if not transition.by:
            raise check.fail(f"transitions[{index}].by", "name at least one role or relation who may act")
        for j, ref in enumerate(transition.by):
            check.actor(f"transitions[{index}].by[{j}]", ref)
    reached = {workflow.initial}
    queue = deque([workflow.initial])
    while queue:
        for nxt in graph[queue.popleft()]:
            if nxt not in reached:
                reached.add(nxt)
                queue.append(nxt)
    for index, state in enumerate(workflow.states):
        if state.key not in reached:
            raise check.fail(f"states[{index}]", f"state {state.key!r} cannot be reached from {workflow.initial!r}")


def _check_form(check: _Checker, form: AuditForm) -> None:
    check.ref("workflow", form.workflow, "workflows")
    if form.grading is not None:
        check.ref("grading.scale", form.grading.scale, "scales")
        check.ref("grading.scheme", form.grading.scheme, "schemes")
    _check_lens(check, form.lens)
    check.unique("sections[{index}].key", [s.key for s in form.sections])
    for i, section in enumerate(form.sections):
        check.unique(f"sections[{i}].questions[{{index}}].key", [q.key for q in section.questions])
        for j, question in enumerate(section.questions):
            where = f"sections[{i}].questions[{j}]"
            if question.type == "choice" and not question.options:
                raise check.fail(f"{where}.options", "a choice question needs options")
            if question.scale is not None:
                check.ref(f"{where}.scale", question.scale, "scales")
            if question.type == "criterion" and not question.graded:
                raise check.fail(f"{where}.graded", "a criterion is graded: set graded: true")
            if question.type == "table" and not question.columns:
                raise check.fail(f"{where}.columns", "a table question needs columns")
            if question.date_is is not None and question.type != "date":
                raise check.fail(f"{where}.date_is", "only a date question has a date_is")
            for k, column in enumerate(question.columns):
                if column.date_is is not None and column.type != "date":
                    raise check.fail(f"{where}.columns[{k}].date_is", "only a date column has a date_is")
            if question.from_record is not None:
                _check_from_record(check, f"{where}.from_record", question)
            if question.show_if is not None:
                target = question.show_if.question
                known = {f"{s.key}.{q.key}" for s in form.sections for q in s.questions}
                if target not in known:
                    raise check.fail(f"{where}.show_if.question", f"unknown question {target!r} (write section.question)")
    if form.grading is None:
        for index, section in enumerate(form.sections):
            if section.domain or any(q.graded for q in section.questions):
                raise check.fail(f"sections[{index}]", "a graded section needs the form's grading (scale and scheme)")


# The answer type each fact of the record is shown as (issue 17).
_FACT_TYPES = {"team": "text", "practitioner": "text", "team_manager": "text", "case_id": "text",
               "auditor": "text", "category": "choice", "allocated_on": "date"}


def _check_from_record(check: _Checker, where: str, question) -> None:
    """A fact of the record fills a question of its own type; a category's
    choices are the council's case categories, so the case's own is one."""
    fact = question.from_record
    if question.type != _FACT_TYPES[fact]:
        raise check.fail(where, f"{fact!r} is filled in as a {_FACT_TYPES[fact]} question, not {question.type}")
    if question.show_if is not None:
        raise check.fail(where, "a question filled from the record is always shown: remove show_if")
    if fact == "category":
        council = check.registry.councils.get(check.supplied.namespace)
        known = {c.key for c in council.value.case_categories} if council else set()
        unknown = [c.value for c in question.options if c.value not in known]
        if unknown:
            raise check.fail(where, f"the options {', '.join(unknown)} are not case categories of the council ({', '.join(sorted(known)) or 'none'})")


def _check_lens(check: _Checker, lens: str | None) -> None:
    if lens is None:
        return
    council = check.registry.councils.get(check.supplied.namespace)
    known = {item.key for item in council.value.lenses} if council else set()
    if lens not in known:
        raise check.fail("lens", f"unknown lens {lens!r}; the council's lenses are {', '.join(sorted(known)) or 'none'}")


def _check_schedule(check: _Checker, schedule: Schedule) -> None:
    """What a schedule's fields mean together (CORE-7). The model bounds each
    field on its own; here every combination that would silently give no
    work, or work on the wrong dates, is refused, naming the field."""
    check.ref("role", schedule.role, "roles")
    if schedule.subject is not None:
        check.ref("subject", schedule.subject, "roles")
    _check_lens(check, schedule.lens)
    if schedule.form is not None:
        check.ref("form", schedule.form, "forms")
    if schedule.workflow is not None:
        if schedule.form is not None:
            raise check.fail("workflow", "an activity with a form goes through its form's workflow; name a workflow only without a form")
        check.ref("workflow", schedule.workflow, "workflows")
    if (schedule.request is None) != (schedule.request_form is None):
        raise check.fail("request_form" if schedule.request else "request", "a request to agencies names both its kind (request) and the form agencies answer (request_form)")
    if schedule.request_form is not None:
        check.ref("request_form", schedule.request_form, "forms")
        known = {a.key for a in check.registry.councils[check.supplied.namespace].value.agencies} if check.supplied.namespace in check.registry.councils else set()
        for index, key in enumerate(schedule.request_to):
            if key not in known:
                raise check.fail(f"request_to[{index}]", f"unknown agency {key!r}: the council's agencies are {', '.join(sorted(known))}")
    if schedule.post != schedule.post.strip() or (schedule.post and not schedule.post.strip()):
        raise check.fail("post", f"{schedule.post!r} has spaces at its ends: write the post as the staff file names it")
    council = check.registry.councils.get(check.supplied.namespace)
    frequency = schedule.frequency
    every = frequency.every
    dated = every != "as_required"

    if schedule.to_be_agreed and dated:
        raise check.fail("frequency.every", "a task whose process and timescale are to be agreed has no dates: write every: as_required")
    if schedule.themed:
        if dated:
            raise check.fail("themed", "a themed activity is started by hand on a theme: it needs every: as_required")
        if council is None or not council.value.themes:
            raise check.fail("themed", "the council lists no themes to choose from (council.themes)")

    # An interval goes with every n weeks / n months, and only with them.
    if every in ("n_weeks", "n_months") and not frequency.interval:
        raise check.fail("frequency.interval", f"'every: {every}' needs an interval")
    if every not in ("n_weeks", "n_months") and frequency.interval is not None:
        raise check.fail("frequency.interval", "an interval only goes with every: n_weeks or n_months")
    if every == "n_months" and frequency.interval > 12:
        raise check.fail("frequency.interval", "every n_months takes an interval of 1 to 12 months")
    if every in ("n_weeks", "n_months") and frequency.times != 1:
        raise check.fail("frequency.times", f"every: {every} falls once each interval; say how many each time with count")

    # The first year of a two-yearly activity, and only there.
    if every == "two_years" and frequency.first_year is None:
        raise check.fail("frequency.first_year", "every: two_years needs the first_year it falls in")
    if every != "two_years" and frequency.first_year is not None:
        raise check.fail("frequency.first_year", "first_year only goes with every: two_years")

    # Named months: in a year (or two), each once, none before the start month.
    if frequency.months and every not in ("year", "two_years"):
        raise check.fail("frequency.months", "named months go with every: year (or two_years)")
    if len(set(frequency.months)) != len(frequency.months):
        raise check.fail("frequency.months", "a month is named twice")
    if frequency.months and frequency.times not in (1, len(frequency.months)):
        raise check.fail("frequency.times", "times must match the number of named months")
    if frequency.times < 1 or frequency.count < 1:
        raise check.fail("frequency.times", "times and count must be at least 1")
    start_month = council.value.year_start_month if council else 1

    def position(month: int) -> int:  # 0 for the first month of the council's year
        return (month - start_month) % 12

    if frequency.months and frequency.start_month is not None:
        early = [m for m in frequency.months if position(m) < position(frequency.start_month)]
        if early:
            raise check.fail("frequency.months", f"month {early[0]} comes before the start_month {frequency.start_month} in the council's year")

    # Spread over a year: no more occurrences than months left to put them in.
    if every in ("year", "two_years") and not frequency.months:
        times = frequency.at_most or frequency.times
        left = 12 - (position(frequency.start_month) if frequency.start_month else 0)
        if times > left:
            field = "frequency.at_most" if frequency.at_most else "frequency.times"
            raise check.fail(field, f"{times} a year do not fit in the {left} months from the start of the year"
                             + (" (or start_month)" if frequency.start_month else ""))
    if frequency.at_most is not None:
        if not dated:
            raise check.fail("frequency.at_most", "an 'as required' task has no yearly number: at_most needs a dated every")
        if every in ("year", "two_years") and frequency.at_most < frequency.times:
            raise check.fail("frequency.at_most", f"at_most ({frequency.at_most}) is a ceiling: it cannot be below times ({frequency.times})")

    if not dated:
        if frequency.months or frequency.start_month:
            raise check.fail("frequency.every", "an 'as required' task has no months")
        if frequency.times != 1:
            raise check.fail("frequency.times", "an 'as required' task has no number per period: say how many each time with count")
        if frequency.per is not None:
            raise check.fail("frequency.per", "an 'as required' task is started by hand by the person doing it, not per supervisee")
        if frequency.replaced_by is not None:
            raise check.fail("frequency.replaced_by", "an 'as required' task has no month a practice week could replace")

    # HAR 2: practice weeks replace a month's audits, where the council says so.
    if frequency.replaced_by == "practice_week":
        if every != "month":
            raise check.fail("frequency.replaced_by", "a practice week replaces a month: replaced_by goes with every: month")
        if council is None or not council.value.practice_weeks_replace_cycle:
            raise check.fail("frequency.replaced_by", "the council does not say practice weeks replace its monthly work (practice_weeks_replace_cycle)")
    # Checked last: a schedule's own frequency errors name their fields first.
    if schedule.cases is not None:
        if schedule.form is None:
            raise check.fail("cases", "cases are drawn for an audit: the schedule needs a form")
        supplied = check.registry.councils.get(check.supplied.plugin)
        if supplied is not None and supplied.value.cycles is None and schedule.cases.draw != "chosen":
            raise check.fail("cases", f"council {check.supplied.plugin!r} has no sampling rules (cycles) to draw cases by")
        if schedule.frequency.every != "month" and schedule.cases.draw != "chosen":
            raise check.fail("cases", "cases are drawn month by month: the schedule needs every: month")
        _check_case_criteria(check, schedule, council.value if council else None)
    if frequency.look_back_ends_months_before is not None and not frequency.look_back_months:
        raise check.fail("frequency.look_back_ends_months_before",
                         "say how many months the window covers (look_back_months) before where it ends")
    _check_who(check, schedule)
    _check_subject(check, schedule, council.value if council else None)


# The case import's own columns: an attribute of the same name would be ambiguous.
_CASE_COLUMNS = {"external_id", "category", "team", "allocated_worker_username", "chair_username", "involvement_started_on"}


def _check_case_attributes(check: _Checker, council: Council) -> None:
    """PLAT-3: what a council records of its cases, each a column of the case import."""
    check.unique("case_attributes[{index}].key", [a.key for a in council.case_attributes])
    for index, attribute in enumerate(council.case_attributes):
        where = f"case_attributes[{index}]"
        if attribute.key in _CASE_COLUMNS:
            raise check.fail(f"{where}.key", f"{attribute.key!r} is a column the case import already has; choose another key")
        if attribute.type == "choice" and not attribute.options:
            raise check.fail(f"{where}.options", "a choice attribute needs options")
        if attribute.type != "choice" and attribute.options:
            raise check.fail(f"{where}.options", "only a choice attribute has options")
        check.unique(f"{where}.options[{{index}}].value", [o.value for o in attribute.options])


def _check_case_criteria(check: _Checker, schedule: Schedule, council: Council | None) -> None:
    """PLAT-3: each criterion names one of the council's case attributes and
    exactly one comparison that fits its type; a window narrows cases only
    where the schedule has one."""
    from core.case_criteria import OPERATORS, WRITTEN, given

    draw = schedule.cases
    declared = {a.key: a for a in council.case_attributes} if council else {}
    for index, criterion in enumerate(draw.criteria):
        where = f"cases.criteria[{index}]"
        attribute = declared.get(criterion.attribute)
        if attribute is None:
            raise check.fail(f"{where}.attribute", f"unknown case attribute {criterion.attribute!r}; the council's case "
                             f"attributes are {', '.join(sorted(declared)) or 'none (council.case_attributes)'}")
        fits = OPERATORS[attribute.type]
        ops = given(criterion)
        if len(ops) != 1:
            raise check.fail(where, f"give exactly one comparison for {attribute.label!r}: "
                             f"{' or '.join(WRITTEN[o] for o in fits)}")
        if ops[0] not in fits:
            raise check.fail(f"{where}.{WRITTEN[ops[0]]}", f"{attribute.label!r} is a {attribute.type.replace('_', '/')} "
                             f"attribute: compare it with {' or '.join(WRITTEN[o] for o in fits)}")
        if ops[0] == "one_of":
            values = {o.value for o in attribute.options}
            for number, value in enumerate(criterion.one_of):
                if value not in values:
                    raise check.fail(f"{where}.one_of[{number}]", f"{value!r} is not an option of {attribute.label!r}; "
                                     f"its options are {', '.join(o.value for o in attribute.options)}")
    if draw.in_window and not schedule.frequency.look_back_months:
        raise check.fail("cases.in_window", "the schedule has no window to narrow cases by: set frequency.look_back_months")


def _check_who(check: _Checker, schedule: Schedule) -> None:
    """PLAT-4: a joint activity's co-auditors, and peer pairs."""
    lead = (check.registry.qualify(check.supplied.namespace, schedule.role, check.registry.roles), schedule.post)
    seen: set[tuple[str | None, str]] = set()
    for index, co in enumerate(schedule.co_auditors):
        field = f"co_auditors[{index}]"
        role = check.ref(f"{field}.role", co.role, "roles")
        if co.post != co.post.strip() or (co.post and not co.post.strip()):
            raise check.fail(f"{field}.post", f"{co.post!r} has spaces at its ends: write the post as the staff file names it")
        if (role, co.post) == lead:
            raise check.fail(field, "the co-auditors are the lead's own role and post: name a different post or role")
        if (role, co.post) in seen:
            raise check.fail(field, "this co-auditor is named twice")
        seen.add((role, co.post))
    if schedule.peer_pairs:
        # Peers audit each other's cases, chosen from the work: no other subject.
        if schedule.co_auditors:
            raise check.fail("peer_pairs", "an activity is done in peer pairs or with co-auditors, not both")
        if schedule.frequency.every == "as_required" or schedule.to_be_agreed:
            raise check.fail("peer_pairs", "peers are paired when dated work is issued: peer_pairs needs a dated every")
        if schedule.frequency.per is not None or schedule.subject is not None:
            raise check.fail("peer_pairs", "peers audit each other's cases, not a supervisee's or a line report's records")
        if schedule.cases is not None:
            raise check.fail("peer_pairs", "peers choose their partner's cases from the work: leave out cases")


def _check_subject(check: _Checker, schedule: Schedule, council) -> None:
    """What each audit of the work is on (issue 13): a person needs a way to
    choose the person, a meeting the council's meeting types."""
    about = schedule.about
    if about is not None and schedule.form is None:
        raise check.fail("about", f"an audit is on a {about}: the schedule needs a form")
    if about in ("person", "meeting") and schedule.cases is not None:
        raise check.fail("cases", f"cases are drawn for case audits, not for audits on a {about}")
    if about == "person":
        if schedule.person_from is None:
            raise check.fail("person_from", "say who may be chosen: supervisee (per: supervisee), line or team")
        if schedule.person_from == "supervisee" and schedule.frequency.per != "supervisee":
            raise check.fail("person_from", "person_from: supervisee needs frequency.per: supervisee")
    elif schedule.person_from is not None:
        raise check.fail("person_from", "person_from goes with about: person")
    if about == "meeting":
        known = [m.key for m in council.meeting_types] if council is not None else []
        if not known:
            raise check.fail("about", "the council lists no meeting types to choose from (council.meeting_types)")
        check.unique("meeting_types[{index}]", list(schedule.meeting_types))
        for index, key in enumerate(schedule.meeting_types):
            if key not in known:
                raise check.fail(f"meeting_types[{index}]", f"{key!r} is not one of the council's meeting_types: {', '.join(known)}")
    elif schedule.meeting_types:
        raise check.fail("meeting_types", "meeting_types go with about: meeting")
