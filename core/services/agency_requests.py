"""A partnership's requests to its agencies (issue 14; CSCP-1, 4, 5, 7, 9;
PLAT-8).

The QA manager issues a request (a Section 11 self-assessment every two
years, Section 175/157 yearly to schools and colleges, a quarter's scorecard
figures, a multi-agency thematic audit on chosen cases, an impromptu audit)
to chosen agencies with a deadline. Each agency's return is an ``Allocation``
naming its agency and the request, on the request's form and the
``agency_response`` workflow, answered by the agency's lead (its auditor and
signatory) and the respondents the lead invites (``core.services.respondents``).

Deadline (CSCP-9): the return is due by the end of the request's London
date; a reminder goes to the agency five working days before, and when the
date passes the agency lead and the QA manager are told and chase it
(``escalations.yaml`` agency_response_overdue), then the Audit Chair if it is
still not submitted (agency_response_still_overdue). Both deadlines live in
the ``deadline`` table and are acted on once by the sweep.

Carry forward (PLAT-8): a return starts from the same agency's last accepted
return to the same kind of request; each carried answer reads "Unchanged
since <date>" until the agency confirms or changes it, and the QA manager
sees what changed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from core.calendar import LONDON, UTC, add_working_days, end_of_london_day, is_working_day, london_date, to_london
from core.db.engine import transaction
from core.db.tables import Agency, AgencyRequest, Allocation, ChildCase, Deadline, Person, Work
from core.services import notifications, trail
from core.services.allocations import create_allocation
from core.services.context import Context
from core.services.errors import Conflict, Forbidden, Invalid, NotFound

WORKFLOW = "partnership:agency_response"
# Working days before the deadline that the agency is reminded (CSCP-9: "tracked and chased").
REMINDER_WORKING_DAYS = 5


@dataclass(frozen=True, slots=True)
class Kind:
    key: str
    label: str
    form: str  # the form's key in the partnership's forms.yaml
    cases: bool = False  # one return per agency per case of the sample (CSCP-5)
    agency_types: tuple[str, ...] = ()  # the agencies asked unless the QA manager chooses others


# CSCP 5.2, 5.2.2, 5.2.3, 5.1, 5.3 and App. 1.
KINDS: dict[str, Kind] = {
    "section_11": Kind("section_11", "Section 11 self-assessment", "section_11"),
    "section_175": Kind("section_175", "Section 175/157 self-assessment", "section_175_157", agency_types=("schools", "colleges")),
    "scorecard": Kind("scorecard", "Scorecard figures for a quarter", "scorecard_return"),
    "thematic": Kind("thematic", "Multi-agency thematic audit", "multi_agency_audit", cases=True),
    "impromptu": Kind("impromptu", "Impromptu audit", "multi_agency_audit", cases=True),
}


class Overlap(Invalid):
    """An impromptu audit would ask an agency that still owes another
    request (CSCP 5.3): the QA manager may go ahead only with a note."""

    def __init__(self, overlaps: list[dict]):
        names = "; ".join(f"{o['title']} ({', '.join(o['agencies'])}, due {o['due_words']})" for o in overlaps)
        super().__init__(
            "This would overlap other open requests to the same agencies",
            {"overlap_note": f"These agencies still owe: {names}. Say why this audit cannot wait, to go ahead"},
        )
        self.overlaps = overlaps


def _date_words(day: dt.date) -> str:
    return f"{day:%A %-d %B %Y}"


def _council(ctx: Context) -> str:
    assert ctx.actor
    return ctx.actor.council


def _may_issue(ctx: Context) -> None:
    assert ctx.actor
    if not ctx.actor.can("administer"):
        raise Forbidden("Only the partnership's Quality Assurance Manager issues requests to agencies")


async def agency_of(ctx: Context) -> int | None:
    """The actor's agency when they act for one (an agency lead or respondent), else None."""
    assert ctx.actor
    if ctx.actor.role not in ("agency_lead", "agency_respondent"):
        return None
    key = ("agency_of", ctx.actor.person_id)
    if key not in ctx.loaded:
        row = await Person.select(Person.agency).where(Person.id == ctx.actor.person_id).first()
        ctx.loaded[key] = row["agency"] if row else None
    return ctx.loaded[key]


