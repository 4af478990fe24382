"""All QA activity by activity type, cut by lens, and the yes/no summaries of
unscored audits (BED-6, BED-7, CSCP-10; BED-3 for remedial actions).

Generic: an activity type is one of the council's forms, labelled with the
form's own title; a lens is the council's own (``Council.lenses``). Nothing
here names a council.

* :func:`overview` - for a period and scope, per activity type: allocated,
  completed, completed on time, overdue, the overall grade distribution of
  completed audits where the form is graded, SMART actions raised, closed and
  overdue, and escalation follow-ups raised, done in time and overdue (BED-6
  "monthly overview report of all QA activity"; BED-3 "remedial actions ...
  within 48 hours" is the follow-up of that rule, done by its due instant).
  The same rows summed by lens give the partnership's cut (CSCP-10).
* :func:`question_summary` - for yes/no forms over a period (BED-7's
  quarterly supervision summary): required against done per auditor role,
  required being what the programme says falls due in the period (the
  delivery report's due, ``core.services.delivery``: where a schedule names
  whose records it audits, only holders who line-manage someone in that role
  owe it), and the yes/no/not answered count of every question.

An allocation belongs to a period when it is due in it (as in
``core.services.reports``). Every figure is a GROUP BY over the period's
allocations: a handful of queries per report, whatever the number of audits.

A completed audit's grade is its latest overall grade (by ``set_at``, then
id), moderation's own rows aside: the ``final`` row where QA accepted the
audit or a dispute amended it, else the auditor's grade (workflows with no QA
step, such as the partnership's agency returns, write no ``final`` row).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from core.db.engine import current
from core.db.tables import Allocation
from core.definitions.model import AuditForm
from core.services import report_access
from core.services.context import Context
from core.services.delivery import due_by_schedule
from core.services.errors import Forbidden, Invalid
from core.services.reports import Period, Scope, scope_audits

NO_LENS = ""


async def _allowed(ctx: Context, scope: Scope) -> None:
    # As the reports, by the one policy (BED-6: DMT; HAR 1.9).
    reach = await report_access.require(ctx)
    if not reach.covers(scope.kind, scope.id):
        raise Forbidden("Your reports are of the teams and services you lead")


# ------------------------------------------------------------- definitions


def council_forms(ctx: Context) -> list[tuple[str, AuditForm]]:
    """(qualified key, latest version) of every form of the actor's council, in definition order."""
    prefix = f"{ctx.actor.council}:"
    seen: dict[str, AuditForm] = {}
    for (key, _version), supplied in ctx.registry.forms.items():
        if key.startswith(prefix):
            seen[key] = ctx.registry.form(key)
    return list(seen.items())


def lenses(ctx: Context) -> list[tuple[str, str]]:
    """(key, label) of the council's lenses; empty when it defines none (CSCP-10)."""
    return [(lens.key, lens.label) for lens in ctx.registry.council(ctx.actor.council).lenses]


def lens_of_forms(ctx: Context) -> dict[str, str]:
    """Qualified form key -> lens key. CSCP 4.0: every source of assurance is
    classified by a lens; a form names its own, or takes the lens of the
    schedules that use it when they all agree (the partnership's data names
    lenses on schedules). A form with no single lens is left unclassified."""
    council = ctx.actor.council
    found: dict[str, set[str]] = {}
    for key, form in council_forms(ctx):
        if form.lens:
            found[key] = {form.lens}
    for key, supplied in ctx.registry.schedules.items():
        schedule = supplied.value
        if not key.startswith(f"{council}:") or schedule.form is None or schedule.lens is None:
            continue
        form_key = ctx.registry.qualify(council, schedule.form, ctx.registry.forms)
        if form_key and not ctx.registry.form(form_key).lens:
            found.setdefault(form_key, set()).add(schedule.lens)
    return {key: next(iter(values)) for key, values in found.items() if len(values) == 1}


