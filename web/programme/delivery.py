"""The programme delivery report (PLAT-5): the page, its CSV and Excel
downloads (``core.exports``) and its PDF (``core.pdf``), from
``core.services.delivery``. Everyone signed in may open it: the service
decides whose figures they see (the QA team everyone's, a manager their
line's, anyone else their own)."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.response import Template

from core import pdf
from core.services import delivery, reports
from web.auth.guards import signed_in
from web.context import request_context
from web.rendering import page
from web.reports.controller import _csv, _pdf_response, _period_context, _period_form, _render, _xlsx, chosen_period


async def _chosen(request: Request):
    ctx = request_context(request)
    chosen = chosen_period(request, "month")
    p = delivery.choose_period(ctx, chosen.kind, chosen.date)
    by = delivery.parse_grouping(ctx, request.query_params.get("by", ""))
    found = await delivery.delivery(ctx, p, by)
    return ctx, found, delivery.tables(found)


def _query(found: delivery.Delivery) -> dict[str, str]:
    return {"period": found.period.kind, "date": found.period.key, "by": found.by}


def _heading(found: delivery.Delivery) -> str:
    return f"{found.period.label}, by {found.by_label.lower()}"


def _filename(found: delivery.Delivery, suffix: str = "") -> str:
    return f"qaf-delivery-{found.period.kind}-{found.period.key}-by-{found.by}{suffix}"


class DeliveryPages(Controller):
    path = "/programme/delivery"
    guards = [signed_in]
    include_in_schema = False

    @get("")
    async def delivery_page(self, request: Request) -> Template:
        _period_form(request)
        ctx, found, tables = await _chosen(request)
        query = _query(found)
        return await page(
            request,
            "programme/delivery.html",
            status_code=400 if request.state.period_choice.errors else 200,
            **_period_context(request),
            title=("Error: " if request.state.period_choice.errors else "") + f"Programme delivery: {_heading(found)}",
            report=found,
            tables=tables,
            heading=_heading(found),
            query=query,
            query_string=urlencode(query),
            period_items=[{"value": k, "text": v} for k, v in reports.PERIOD_KINDS.items()],
            by_items=[{"value": k, "text": v} for k, v in delivery.groupings(ctx).items()],
            sees_all=delivery.may_see_all(ctx),
        )

    @get("/export.csv")
    async def csv_export(self, request: Request) -> Response:
        _, found, tables = await _chosen(request)
        return _csv(tables, request.query_params.get("table", ""), _filename(found))

    @get("/export.xlsx")
    async def xlsx_export(self, request: Request) -> Response:
        _, found, tables = await _chosen(request)
        return _xlsx(tables, request.query_params.get("table"), f"Programme delivery: {_heading(found)}", _filename(found))

    @get("/report.pdf")
    async def pdf_export(self, request: Request) -> Response:
        _, found, tables = await _chosen(request)
        html = _render(
            request,
            "programme/delivery_pdf.html",
            document_title=f"Programme delivery: {_heading(found)}",
            heading=_heading(found),
            report=found,
            tables=tables,
        )
        return _pdf_response(await pdf.render_pdf(html), _filename(found, ".pdf"))