async def agencies(ctx: Context) -> list[dict]:
    """The partnership's agencies with their leads: {id, key, name, lead (name or "")}."""
    assert ctx.actor
    rows = await Agency.select(Agency.id, Agency.key, Agency.name).where(
        Agency.organisation == ctx.actor.organisation_id
    ).order_by(Agency.name)
    leads = await _leads(ctx, [r["id"] for r in rows])
    return [{**r, "lead": leads[r["id"]]["display_name"] if r["id"] in leads else ""} for r in rows]


async def _leads(ctx: Context, agency_ids: list[int]) -> dict[int, dict]:
    """Each agency's lead (the first active ``agency_lead`` of the agency)."""
    out: dict[int, dict] = {}
    if not agency_ids:
        return out
    for row in await Person.select(Person.id, Person.display_name, Person.agency).where(
        (Person.organisation == ctx.actor.organisation_id) & (Person.role == "agency_lead")
        & (Person.active == True) & Person.agency.is_in(agency_ids)  # noqa: E712
    ).order_by(Person.id):
        out.setdefault(row["agency"], row)
    return out


def default_agencies(kind: str, all_agencies: list[dict], request_to: tuple[str, ...] = ()) -> list[int]:
    """The agencies a request goes to unless the QA manager chooses: those of
    the schedule's ``request_to``, else the kind's types, else every agency
    with a lead."""
    types = request_to or (KINDS[kind].agency_types if kind in KINDS else ())
    return [a["id"] for a in all_agencies if (a["key"] in types if types else a["lead"])]


async def overlaps(ctx: Context, agency_ids: list[int]) -> list[dict]:
    """Open requests some of these agencies still owe a return to (CSCP 5.3:
    "Timings must be considered in relation to other audits being undertaken
    by the QA manager and Partnership agencies to ensure no clash of
    timings")."""
    assert ctx.actor
    if not agency_ids:
        return []
    rows = await Allocation.select(
        Allocation.agency_request, Allocation.agency.name.as_alias("agency_name"),
        Allocation.agency_request.title.as_alias("title"), Allocation.agency_request.due_on.as_alias("due_on"),
    ).where(
        (Allocation.organisation == ctx.actor.organisation_id) & Allocation.agency.is_in(agency_ids)
        & Allocation.finalised_at.is_null() & Allocation.agency_request.is_not_null()
        & (Allocation.agency_request.state == "open")
    ).order_by(Allocation.agency_request)
    out: dict[int, dict] = {}
    for row in rows:
        item = out.setdefault(row["agency_request"], {"id": row["agency_request"], "title": row["title"], "due_on": row["due_on"],
                                                      "due_words": _date_words(row["due_on"]), "agencies": []})
        if row["agency_name"] not in item["agencies"]:
            item["agencies"].append(row["agency_name"])
    return list(out.values())


