"""The definition model: every kind of thing a plugin may define, as msgspec Structs.

Plugins ship these as YAML data files. They are decoded strictly
(``forbid_unknown_fields``) with ``msgspec.convert``; a Struct is never built
from a plugin's data by calling its constructor, so types are always checked.
Keys are local to the plugin that defines them; the registry qualifies them
as ``namespace:key`` so two councils never collide.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Key = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
# A reference to another definition: a local key, or ``namespace:key``.
Ref = Annotated[str, msgspec.Meta(pattern=r"^([a-z][a-z0-9_]*:)?[a-z][a-z0-9_]*$")]
Version = Annotated[int, msgspec.Meta(ge=1)]


class Definition(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    pass


# --- roles -----------------------------------------------------------------

# What a role may do in core. Roles are a council's own; capabilities are core's.
Capability = Literal[
    "audit",  # may be allocated audits
    "qa_review",  # may moderate submitted audits (QA queue)
    "view_all_audits",  # sees every audit in the organisation
    "administer",  # runs cycles, imports staff and cases
]


class Role(Definition, kw_only=True):
    key: Key
    label: str
    # Next rung of the line-management ladder used for escalation.
    escalates_to: Ref | None = None
    capabilities: tuple[Capability, ...] = ()
    description: str = ""


# --- grading ---------------------------------------------------------------


class GradeLevel(Definition, kw_only=True):
    key: Key
    label: str
    descriptor: str = ""


class GradingScale(Definition, kw_only=True):
    key: Key
    version: Version = 1
    label: str
    # Best first: comparing positions says improved, same or downgraded (CORE-4).
    levels: tuple[GradeLevel, ...]
    source: str = ""


# --- forms -----------------------------------------------------------------

AnswerType = Literal[
    "text",
    "long_text",
    "yes_no",
    "date",
    "number",
    "choice",
    "grade",
]


class Choice(Definition, kw_only=True):
    value: Key
    label: str


class Question(Definition, kw_only=True):
    key: Key
    label: str
    type: AnswerType
    guidance: str = ""
    required: bool = False
    options: tuple[Choice, ...] = ()
    scale: Ref | None = None


class Section(Definition, kw_only=True):
    key: Key
    title: str
    guidance: str = ""
    # A domain section is graded on the form's scale, with evidence.
    domain: bool = False
    questions: tuple[Question, ...] = ()


GradingPhase = Literal["initial", "post_conversation"]


class FormGrading(Definition, kw_only=True):
    scale: Ref
    # How the overall grade relates to domain grades: a grading scheme key (CORE-5).
    scheme: Ref = "qaf:auditor_judgement"
    # HAR 2.3/2.4: graded after reading the file, and again after the conversation.
    phases: tuple[GradingPhase, ...] = ("initial",)
    rationale_required: bool = True
    evidence_required: bool = True


class AuditForm(Definition, kw_only=True):
    key: Key
    version: Version
    title: str
    workflow: Ref
    grading: FormGrading
    sections: tuple[Section, ...]
    # HAR 2.3: the audit covers the preceding six months of involvement.
    scope_months: int | None = None
    guidance: str = ""
    source: str = ""


# --- workflows -------------------------------------------------------------

# Who may act: a relation to the record, or one of the council's role keys.
RELATIONS = ("auditor", "practitioner", "team_manager")


class Deadline(Definition, kw_only=True):
    working_days: int | None = None
    working_hours: int | None = None
    calendar_months: int | None = None
    # Who is chased when the deadline passes (relations or role keys).
    escalate_to: tuple[Ref, ...] = ()


class State(Definition, kw_only=True):
    key: Key
    label: str
    final: bool = False
    deadline: Deadline | None = None
    # Who is told on entering this state (relations or role keys).
    notify: tuple[Ref, ...] = ()


class Transition(Definition, kw_only=True):
    key: Key
    label: str
    from_: tuple[Key, ...] = msgspec.field(name="from")
    to: Key
    by: tuple[Ref, ...]
    reason_required: bool = False


class Workflow(Definition, kw_only=True):
    key: Key
    version: Version
    label: str
    initial: Key
    states: tuple[State, ...]
    transitions: tuple[Transition, ...]


# --- council ---------------------------------------------------------------


class CycleRules(Definition, kw_only=True):
    # HAR 2: twelve monthly cycles; allocations go out on the first working day.
    kind: Literal["monthly"] = "monthly"
    form: Ref
    # Which roles are allocated audits each cycle, and how many each.
    auditor_roles: tuple[Ref, ...]
    audits_per_auditor: int = 1
    # Never an auditor's own cases; own team only when the council allows it.
    allow_own_team: bool = False
    # HAR 2.3: one calendar month to complete.
    due_calendar_months: int = 1


class CaseCategory(Definition, kw_only=True):
    key: Key
    label: str


class Council(Definition, kw_only=True):
    key: Key
    version: Version = 1
    name: str
    year_start_month: int = 1
    practitioner_role: Ref
    team_manager_role: Ref
    case_categories: tuple[CaseCategory, ...] = ()
    cycles: CycleRules | None = None
    source: str = ""


class DefinitionFile(Definition, kw_only=True):
    """The shape of one YAML data file: any of these sections."""

    council: dict | None = None
    roles: list[dict] = []
    scales: list[dict] = []
    forms: list[dict] = []
    workflows: list[dict] = []


# Section name in a data file -> the Struct its entries decode to.
KINDS: dict[str, type[Definition]] = {
    "roles": Role,
    "scales": GradingScale,
    "forms": AuditForm,
    "workflows": Workflow,
}
