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
    "read_reports",  # reads the reports of the teams and services their line covers
    "read_council_reports",  # reads the whole council's reports (a director, a partnership's board)
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
    "yes_no_comment",  # yes/no with a comment box
    "date",
    "number",
    "choice",
    "grade",
    "strengths_development",  # "what worked well" / "areas for development" pair
    "table",  # repeating rows with typed columns (family composition, actions)
    "criterion",  # no answer of its own: graded, with its evaluation (graded: true)
]

ColumnType = Literal["text", "long_text", "date", "number", "yes_no", "choice"]

# Issue 17: what a date answer is, so it is checked against the audit's own
# window (the day it was allocated, and today):
#   past:   a past event (a referral, a birth, a supervision, a conference):
#           today or in the past;
#   during: done as part of this audit (the audit itself, the conversation
#           with the practitioner, a meeting it needs): on or after the day
#           the audit was allocated, and today or in the past;
#   target: a date set for what follows (an action's "by when", a
#           recommendation's review): on or after the day it was allocated.
DateMeaning = Literal["past", "during", "target"]

# Issue 17: a fact qaf holds on the case or allocation, shown on the form and
# filled from the record instead of asked (``from_record``).
RecordFact = Literal["team", "practitioner", "team_manager", "category", "case_id", "auditor", "allocated_on"]


class Choice(Definition, kw_only=True):
    value: Key
    label: str


class Column(Definition, kw_only=True):
    key: Key
    label: str
    type: ColumnType = "text"
    options: tuple[Choice, ...] = ()
    date_is: DateMeaning | None = None


class Condition(Definition, kw_only=True):
    """Show a question only when another answer (``section.question``) has a value."""

    question: str
    equals: tuple[str, ...]


class Question(Definition, kw_only=True):
    key: Key
    label: str
    type: AnswerType
    guidance: str = ""
    # Prompts shown to the auditor under the question (the tools' bullet lists).
    prompts: tuple[str, ...] = ()
    required: bool = False
    options: tuple[Choice, ...] = ()
    scale: Ref | None = None
    columns: tuple[Column, ...] = ()
    # How many blank rows a table offers (forms must work without JavaScript).
    rows: int = 5
    show_if: Condition | None = None
    # A question graded on its own, with evidence (BED App. A criteria 1-16).
    graded: bool = False
    # A date's meaning, for checking it against the audit's window (issue 17).
    date_is: DateMeaning | None = None
    # Shown from the case record, not asked (issue 17): "team", "category" ...
    from_record: RecordFact | None = None


AuditKind = Literal["audit", "re_audit", "second_re_audit"]


class Section(Definition, kw_only=True):
    key: Key
    title: str
    guidance: str = ""
    prompts: tuple[str, ...] = ()
    # Only for these kinds of audit (HAR 2.5: a second re-audit's meeting).
    only_for: tuple[AuditKind, ...] = ()
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
    # None: a form with no grade at all (a scorecard return, a report).
    grading: FormGrading | None = None
    sections: tuple[Section, ...]
    # CSCP-10: which lens this source of assurance looks through.
    lens: Key | None = None
    # HAR 2.3: the audit covers the preceding six months of involvement.
    scope_months: int | None = None
    guidance: str = ""
    source: str = ""


# --- workflows -------------------------------------------------------------

# Who may act: a relation to the record, or one of the council's role keys.
# ``case_chair``: the child's CP chair or IRO, where the case has one (HAR 2.6).
RELATIONS = ("auditor", "practitioner", "team_manager", "case_chair")


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


# --- role schedules (CORE-7) -------------------------------------------------

Month = Annotated[int, msgspec.Meta(ge=1, le=12)]
# At least one: how many times, how many of, an interval.
Positive = Annotated[int, msgspec.Meta(ge=1)]
# A look-back window: at least a month, at most ten years.
LookBack = Annotated[int, msgspec.Meta(ge=1, le=120)]
# A year a framework could mean: not a typo ("223") nor a far future.
Year = Annotated[int, msgspec.Meta(ge=2000, le=2100)]
Every = Literal["month", "quarter", "year", "two_years", "n_weeks", "n_months", "as_required"]


