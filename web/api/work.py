"""/api/v1/work: the programme's work (issue 13, PLAT-1, PLAT-2), through
the same services as the My programme pages."""

from __future__ import annotations

import datetime as dt

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from core.services import work
from web.auth.guards import signed_in
from web.context import request_context


class AuditOut(msgspec.Struct, kw_only=True):
    id: int
    case: str
    state: str
    final: bool


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


class Completion(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    done_on: dt.date
    summary: str
    outcome: str


class Start(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    case: str  # the case number (the council's case-record id)


class Started(msgspec.Struct, kw_only=True):
    allocation_id: int
    work: WorkOut


def work_out(item: work.WorkItem) -> WorkOut:
    return WorkOut(
        id=item.id, activity=item.activity, owner_id=item.owner_id, owner=item.owner, supervisee=item.supervisee,
        starts_on=item.starts_on, due_on=item.due_on, count=item.count, form=item.form_title, status=item.status,
        status_label=item.status_label, audits=[AuditOut(**a) for a in item.audits], done_on=item.done_on,
        summary=item.summary, outcome=item.outcome,
    )


class WorkController(Controller):
    path = "/work"
    guards = [signed_in]

    @get("", summary="Work issued from the programme: my own, or (QA) everyone's or one person's")
    async def listing(
        self, request: Request, owner: int | None = None, due_from: dt.date | None = None, due_to: dt.date | None = None
    ) -> list[WorkOut]:
        items = await work.list_work(request_context(request), owner=owner, due_from=due_from, due_to=due_to)
        return [work_out(item) for item in items]

    @get("/{work_id:int}", summary="One piece of work with its audits")
    async def show(self, request: Request, work_id: FromPath[int]) -> WorkOut:
        return work_out(await work.get_work(request_context(request), work_id))

    @post("/{work_id:int}/completion", summary="Record work without a form as done", status_code=200)
    async def complete(self, request: Request, work_id: FromPath[int], data: JSONBody[Completion]) -> WorkOut:
        item = await work.complete(
            request_context(request), work_id, done_on=data.done_on, summary=data.summary, outcome=data.outcome
        )
        return work_out(item)

    @post("/{work_id:int}/audits", summary="Start an audit on the work's form, of the case chosen", status_code=201)
    async def start(self, request: Request, work_id: FromPath[int], data: JSONBody[Start]) -> Started:
        ctx = request_context(request)
        allocation_id = await work.start(ctx, work_id, data.case)
        return Started(allocation_id=allocation_id, work=work_out(await work.get_work(ctx, work_id)))
