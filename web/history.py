"""An audit's or a dispute's history as sentences people read (issue 17
item 5): "Grace Gill saved 3 answers", "QA returned the audit: …".

The trail keeps every change as it was written (keys, ids, ISO dates:
``core.services.trail``, append-only); this says each in words, naming
people, steps, states, grades and fields by the council's own labels, and
dates in Europe/London. An entry this does not know is said by its action's
name, never by its stored keys.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from core.calendar import to_london
from core.db.tables import Person


@dataclass(frozen=True, slots=True)
class Entry:
    at: dt.datetime
    who: str  # who did it, or "qaf" for what the system did
    text: str  # the sentence, starting with who


@dataclass
class Words:
    """The council's names for what a history's entries store."""

    steps: dict[str, str]  # transition key -> label ("Submit to QA")
    states: dict[str, str]  # state key -> label
    fields: dict[str, str]  # answer field name -> label
    levels: dict[str, str]  # grade level key -> label
    domains: dict[str, str]  # domain key -> title ("overall" -> "Overall")
    criteria: dict[str, str]  # grading criteria key -> title
    what: str = "the audit"  # "the audit" or "the dispute"


def _date(value) -> str:
    if not value:
        return ""
    try:
        instant = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except ValueError:
        return ""
    if instant.tzinfo is None:
        return instant.strftime("%-d %B %Y")
    return to_london(instant).strftime("%-d %B %Y")


def _humane(key: str) -> str:
    return str(key).replace("_", " ").strip().capitalize()


def _list(names: list[str]) -> str:
    names = [n for n in names if n]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _changes(entry: dict) -> dict:
    changes = entry.get("changes") or {}
    if isinstance(changes, str):
        changes = json.loads(changes or "{}")
    return changes if isinstance(changes, dict) else {}


async def _names(entries: list[dict]) -> dict[int, str]:
    """People the entries name by id (those told of an escalation)."""
    ids: set[int] = set()
    for e in entries:
        c = _changes(e)
        for key in ("notified",):
            value = c.get(key)
            if isinstance(value, list):
                ids.update(v for v in value if isinstance(v, int))
    if not ids:
        return {}
    rows = await Person.select(Person.id, Person.display_name).where(Person.id.is_in(sorted(ids)))
    return {r["id"]: r["display_name"] for r in rows}


def _grade_changes(grades: dict, words: Words) -> str:
    parts = []
    for domain, pair in grades.items():
        if isinstance(pair, list) and len(pair) == 2:
            before, after = (words.levels.get(p, _humane(p)) if p else "no grade" for p in pair)
            parts.append(f"{words.domains.get(domain, _humane(domain))} from {before} to {after}")
    return "; ".join(parts)


def _sentence(e: dict, c: dict, who: str, words: Words, names: dict[int, str]) -> str:
    action = e["action"]
    reason = (c.get("reason") or "").strip() if isinstance(c.get("reason"), str) else ""
    because = f" Reason: {reason}" if reason else ""
    if action == "allocated":
        kind = {"re_audit": "a re-audit", "second_re_audit": "a second re-audit"}.get(c.get("kind", ""), "the audit")
        return f"{who} allocated {kind} to {c.get('auditor') or 'an auditor'}." + (f" Why: {reason}" if reason else "")
    if action == "answers_saved":
        answers = c.get("answers") if isinstance(c.get("answers"), dict) else {}
        count = len(answers)
        if not count:
            return f"{who} saved the audit without changing an answer."
        said = f"{who} saved {count} answer{'s' if count != 1 else ''}"
        if count <= 5:
            said += ": " + "; ".join(words.fields.get(k, _humane(k)) for k in sorted(answers))
        return said + "."
    if action.startswith("transition:"):
        step = words.steps.get(action.split(":", 1)[1], _humane(action.split(":", 1)[1]))
        state = c.get("state")
        now = f"; {words.what}’s status is now “{words.states.get(state[1], _humane(state[1]))}”" if isinstance(state, list) and len(state) == 2 else ""
        said = f"{who} chose “{step}”{now}."
        if c.get("participants"):
            said += f" Who took part: {c['participants']}."
        if c.get("outcome"):
            said += " Outcome: " + ("the grades were upheld." if c["outcome"] == "upheld" else "the grades were amended.")
        if isinstance(c.get("amended"), dict) and c["amended"]:
            said += f" Amended: {_grade_changes(c['amended'], words)}."
        if isinstance(c.get("moderated"), dict) and c["moderated"]:
            said += f" Moderated: {_grade_changes(c['moderated'], words)}."
        return said + because
    if action.startswith("escalation:"):
        rule = _humane(action.split(":", 1)[1]).lower()
        told = [names.get(i, "") for i in c.get("notified") or [] if isinstance(i, int)]
        said = f"The {rule} escalation was raised"
        if told:
            said += f"; {_list(told)} {'was' if len(told) == 1 else 'were'} told"
        if c.get("due"):
            said += f"; a follow-up is due by {_date(c['due'])}"
        return said + "."
    if action == "dispute_raised":
        domains = c.get("domains")
        keys = list(domains) if isinstance(domains, (dict, list)) else []
        said = f"{who} disputed the grades"
        if keys:
            said += " for " + _list([words.domains.get(k, _humane(k)) for k in keys])
        if c.get("criteria"):
            said += f", citing {words.criteria.get(c['criteria'], _humane(c['criteria']))}"
        return said + "."
    if action == "grades_amended":
        grades = c.get("grades") if isinstance(c.get("grades"), dict) else {}
        return f"{who} amended the grades after the dispute: {_grade_changes(grades, words)}." + because
    if action == "reassigned":
        auditor = c.get("auditor")
        if isinstance(auditor, list) and len(auditor) == 2:
            return f"{who} reassigned the audit from {auditor[0]} to {auditor[1]}." + because
        return f"{who} reassigned the audit." + because
    if action == "concern_raised":
        return f"{who} raised an immediate concern: {c.get('description', '')}".rstrip(": ") + "."
    if action == "follow_up_done":
        note = (c.get("note") or "").strip()
        return f"{who} recorded the follow-up as done." + (f" Note: {note}" if note else "")
    if action == "management_direction":
        count = len(c.get("actions") or [])
        said = f"{who} recorded a management direction with {count} action{'s' if count != 1 else ''}"
        if c.get("review_on"):
            said += f", to review on {_date(c['review_on'])}"
        return said + "."
    if action == "counted_towards_work":
        return f"The audit was counted towards {who if who != 'qaf' else 'its auditor'}’s programme of work."
    if action == "deadline_missed":
        told = [names.get(i, "") for i in c.get("notified") or [] if isinstance(i, int)]
        return "A deadline passed without the step being taken" + (f"; {_list(told)} {'was' if len(told) == 1 else 'were'} told" if told else "") + "."
    if action == "co_auditor_added":  # PLAT-4
        how = {"added by the lead": ""}.get(c.get("how", ""), c.get("how", ""))
        return f"{who} added {c.get('co-auditor') or 'a co-auditor'} as a co-auditor" + (f" ({how})" if how else "") + "."
    if action == "co_auditor_removed":
        return f"{who} removed {c.get('co-auditor') or 'a co-auditor'} as a co-auditor."
    if action == "logged_in":
        return f"{who} signed in."
    return f"{who}: {_humane(action).lower()}."


async def sentences(entries: list[dict], words: Words) -> list[Entry]:
    names = await _names(entries)
    out = []
    for e in entries:
        who = e.get("actor_name") or "qaf"
        out.append(Entry(e["at"], who, _sentence(e, _changes(e), who, words, names)))
    return out


def audit_words(view) -> Words:
    """Labels from an audit's view (``core.services.audits.AuditView``)."""
    titles = view.fields.titles
    fields = {}
    for f in view.fields.fields:
        fields[f.name] = (
            f"{titles.get(f.section)}: {f.label}" if f.kind in ("grade", "evidence") and f.section != "overall" else f.label
        )
    levels = {lvl.key: lvl.label for lvl in view.fields.scale.levels} if view.fields.scale else {}
    return Words(
        steps={t.key: t.label for t in view.workflow.transitions},
        states={s.key: s.label for s in view.workflow.states},
        fields=fields, levels=levels, domains=dict(view.fields.domains()), criteria={},
    )


def dispute_words(d: dict, criteria: dict[str, str]) -> Words:
    """Labels from a dispute's view (``core.services.disputes.dispute_view``)."""
    return Words(
        steps={t.key: t.label for t in d["workflow"].transitions},
        states={s.key: s.label for s in d["workflow"].states},
        fields={}, levels=dict(d["levels"]), domains=dict(d["titles"]), criteria=criteria, what="the dispute",
    )
