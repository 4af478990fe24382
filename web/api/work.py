"""/api/v1/work: the programme's work (issue 13, PLAT-1, PLAT-2), through
the same services as the My programme pages."""

from __future__ import annotations

import datetime as dt

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from core.calendar import london_date
from core.services import work, work_by_hand
from web.auth.guards import signed_in
from web.context import request_context


class AuditOut(msgspec.Struct, kw_only=True):
    id: int
    case: str  # "" for an audit on a person, or on a meeting without a case
    state: str
    final: bool
    # What it is on (issue 13): "Case 123", a person's name, or "Observation of a … on 3 March 2027".
    subject: str = ""


class WorkOut(msgspec.Struct, kw_only=True):
    id: int
    activity: str
    owner_id: int
    owner: str
    supervisee: str
    starts_on: dt.date
    due_on: dt.date
    count: int
    form: str  # the form's title; "" when it is done by a completion record
    status: str  # to_do | started | overdue | done | done_late
    status_label: str
    audits: list[AuditOut]
    done_on: dt.date | None
    summary: str
    outcome: str
    # C17-3: the theme of a themed activity started by hand, as the council names it.
    theme: str = ""


class Completion(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    done_on: dt.date
    summary: str
    outcome: str


class Start(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What the audit is on, as the work's schedule says (``about``): a case
    by its number; a person by their id (work on a supervisee: them, by
    default); or a meeting: its type (one of the council's meeting type
    keys), the date it was held, and optionally the case it was about."""

    case: str = ""  # the case number (the council's case-record id)
    person: int | None = None
    meeting_type: str = ""
    meeting_on: dt.date | None = None


class StartByHand(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Start an "as required" activity as work the caller owes."""

    schedule: str  # the schedule's key in the council's programme, e.g. thematic_audit
    due_on: dt.date | None = None  # today or later; by default the last working day of this month
    theme: str = ""  # one of the council's theme keys, where the activity is themed


class Started(msgspec.Struct, kw_only=True):
    allocation_id: int
    work: WorkOut


def work_out(item: work.WorkItem) -> WorkOut:
    return WorkOut(
        id=item.id, activity=item.activity, owner_id=item.owner_id, owner=item.owner, supervisee=item.supervisee,
        starts_on=item.starts_on, due_on=item.due_on, count=item.count, form=item.form_title, status=item.status,
        status_label=item.status_label, audits=[AuditOut(**a) for a in item.audits], done_on=item.done_on,
        summary=item.summary, outcome=item.outcome, theme=item.theme,
    )


class WorkController(Controller):
    path = "/work"
    guards = [signed_in]

    @get("", summary="Work issued from the programme: my own; ?owner= one person's, ?everyone=true all (QA)")
    async def listing(
        self, request: Request, owner: FromQuery[int | None] = None, everyone: FromQuery[bool] = False,
        due_from: FromQuery[dt.date | None] = None, due_to: FromQuery[dt.date | None] = None,
    ) -> list[WorkOut]:
        ctx = request_context(request)
        if owner is None and not everyone:
            owner = ctx.actor.person_id
        items = await work.list_work(ctx, owner=owner, due_from=due_from, due_to=due_to)
        return [work_out(item) for item in items]

    @get("/{work_id:int}", summary="One piece of work with its audits")
    async def show(self, request: Request, work_id: FromPath[int]) -> WorkOut:
        ctx = request_context(request)
        return work_out(await work.get_work(ctx, work_id))

    @post("/{work_id:int}/completion", summary="Record work without a form as done", status_code=200)
    async def complete(self, request: Request, work_id: FromPath[int], data: JSONBody[Completion]) -> WorkOut:
        ctx = request_context(request)
        item = await work.complete(ctx, work_id, done_on=data.done_on, summary=data.summary, outcome=data.outcome)
        return work_out(item)

    @post("/{work_id:int}/audits", summary="Start an audit on the work's form: on the case, person or meeting chosen",
          status_code=201)
    async def start(self, request: Request, work_id: FromPath[int], data: JSONBody[Start]) -> Started:
        ctx = request_context(request)
        allocation_id = await work.start(ctx, work_id, data.case, person=data.person, meeting_type=data.meeting_type,
                                         meeting_on=data.meeting_on)
        return Started(allocation_id=allocation_id, work=work_out(await work.get_work(ctx, work_id)))

    @post("", summary="Start an 'as required' activity (a thematic audit, a dip sample...) as work you owe",
          status_code=201)
    async def start_by_hand(self, request: Request, data: JSONBody[StartByHand]) -> WorkOut:
        """The people whose role (and post) the activity is for start it; due
        today or later; themed activities need one of the council's themes.
        A 422 lists every field's problem as ``errors``."""
        ctx = request_context(request)
        due_on = data.due_on or work_by_hand.default_due(london_date(ctx.now))
        item = await work_by_hand.start_by_hand(ctx, data.schedule, due_on=due_on, theme=data.theme)
        return work_out(item)