class Frequency(Definition, kw_only=True):
    """How often a role does an activity, as a framework words it.

    ``every`` is the period: ``month``, ``quarter``, ``year``, ``two_years``,
    ``n_weeks`` or ``n_months`` (with ``interval``); ``times`` is how many in
    each period (``times: 3, every: year`` = three times a year). ``months``
    names the months instead (``[1, 2, 9, 10]``); ``start_month`` is when it
    begins ("to commence in June"); ``per: supervisee`` repeats it for each
    person the role supervises; ``at_most`` marks a ceiling ("up to four a
    year"), not a target; ``as_required`` has no dates at all (C17-4): its
    work is started by hand.

    Field bounds are here; what fields mean together (an interval only with
    n_weeks/n_months, named months only with a year...) is checked by the
    registry (``_check_schedule``), which names the field at fault.
    """

    every: Every
    times: Annotated[int, msgspec.Meta(ge=1, le=52)] = 1
    # Weeks for n_weeks (at most 52), months for n_months (at most 12).
    interval: Annotated[int, msgspec.Meta(ge=1, le=52)] | None = None
    months: tuple[Month, ...] = ()
    start_month: Month | None = None
    per: Literal["supervisee"] | None = None
    # How many of the activity each occurrence means ("two compliance audits").
    count: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    at_most: Annotated[int, msgspec.Meta(ge=1, le=52)] | None = None
    # The period an activity looks back over ("the past six months").
    look_back_months: LookBack | None = None
    # PLAT-3: the window ends this many whole months before the month the
    # work is due ("the three months ending two months before": 3 and 2);
    # without it the window runs to the due date.
    look_back_ends_months_before: Annotated[int, msgspec.Meta(ge=1, le=24)] | None = None
    # For every: two_years, a year in which it falls (then every other year).
    first_year: Year | None = None
    # HAR 2: "When these [practice weeks] occur, they will replace the monthly
    # audit process for that month."
    replaced_by: Literal["practice_week"] | None = None


class CaseDraw(Definition, kw_only=True):
    """The cases an activity is done on, drawn for each of its owners when its
    month's work is issued (PLAT-1, CORE-9): ``random`` under the council's
    sampling rules (``cycles``: never their own cases, own team only if
    allowed, a category mix, a yearly share, cases already being audited
    left out), or ``re_audit``: earlier final audits whose grade calls for a
    re-audit, oldest first (HAR 1.4). Re-audits are drawn before the random
    sample, which never takes a case due its re-audit."""

    draw: Literal["random", "re_audit", "chosen"] = "random"
    count: Annotated[int, msgspec.Meta(ge=1)] = 1
    # PLAT-3: only cases meeting every criterion are drawn, or may be chosen
    # (``draw: chosen``: nothing is drawn; the owner chooses the case when
    # starting the audit from the work, under these criteria).
    criteria: tuple[CaseCriterion, ...] = ()
    # PLAT-3: only cases with involvement in the schedule's look-back window
    # (begun by its last day; the case is open, so it ran through the window).
    in_window: bool = False


class CaseCriterion(Definition, kw_only=True):
    """One condition on a council's case attribute (``Council.case_attributes``),
    judged on the first day of the work's period. Exactly one comparison:

    - a date: ``months_ago_at_least`` / ``months_ago_less_than`` (whole months
      before the period starts: "plan started 18 or more months ago"), or
      ``years_ago_at_least`` / ``years_ago_less_than`` (an age from a date of
      birth: "aged 16 or over");
    - a whole number: ``at_least`` / ``at_most`` ("second or later plan");
    - yes/no: ``is`` (true or false);
    - one of a list: ``one_of`` (option values).

    A case whose attribute is not recorded does not meet the criterion."""

    attribute: Key
    months_ago_at_least: Annotated[int, msgspec.Meta(ge=0, le=1200)] | None = None
    months_ago_less_than: Annotated[int, msgspec.Meta(ge=1, le=1200)] | None = None
    years_ago_at_least: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    years_ago_less_than: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    at_least: int | None = None
    at_most: int | None = None
    is_: bool | None = msgspec.field(default=None, name="is")
    one_of: tuple[Key, ...] = ()


