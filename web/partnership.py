"""The partnership's pages (issue 14 items 4-8): the audit programme
(CSCP-3), the scorecard and its indicator changes (CSCP-2), and a request's
returns side by side with findings, recommendations, figures by lens, the
report's sign-off, its PDF and its action plan (CSCP-5, 6, 8, 10).

The same services as /api/v1/partnership decide who may see and do what;
a refusal is the service's message (404, 403, 409), a form's bad input
re-renders the page with every field's error (422)."""

from __future__ import annotations


from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from core.calendar import london_date
from core.services import audit_programme, partnership_reports, scorecard
from core.services import partnership_steps as steps
from core.services.errors import Invalid
from web.auth.guards import signed_in
from web.context import request_context
from web.forms import form_data, govuk_date
from web.rendering import flash, page, see_other


def _int(value) -> int | None:
    try:
        return int(str(value or "").strip())
    except ValueError:
        return None


class PartnershipPages(Controller):
    path = "/partnership"
    guards = [signed_in]
    include_in_schema = False

    # --- the audit programme

    async def _programmes(self, request: Request, values: dict, errors: dict, status_code: int = 200) -> Template:
        ctx = request_context(request)
        return await page(request, "partnership/programmes.html", title="Audit programme",
                          programmes=await audit_programme.programmes(ctx), may_draft=ctx.actor.can("administer"),
                          this_year=steps.quarter_of(ctx, london_date(ctx.now))[0], values=values, errors=errors, status_code=status_code)

    @get("/programme")
    async def programmes(self, request: Request) -> Template:
        return await self._programmes(request, {}, {})

    @post("/programme")
    async def create_programme(self, request: Request) -> Template | Redirect:
        ctx = request_context(request)
        data = await form_data(request)
        year = _int(data.get("year"))
        try:
            programme_id = await audit_programme.create(ctx, year=year if year is not None else -1,
                                                        themes={q: data.get(f"quarter_{q}", "") for q in (1, 2, 3, 4)})
        except Invalid as invalid:
            return await self._programmes(request, data, invalid.errors, 422)
        flash(request, "Audit programme drafted", "Take it to the A&P subgroup when it is ready.")
        return see_other(request, f"/partnership/programme/{programme_id}")

    @get("/programme/{programme_id:int}")
    async def programme(self, request: Request, programme_id: FromPath[int]) -> Template:
        view = await audit_programme.view(request_context(request), programme_id)
        return await page(request, "partnership/programme.html", title=f"Audit programme {view['year_words']}", v=view, errors={})

    @post("/programme/{programme_id:int}/steps/{step:str}")
    async def programme_step(self, request: Request, programme_id: FromPath[int], step: FromPath[str]) -> Template | Redirect:
        ctx = request_context(request)
        data = await form_data(request)
        try:
            await audit_programme.take_step(ctx, programme_id, step, data.get("reason", ""))
        except Invalid as invalid:
            view = await audit_programme.view(ctx, programme_id)
            return await page(request, "partnership/programme.html", title=f"Audit programme {view['year_words']}", v=view,
                              errors=invalid.errors, status_code=422)
        flash(request, "Done")
        return see_other(request, f"/partnership/programme/{programme_id}")

    # --- the scorecard

    @get("/scorecard")
    async def scorecard_page(self, request: Request, year: int | None = None, quarter: int | None = None, lens: str | None = None) -> Template:
        ctx = request_context(request)
        if year is None or quarter is None:
            this_year, this_quarter = steps.quarter_of(ctx, london_date(ctx.now))
            year, quarter = (this_year, this_quarter - 1) if this_quarter > 1 else (this_year - 1, 4)
        view = await scorecard.quarter_view(ctx, year, quarter, lens=lens or None)
        return await page(request, "partnership/scorecard.html", title="Performance Scorecard", v=view,
                          may_propose=steps.reads_partnership(ctx) or ctx.actor.role == "agency_lead")

    @post("/scorecard/{year:int}/{quarter:int}/open")
    async def open_quarter(self, request: Request, year: FromPath[int], quarter: FromPath[int]) -> Redirect:
        await scorecard.open_quarter(request_context(request), year, quarter)
        flash(request, "Scorecard started")
        return see_other(request, f"/partnership/scorecard?year={year}&quarter={quarter}")

    @post("/scorecard/{year:int}/{quarter:int}/steps/{step:str}")
    async def quarter_step(self, request: Request, year: FromPath[int], quarter: FromPath[int], step: FromPath[str]) -> Redirect:
        data = await form_data(request)
        await scorecard.take_quarter_step(request_context(request), year, quarter, step, data.get("reason", ""))
        flash(request, "Done")
        return see_other(request, f"/partnership/scorecard?year={year}&quarter={quarter}")

    async def _propose(self, request: Request, values: dict, errors: dict, status_code: int = 200) -> Template:
        ctx = request_context(request)
        council = ctx.registry.council(ctx.actor.council)
        return await page(request, "partnership/propose.html", title="Propose a change to an indicator",
                          indicator_items=[{"value": "", "text": "A new indicator"}] + [
                              {"value": str(i["id"]), "text": i["label"]} for i in await scorecard.indicators(ctx)], groups=[(i.key, i.label) for i in council.indicators],
                          agencies=[(a.key, a.label) for a in council.agencies], directions=list(scorecard.DIRECTIONS.items()),
                          values=values, errors=errors, status_code=status_code)

    @get("/scorecard/changes/new")
    async def propose_page(self, request: Request) -> Template:
        return await self._propose(request, {}, {})

    @post("/scorecard/changes/new")
    async def propose(self, request: Request) -> Template | Redirect:
        ctx = request_context(request)
        data = await form_data(request)
        proposal = {k: data.get(k) for k in scorecard.FIELDS if data.get(k, "") != ""}
        try:
            change_id = await scorecard.propose_change(ctx, indicator_id=_int(data.get("indicator_id")), proposal=proposal,
                                                       why=data.get("why", ""))
        except Invalid as invalid:
            return await self._propose(request, data, invalid.errors, 422)
        flash(request, "Change proposed", "Table it at the next A&P subgroup meeting.")
        return see_other(request, f"/partnership/scorecard/changes/{change_id}")

    @get("/scorecard/changes/{change_id:int}")
    async def change(self, request: Request, change_id: FromPath[int]) -> Template:
        view = await scorecard.change_view(request_context(request), change_id)
        return await page(request, "partnership/change.html", title="Indicator change", v=view, values={}, errors={})

    @post("/scorecard/changes/{change_id:int}/steps/{step:str}")
    async def change_step(self, request: Request, change_id: FromPath[int], step: FromPath[str]) -> Template | Redirect:
        ctx = request_context(request)
        data = await form_data(request)
        quorate = {"yes": True, "no": False}.get(data.get("quorate", ""))
        try:
            await scorecard.take_change_step(ctx, change_id, step, reason=data.get("reason", ""), quorate=quorate,
                                             members_present=_int(data.get("members_present")), minute_reference=data.get("minute_reference", ""))
        except Invalid as invalid:
            view = await scorecard.change_view(ctx, change_id)
            return await page(request, "partnership/change.html", title="Indicator change", v=view, values=data, errors=invalid.errors,
                              status_code=422)
        flash(request, "Decision recorded" if step in ("approve", "reject") else "Done")
        return see_other(request, f"/partnership/scorecard/changes/{change_id}")

    # --- requests: side by side, findings, report, action plan

    @get("/requests")
    async def requests(self, request: Request, lens: str | None = None) -> Template:
        ctx = request_context(request)
        rows = await partnership_reports.requests_overview(ctx, lens=lens or None)
        lenses = [(lens_.key, lens_.label) for lens_ in ctx.registry.council(ctx.actor.council).lenses]
        return await page(request, "partnership/requests.html", title="Requests to agencies", rows=rows, lens=lens or "", lenses=lenses)

    async def _request(self, request: Request, request_id: int, values: dict | None = None, errors: dict | None = None,
                       status_code: int = 200, lens: str | None = None) -> Template:
        ctx = request_context(request)
        side = await partnership_reports.side_by_side(ctx, request_id)
        report = await partnership_reports.report_view(ctx, request_id, lens=lens)
        return await page(request, "partnership/request.html", title=side["request"]["title"], s=side, v=report,
                          values=values or {}, errors=errors or {}, status_code=status_code)

    @get("/requests/{request_id:int}")
    async def request_page(self, request: Request, request_id: FromPath[int], lens: str | None = None) -> Template:
        return await self._request(request, request_id, lens=lens or None)

    @post("/requests/{request_id:int}/findings")
    async def finding(self, request: Request, request_id: FromPath[int]) -> Template | Redirect:
        data = await form_data(request)
        line = data.get("line", "")
        try:
            await partnership_reports.record_finding(request_context(request), request_id, line, worked_well=data.get("worked_well", ""),
                                                     development=data.get("development", ""))
        except Invalid as invalid:
            return await self._request(request, request_id, data, {f"{line}-{k}": v for k, v in invalid.errors.items()}, 422)
        flash(request, "Finding recorded")
        return see_other(request, f"/partnership/requests/{request_id}")

    @post("/requests/{request_id:int}/recommendations")
    async def recommendation(self, request: Request, request_id: FromPath[int]) -> Template | Redirect:
        data = await form_data(request)
        by_when, date_error = govuk_date(data, "by_when")
        try:
            await partnership_reports.raise_recommendation(
                request_context(request), request_id, recommendation=data.get("recommendation", ""), agency=data.get("agency", ""),
                action=data.get("action", ""), by_whom=data.get("by_whom", ""), by_when=by_when)
        except Invalid as invalid:
            errors = dict(invalid.errors)
            if date_error:
                errors["by_when"] = date_error
            return await self._request(request, request_id, data, errors, 422)
        flash(request, "Recommendation raised")
        return see_other(request, f"/partnership/requests/{request_id}")

    @post("/requests/{request_id:int}/report")
    async def draft(self, request: Request, request_id: FromPath[int]) -> Redirect:
        await partnership_reports.draft_report(request_context(request), request_id)
        flash(request, "Report drafted", "Check its findings and recommendations, then send it to the Audit Chair.")
        return see_other(request, f"/partnership/requests/{request_id}#report")

    @post("/requests/{request_id:int}/report/steps/{step:str}")
    async def report_step(self, request: Request, request_id: FromPath[int], step: FromPath[str]) -> Template | Redirect:
        data = await form_data(request)
        try:
            await partnership_reports.take_report_step(request_context(request), request_id, step, data.get("reason", ""))
        except Invalid as invalid:
            errors = {f"report-{k}": v for k, v in invalid.errors.items() if k == "reason"}
            unfinished = [v for k, v in invalid.errors.items() if k != "reason"]
            if unfinished:
                # The report's own fields are on its audit page, not here: one
                # message, linked to the report (and its "Change the report's text").
                errors["report"] = "Complete the report's text before it goes on: " + "; ".join(
                    text[:1].lower() + text[1:] for text in unfinished)
            return await self._request(request, request_id, data, errors, 422)
        flash(request, "Done")
        return see_other(request, f"/partnership/requests/{request_id}#report")

    @get("/requests/{request_id:int}/report.pdf")
    async def report_pdf(self, request: Request, request_id: FromPath[int]) -> Response:
        from web.api.partnership import report_pdf_response

        return await report_pdf_response(request, request_id)

    @post("/requests/{request_id:int}/action-plan")
    async def action_plan(self, request: Request, request_id: FromPath[int]) -> Redirect:
        plan_id = await partnership_reports.make_action_plan(request_context(request), request_id)
        flash(request, "Action plan opened", "The A&P subgroup monitors it until every action is closed.")
        return see_other(request, f"/plans/{plan_id}")
