"""An audit form as the fields a person fills in, and their validation.

One flat namespace of field names serves the HTML form, the JSON API and the
stored answer document: ``answer.<section>.<question>``,
``grade.<phase>.<domain>`` and ``evidence.<phase>.<domain>`` (for the overall
grade the domain is ``overall`` and the evidence is the rationale).
A draft may be incomplete; ``problems_for_submit`` lists what a submission
still needs, every field at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from core.definitions.model import AuditForm, GradingScale
from core.definitions.registry import Registry

OVERALL = "overall"
PHASE_LABELS = {
    "initial": "after reading the case file",
    "post_conversation": "after the conversation with the practitioner",
    "final": "final",
}


def phase_words(phases, phase: str) -> str:
    """" after reading the case file" where a form grades twice (HAR 2.3/2.4:
    after the file, then after the conversation); nothing where it grades
    once: an observation or a return reads no case file, and another
    council's forms are not worded in Haringey's steps."""
    return f" {PHASE_LABELS[phase]}" if len(phases) > 1 else ""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    kind: str  # an AnswerType, or "evidence"
    required: bool
    section: str
    guidance: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    phase: str | None = None
    # Shown (and so required) only when this answer field has one of these values.
    condition: tuple[str, tuple[str, ...]] | None = None
    date_is: str | None = None  # a date's meaning (``model.DateMeaning``)
    from_record: str | None = None  # the fact of the record it shows (``model.RecordFact``)

    def applies(self, answers: dict[str, str]) -> bool:
        if self.condition is None:
            return True
        name, values = self.condition
        return answers.get(name) in values


@dataclass(frozen=True, slots=True)
class FormFields:
    form: AuditForm
    scale: GradingScale | None  # None when the form is not graded
    fields: tuple[Field, ...]
    # The form's sections that apply to this kind of audit.
    sections: tuple = ()

    @property
    def phases(self) -> tuple[str, ...]:
        return self.form.grading.phases if self.form.grading else ()

    @property
    def titles(self) -> dict[str, str]:
        return dict(self.domains()) | {s.key: s.title for s in self.sections}

    def of_question(self, section: str, question: str) -> list[Field]:
        """Every field one question shows: its answer(s), table cells, and its
        own grade and evidence when it is graded."""
        own = f"{section}.{question}"
        return [
            f
            for f in self.fields
            if f.name == f"answer.{own}"
            or f.name.startswith(f"answer.{own}.")
            or (f.phase and f.name.split(".", 2)[2] == own)
        ]

    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def domains(self) -> list[tuple[str, str]]:
        """(key, title) of each graded domain, then the overall grade."""
        if self.form.grading is None:
            return []
        out = [(s.key, s.title) for s in self.sections if s.domain]
        return out + [(OVERALL, "Overall grade")]


def fields_of(registry: Registry, namespace: str, form: AuditForm, kind: str = "audit") -> FormFields:
    """The fields of ``form`` for an audit of ``kind`` (audit, re_audit, second_re_audit)."""
    sections = tuple(s for s in form.sections if not s.only_for or kind in s.only_for)
    grading = form.grading
    scale = registry.scale(registry.ref(namespace, grading.scale, "scales")) if grading else None
    grade_options = tuple((level.key, level.label) for level in scale.levels) if scale else ()
    phases = grading.phases if grading else ()
    fields: list[Field] = []
    for section in sections:
        for question in section.questions:
            condition = None
            if question.show_if is not None:
                condition = (f"answer.{question.show_if.question}", tuple(question.show_if.equals))
            fields.extend(
                dataclasses.replace(f, condition=condition)
                for f in _question_fields(registry, namespace, form, section.key, question)
            )
            if question.graded:
                # A criterion graded on its own, with its evidence (BED App. A s.2).
                for phase in phases:
                    name = f"{section.key}.{question.key}"
                    fields.append(
                        Field(f"grade.{phase}.{name}", f"{question.label}: grade", "grade", True, section.key, options=grade_options, phase=phase)
                    )
                    fields.append(
                        Field(f"evidence.{phase}.{name}", f"{question.label}: evaluation", "evidence", grading.evidence_required, section.key, phase=phase)
                    )
    domains = [s for s in sections if s.domain]
    for phase in phases:
        for section in domains:
            fields.append(
                Field(
                    f"grade.{phase}.{section.key}",
                    f"Grade{phase_words(phases, phase)}",
                    "grade",
                    True,
                    section.key,
                    options=grade_options,
                    phase=phase,
                )
            )
            fields.append(
                Field(
                    f"evidence.{phase}.{section.key}",
                    f"Evidence for the grade{phase_words(phases, phase)}",
                    "evidence",
                    grading.evidence_required,
                    section.key,
                    phase=phase,
                )
            )
        fields.append(
            Field(
                f"grade.{phase}.{OVERALL}",
                f"Overall grade{phase_words(phases, phase)}",
                "grade",
                True,
                OVERALL,
                options=grade_options,
                phase=phase,
            )
        )
        fields.append(
            Field(
                f"evidence.{phase}.{OVERALL}",
                f"Rationale for the overall grade{phase_words(phases, phase)}",
                "evidence",
                grading.rationale_required,
                OVERALL,
                phase=phase,
            )
        )
    return FormFields(form=form, scale=scale, fields=tuple(fields), sections=sections)


def _question_fields(registry: Registry, namespace: str, form: AuditForm, section: str, question) -> list[Field]:
    """The answer fields one question needs: one, or a pair, or a table's cells."""
    base = f"answer.{section}.{question.key}"
    guidance = question.guidance
    if question.type == "criterion":
        return []  # its grade and evaluation are added with graded: true
    if question.type == "yes_no_comment":
        return [
            Field(base, question.label, "yes_no", question.required, section, guidance, (("yes", "Yes"), ("no", "No"))),
            Field(f"{base}.comment", f"{question.label}: comments", "long_text", False, section),
        ]
    if question.type == "strengths_development":
        return [
            Field(f"{base}.worked_well", f"{question.label}: what worked well", "long_text", question.required, section, guidance),
            Field(f"{base}.development", f"{question.label}: areas for development", "long_text", question.required, section),
        ]
    if question.type == "table":
        cells = []
        for row in range(1, question.rows + 1):
            for column in question.columns:
                options = tuple((c.value, c.label) for c in column.options)
                if column.type == "yes_no":
                    options = (("yes", "Yes"), ("no", "No"))
                # Only the first row of a required table must be filled in.
                cells.append(
                    Field(
                        f"{base}.{row}.{column.key}",
                        f"{question.label}, row {row}: {column.label}",
                        column.type,
                        question.required and row == 1,
                        section,
                        options=options,
                        date_is=column.date_is,
                    )
                )
        return cells
    options: tuple[tuple[str, str], ...] = tuple((c.value, c.label) for c in question.options)
    if question.type == "yes_no":
        options = (("yes", "Yes"), ("no", "No"))
    if question.type == "grade":
        ref = question.scale or (form.grading.scale if form.grading else None)
        if ref is None:
            raise ValueError(f"question {question.key!r} has no scale and the form is not graded")
        qscale = registry.scale(registry.ref(namespace, ref, "scales"))
        options = tuple((level.key, level.label) for level in qscale.levels)
    return [Field(base, question.label, question.type, question.required, section, guidance, options,
                  date_is=question.date_is, from_record=question.from_record)]


