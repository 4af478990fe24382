"""Subject access (PLAT-13): everything qaf holds about one child's case, as
a ZIP of a PDF to read, JSON for systems, and the evidence files themselves.

A case is found by its id as staff know it (the case-record system's id,
``ChildCase.external_id``); where more than one council holds a case of that
id, the council must be named. Held about the case: the case itself, every
audit of it (answers with their questions' words, the grade chain, QA's
decisions, concerns, co-auditors, evidence files), the disputes of those
audits, the actions and follow-ups set from them, the notifications sent
about them, and every trail entry of any of these.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from core.calendar import to_london
from core.db.tables import (
    Action,
    ActionUpdate,
    Allocation,
    AllocationAuditor,
    ChildCase,
    Concern,
    Dispute,
    EvidenceFile,
    FollowUp,
    Grade,
    Notification,
    Review,
    Trail,
)
from core.forms import fields_of
from core.services.context import Context
from core.services.errors import Invalid, NotFound

UTC = dt.timezone.utc


@dataclass
class Held:
    organisation: str
    council: str
    case: dict
    audits: list[dict] = field(default_factory=list)
    disputes: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    follow_ups: list[dict] = field(default_factory=list)
    notifications: list[dict] = field(default_factory=list)
    trail: list[dict] = field(default_factory=list)
    # (name in the ZIP, bytes) of each evidence file
    files: list[tuple[str, bytes]] = field(default_factory=list)
    # Names of the people the trail's entries name by number (those told).
    people: dict[int, str] = field(default_factory=dict)
    written_at: dt.datetime | None = None

    def summary(self) -> str:
        parts = [
            _count(len(self.audits), "audit"),
            _count(len(self.disputes), "dispute"),
            _count(len(self.actions), "action"),
            _count(len(self.follow_ups), "follow-up"),
            _count(len(self.notifications), "notification"),
            _count(len(self.files), "evidence file"),
            _count(len(self.trail), "trail entry", "trail entries"),
        ]
        return ", ".join(parts)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def safe_name(text: str) -> str:
    """``text`` fit for a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or "case"


