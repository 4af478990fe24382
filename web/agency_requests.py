"""Requests to agencies (issue 14; CSCP-1, 4, 7, 9): the pages under
/requests and the API under /api/v1/requests, over
``core.services.agency_requests``."""

from __future__ import annotations

import datetime as dt

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Response, Template

from core.calendar import add_working_days, london_date
from core.services import agency_requests
from core.services.errors import Invalid
from web.auth.guards import signed_in
from web.context import request_context
from web.forms import form_data, form_lists, govuk_date
from web.rendering import flash, page, see_other


def _kind_items() -> list[dict]:
    return [{"value": k.key, "text": k.label} for k in agency_requests.KINDS.values()]


class RequestPages(Controller):
    path = "/requests"
    guards = [signed_in]
    include_in_schema = False

    @get("")
    async def listing(self, request: Request) -> Template:
        ctx = request_context(request)
        agency = await agency_requests.agency_of(ctx)
        return await page(request, "requests/list.html", title="Requests to agencies",
                          requests=await agency_requests.list_requests(ctx), for_agency=agency is not None,
                          agency_id=agency, may_issue=ctx.actor.can("administer"),
                          may_manage=ctx.actor.role == "agency_lead")

    @get("/new")
    async def new(self, request: Request, kind: FromQuery[str | None] = None, work: FromQuery[int | None] = None) -> Template:
        ctx = request_context(request)
        values: dict = {"kind": kind or "", "agencies": []}
        if work is not None:
            filled = await agency_requests.issuing_work(ctx, work)
            values = {"kind": filled["kind"], "title": filled["title"], "period": filled["period"], "agencies": [str(a) for a in filled["agencies"]],
                      "work": str(work), **_date_values(filled["due_on"])}
        else:
            agency_requests._may_issue(ctx)
            values |= _date_values(add_working_days(london_date(ctx.now), 20))
        return await self._form(request, values, {})

    async def _form(self, request: Request, values: dict, errors: dict, overlaps: list | None = None, status_code: int = 200) -> Template:
        ctx = request_context(request)
        return await page(request, "requests/new.html", title=("Error: " if errors else "") + "Issue a request to agencies",
                          values=values, errors=errors, overlaps=overlaps or [], kinds=_kind_items(),
                          agency_items=[{"value": str(a["id"]), "text": a["name"],
                                         "hint": f"Agency lead: {a['lead']}" if a["lead"] else "No agency lead yet"}
                                        for a in await agency_requests.agencies(ctx)],
                          status_code=status_code)

    @post("/new")
    async def issue(self, request: Request) -> Template | Redirect | Response:
        ctx = request_context(request)
        lists = await form_lists(request)
        data = await form_data(request)
        due_on, date_error = govuk_date(data, "due_on")
        values = {**data, "agencies": lists.get("agencies", [])}
        try:
            request_id = await agency_requests.issue(
                ctx, kind=data.get("kind", ""), agency_ids=[int(a) for a in lists.get("agencies", []) if a.isdigit()],
                due_on=None if date_error else due_on, title=data.get("title", ""), period=data.get("period", ""),
                case_numbers=data.get("cases", "").split(), overlap_note=data.get("overlap_note", ""),
                work_id=int(data["work"]) if data.get("work", "").isdigit() else None,
            )
        except agency_requests.Overlap as overlap:
            return await self._form(request, values, overlap.errors, overlap.overlaps, status_code=422)
        except Invalid as invalid:
            errors = dict(invalid.errors or {})
            if date_error:
                errors["due_on"] = date_error
            return await self._form(request, values, errors, status_code=422)
        if date_error:  # the service saw no date
            return await self._form(request, values, {"due_on": date_error}, status_code=422)
        flash(request, "Request issued", "Each agency's lead has been told, with the date to respond by.")
        return see_other(request, f"/requests/{request_id}")

    @get("/{request_id:int}")
    async def show(self, request: Request, request_id: FromPath[int]) -> Template:
        ctx = request_context(request)
        view = await agency_requests.request_view(ctx, request_id)
        return await page(request, "requests/show.html", title=view["title"], request_view=view,
                          for_agency=await agency_requests.agency_of(ctx) is not None)


def _date_values(day: dt.date) -> dict:
    return {"due_on-day": str(day.day), "due_on-month": str(day.month), "due_on-year": str(day.year)}


# ---------------------------------------------------------------- API


class RequestIn(msgspec.Struct, kw_only=True):
    kind: str
    agencies: list[int]
    due_on: dt.date
    title: str = ""
    period: str = ""
    cases: list[str] = []
    overlap_note: str = ""
    work: int | None = None


class ReturnOut(msgspec.Struct, kw_only=True):
    id: int
    agency: str
    case: str
    state: str
    state_label: str
    submitted_at: dt.datetime | None
    accepted_at: dt.datetime | None
    link: str


class RequestOut(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    kind_label: str
    title: str
    period: str
    due_on: dt.date
    state: str
    overlap_note: str
    returns: list[ReturnOut] = []


class RequestSummaryOut(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    title: str
    period: str
    due_on: dt.date
    state: str
    returns: int
    submitted: int
    accepted: int
    overdue: bool


def _out(view: dict) -> RequestOut:
    return RequestOut(
        id=view["id"], kind=view["kind"], kind_label=view["kind_label"], title=view["title"], period=view["period"],
        due_on=view["due_on"], state=view["state"], overlap_note=view["overlap_note"],
        returns=[ReturnOut(id=r["id"], agency=r["agency_name"], case=r["case"] or "", state=r["state"], state_label=r["state_label"],
                           submitted_at=r["submitted_at"], accepted_at=r["finalised_at"], link=f"/api/v1/allocations/{r['id']}")
                 for r in view["returns"]],
    )


class RequestsApi(Controller):
    path = "/requests"
    guards = [signed_in]

    @get("", summary="Requests to agencies: all for the partnership, only their own agency's for an agency's people")
    async def listing(self, request: Request) -> list[RequestSummaryOut]:
        return [RequestSummaryOut(id=r["id"], kind=r["kind"], title=r["title"], period=r["period"], due_on=r["due_on"],
                                  state=r["state"], returns=r["returns"], submitted=r["submitted"], accepted=r["accepted"],
                                  overdue=r["overdue"])
                for r in await agency_requests.list_requests(request_context(request))]

    @post("", summary="Issue a request to agencies (the QA manager); 422 names each wrong field, or the overlap to note", status_code=201)
    async def issue(self, request: Request, data: JSONBody[RequestIn]) -> RequestOut:
        ctx = request_context(request)
        request_id = await agency_requests.issue(
            ctx, kind=data.kind, agency_ids=data.agencies, due_on=data.due_on, title=data.title, period=data.period,
            case_numbers=data.cases, overlap_note=data.overlap_note, work_id=data.work,
        )
        return _out(await agency_requests.request_view(ctx, request_id))

    @get("/{request_id:int}", summary="One request and its returns (only the actor's agency's for an agency)")
    async def detail(self, request: Request, request_id: FromPath[int]) -> RequestOut:
        return _out(await agency_requests.request_view(request_context(request), request_id))