def _problems(ctx: Context, kind: str, agency_ids: list[int], due_on: dt.date | None, case_numbers: list[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if kind not in KINDS:
        errors["kind"] = "Choose what you are asking the agencies for"
    if not agency_ids:
        errors["agencies"] = "Choose at least one agency"
    today = london_date(ctx.now)
    if due_on is None:
        errors["due_on"] = "Enter the date the agencies must respond by"
    elif due_on <= today:
        errors["due_on"] = "The date the agencies must respond by must be in the future"
    elif not is_working_day(due_on):
        errors["due_on"] = f"The date the agencies must respond by must be a working day: {_date_words(due_on)} is not"
    if kind in KINDS and KINDS[kind].cases and not case_numbers:
        errors["cases"] = "Enter the case numbers of the audit's sample, one a line"
    return errors


async def issue(
    ctx: Context,
    *,
    kind: str,
    agency_ids: list[int],
    due_on: dt.date | None,
    title: str = "",
    period: str = "",
    case_numbers: list[str] | tuple[str, ...] = (),
    overlap_note: str = "",
    work_id: int | None = None,
) -> int:
    """Issue a request and open each agency's return; the request's id.
    Invalid names every field that is wrong; Overlap when an impromptu audit
    would clash with another open request and no note says why it cannot wait."""
    _may_issue(ctx)
    assert ctx.actor
    case_numbers = [c.strip() for c in case_numbers if c.strip()]
    agency_ids = sorted(set(agency_ids))
    errors = _problems(ctx, kind, agency_ids, due_on, case_numbers)
    known = {a["id"]: a for a in await agencies(ctx)}
    chosen = [known[i] for i in agency_ids if i in known]
    if len(chosen) != len(agency_ids):
        errors["agencies"] = "Choose agencies of the partnership"
    without_lead = [a["name"] for a in chosen if not a["lead"]]
    if without_lead and "agencies" not in errors:
        errors["agencies"] = f"{', '.join(without_lead)} {'has' if len(without_lead) == 1 else 'have'} no agency lead to answer: add one first"
    cases: list[dict] = []
    if case_numbers and "cases" not in errors:
        found = {r["external_id"]: r for r in await ChildCase.select(ChildCase.id, ChildCase.external_id).where(
            (ChildCase.organisation == ctx.actor.organisation_id) & ChildCase.external_id.is_in(case_numbers))}
        missing = [c for c in case_numbers if c not in found]
        if missing:
            errors["cases"] = f"There is no case {', '.join(missing)}"
        cases = [found[c] for c in dict.fromkeys(case_numbers) if c in found]
    work = None
    if work_id is not None:
        work = await Work.select().where((Work.id == work_id) & (Work.organisation == ctx.actor.organisation_id)).first()
        if work is None or work["owner"] != ctx.actor.person_id:
            raise NotFound("There is no such work of yours")
    if errors:
        raise Invalid("The request could not be issued", errors)
    spec = KINDS[kind]
    title = (title.strip() or spec.label)[:300]
    overlap_note = overlap_note.strip()
    if kind == "impromptu" and not overlap_note:
        clashes = await overlaps(ctx, agency_ids)
        if clashes:
            raise Overlap(clashes)
    form_key = f"{_council(ctx)}:{spec.form}"
    assert due_on is not None
    due_at = end_of_london_day(due_on)
    leads = await _leads(ctx, agency_ids)
    async with transaction():
        if kind == "thematic":
            # CSCP 5.2: a thematic audit starts only as the agreed programme's
            # audit of this quarter, at most one a quarter; checked in the
            # transaction that issues it, so two at once cannot both start.
            from core.services import audit_programme

            try:
                await audit_programme.check_thematic_allowed(ctx)
            except Conflict as refused:
                raise Invalid("The request could not be issued", {"kind": refused.message}) from None
        rows = await AgencyRequest.insert(
            AgencyRequest(
                organisation=ctx.actor.organisation_id, kind=kind, title=title, period=period.strip()[:100], form_key=form_key,
                workflow_key=WORKFLOW, schedule_key=work["schedule_key"] if work else "", work=work_id, due_on=due_on,
                issued_by=ctx.actor.person_id, issued_at=ctx.now, state="open", overlap_note=overlap_note, created_at=ctx.now,
            )
        ).returning(AgencyRequest.id)
        request_id = rows[0]["id"]
        await trail.record(
            ctx, organisation_id=ctx.actor.organisation_id, entity="agency_request", entity_id=request_id, action="issued",
            changes={"title": title, "kind": spec.label, "period": period, "due_on": due_on.isoformat(),
                     "agencies": [a["name"] for a in chosen], "cases": [c["external_id"] for c in cases],
                     **({"overlap_note": overlap_note} if overlap_note else {})},
        )
        for agency in chosen:
            lead = leads[agency["id"]]
            previous = await previous_return(ctx, agency["id"], kind)
            for case in cases or [None]:
                allocation_id = await create_allocation(
                    ctx, organisation_id=ctx.actor.organisation_id, case=case,
                    auditor={"id": lead["id"], "display_name": lead["display_name"]}, kind="audit",
                    reason=f"{title}: requested by the partnership", form_key=form_key, workflow_key=WORKFLOW, due_at=due_at,
                )
                carried = {}
                if previous is not None and case is None:
                    carried = _carried(ctx, form_key, previous["answers"])
                await Allocation.update({
                    Allocation.agency: agency["id"], Allocation.agency_request: request_id,
                    Allocation.carried_from: previous["id"] if carried else None, Allocation.answers: carried,
                }).where(Allocation.id == allocation_id)
                # CSCP-9: the request's own deadline, watched until the return
                # is submitted (not only while it is in one state).
                await Deadline.update({Deadline.kind: "response_due", Deadline.escalate_to: ["auditor", "qa_manager"]}).where(
                    (Deadline.allocation == allocation_id) & (Deadline.kind == "allocation_due"))
                remind_at = _reminder_at(due_on)
                if remind_at > ctx.now:
                    await Deadline.insert(Deadline(organisation=ctx.actor.organisation_id, allocation=allocation_id,
                                                   kind="response_reminder", due_at=remind_at, escalate_to=[], created_at=ctx.now))
                if carried:
                    await trail.record(ctx, organisation_id=ctx.actor.organisation_id, entity="allocation", entity_id=allocation_id,
                                       action="answers_carried_forward", changes={"from": previous["id"], "answers": len(carried)})
            respondents = [r["id"] for r in await Person.select(Person.id).where(
                (Person.agency == agency["id"]) & (Person.role == "agency_respondent") & (Person.active == True))]  # noqa: E712
            await notifications.notify(
                ctx, organisation_id=ctx.actor.organisation_id, recipients=[lead["id"], *respondents], kind="agency_request",
                subject=f"{title}: the partnership asks {agency['name']} to respond by {due_on:%-d %B %Y}",
                body=(f"The Coventry Safeguarding Children Partnership asks {agency['name']} for: {title}"
                      + (f" ({period})" if period else "") + f".\n\nPlease respond by {_date_words(due_on)}."),
                link=f"/requests/{request_id}",
            )
    return request_id


def _reminder_at(due_on: dt.date) -> dt.datetime:
    """9 in the morning, London time, five working days before the deadline."""
    day = add_working_days(due_on, -REMINDER_WORKING_DAYS)
    return dt.datetime.combine(day, dt.time(9, 0), tzinfo=LONDON).astimezone(UTC)


async def previous_return(ctx: Context, agency_id: int, kind: str) -> dict | None:
    """PLAT-8: the agency's last accepted return to a request of this kind (not on a case)."""
    row = await Allocation.select(Allocation.id, Allocation.answers, Allocation.finalised_at).where(
        (Allocation.agency == agency_id) & Allocation.finalised_at.is_not_null() & Allocation.child_case.is_null()
        & (Allocation.agency_request.kind == kind)
    ).order_by(Allocation.finalised_at, ascending=False).order_by(Allocation.id, ascending=False).first()
    if row is None:
        return None
    answers = row["answers"]
    row["answers"] = json.loads(answers) if isinstance(answers, str) else dict(answers or {})
    return row


# ---------------------------------------------------------------- carried answers


def _carried(ctx: Context, form_key: str, answers: dict) -> dict:
    """The last return's answers to carry forward (PLAT-8), but not a date of
    that return's own doing ("Date of completion", ``date_is: during``): it
    is the new return's to give (issue 17: before the request, it is refused)."""
    from core.forms import fields_of

    fields = fields_of(ctx.registry, form_key.split(":", 1)[0], ctx.registry.form(form_key)).by_name()
    return {name: value for name, value in (answers or {}).items()
            if not (fields.get(name) and fields[name].date_is == "during")}


@dataclass(slots=True)
class Carried:
    """What carrying forward means on one return (PLAT-8)."""

    since: str = ""  # "3 March 2025": when the answers carried were accepted
    unchanged: dict[str, str] = field(default_factory=dict)  # field -> "Unchanged since 3 March 2025"
    changed: list[dict] = field(default_factory=list)  # {name, label, before, after}, for the reviewer
    confirmed: list[str] = field(default_factory=list)


def _in_words(field, value, levels: tuple[tuple[str, str], ...]) -> str:
    """An answer as the page shows it: an option's or grade's label, a date in words."""
    if value in (None, ""):
        return ""
    value = str(value)
    if field is None:
        return value
    options = dict(field.options or (levels if field.kind == "grade" else ()))
    if field.kind == "yes_no":
        options = options or {"yes": "Yes", "no": "No"}
    if value in options:
        return options[value]
    if field.kind == "date":
        try:
            return f"{dt.date.fromisoformat(value[:10]):%-d %B %Y}"
        except ValueError:
            return value
    return value


async def carried(row: dict, fields: dict, levels: tuple[tuple[str, str], ...] = ()) -> Carried | None:
    """The return's carried answers: those still unchanged and unconfirmed,
    and those changed since (with what they were)."""
    if not row.get("carried_from"):
        return None
    previous = await Allocation.select(Allocation.answers, Allocation.finalised_at).where(Allocation.id == row["carried_from"]).first()
    if previous is None:
        return None
    before = previous["answers"]
    before = json.loads(before) if isinstance(before, str) else dict(before or {})
    confirmed = row.get("confirmed") or []
    if isinstance(confirmed, str):
        confirmed = json.loads(confirmed)
    since = f"{to_london(previous['finalised_at']):%-d %B %Y}" if previous["finalised_at"] else ""
    now = row.get("answers") or {}
    out = Carried(since=since, confirmed=list(confirmed))
    for name in sorted(set(before) | set(now)):
        if before.get(name) == now.get(name):
            if name not in confirmed and before.get(name) not in (None, ""):
                out.unchanged[name] = f"Unchanged since {since}"
        else:
            field = fields.get(name)
            out.changed.append({"name": name, "label": field.label if field else name,
                                "before": _in_words(field, before.get(name), levels), "after": _in_words(field, now.get(name), levels)})
    return out


# ---------------------------------------------------------------- reading


def _state_words(ctx: Context, row: dict) -> str:
    workflow = ctx.registry.workflow(row["workflow_key"], row["workflow_version"])
    return next((s.label for s in workflow.states if s.key == row["state"]), row["state"])


async def _may_read(ctx: Context) -> int | None:
    """None for the partnership (every agency), an agency id for an agency's
    people; Forbidden for anyone else."""
    assert ctx.actor
    if ctx.actor.can("view_all_audits"):
        return None
    agency = await agency_of(ctx)
    if agency is None:
        raise Forbidden("Only the partnership and its agencies' people see requests to agencies")
    return agency


async def list_requests(ctx: Context) -> list[dict]:
    """Requests newest first, each with its returns' progress: every agency's
    for the partnership, only their own agency's for an agency (CSCP-1)."""
    assert ctx.actor
    agency = await _may_read(ctx)
    where = AgencyRequest.organisation == ctx.actor.organisation_id
    returns_where = Allocation.organisation == ctx.actor.organisation_id
    if agency is not None:
        returns_where &= Allocation.agency == agency
        where &= AgencyRequest.id.is_in(Allocation.select(Allocation.agency_request).where(returns_where))
    requests = await AgencyRequest.select().where(where).order_by(AgencyRequest.issued_at, ascending=False).order_by(
        AgencyRequest.id, ascending=False)
    if not requests:
        return []
    returns = await Allocation.select(
        Allocation.agency_request, Allocation.state, Allocation.finalised_at, Allocation.submitted_at,
    ).where(returns_where & Allocation.agency_request.is_in([r["id"] for r in requests]) & Allocation.agency.is_not_null())
    today = london_date(ctx.now)
    out = []
    for request in requests:
        mine = [r for r in returns if r["agency_request"] == request["id"]]
        accepted = sum(1 for r in mine if r["finalised_at"])
        submitted = sum(1 for r in mine if r["state"] == "submitted")
        out.append({
            **request,
            "kind_label": KINDS[request["kind"]].label if request["kind"] in KINDS else request["kind"],
            "due_words": f"{request['due_on']:%-d %B %Y}",
            "returns": len(mine), "accepted": accepted, "submitted": submitted,
            "outstanding": len(mine) - accepted - submitted,
            "overdue": request["due_on"] < today and len(mine) - accepted - submitted > 0,
        })
    return out


async def request_view(ctx: Context, request_id: int) -> dict:
    """One request with its returns (only the actor's agency's for an agency)."""
    assert ctx.actor
    agency = await _may_read(ctx)
    request = await AgencyRequest.select().where(
        (AgencyRequest.id == request_id) & (AgencyRequest.organisation == ctx.actor.organisation_id)).first()
    if request is None:
        raise NotFound("There is no request with that number that you can see")
    where = Allocation.agency_request == request_id
    if agency is not None:
        where &= Allocation.agency == agency
    returns = await Allocation.select(
        Allocation.id, Allocation.state, Allocation.workflow_key, Allocation.workflow_version, Allocation.submitted_at,
        Allocation.finalised_at, Allocation.agency.name.as_alias("agency_name"),
        Allocation.child_case.external_id.as_alias("case"), Allocation.auditor.display_name.as_alias("lead"),
    ).where(where & Allocation.agency.is_not_null()).order_by(Allocation.agency.name).order_by(Allocation.id)
    if agency is not None and not returns:
        raise NotFound("There is no request with that number that you can see")
    from core.services.audits import sees_every_audit_in

    for r in returns:
        r["state_label"] = _state_words(ctx, r)
        # Issue 16, case 1: the Audit Chair opens a return once the agency has
        # submitted it, not while the agency drafts it (an agency's own people
        # open theirs in every state).
        workflow = ctx.registry.workflow(r["workflow_key"], r["workflow_version"])
        r["may_open"] = agency is not None or sees_every_audit_in(ctx.actor, workflow, r["state"])
    issued_by = await Person.select(Person.display_name).where(Person.id == request["issued_by"]).first()
    return {
        **request,
        "kind_label": KINDS[request["kind"]].label if request["kind"] in KINDS else request["kind"],
        "due_words": _date_words(request["due_on"]),
        "issued_by_name": issued_by["display_name"] if issued_by else "",
        "returns": returns,
    }


async def open_for_home(ctx: Context) -> list[dict]:
    """The partnership QA manager's open requests, for the home page."""
    assert ctx.actor
    if not ctx.actor.can("administer"):
        return []
    return [r for r in await list_requests(ctx) if r["state"] == "open" and r["accepted"] < r["returns"]]


async def issuing_work(ctx: Context, work_id: int) -> dict:
    """What a programme work item fills in when its owner issues its request:
    the kind, a title and period from the work, the agencies and a deadline."""
    assert ctx.actor
    _may_issue(ctx)
    work = await Work.select().where((Work.id == work_id) & (Work.organisation == ctx.actor.organisation_id)).first()
    if work is None or work["owner"] != ctx.actor.person_id:
        raise NotFound("There is no such work of yours")
    supplied = ctx.registry.schedules.get(work["schedule_key"])
    schedule = supplied.value if supplied else None
    if schedule is None or schedule.request is None:
        raise NotFound("This work is not a request to agencies")
    period = _period_words(work["starts_on"], work["due_on"])
    all_agencies = await agencies(ctx)
    due = work["due_on"]
    while not is_working_day(due):
        due -= dt.timedelta(days=1)
    return {
        "work": work, "kind": schedule.request, "title": f"{KINDS[schedule.request].label} {period}",
        "period": period, "agencies": default_agencies(schedule.request, all_agencies, schedule.request_to),
        "due_on": due,
    }


def _period_words(starts: dt.date, due: dt.date) -> str:
    if starts.year == due.year and starts.month == due.month:
        return f"{starts:%B %Y}"
    return f"{starts:%B %Y} to {due:%B %Y}"


async def request_of_work(work_id: int) -> dict | None:
    """The request already issued from a work item, if any (one per work item)."""
    return await AgencyRequest.select(AgencyRequest.id, AgencyRequest.title).where(AgencyRequest.work == work_id).order_by(
        AgencyRequest.id).first()


async def close_if_answered(ctx: Context, request_id: int) -> None:
    """A request whose every return is accepted is closed (in the trail);
    call inside the transaction that accepted the last one."""
    outstanding = await Allocation.count().where(
        (Allocation.agency_request == request_id) & Allocation.agency.is_not_null() & Allocation.finalised_at.is_null())
    if outstanding:
        return
    closed = await AgencyRequest.update({AgencyRequest.state: "closed"}).where(
        (AgencyRequest.id == request_id) & (AgencyRequest.state == "open")).returning(AgencyRequest.organisation)
    if closed:
        await trail.record(ctx, organisation_id=closed[0]["organisation"], entity="agency_request", entity_id=request_id,
                           action="closed", changes={"state": ["open", "closed"]})