def _when(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return to_london(value).strftime("%-d %B %Y at %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%-d %B %Y")
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return str(value)


def _loaded(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def _names(ids: set) -> dict[int, str]:
    from core.db.tables import Person

    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = await Person.select(Person.id, Person.display_name).where(Person.id.is_in(list(ids)))
    return {r["id"]: r["display_name"] for r in rows}


async def find_case(case_id: str, council: str | None) -> dict:
    """The case of external id ``case_id`` (of ``council``'s organisation, if given)."""
    query = ChildCase.select(
        ChildCase.all_columns(), ChildCase.organisation.name.as_alias("org_name"),
        ChildCase.organisation.council.as_alias("council"), ChildCase.team.name.as_alias("team_name"),
        ChildCase.allocated_worker.display_name.as_alias("worker_name"),
    ).where(ChildCase.external_id == case_id.strip())
    if council:
        query = query.where(ChildCase.organisation.council == council)
    rows = await query.order_by(ChildCase.id).output(load_json=True)
    if not rows:
        where = f" in council {council}" if council else ""
        raise NotFound(f"No case with id {case_id.strip()}{where} is held")
    if len({r["organisation"] for r in rows}) > 1:
        councils = ", ".join(sorted({r["council"] for r in rows}))
        raise Invalid(f"More than one council holds a case with id {case_id.strip()} ({councils}): name one with --council")
    return rows[0]


def _category(ctx: Context, council: str, key: str) -> str:
    """The council's words for a case category (its key if it has none)."""
    try:
        categories = ctx.registry.council(council).case_categories
    except Exception:  # a council no longer loaded
        return key
    return next((c.label for c in categories if c.key == key), key)


async def gather(ctx: Context, case_id: str, council: str | None = None) -> Held:
    """Everything held about the case ``case_id``."""
    case = await find_case(case_id, council)
    held = Held(
        organisation=case["org_name"], council=case["council"], written_at=ctx.now,
        case={
            "reference": case["external_id"], "category": _category(ctx, case["council"], case["category"]),
            "team": case["team_name"] or "",
            "allocated_worker": case["worker_name"] or "", "involvement_started_on": case["involvement_started_on"],
            "created_at": case["created_at"], "attributes": _loaded(case["attributes"]) or {},
        },
    )
    allocations = await (
        Allocation.select(Allocation.all_columns(), Allocation.auditor.display_name.as_alias("auditor_name"))
        .where(Allocation.child_case == case["id"]).order_by(Allocation.id).output(load_json=True)
    )
    ids = [a["id"] for a in allocations]
    trail_keys: list[tuple[str, int]] = [("child_case", case["id"])] + [("allocation", i) for i in ids]
    if ids:
        grades = await Grade.select().where(Grade.allocation.is_in(ids)).order_by(Grade.id)
        reviews = await Review.select(Review.all_columns(), Review.reviewer.display_name.as_alias("by")).where(
            Review.allocation.is_in(ids)).order_by(Review.id)
        concerns = await Concern.select(Concern.all_columns(), Concern.raised_by.display_name.as_alias("by")).where(
            Concern.allocation.is_in(ids)).order_by(Concern.id)
        co = await AllocationAuditor.select(AllocationAuditor.allocation, AllocationAuditor.person.display_name.as_alias("name")).where(
            AllocationAuditor.allocation.is_in(ids)).order_by(AllocationAuditor.id)
        files = await EvidenceFile.select(EvidenceFile.all_columns(), EvidenceFile.uploaded_by.display_name.as_alias("by")).where(
            EvidenceFile.allocation.is_in(ids)).order_by(EvidenceFile.id)
        disputes = await Dispute.select(Dispute.all_columns(), Dispute.raised_by.display_name.as_alias("by")).where(
            Dispute.allocation.is_in(ids)).order_by(Dispute.id).output(load_json=True)
        dispute_ids = [d["id"] for d in disputes]
        action_where = Action.allocation.is_in(ids)
        if dispute_ids:
            action_where = action_where | Action.dispute.is_in(dispute_ids)
        actions = await Action.select(Action.all_columns(), Action.owner.display_name.as_alias("owner_name")).where(
            action_where).order_by(Action.id)
        updates = await ActionUpdate.select(ActionUpdate.all_columns(), ActionUpdate.by.display_name.as_alias("by_name")).where(
            ActionUpdate.action.is_in([a["id"] for a in actions] or [0])).order_by(ActionUpdate.id)
        follow_ups = await FollowUp.select().where(FollowUp.allocation.is_in(ids)).order_by(FollowUp.id).output(load_json=True)
        notes = await Notification.select(Notification.all_columns(), Notification.recipient.display_name.as_alias("to")).where(
            Notification.allocation.is_in(ids)).order_by(Notification.id)
    else:
        grades = reviews = concerns = co = files = disputes = actions = updates = follow_ups = notes = []
    names = await _names({g["set_by"] for g in grades} | {f["done_by"] for f in follow_ups}
                         | {p for f in follow_ups for p in (_loaded(f["assignees"]) or []) if isinstance(p, int)})

    for a in allocations:
        labels, titles, levels = {}, {}, {}
        try:
            form = ctx.registry.form(a["form_key"], a["form_version"])
            fields = fields_of(ctx.registry, case["council"], form, a["kind"])
            titles = fields.titles
            # As the audit's history words them: a grade or evidence field names its area.
            labels = {
                f.name: (
                    f"{titles.get(f.section)}: {f.label}" if f.kind in ("grade", "evidence") and f.section != "overall" else f.label,
                    dict(f.options), f.kind,
                )
                for f in fields.fields
            }
            levels = {lvl.key: lvl.label for lvl in fields.scale.levels} if fields.scale else {}
            form_title = form.title
        except Exception:  # a form no longer loaded: its keys stand for the words
            form_title = a["form_key"]
        answers = []
        for name, value in (a["answers"] or {}).items():
            label, options, kind = labels.get(name, (name, {}, ""))
            shown = options.get(value, value) if isinstance(value, str) else value
            if kind == "date" and isinstance(value, str):
                try:
                    shown = dt.date.fromisoformat(value).strftime("%-d %B %Y")
                except ValueError:
                    pass
            answers.append({"question": label, "field": name, "answer": shown})
        held.audits.append({
            "number": a["id"], "form": form_title, "kind": a["kind"].replace("_", " "), "state": a["state"].replace("_", " "),
            "auditor": a["auditor_name"], "reason_chosen": a["reason"], "due_at": a["due_at"],
            "submitted_at": a["submitted_at"], "finalised_at": a["finalised_at"],
            "co_auditors": [c["name"] for c in co if c["allocation"] == a["id"]],
            "answers": answers,
            "grades": [
                {"phase": g["phase"].replace("_", " "), "domain": titles.get(g["domain"], g["domain"]),
                 "grade": levels.get(g["level"], g["level"]), "evidence": g["evidence"],
                 "set_by": names.get(g["set_by"], ""), "set_at": g["set_at"]}
                for g in grades if g["allocation"] == a["id"]
            ],
            "qa_decisions": [{"decision": r["decision"], "by": r["by"], "reason": r["reason"], "at": r["created_at"]}
                             for r in reviews if r["allocation"] == a["id"]],
            "concerns": [{"raised_by": c["by"], "description": c["description"], "at": c["created_at"]}
                         for c in concerns if c["allocation"] == a["id"]],
            "evidence_files": [{"filename": f["filename"], "size": f["size"], "uploaded_by": f["by"], "at": f["uploaded_at"],
                                "in_zip": f"files/{f['id']}-{safe_name(f['filename'])}"} for f in files if f["allocation"] == a["id"]],
        })
    for f in files:
        content = f["content"]
        held.files.append((f"files/{f['id']}-{safe_name(f['filename'])}", bytes(content) if content is not None else b""))
        trail_keys.append(("evidence_file", f["id"]))
    for d in disputes:
        held.disputes.append({
            "number": d["id"], "audit": d["allocation"], "raised_by": d["by"], "state": d["state"].replace("_", " "),
            "domains": d["domains"], "outcome": d["outcome"], "outcome_reason": d["outcome_reason"],
            "raised_at": d["created_at"], "resolved_at": d["resolved_at"],
        })
        trail_keys.append(("dispute", d["id"]))
    for a in actions:
        held.actions.append({
            "number": a["id"], "what": a["what"], "owner": a["owner_name"], "due_on": a["due_on"], "status": a["status"],
            "created_at": a["created_at"], "closed_at": a["closed_at"],
            "updates": [{"by": u["by_name"] or "", "text": u["text"], "status": u["status"], "at": u["at"]}
                        for u in updates if u["action"] == a["id"]],
        })
        trail_keys.append(("action", a["id"]))
    for f in follow_ups:
        held.follow_ups.append({
            "number": f["id"], "what": f["action"], "for": [names.get(p, str(p)) for p in (_loaded(f["assignees"]) or [])],
            "due_at": f["due_at"], "status": f["status"], "note": f["note"], "done_by": names.get(f["done_by"], ""),
            "done_at": f["done_at"],
        })
        trail_keys.append(("follow_up", f["id"]))
    for n in notes:
        held.notifications.append({"to": n["to"], "subject": n["subject"], "message": n["body"], "at": n["created_at"]})
    held.trail = await _trail(case["organisation"], trail_keys)
    held.people = await _names({
        v for t in held.trail if isinstance(t["changes"], dict)
        for v in (t["changes"].get("notified") or []) if isinstance(v, int)
    })
    return held


async def _trail(organisation_id: int, keys: list[tuple[str, int]]) -> list[dict]:
    by_entity: dict[str, list[int]] = {}
    for entity, entity_id in keys:
        by_entity.setdefault(entity, []).append(entity_id)
    where = None
    for entity, ids in by_entity.items():
        clause = (Trail.entity == entity) & Trail.entity_id.is_in(ids)
        where = clause if where is None else where | clause
    from core.services.trail import with_words

    rows = await with_words(await (
        Trail.select(Trail.organisation, Trail.seq, Trail.at, Trail.entity, Trail.entity_id, Trail.action, Trail.changes,
                     Trail.actor.display_name.as_alias("by"))
        .where(Trail.organisation == organisation_id).where(where)
        .order_by(Trail.seq).output(load_json=True)
    ))
    return [
        {"entry": r["seq"], "at": r["at"], "by": r["by"] or "qaf", "record": f"{r['entity'].replace('_', ' ')} {r['entity_id']}",
         "what": r["action"].replace("_", " ").replace(":", ": "), "changes": _loaded(r["changes"])}
        for r in rows
    ]


# ------------------------------------------------------------------ writing

_TEMPLATE = """<!DOCTYPE html>
<html lang="en-GB"><head><meta charset="utf-8"><title>Everything held about case {{ held.case.reference }}</title></head>
<body>
<span class="govuk-caption-l">{{ held.organisation }}: subject access</span>
<h1>Everything held about case {{ held.case.reference }}</h1>
<p class="app-pdf-meta">Written {{ when(held.written_at) }}. {{ held.summary() }}.</p>
<h2>The case</h2>
<dl class="govuk-summary-list">
  <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Case id</dt><dd class="govuk-summary-list__value">{{ held.case.reference }}</dd></div>
  <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Category</dt><dd class="govuk-summary-list__value">{{ held.case.category }}</dd></div>
  <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Team</dt><dd class="govuk-summary-list__value">{{ held.case.team }}</dd></div>
  <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Allocated worker</dt><dd class="govuk-summary-list__value">{{ held.case.allocated_worker }}</dd></div>
  {% for key, value in held.case.attributes.items() %}
  <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">{{ key|replace("_", " ")|capitalize }}</dt><dd class="govuk-summary-list__value">{{ value }}</dd></div>
  {% endfor %}
</dl>
<h2>Audits</h2>
{% for a in held.audits %}
<h3>Audit {{ a.number }}: {{ a.form }}</h3>
<p>{{ a.kind|capitalize }} by {{ a.auditor }}{% if a.co_auditors %} with {{ a.co_auditors|join(", ") }}{% endif %}; {{ a.state }}; due {{ when(a.due_at) }}{% if a.finalised_at %}; final {{ when(a.finalised_at) }}{% endif %}.</p>
<p class="qaf-prewrap">Why this case was chosen: {{ a.reason_chosen }}</p>
{% if a.answers %}<table><caption>Answers</caption><thead><tr><th>Question</th><th>Answer</th></tr></thead><tbody>
{% for x in a.answers %}<tr><td>{{ x.question }}</td><td class="qaf-prewrap">{{ x.answer }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% if a.grades %}<table><caption>Grades</caption><thead><tr><th>Stage</th><th>Area</th><th>Grade</th><th>Evidence</th><th>By</th></tr></thead><tbody>
{% for g in a.grades %}<tr><td>{{ g.phase }}</td><td>{{ g.domain }}</td><td>{{ g.grade }}</td><td class="qaf-prewrap">{{ g.evidence }}</td><td>{{ g.set_by }}, {{ when(g.set_at) }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% for r in a.qa_decisions %}<p>QA: {{ r.decision }} by {{ r.by }} on {{ when(r.at) }}{% if r.reason %}: {{ r.reason }}{% endif %}</p>{% endfor %}
{% for c in a.concerns %}<p class="qaf-prewrap">Concern raised by {{ c.raised_by }} on {{ when(c.at) }}: {{ c.description }}</p>{% endfor %}
{% for f in a.evidence_files %}<p>Evidence file {{ f.filename }} ({{ f.size }} bytes), added by {{ f.uploaded_by }} on {{ when(f.at) }}: in the ZIP as {{ f.in_zip }}</p>{% endfor %}
{% else %}<p>No audits.</p>{% endfor %}
<h2>Disputes</h2>
{% for d in held.disputes %}
<h3>Dispute {{ d.number }} of audit {{ d.audit }}</h3>
<p>Raised by {{ d.raised_by }} on {{ when(d.raised_at) }}; {{ d.state }}{% if d.outcome %}; {{ d.outcome }}{% endif %}.</p>
{% for key, x in d.domains.items() %}<p class="qaf-prewrap">{{ key|replace("_", " ")|capitalize }}: {{ x.current }} to {{ x.proposed }}. {{ x.rationale }}</p>{% endfor %}
{% if d.outcome_reason %}<p class="qaf-prewrap">Outcome: {{ d.outcome_reason }}</p>{% endif %}
{% else %}<p>No disputes.</p>{% endfor %}
<h2>Actions</h2>
{% for a in held.actions %}
<h3>Action {{ a.number }}</h3>
<p class="qaf-prewrap">{{ a.what }}</p>
<p>For {{ a.owner }} by {{ when(a.due_on) }}; {{ a.status }}.</p>
{% for u in a.updates %}<p class="qaf-prewrap">Update by {{ u.by }} on {{ when(u.at) }}: {{ u.text }}</p>{% endfor %}
{% else %}<p>No actions.</p>{% endfor %}
<h2>Follow-ups</h2>
{% for f in held.follow_ups %}<p class="qaf-prewrap">{{ f.what }} (for {{ f["for"]|join(", ") }}; {{ f.status }}{% if f.done_at %}, done by {{ f.done_by }} on {{ when(f.done_at) }}{% endif %}){% if f.note %}: {{ f.note }}{% endif %}</p>
{% else %}<p>No follow-ups.</p>{% endfor %}
<h2>Notifications</h2>
{% for n in held.notifications %}<p class="qaf-prewrap">To {{ n.to }} on {{ when(n.at) }}: {{ n.subject }}</p>
{% else %}<p>No notifications.</p>{% endfor %}
<h2>The trail</h2>
<table><caption class="govuk-visually-hidden">Every change recorded</caption><thead><tr><th>When</th><th>Who</th><th>Record</th><th>What</th><th>Changes</th></tr></thead><tbody>
{% for t in held.trail %}<tr><td>{{ when(t.at) }}</td><td>{{ t.by }}</td><td>{{ t.record }}</td><td>{{ t.what }}</td><td class="qaf-prewrap">{{ changes(t.changes) }}</td></tr>{% endfor %}
</tbody></table>
</body></html>
"""


def _value_words(value: Any, names: dict[int, str]) -> str:
    """One value of a trail entry's changes, as a person reads it."""
    if value is None or value == "":
        return "blank"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+(?:[+-]\d{2}:\d{2}|Z)?", value):
            return _when(value)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return _when(dt.date.fromisoformat(value))
        return value.replace("_", " ") if re.fullmatch(r"[a-z0-9_]+", value) else value
    if isinstance(value, list):
        if len(value) == 2 and not any(isinstance(v, (list, dict)) for v in value):
            return f"{_value_words(value[0], names)} to {_value_words(value[1], names)}"
        return ", ".join(_value_words(v, names) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {_value_words(v, names)}" for k, v in value.items())
    return str(value)


def _changes_words(changes: Any, names: dict[int, str] | None = None) -> str:
    """A trail entry's changes, a line each, in words (the JSON keeps them as stored)."""
    names = names or {}
    if not isinstance(changes, dict):
        return str(changes)
    lines = []
    for key, value in changes.items():
        if value is None:
            continue
        if key == "notified" and isinstance(value, list):
            lines.append("told: " + ", ".join(names.get(v, "someone") if isinstance(v, int) else str(v) for v in value))
            continue
        if key == "answers" and isinstance(value, dict):
            lines.extend(f"{k.split('.', 1)[-1].replace('_', ' ').replace('.', ', ')}: {_value_words(v, names)}" for k, v in value.items())
            continue
        lines.append(f"{key.replace('_', ' ')}: {_value_words(value, names)}")
    return "\n".join(lines)


def to_html(held: Held) -> str:
    from jinja2 import Environment

    environment = Environment(autoescape=True)
    return environment.from_string(_TEMPLATE).render(
        held=held, when=_when, changes=lambda changes: _changes_words(changes, held.people)
    )


def to_json(held: Held) -> bytes:
    data = {
        "organisation": held.organisation, "council": held.council, "written_at": held.written_at,
        "case": held.case, "audits": held.audits, "disputes": held.disputes, "actions": held.actions,
        "follow_ups": held.follow_ups, "notifications": held.notifications, "trail": held.trail,
    }
    return json.dumps(data, default=_json_default, indent=2, ensure_ascii=False).encode()


def to_zip(held: Held) -> bytes:
    """case.pdf, case.json and files/… in one ZIP."""
    from core.pdf import html_to_pdf

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("case.pdf", html_to_pdf(to_html(held)))
        archive.writestr("case.json", to_json(held))
        for name, content in held.files:
            archive.writestr(name, content)
    return buffer.getvalue()