def _scale_levels(ctx: Context, form: AuditForm) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(qualified scale key, ((level, label), ...) best first) of a graded form."""
    if form.grading is None:
        return "", ()
    key = ctx.registry.ref(ctx.actor.council, form.grading.scale, "scales")
    return key, tuple((lvl.key, lvl.label) for lvl in ctx.registry.scale(key).levels)


# ------------------------------------------------------------------- SQL


def _in_period(ctx: Context, scope: Scope, p: Period, forms: list[str] | None) -> tuple[str, list]:
    """FROM/WHERE over ``allocation a`` for scope and period: a scope's audits
    as the reports choose them (``reports.scope_audits``)."""
    sql = " FROM allocation a WHERE a.organisation = {} AND a.due_at >= {} AND a.due_at < {}"
    args: list = [ctx.actor.organisation_id, p.start_at, p.end_at]
    if scope.kind != "org":
        sql += f" AND {scope_audits(scope, args)}"
    if forms is not None:
        if not forms:
            sql += " AND 1 = 0"
        else:
            sql += " AND a.form_key IN (" + ", ".join("{}" for _ in forms) + ")"
            args.extend(forms)
    return sql, args


async def _raw(sql: str, args: list) -> list[dict]:
    return await Allocation.raw(sql, *args)


def _answer(name: str) -> str:
    """SQL for one answer (``answer.<section>.<question>``) of ``a.answers``.
    Names come from validated definition keys ([a-z0-9_.]), never from input."""
    assert all(ch.isalnum() or ch in "._" for ch in name)
    if current().engine_type == "postgres":
        return f"(a.answers::jsonb ->> '{name}')"
    return f"json_extract(a.answers, '$.\"{name}\"')"


def _n(value) -> int:
    return int(value or 0)


# --------------------------------------------------------- the overview


@dataclass(slots=True)
class ActivityRow:
    key: str  # qualified form key, or a lens key in a lens row
    title: str
    lens: str = NO_LENS
    allocated: int = 0
    completed: int = 0
    on_time: int = 0
    overdue: int = 0
    # scale key -> level key -> completed audits with that overall grade
    grades: dict[str, dict[str, int]] = field(default_factory=dict)
    actions_raised: int = 0
    actions_closed: int = 0
    actions_overdue: int = 0
    follow_ups: int = 0
    follow_ups_in_time: int = 0
    follow_ups_overdue: int = 0

    def add(self, other: ActivityRow) -> None:
        for name in (
            "allocated", "completed", "on_time", "overdue", "actions_raised", "actions_closed",
            "actions_overdue", "follow_ups", "follow_ups_in_time", "follow_ups_overdue",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for scale, levels in other.grades.items():
            mine = self.grades.setdefault(scale, {})
            for level, n in levels.items():
                mine[level] = mine.get(level, 0) + n


@dataclass(frozen=True, slots=True)
class FollowUpRule:
    """One escalation rule's follow-ups (BED-3: remedial actions within 48 hours)."""

    rule: str
    action: str
    within: str  # "48 hours", "5 working days", ""
    raised: int
    in_time: int
    late: int
    open: int
    overdue: int


@dataclass(frozen=True, slots=True)
class Overview:
    period: Period
    scope: Scope
    lens: tuple[str, str] | None  # the lens the overview is restricted to
    activities: tuple[ActivityRow, ...]  # per form, every form of the council
    by_lens: tuple[ActivityRow, ...]  # empty when the council has no lenses
    total: ActivityRow
    # scale key -> (scale label, ((level key, label), ...)) for every graded form shown
    scales: dict[str, tuple[str, tuple[tuple[str, str], ...]]]
    follow_up_rules: tuple[FollowUpRule, ...]
    as_of: dt.datetime


def parse_lens(ctx: Context, value: str) -> tuple[str, str] | None:
    """``?lens=`` of the council's lenses; blank for every lens."""
    value = (value or "").strip()
    if not value:
        return None
    for key, label in lenses(ctx):
        if key == value:
            return key, label
    raise Invalid("Choose a lens", {"lens": "Choose one of the council's lenses, or all of them"})