class CoAuditor(Definition, kw_only=True):
    """Who does a joint activity with its lead (PLAT-4): every holder of
    ``role``, or of the named ``post`` within it (a head of service leading
    with the QA officer)."""

    role: Ref
    post: Annotated[str, msgspec.Meta(max_length=100)] = ""


class Schedule(Definition, kw_only=True):
    key: Key
    version: Version = 1
    # Who does it: one of the council's roles, or a named post within one
    # (a person's ``post``, up to 100 characters as the staff import allows).
    role: Ref
    post: Annotated[str, msgspec.Meta(max_length=100)] = ""
    # The work's name on every list (Work.activity holds 300 characters).
    activity: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    purpose: str = ""
    frequency: Frequency
    form: Ref | None = None
    # PLAT-2: without a form, the workflow its completion record goes through
    # (a report the A&P subgroup considers, a line manager signs off): done
    # when a final state is reached. On work, ``auditor`` is the owner,
    # ``team_manager`` the owner's line manager, ``practitioner`` the supervisee.
    workflow: Ref | None = None
    # Cases drawn for each owner when the work is issued (needs a form).
    cases: CaseDraw | None = None
    # Whose records it audits, as a role ("their Advanced Practitioner's
    # supervision records", BED s.4): only holders of ``role`` who line-manage
    # someone in this role owe it.
    subject: Ref | None = None
    # What each audit of the work is on (issue 13): a ``case`` (the default
    # where there is a form), a ``person`` (a supervisee, a practitioner
    # observed: ``person_from`` says who may be chosen) or a ``meeting`` of
    # one of the council's ``meeting_types`` (``meeting_types`` narrows them).
    # Not ``on``: YAML reads ``on`` as true.
    about: Literal["case", "person", "meeting"] | None = None
    person_from: Literal["supervisee", "line", "team"] | None = None
    meeting_types: tuple[Key, ...] = ()
    # CSCP-10: which lens this source of assurance looks through.
    lens: Key | None = None
    # C17-3: done on one of the council's ``themes``; starting one by hand
    # asks which (every: as_required only).
    themed: bool = False
    # "Process and timescale to be agreed": kept, with no frequency invented.
    to_be_agreed: bool = False
    # PLAT-4: a joint activity: each holder of ``role``/``post`` leads it (owns
    # the work and submits), with these co-auditors, who see and edit its audits.
    co_auditors: tuple[CoAuditor, ...] = ()
    # PLAT-4, HAR 2.15 ("case audits and peer audits"): the holders audit in
    # peer pairs, each the cases its partner holds (core.services.joint).
    peer_pairs: bool = False
    # Issue 14 (CSCP-4, CSCP-9): the work is a partnership's request to its
    # agencies: its owner (the QA manager) issues it from the work item, with
    # ``request_form`` for each agency's return, to the agencies of the types
    # ``request_to`` names (every agency where it names none).
    request: Literal["section_11", "section_175", "scorecard", "thematic", "impromptu"] | None = None
    request_form: Ref | None = None
    request_to: tuple[Key, ...] = ()
    # What the source says, quoted, and how it was read where it is ambiguous.
    source: str = ""
    reading: str = ""


# --- escalation rules (CORE-11) ---------------------------------------------

EscalationEvent = Literal[
    "grade_final",
    "reaudit_compared",
    "child_safety_concern",
    "deadline_passed",
    "allocation_missed",
    "dispute_resolved",
]


