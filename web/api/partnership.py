"""/api/v1/partnership: the partnership's audit programme (CSCP-3), scorecard
(CSCP-2), and a request's returns side by side, findings, report sign-off and
action plan (CSCP-5, 6, 8), each figure cut by lens (CSCP-10). The same
services as the pages; refusals are 4xx with a reason."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.response import Response

from core import pdf
from core.services import audit_programme, partnership_reports, scorecard
from core.services.errors import Conflict
from web.auth.guards import signed_in
from web.context import request_context


class Programme(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    year: int
    themes: dict[str, str]  # quarter ("1".."4") -> theme


class Themes(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    themes: dict[str, str]


class Step(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: str = ""


class IndicatorProposal(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    indicator_id: int | None = None
    proposal: dict[str, Any]
    why: str


class ChangeStep(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: str = ""
    quorate: bool | None = None
    members_present: int | None = None
    minute_reference: str = ""


class Finding(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    worked_well: str = ""
    development: str = ""


class Recommendation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    recommendation: str
    agency: str = ""
    action: str
    by_whom: str
    by_when: dt.date


def _plain(value):
    """Service views as JSON: workflow steps as {key, label, reason_required}."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in ("answers",)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "reason_required") and hasattr(value, "to"):
        return {"key": value.key, "label": value.label, "reason_required": value.reason_required}
    return value