async def overview(ctx: Context, p: Period, scope: Scope, lens: tuple[str, str] | None = None) -> Overview:
    """Every QA activity of the period by activity type (BED-6), restricted
    to one lens when ``lens`` is given (CSCP-10)."""
    await _allowed(ctx, scope)
    forms = council_forms(ctx)
    lens_of = lens_of_forms(ctx)
    chosen = [key for key, _ in forms if lens is None or lens_of.get(key) == lens[0]]
    restrict = None if lens is None else chosen
    as_of = ctx.now
    where, args = _in_period(ctx, scope, p, restrict)

    counts = await _raw(
        "SELECT a.form_key AS form_key, COUNT(*) AS allocated,"
        " SUM(CASE WHEN a.finalised_at IS NOT NULL THEN 1 ELSE 0 END) AS completed,"
        " SUM(CASE WHEN a.finalised_at IS NOT NULL AND a.submitted_at <= a.due_at THEN 1 ELSE 0 END) AS on_time,"
        " SUM(CASE WHEN a.finalised_at IS NULL AND a.due_at < {} THEN 1 ELSE 0 END) AS overdue"
        + where + " GROUP BY a.form_key",
        [min(as_of, p.end_at), *args],
    )
    grades = await _raw(
        "SELECT a.form_key AS form_key, g.scale_key AS scale_key, g.level AS level, COUNT(*) AS n"
        + where.replace(" WHERE ", " JOIN grade g ON g.allocation = a.id WHERE ", 1)
        + " AND a.finalised_at IS NOT NULL AND g.domain = 'overall' AND g.phase <> 'moderated'"
        " AND NOT EXISTS (SELECT 1 FROM grade l WHERE l.allocation = g.allocation AND l.domain = 'overall'"
        " AND l.phase <> 'moderated' AND (l.set_at > g.set_at OR (l.set_at = g.set_at AND l.id > g.id)))"
        " GROUP BY a.form_key, g.scale_key, g.level",
        args,
    )
    # SMART actions on the period's audits: follow-through as it stands now.
    actions = await _raw(
        "SELECT a.form_key AS form_key, COUNT(*) AS raised,"
        " SUM(CASE WHEN x.status = 'done' THEN 1 ELSE 0 END) AS closed,"
        " SUM(CASE WHEN x.status = 'open' AND x.due_at < {} THEN 1 ELSE 0 END) AS overdue"
        + where.replace(" WHERE ", " JOIN action x ON x.allocation = a.id WHERE ", 1) + " GROUP BY a.form_key",
        [as_of, *args],
    )
    follow_ups = await _raw(
        "SELECT a.form_key AS form_key, f.rule AS rule, COUNT(*) AS raised,"
        " SUM(CASE WHEN f.done_at IS NOT NULL AND (f.due_at IS NULL OR f.done_at <= f.due_at) THEN 1 ELSE 0 END) AS in_time,"
        " SUM(CASE WHEN f.done_at IS NOT NULL AND f.done_at > f.due_at THEN 1 ELSE 0 END) AS late,"
        " SUM(CASE WHEN f.status = 'open' THEN 1 ELSE 0 END) AS still_open,"
        " SUM(CASE WHEN f.status = 'open' AND f.due_at < {} THEN 1 ELSE 0 END) AS overdue"
        + where.replace(" WHERE ", " JOIN follow_up f ON f.allocation = a.id WHERE ", 1)
        + " GROUP BY a.form_key, f.rule",
        [as_of, *args],
    )

    rows: dict[str, ActivityRow] = {}
    scales: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
    for key, form in forms:
        if key not in chosen:
            continue
        rows[key] = ActivityRow(key, form.title, lens_of.get(key, NO_LENS))
        scale, levels = _scale_levels(ctx, form)
        if scale:
            rows[key].grades[scale] = {level: 0 for level, _ in levels}
            scales.setdefault(scale, (ctx.registry.scale(scale).label, levels))

    def row_of(form_key: str) -> ActivityRow:
        # An older form no longer defined still counts, under its key.
        if form_key not in rows:
            rows[form_key] = ActivityRow(form_key, form_key.split(":")[-1].replace("_", " ").capitalize(), lens_of.get(form_key, NO_LENS))
        return rows[form_key]

    for r in counts:
        row = row_of(r["form_key"])
        row.allocated, row.completed, row.on_time, row.overdue = _n(r["allocated"]), _n(r["completed"]), _n(r["on_time"]), _n(r["overdue"])
    for r in grades:
        levels = row_of(r["form_key"]).grades.setdefault(r["scale_key"], {})
        levels[r["level"]] = levels.get(r["level"], 0) + _n(r["n"])
        if r["scale_key"] not in scales and r["scale_key"] in ctx.registry.scales:
            s = ctx.registry.scale(r["scale_key"])
            scales[r["scale_key"]] = (s.label, tuple((lvl.key, lvl.label) for lvl in s.levels))
    for r in actions:
        row = row_of(r["form_key"])
        row.actions_raised, row.actions_closed, row.actions_overdue = _n(r["raised"]), _n(r["closed"]), _n(r["overdue"])
    by_rule: dict[str, list[int]] = {}
    for r in follow_ups:
        row = row_of(r["form_key"])
        row.follow_ups += _n(r["raised"])
        row.follow_ups_in_time += _n(r["in_time"])
        row.follow_ups_overdue += _n(r["overdue"])
        sums = by_rule.setdefault(r["rule"], [0, 0, 0, 0, 0])
        for i, name in enumerate(("raised", "in_time", "late", "still_open", "overdue")):
            sums[i] += _n(r[name])

    total = ActivityRow("total", "All activity")
    for row in rows.values():
        total.add(row)

    by_lens: list[ActivityRow] = []
    council_lenses = lenses(ctx)
    if council_lenses:
        grouped = {key: ActivityRow(key, label, key) for key, label in council_lenses if lens is None or key == lens[0]}
        other = ActivityRow(NO_LENS, "No lens (governance and other activity)")
        for row in rows.values():
            grouped.get(row.lens, other).add(row)
        by_lens = list(grouped.values())
        if other.allocated:
            by_lens.append(other)

    rules = []
    for rule, (raised, in_time, late, still_open, overdue) in sorted(by_rule.items()):
        definition = ctx.registry.escalations.get(rule)
        action, within = rule.split(":")[-1].replace("_", " ").capitalize(), ""
        if definition is not None:
            action = definition.value.action or action
            if definition.value.within_hours is not None:
                within = f"{definition.value.within_hours} hours"
            elif definition.value.within_working_days is not None:
                within = f"{definition.value.within_working_days} working days"
        rules.append(FollowUpRule(rule, action, within, raised, in_time, late, still_open, overdue))

    return Overview(
        period=p,
        scope=scope,
        lens=lens,
        activities=tuple(rows.values()),
        by_lens=tuple(by_lens),
        total=total,
        scales=scales,
        follow_up_rules=tuple(rules),
        as_of=as_of,
    )