# Which kind of deadline passed (a ``deadline_passed`` event): a workflow
# state's, a follow-up task's (an escalation rule's ``within_*``), an action's
# due date, or a dispute stage's.
PassedDeadline = Literal["state", "follow_up", "action", "dispute"]
# "section.question" of a form, or "section.question.column" of a table question.
QuestionRef = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")]


class EscalationRule(Definition, kw_only=True):
    """When ``event`` happens and the condition holds, tell ``notify`` and
    require ``action`` of them within the deadline."""

    key: Key
    event: EscalationEvent
    # Conditions (all that are given must hold).
    grades: tuple[str, ...] = ()  # overall grade is one of these level keys
    movement: tuple[Literal["improved", "same", "downgraded"], ...] = ()
    # True: only for a repeat (a re-audit of a re-audit, a second missed allocation).
    repeat: bool | None = None
    # grade_final / reaudit_compared: only when each of these questions of the
    # audit has an answer (a table: at least one cell filled in; a table's
    # column, "section.question.column": filled in on at least one row).
    answered: tuple[QuestionRef, ...] = ()
    # deadline_passed: which deadline passed. Required on a deadline_passed
    # rule, so that no rule fires on every deadline (issue 12, defect 4).
    deadline: PassedDeadline | None = None
    # deadline: state or follow_up - the audit's workflow, and the state it is
    # in when the deadline passes (for a state deadline: the state not done in time).
    workflows: tuple[Ref, ...] = ()
    states: tuple[Key, ...] = ()
    # deadline: follow_up - the rules whose follow-up task was not done in time.
    follow_ups: tuple[Key, ...] = ()
    # deadline: dispute - the dispute stages not done in time.
    stages: tuple[Key, ...] = ()
    notify: tuple[Ref, ...]
    action: str = ""
    within_working_days: int | None = None
    within_hours: int | None = None
    source: str = ""


# --- named lists a council keeps ----------------------------------------------


class Named(Definition, kw_only=True):
    key: Key
    label: str
    description: str = ""
    source: str = ""


class CaseNoteTemplate(Definition, kw_only=True):
    """The note that goes on the case record with a final audit (HAR 4).

    ``title`` and ``text`` may use {cycle}, {overall_grade}, {alerted} and
    {report}; qaf fills them in when the audit is final.
    """

    title: str
    note_type: str
    text: str
    max_title_length: int = 100


# --- council ---------------------------------------------------------------


class CycleRules(Definition, kw_only=True):
    """The council's rules for drawing cases (CORE-9), applied when a month's
    work with ``cases`` is issued. Who draws how many is the schedules' data
    (``Schedule.cases``); the month's draw is recorded as its cycle."""

    # HAR 2: twelve monthly cycles; the work goes out on the first working day.
    kind: Literal["monthly"] = "monthly"
    # Never an auditor's own cases; own team only when the council allows it.
    allow_own_team: bool = False
    # HAR 2.3: one calendar month to complete.
    due_calendar_months: Annotated[int, msgspec.Meta(ge=1, le=12)] = 1
    # Spread each month's sample across the case categories (CORE-9).
    category_mix: bool = True
    # A yearly target share of open cases to audit (BED-10: "roughly 10% of
    # cases per year"): each month allocates at least a twelfth of it.
    yearly_share: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    # HAR 1.4: re-audits are drawn from earlier final audits with these grades.
    re_audit_grades: tuple[str, ...] = ("requires_improvement", "inadequate")


class CaseCategory(Definition, kw_only=True):
    key: Key
    label: str


# PLAT-3: what a council records about its cases beyond the category.
CaseAttributeType = Literal["date", "yes_no", "number", "choice"]


