"""What an audit is on (issue 13: "kinds of subject, each chosen by data on
the schedule"): a case, a person or a meeting.

A schedule's ``about`` says which (``case`` by default where it has a form).
An audit on a person names them (``Allocation.subject_person``): BED s.4 the
Team Manager whose professional supervision records are audited, s.5 the
worker whose practice is observed; who may be chosen is the schedule's
``person_from`` (the work's supervisee, the owner's line reports, or the
owner's team), never the owner. An audit on a meeting names its type, one of
the council's ``meeting_types`` (BED s.6: "The following meetings will be
observed"), the London date it was held, and optionally the case it was about.

Here: the words an audit's subject is shown in, and who and what may be chosen.
"""

from __future__ import annotations

import datetime as dt

from core.db.tables import Person

def about_of(registry, schedule_key: str) -> str:
    """What the work's audits are on: the schedule's ``about``, else a case."""
    supplied = registry.schedules.get(schedule_key) if schedule_key else None
    about = supplied.value.about if supplied is not None else None
    return about or "case"


def meeting_types_of(registry, schedule_key: str) -> list[tuple[str, str]]:
    """(key, label) of the meeting types the schedule's work may observe, in the council's order."""
    supplied = registry.schedules.get(schedule_key)
    if supplied is None:
        return []
    council = registry.councils.get(schedule_key.split(":", 1)[0])
    known = [(m.key, m.label) for m in council.value.meeting_types] if council else []
    wanted = supplied.value.meeting_types
    return [(k, label) for k, label in known if not wanted or k in wanted]


def meeting_label(registry, council: str, key: str) -> str:
    supplied = registry.councils.get(council) if registry is not None else None
    for meeting in supplied.value.meeting_types if supplied else ():
        if meeting.key == key:
            return meeting.label
    return key.replace("_", " ").capitalize()


def _in_a_sentence(label: str) -> str:
    """"Child protection conference" -> "a child protection conference";
    an acronym keeps its capitals ("an ARP (Access to Resources Panel)")."""
    first = label.split(" ", 1)[0]
    words = label if first.isupper() and len(first) > 1 else label[:1].lower() + label[1:]
    article = "an" if words[:1].lower() in "aeiou" else "a"
    return f"{article} {words}"


def describe(row: dict, registry=None) -> None:
    """Set ``subject`` (in a sentence: "case 123", "Sam Jones", "a child
    protection conference on 3 March 2027") and ``subject_title`` (as a
    heading: "Case 123", "Sam Jones", "Observation of a child protection
    conference on 3 March 2027") on an allocation row from audits' SQL."""
    if row.get("agency_name"):
        # Issue 14: an agency's return to a partnership request (CSCP-1).
        case = f" on case {row['case_external_id']}" if row.get("case_external_id") else ""
        row["subject"] = f"{row['agency_name']}'s return{case}"
        row["subject_title"] = f"{row.get('request_title') or 'Return'}: {row['agency_name']}{case}"
        row["subject_short"] = row["agency_name"] + (f", case {row['case_external_id']}" if case else "")
    elif row.get("meeting_type"):
        label = meeting_label(registry, row.get("council") or "", row["meeting_type"])
        on = row.get("meeting_on")
        if isinstance(on, str):
            on = dt.date.fromisoformat(on[:10])
        when = f" on {on:%-d %B %Y}" if on else ""
        row["subject"] = f"{_in_a_sentence(label)}{when}"
        row["subject_title"] = f"Observation of {row['subject']}"
        row["subject_short"] = f"{label}, {on:%-d %B %Y}" if on else label
    elif row.get("agency_request") and not row.get("child_case") and not row.get("subject_person"):
        # Issue 14: a partnership's report on a request (no agency), or an
        # agency's return that is not on a case (a self-assessment, scorecard figures).
        words = "An agency's return" if row.get("agency") else "The partnership's report"
        row["subject"] = words[0].lower() + words[1:]
        row["subject_title"] = row["subject_short"] = words
    elif row.get("subject_person"):
        row["subject"] = row["subject_title"] = row["subject_short"] = row.get("subject_person_name") or ""
    else:
        row["subject"] = f"case {row.get('case_external_id') or ''}"
        row["subject_title"] = f"Case {row.get('case_external_id') or ''}"
        row["subject_short"] = row.get("case_external_id") or ""


async def eligible_people(ctx, item, person_from: str | None, subject_role: str | None) -> list[dict]:
    """The people the owner may choose for work on a person, by name: the
    work's supervisee; the owner's line reports; or the owner's team
    (BED s.5: "workers within the team in need of support"). Only active
    staff, of the schedule's ``subject`` role where it names one, never the
    owner themselves."""
    if person_from == "supervisee":
        if item.supervisee_id is None:
            return []
        query = Person.select(Person.id, Person.display_name, Person.team).where(
            (Person.id == item.supervisee_id) & (Person.active == True)  # noqa: E712
        )
    else:
        query = Person.select(Person.id, Person.display_name, Person.team).where(
            (Person.organisation == ctx.actor.organisation_id) & (Person.active == True)  # noqa: E712
            & (Person.id != item.owner_id)
        )
        if person_from == "line":
            query = query.where(Person.line_manager == item.owner_id)
        elif person_from == "team":
            owner = await Person.select(Person.team).where(Person.id == item.owner_id).first()
            if owner is None or owner["team"] is None:
                return []
            query = query.where(Person.team == owner["team"])
        else:
            return []
        if subject_role:
            query = query.where(Person.role == subject_role.split(":")[-1])
    return [p for p in await query.order_by(Person.display_name).order_by(Person.id) if p["id"] != item.owner_id]