# ------------------------------------------------- yes/no summaries (BED-7)


@dataclass(frozen=True, slots=True)
class RoleLine:
    """One auditor role's audits of one form: required by the schedules, and done."""

    form: str
    form_title: str
    role: str
    role_label: str
    people: int
    required: int | None  # None: the schedules set no number for the period
    allocated: int
    done: int
    on_time: int
    # Holders who line-manage someone whose records the schedules audit
    # (``Schedule.subject``); None when no schedule of the line names one.
    auditing: int | None = None


@dataclass(frozen=True, slots=True)
class QuestionLine:
    form: str
    section: str
    question: str
    label: str
    kind: str  # "yes_no" or "record" (a date or text answer: recorded or not)
    yes: int
    no: int
    unanswered: int


@dataclass(frozen=True, slots=True)
class QuestionSummary:
    period: Period
    scope: Scope
    forms: tuple[tuple[str, str], ...]  # (qualified key, title)
    roles: tuple[RoleLine, ...]
    questions: tuple[QuestionLine, ...]
    completed: dict[str, int]  # form -> completed audits counted in the questions


def yes_no_forms(ctx: Context) -> list[tuple[str, str]]:
    """(key, title) of the council's ungraded forms asked as yes/no questions
    (BED-7's supervision audits, BED-4's compliance audits)."""
    out = []
    for key, form in council_forms(ctx):
        kinds = {q.type for s in form.sections for q in s.questions}
        if form.grading is None and kinds & {"yes_no", "yes_no_comment"}:
            out.append((key, form.title))
    return out


def parse_forms(ctx: Context, values: list[str]) -> list[tuple[str, str]]:
    known = dict(yes_no_forms(ctx))
    chosen = []
    for value in values:
        key = value if ":" in value else f"{ctx.actor.council}:{value}"
        if key not in known:
            raise Invalid("Choose the audits to summarise", {"form": "Choose one of the yes/no audits listed"})
        if key not in [k for k, _ in chosen]:
            chosen.append((key, known[key]))
    return chosen