class CaseAttribute(Definition, kw_only=True):
    """A fact a council records about each case ("child protection plan
    started on", "looked after"): a column of the case import named by its
    ``key``, and what a schedule's case criteria select on. ``number`` is a
    whole number; ``choice`` takes one of ``options``."""

    key: Key
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    type: CaseAttributeType
    options: tuple[Choice, ...] = ()
    description: str = ""


class Body(Definition, kw_only=True):
    """A group that monitors action plans to completion (CSCP 5.5: the A&P
    subgroup; Bedford s.7: DMT), who sits on it, and the ways it shares
    learning."""

    key: Key
    label: str
    # Roles whose holders sit on the body: they create, see and monitor its plans.
    roles: tuple[Ref, ...]
    learning_channels: tuple[Named, ...] = ()
    description: str = ""
    source: str = ""


class ScorecardIndicator(Definition, kw_only=True):
    """A Performance Scorecard indicator as a council first defines it
    (CSCP-2, CSCP 5.1): who owns its figure, what it counts, which way is
    better, and where green and amber start. qaf seeds its records from these;
    after that an indicator changes only through the ``indicator_change``
    workflow."""

    key: Key
    label: Annotated[str, msgspec.Meta(min_length=1)]
    # One of the council's ``indicators`` (the priority it aligns to).
    priority: Key
    # One of the council's ``agencies``: the partner that supplies the figure.
    owner_agency: Key
    definition: str = ""
    direction: Literal["higher_is_better", "lower_is_better"]
    unit: str = ""
    green: float
    amber: float
    source: str = ""


class Council(Definition, kw_only=True):
    key: Key
    version: Version = 1
    name: Annotated[str, msgspec.Meta(min_length=1)]
    # The month the council's QA year starts: 1 for January to December, 4
    # for April to March.
    year_start_month: Month = 1
    practitioner_role: Ref
    team_manager_role: Ref
    case_categories: tuple[CaseCategory, ...] = ()
    # PLAT-3: what the case import records, and schedules' criteria select on.
    case_attributes: tuple[CaseAttribute, ...] = ()
    cycles: CycleRules | None = None
    # CSCP-1: partner agencies; CSCP-10: the four lenses; C17-3: audit themes;
    # CSCP-2: scorecard indicators.
    agencies: tuple[Named, ...] = ()
    lenses: tuple[Named, ...] = ()
    themes: tuple[Named, ...] = ()
    # The kinds of meeting observed (BED s.6: "The following meetings will be
    # observed"): what a schedule ``about: meeting`` chooses from.
    meeting_types: tuple[Named, ...] = ()
    indicators: tuple[Named, ...] = ()
    # CSCP-2: the scorecard's indicators, seeded into records (``scorecard_indicator``).
    scorecard_indicators: tuple[ScorecardIndicator, ...] = ()
    # HAR-9: the grading criteria documents a disputing practitioner cites.
    grading_criteria: tuple[Named, ...] = ()
    # CSCP-8, BED-6: bodies that monitor action plans.
    bodies: tuple[Body, ...] = ()
    case_note: CaseNoteTemplate | None = None
    # HAR 2: practice weeks replace that month's cycle (usually twice a year).
    practice_weeks_replace_cycle: bool = False
    # The programme's work: its owner is reminded this many working days
    # before it is due (0: no reminder). Not in any framework; a council sets it.
    work_reminder_working_days: Annotated[int, msgspec.Meta(ge=0, le=60)] = 5
    source: str = ""


class DefinitionFile(Definition, kw_only=True):
    """The shape of one YAML data file: any of these sections."""

    council: dict | None = None
    roles: list[dict] = []
    scales: list[dict] = []
    forms: list[dict] = []
    workflows: list[dict] = []
    schedules: list[dict] = []
    escalations: list[dict] = []


# Section name in a data file -> the Struct its entries decode to.
KINDS: dict[str, type[Definition]] = {
    "roles": Role,
    "scales": GradingScale,
    "forms": AuditForm,
    "workflows": Workflow,
    "schedules": Schedule,
    "escalations": EscalationRule,
}