@dataclass(frozen=True, slots=True)
class Window:
    """The days a date answer is checked against (issue 17): the day the
    audit was allocated, and today (both Europe/London)."""

    start: dt.date
    today: dt.date
    since: str = "when the audit was allocated"  # what ``start`` is, in words


DATE_PARTS = ("day", "month", "year")


def _long(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _subject(field: Field) -> str:
    """A date's label to start a GOV.UK message: "DATE OF OBSERVATION" reads
    "Date of observation", a table cell its column ("Timescale, row 2")."""
    label = field.label
    if ", row " in label and ": " in label:
        table_row, column = label.rsplit(": ", 1)
        label = f"{column} ({table_row[0].lower() + table_row[1:]})"
    words = _in_a_sentence(label)
    return words[0].upper() + words[1:]


def date_from_parts(field: Field, day: str, month: str, year: str) -> tuple[str | None, str | None]:
    """A GOV.UK date input's three boxes as an ISO date, or the design
    system's message naming the field ("Date of audit must include a month",
    "... must be a real date", "Year must include 4 numbers"). (None, None)
    when all three are empty."""
    parts = {"day": day.strip(), "month": month.strip(), "year": year.strip()}
    missing = [p for p in DATE_PARTS if not parts[p]]
    if len(missing) == 3:
        return None, None
    subject = _subject(field)
    if missing:
        return None, f"{subject} must include a {' and '.join(missing)}"
    if not all(v.isdigit() for v in parts.values()):
        return None, f"{subject} must be a real date"
    if len(parts["year"]) != 4:
        return None, "Year must include 4 numbers"
    try:
        return dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"])).isoformat(), None
    except ValueError:
        return None, f"{subject} must be a real date"


def date_in_window(field: Field, value: dt.date, window: Window) -> str | None:
    """The GOV.UK message for a date outside what its meaning allows (see
    ``model.DateMeaning``), or None."""
    subject = _subject(field)
    if field.date_is in ("during", "target") and value < window.start:
        return f"{subject} must be the same as or after {_long(window.start)}, {window.since}"
    if field.date_is in ("past", "during") and value > window.today:
        return f"{subject} must be today or in the past"
    return None


def _typed_dates(form_fields: FormFields, submitted: dict[str, object]) -> tuple[dict[str, object], dict[str, str]]:
    """The HTML form's GOV.UK date inputs (``<field>-day``, ``-month``,
    ``-year``) as one ISO value per field, and the message for each that is
    not a date. The JSON API sends the ISO value itself."""
    out = dict(submitted)
    errors: dict[str, str] = {}
    for field in form_fields.fields:
        if field.kind != "date" or not any(f"{field.name}-{p}" in out for p in DATE_PARTS):
            continue
        typed = [out.pop(f"{field.name}-{p}", "") for p in DATE_PARTS]
        value, problem = date_from_parts(field, *(t if isinstance(t, str) else "" for t in typed))
        if problem:
            errors[field.name] = problem
        out[field.name] = value
    return out, errors


def clean(form_fields: FormFields, submitted: dict[str, object], window: Window | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """Normalise a draft: (answers, errors). Unknown fields and values of the
    wrong type are errors; empty values are dropped; nothing is required yet.
    A date is checked against the audit's ``window`` where one is given."""
    known = form_fields.by_name()
    answers: dict[str, str] = {}
    submitted, errors = _typed_dates(form_fields, submitted)
    for name, raw in submitted.items():
        field = known.get(name)
        if field is None:
            errors[name] = f"{name!r} is not a field of this form"
            continue
        if raw is None:
            continue
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            errors[name] = f"{field.label}: give text, not {type(raw).__name__}"
            continue
        value = str(raw).strip()
        if not value:
            continue
        problem = _check(field, value, window)
        if problem:
            errors[name] = problem
        answers[name] = value
    return answers, errors


def _check(field: Field, value: str, window: Window | None = None) -> str | None:
    if field.options and value not in {v for v, _ in field.options}:
        return f"{field.label}: choose one of {', '.join(label for _, label in field.options)}"
    if field.kind == "date":
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return f"{_subject(field)} must be a real date, for example 3 December 2026"
        if window is not None:
            return date_in_window(field, day, window)
    if field.kind == "number":
        try:
            float(value)
        except ValueError:
            return f"{field.label} must be a number"
    if field.kind == "text" and len(value) > 500:
        return f"{field.label} must be 500 characters or fewer"
    if len(value) > 20000:
        return f"{field.label} must be 20,000 characters or fewer"
    return None


def _in_a_sentence(label: str) -> str:
    """A question's label after "Enter": "Date of the conversation" becomes
    "date of the conversation", a label in capitals ("MANAGER/WORKER ROLE",
    BED App. C) reads "manager/worker role", and an initialism keeps its
    capitals ("CP plan date", not "cP plan date")."""
    if label.isupper() and len(label) > 4:
        return label.lower()
    return label[0].lower() + label[1:] if label[1:2].islower() else label


def problems_for_submit(form_fields: FormFields, answers: dict[str, str], scheme, window: Window | None = None) -> dict[str, str]:
    """Every field still missing or wrong before the audit can be submitted."""
    errors: dict[str, str] = {}
    for field in form_fields.fields:
        if not field.applies(answers):
            continue
        if field.required and not answers.get(field.name):
            # A graded question (BED App. A criteria 1-16) is named by its own label, not its section's.
            title = field.label.rsplit(": ", 1)[0] if field.name.count(".") == 3 else form_fields.titles.get(field.section, "")
            if field.kind == "grade":
                errors[field.name] = f"{title}: choose a grade{phase_words(form_fields.phases, field.phase)}"
            elif field.kind == "evidence":
                what = "rationale" if field.section == OVERALL else "evidence"
                errors[field.name] = f"{title}: give the {what} for the grade{phase_words(form_fields.phases, field.phase)}"
            else:
                errors[field.name] = f"Enter {_in_a_sentence(field.label)}" if field.kind in ("text", "long_text", "date", "number") else f"Answer '{field.label}'"
        elif field.name in answers:
            problem = _check(field, answers[field.name], window)
            if problem:
                errors[field.name] = problem
    for phase in form_fields.phases:
        domain_grades = {
            key: answers.get(f"grade.{phase}.{key}") for key, _ in form_fields.domains() if key != OVERALL
        }
        overall = answers.get(f"grade.{phase}.{OVERALL}")
        rationale = answers.get(f"evidence.{phase}.{OVERALL}", "")
        if overall and rationale and scheme is not None:
            for problem in scheme.problems(form_fields.scale, domain_grades, overall, rationale):
                errors.setdefault(f"grade.{phase}.{OVERALL}", problem)
    return errors


STATUS_WORDS = {"not_started": "Not started", "in_progress": "In progress", "completed": "Completed"}


@dataclass(frozen=True, slots=True)
class SectionStatus:
    """One line of the audit's task list (issue 17): a section, and how far
    its answers go (GOV.UK task list: Not started, In progress, Completed)."""

    key: str
    title: str
    status: str  # a key of STATUS_WORDS

    @property
    def words(self) -> str:
        return STATUS_WORDS[self.status]


def section_statuses(form_fields: FormFields, answers: dict[str, str], problems: dict[str, str], facts: dict[str, str]) -> list[SectionStatus]:
    """Each section's status from its answers: nothing typed yet is Not
    started; everything a submission needs, with no problem, is Completed;
    anything between is In progress. Answers filled from the record
    (``facts``) are not the auditor's and do not count."""
    keys = [(s.key, s.title) for s in form_fields.sections]
    if form_fields.phases:
        keys.append((OVERALL, "Overall grade"))
    out = []
    for key, title in keys:
        own = [f for f in form_fields.fields if f.section == key and f.name not in facts and f.applies(answers)]
        if not own:
            continue
        typed = any(answers.get(f.name) for f in own)
        wrong = any(f.name in problems for f in own)
        status = "completed" if typed and not wrong else ("in_progress" if typed else "not_started")
        out.append(SectionStatus(key, title, status))
    return out