class PartnershipController(Controller):
    path = "/partnership"
    guards = [signed_in]
    tags = ["partnership"]

    # --- the audit programme (CSCP-3)

    @get("/programmes", summary="The audit programmes, newest year first (CSCP-3)")
    async def programmes(self, request: Request) -> list[dict[str, Any]]:
        return _plain(await audit_programme.programmes(request_context(request)))

    @post("/programmes", summary="Draft the year's thematic audit programme: at most four themes, one a quarter", status_code=201)
    async def create_programme(self, request: Request, data: JSONBody[Programme]) -> dict[str, Any]:
        ctx = request_context(request)
        programme_id = await audit_programme.create(ctx, year=data.year, themes=data.themes)
        return _plain(await audit_programme.view(ctx, programme_id))

    @get("/programmes/{programme_id:int}", summary="One year's programme: its themes, state and who agreed it when")
    async def programme(self, request: Request, programme_id: FromPath[int]) -> dict[str, Any]:
        return _plain(await audit_programme.view(request_context(request), programme_id))

    @put("/programmes/{programme_id:int}/themes", summary="Change a draft programme's themes")
    async def programme_themes(self, request: Request, programme_id: FromPath[int], data: JSONBody[Themes]) -> dict[str, Any]:
        ctx = request_context(request)
        await audit_programme.set_themes(ctx, programme_id, data.themes)
        return _plain(await audit_programme.view(ctx, programme_id))

    @post("/programmes/{programme_id:int}/steps/{step:str}", summary="Take the programme to the A&P subgroup, or agree it", status_code=200)
    async def programme_step(self, request: Request, programme_id: FromPath[int], step: FromPath[str], data: JSONBody[Step]) -> dict[str, Any]:
        ctx = request_context(request)
        await audit_programme.take_step(ctx, programme_id, step, data.reason)
        return _plain(await audit_programme.view(ctx, programme_id))

    @get("/programme-check", summary="May a thematic audit start on this date? (the agreed programme, four a year, one a quarter)")
    async def programme_check(self, request: Request, on: dt.date) -> dict[str, Any]:
        ctx = request_context(request)
        try:
            found = await audit_programme.check_thematic_allowed(ctx, on)
        except Conflict as refused:
            return {"allowed": False, "reason": refused.message}
        return {"allowed": True, "reason": "", **found}

    # --- the scorecard (CSCP-2)

    @get("/scorecard/indicators", summary="The scorecard's indicators (an agency's people: their agency's only)")
    async def indicators(self, request: Request) -> list[dict[str, Any]]:
        return _plain(await scorecard.indicators(request_context(request)))

    @get("/scorecard/changes", summary="Proposed, approved and rejected indicator changes")
    async def changes(self, request: Request) -> list[dict[str, Any]]:
        return _plain(await scorecard.changes(request_context(request)))

    @post("/scorecard/changes", summary="Propose a new indicator or a change to one", status_code=201)
    async def propose(self, request: Request, data: JSONBody[IndicatorProposal]) -> dict[str, Any]:
        ctx = request_context(request)
        change_id = await scorecard.propose_change(ctx, indicator_id=data.indicator_id, proposal=data.proposal, why=data.why)
        return _plain(await scorecard.change_view(ctx, change_id))

    @get("/scorecard/changes/{change_id:int}", summary="One indicator change with its decision")
    async def change(self, request: Request, change_id: FromPath[int]) -> dict[str, Any]:
        return _plain(await scorecard.change_view(request_context(request), change_id))

    @post("/scorecard/changes/{change_id:int}/steps/{step:str}",
          summary="Table a change, or record the quorate A&P subgroup's approval or rejection (quorum, members present, minute)", status_code=200)
    async def change_step(self, request: Request, change_id: FromPath[int], step: FromPath[str], data: JSONBody[ChangeStep]) -> dict[str, Any]:
        ctx = request_context(request)
        await scorecard.take_change_step(ctx, change_id, step, reason=data.reason, quorate=data.quorate,
                                         members_present=data.members_present, minute_reference=data.minute_reference)
        return _plain(await scorecard.change_view(ctx, change_id))

    @get("/scorecard/{year:int}/{quarter:int}", summary="A quarter's scorecard: each indicator's figure, RAG, commentary and trend; ?lens= cuts it")
    async def quarter(self, request: Request, year: FromPath[int], quarter: FromPath[int], lens: str | None = None) -> dict[str, Any]:
        return _plain(await scorecard.quarter_view(request_context(request), year, quarter, lens=lens))

    @post("/scorecard/{year:int}/{quarter:int}", summary="Start populating a quarter's scorecard", status_code=201)
    async def open_quarter(self, request: Request, year: FromPath[int], quarter: FromPath[int]) -> dict[str, Any]:
        ctx = request_context(request)
        await scorecard.open_quarter(ctx, year, quarter)
        return _plain(await scorecard.quarter_view(ctx, year, quarter))

    @post("/scorecard/{year:int}/{quarter:int}/steps/{step:str}", summary="Take the scorecard to the A&P subgroup, refine it, present it", status_code=200)
    async def quarter_step(self, request: Request, year: FromPath[int], quarter: FromPath[int], step: FromPath[str], data: JSONBody[Step]) -> dict[str, Any]:
        ctx = request_context(request)
        await scorecard.take_quarter_step(ctx, year, quarter, step, data.reason)
        return _plain(await scorecard.quarter_view(ctx, year, quarter))

    # --- a request's returns, findings, report and action plan (CSCP-5, 6, 8, 10)

    @get("/requests", summary="Every request with its returns' figures; ?lens= keeps one lens's")
    async def requests(self, request: Request, lens: str | None = None) -> list[dict[str, Any]]:
        return _plain(await partnership_reports.requests_overview(request_context(request), lens=lens))

    @get("/requests/{request_id:int}/side-by-side", summary="The agencies' answers by case and line of enquiry, with the findings and recommendations")
    async def side_by_side(self, request: Request, request_id: FromPath[int]) -> dict[str, Any]:
        return _plain(await partnership_reports.side_by_side(request_context(request), request_id))

    @put("/requests/{request_id:int}/findings/{line:str}", summary="Record the finding on one line of enquiry (section.question)")
    async def finding(self, request: Request, request_id: FromPath[int], line: FromPath[str], data: JSONBody[Finding]) -> dict[str, Any]:
        ctx = request_context(request)
        await partnership_reports.record_finding(ctx, request_id, line, worked_well=data.worked_well, development=data.development)
        return _plain(await partnership_reports.side_by_side(ctx, request_id))

    @post("/requests/{request_id:int}/recommendations", summary="Raise a recommendation with its SMART action", status_code=201)
    async def recommendation(self, request: Request, request_id: FromPath[int], data: JSONBody[Recommendation]) -> dict[str, Any]:
        ctx = request_context(request)
        await partnership_reports.raise_recommendation(ctx, request_id, recommendation=data.recommendation, agency=data.agency,
                                                       action=data.action, by_whom=data.by_whom, by_when=data.by_when)
        return _plain(await partnership_reports.side_by_side(ctx, request_id))

    @get("/requests/{request_id:int}/figures", summary="Figures from the returns per agency and overall; ?lens= cuts them")
    async def figures(self, request: Request, request_id: FromPath[int], lens: str | None = None) -> dict[str, Any]:
        return _plain(await partnership_reports.figures(request_context(request), request_id, lens=lens))

    @post("/requests/{request_id:int}/report", summary="Draft the report from the findings and recommendations", status_code=201)
    async def draft(self, request: Request, request_id: FromPath[int]) -> dict[str, Any]:
        ctx = request_context(request)
        await partnership_reports.draft_report(ctx, request_id)
        return _plain(await partnership_reports.report_view(ctx, request_id))

    @get("/requests/{request_id:int}/report", summary="The report: sections, figures, sign-off chain and next steps")
    async def report(self, request: Request, request_id: FromPath[int], lens: str | None = None) -> dict[str, Any]:
        return _plain(await partnership_reports.report_view(request_context(request), request_id, lens=lens))

    @post("/requests/{request_id:int}/report/steps/{step:str}", summary="A sign-off step: to the chair, sign off, amend, agree, present", status_code=200)
    async def report_step(self, request: Request, request_id: FromPath[int], step: FromPath[str], data: JSONBody[Step]) -> dict[str, Any]:
        ctx = request_context(request)
        await partnership_reports.take_report_step(ctx, request_id, step, data.reason)
        return _plain(await partnership_reports.report_view(ctx, request_id))

    @get("/requests/{request_id:int}/report.pdf", summary="The report as a PDF with its sign-off chain", media_type="application/pdf")
    async def report_pdf(self, request: Request, request_id: FromPath[int]) -> Response:
        return await report_pdf_response(request, request_id)

    @post("/requests/{request_id:int}/action-plan", summary="The agreed report's recommendations become an A&P action plan", status_code=201)
    async def action_plan(self, request: Request, request_id: FromPath[int]) -> dict[str, Any]:
        ctx = request_context(request)
        plan_id = await partnership_reports.make_action_plan(ctx, request_id)
        return {"action_plan": plan_id, "link": f"/plans/{plan_id}"}


async def report_pdf_response(request: Request, request_id: int) -> Response:
    from web.reports.controller import _render

    ctx = request_context(request)
    view = await partnership_reports.report_view(ctx, request_id)
    if view["report"] is None:
        from core.services.errors import NotFound

        raise NotFound("This request has no report yet")
    html = _render(request, "partnership/report_pdf.html", document_title=f"Report: {view['request']['title']}", v=view, for_pdf=True)
    return Response(await pdf.render_pdf(html), media_type="application/pdf",
                    headers={"content-disposition": f'attachment; filename="qaf-partnership-report-{request_id}.pdf"'})