async def question_summary(ctx: Context, p: Period, scope: Scope, forms: list[tuple[str, str]]) -> QuestionSummary:
    """BED-7 (s.4): per auditor role, the audits the schedules require in the
    period against those done; per question, how many said yes, no, or left
    it unanswered in the completed audits."""
    await _allowed(ctx, scope)
    council = ctx.actor.council
    keys = [key for key, _ in forms]
    titles = dict(forms)

    where, args = _in_period(ctx, scope, p, keys)
    done = await _raw(
        "SELECT a.form_key AS form_key, au.role AS role, COUNT(*) AS allocated,"
        " SUM(CASE WHEN a.finalised_at IS NOT NULL THEN 1 ELSE 0 END) AS done,"
        " SUM(CASE WHEN a.finalised_at IS NOT NULL AND a.submitted_at <= a.due_at THEN 1 ELSE 0 END) AS on_time"
        + where.replace(" WHERE ", " JOIN person au ON au.id = a.auditor WHERE ", 1)
        + " GROUP BY a.form_key, au.role",
        args,
    )
    # Who must do them: the schedules that use these forms, and how many hold each role.
    people = {
        r["role"]: _n(r["n"])
        for r in await _raw(
            "SELECT role, COUNT(*) AS n FROM person WHERE organisation = {} AND active = {} GROUP BY role",
            [ctx.actor.organisation_id, True],
        )
    }
    # How many managers in each role have at least one active line report in
    # each role (s.4: "their Advanced Practitioner").
    reports_in: dict[tuple[str, str], int] = {}
    for r in await _raw(
        "SELECT m.role AS role, s.role AS subject, COUNT(DISTINCT m.id) AS managers"
        " FROM person s JOIN person m ON m.id = s.line_manager"
        " WHERE s.organisation = {} AND s.active = {} AND m.active = {} GROUP BY m.role, s.role",
        [ctx.actor.organisation_id, True, True],
    ):
        reports_in[(r["role"], r["subject"])] = _n(r["managers"])
    required: dict[tuple[str, str], int | None] = {}
    auditing: dict[tuple[str, str], int] = {}
    # Required: what the programme says falls due in the period (PLAT-5's
    # delivery report, per schedule), times the audits each occurrence asks for.
    due = await due_by_schedule(ctx, p)
    for skey, supplied in ctx.registry.schedules.items():
        schedule = supplied.value
        if not skey.startswith(f"{council}:") or schedule.form is None:
            continue
        form_key = ctx.registry.qualify(council, schedule.form, ctx.registry.forms)
        if form_key not in keys:
            continue
        role = schedule.role.split(":")[-1]
        slot = (form_key, role)
        if schedule.subject is not None:
            # BED s.4: a Team Manager with no Advanced Practitioner (a Head of
            # Service with no Team Manager) has no one to audit, so owes none
            # (the programme gives them no occurrence).
            auditing[slot] = max(auditing.get(slot, 0), reports_in.get((role, schedule.subject.split(":")[-1]), 0))
        frequency = schedule.frequency
        if frequency.at_most is not None or frequency.every == "as_required" or schedule.to_be_agreed:
            required.setdefault(slot, None)  # a ceiling, or no dates: nothing is required
        else:
            row = due.get(skey)
            # Audits per occurrence: a monthly or quarterly one may ask for several at once.
            each = frequency.count * (frequency.times if frequency.every in ("month", "quarter") else 1)
            required[slot] = (required.get(slot) or 0) + (row.due if row else 0) * each

    counted = {(r["form_key"], r["role"]): r for r in done}
    lines = []
    for form_key, role in list(dict.fromkeys([*required, *sorted(counted)])):
        r = counted.get((form_key, role), {})
        qualified_role = f"{council}:{role}"
        label = ctx.registry.role(qualified_role).label if qualified_role in ctx.registry.roles else role
        lines.append(
            RoleLine(
                form_key, titles.get(form_key, form_key), role, label, people.get(role, 0), required.get((form_key, role)),
                _n(r.get("allocated")), _n(r.get("done")), _n(r.get("on_time")), auditing.get((form_key, role)),
            )
        )
    lines.sort(key=lambda line: (keys.index(line.form) if line.form in keys else len(keys), line.role_label))

    questions: list[QuestionLine] = []
    completed: dict[str, int] = {}
    for form_key in keys:
        form = ctx.registry.form(form_key)
        asked = []
        for section in form.sections:
            for q in section.questions:
                if q.type in ("yes_no", "yes_no_comment"):
                    asked.append((section.key, q, "yes_no"))
                elif q.type in ("long_text", "date") and not q.required:
                    # BED-7: "actions ... recorded within the supervision record":
                    # an optional record is counted as made or not.
                    asked.append((section.key, q, "record"))
        columns = ["COUNT(*) AS n"]
        for i, (section, q, kind) in enumerate(asked):
            expr = _answer(f"answer.{section}.{q.key}")
            if kind == "yes_no":
                columns.append(f"SUM(CASE WHEN {expr} = 'yes' THEN 1 ELSE 0 END) AS q{i}_yes")
                columns.append(f"SUM(CASE WHEN {expr} = 'no' THEN 1 ELSE 0 END) AS q{i}_no")
            else:
                columns.append(f"SUM(CASE WHEN {expr} IS NOT NULL AND {expr} <> '' THEN 1 ELSE 0 END) AS q{i}_yes")
                columns.append(f"0 AS q{i}_no")
        one_where, one_args = _in_period(ctx, scope, p, [form_key])
        row = (await _raw(f"SELECT {', '.join(columns)}{one_where} AND a.finalised_at IS NOT NULL", one_args))[0]
        n = _n(row["n"])
        completed[form_key] = n
        for i, (section, q, kind) in enumerate(asked):
            yes, no = _n(row[f"q{i}_yes"]), _n(row[f"q{i}_no"])
            questions.append(QuestionLine(form_key, section, q.key, q.label, kind, yes, no, n - yes - no))
    return QuestionSummary(p, scope, tuple(forms), tuple(lines), tuple(questions), completed)
