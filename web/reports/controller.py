"""Reports pages and exports (CORE-15, HAR-16): the page renders what
``core.services.reports`` counts; CSV and XLSX come from ``core.exports``;
the PDF of the whole report, and of one completed audit for the case record,
are the same HTML and SVG charts printed by ``core.pdf``."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath
from litestar.response import Template

from core import charts, exports, pdf
from core.calendar import london_date
from core.services import audits, reports
from core.services.errors import Conflict, NotFound
from web.auth.guards import signed_in
from web.context import request_context
from web.rendering import page


def sees_reports(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    signed_in(connection, handler)
    user = connection.scope["user"]
    if not (user.can("view_all_audits") or user.can("qa_review")):
        raise PermissionDeniedException("Your role does not allow this")


async def _chosen(request: Request):
    ctx = request_context(request)
    kind = request.query_params.get("period") or "month"
    p = reports.parse_period(kind, request.query_params.get("date", ""), london_date(ctx.now))
    scope = await reports.parse_scope(ctx, request.query_params.get("scope", "org"))
    return ctx, p, scope


async def _tables(request: Request):
    ctx, p, scope = await _chosen(request)
    report = await reports.report(ctx, p, scope)
    agreement = None
    if ctx.actor.can("qa_review"):
        agreement = {
            "auditor": await reports.moderation_agreement(ctx, p, scope, "auditor"),
            "team": await reports.moderation_agreement(ctx, p, scope, "team"),
        }
    return ctx, report, exports.tables(report, agreement)


def _heading(report: reports.Report) -> str:
    return f"{report.period.label}: {report.scope.name or 'whole council'}"


def _filename(report: reports.Report, suffix: str) -> str:
    scope = report.scope.kind + (f"-{report.scope.id}" if report.scope.id else "")
    return f"qaf-report-{report.period.kind}-{report.period.key}-{scope}{suffix}"


def _query(report: reports.Report) -> dict[str, str]:
    return {
        "period": report.period.kind,
        "date": report.period.key,
        "scope": "org" if report.scope.kind == "org" else f"{report.scope.kind}:{report.scope.id}",
    }


def _charts(report: reports.Report) -> dict:
    return {
        "grade_chart": charts.grade_distribution("grades-chart", report.grades, report.levels),
        "movement_chart": charts.movement("movement-chart", report.movement) if report.movement else None,
        "trend_chart": charts.trend("trend-chart", report.trend),
    }


def _render(request: Request, template: str, **context) -> str:
    """A PDF template (reports/pdf_base.html) as HTML, for ``core.pdf``."""
    ctx = request_context(request)
    council = ctx.registry.council(ctx.actor.council)
    return request.app.template_engine.get_template(template).render(
        organisation_name=council.name,
        produced_at=ctx.now,
        category_labels={c.key: c.label for c in council.case_categories},
        **context,
    )


def _pdf_response(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


class ReportPages(Controller):
    path = "/reports"
    guards = [sees_reports]
    include_in_schema = False

    @get("")
    async def report_page(self, request: Request) -> Template:
        ctx, report, tables = await _tables(request)
        query = _query(report)
        return await page(
            request,
            "reports/report.html",
            title=f"Report: {_heading(report)}",
            report=report,
            tables=tables,
            heading=_heading(report),
            query=query,
            query_string=urlencode(query),
            period_items=[{"value": k, "text": v} for k, v in reports.PERIOD_KINDS.items()],
            scope_items=[{"value": c.value, "text": c.text} for c in await reports.scope_choices(ctx)],
            **_charts(report),
        )

    @get("/report.pdf")
    async def pdf_export(self, request: Request) -> Response:
        """The whole report, charts included, as one PDF (CORE-15)."""
        _, report, tables = await _tables(request)
        html = _render(
            request,
            "reports/report_pdf.html",
            document_title=f"Quality assurance report: {_heading(report)}",
            heading=_heading(report),
            report=report,
            tables=tables,
            **_charts(report),
        )
        return _pdf_response(await pdf.render_pdf(html), _filename(report, ".pdf"))

    @get("/export.csv")
    async def csv_export(self, request: Request) -> Response:
        _, report, tables = await _tables(request)
        table = tables.get(request.query_params.get("table", ""))
        if table is None:
            raise NotFound("There is no such table in this report")
        return Response(
            exports.to_csv(table),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{_filename(report, "-" + table.key + ".csv")}"'},
        )

    @get("/export.xlsx")
    async def xlsx_export(self, request: Request) -> Response:
        _, report, tables = await _tables(request)
        key = request.query_params.get("table")
        if key and key not in tables:
            raise NotFound("There is no such table in this report")
        chosen = [tables[key]] if key else list(tables.values())
        return Response(
            exports.to_xlsx(chosen, _heading(report)),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"content-disposition": f'attachment; filename="{_filename(report, ".xlsx")}"'},
        )


class AuditPdf(Controller):
    """A completed audit as a PDF for the case record: whoever can see the
    final audit (else 404, as its page); refused (409) until it is final."""

    path = "/audits"
    guards = [signed_in]
    include_in_schema = False

    @get("/{allocation_id:int}/report.pdf")
    async def audit_pdf(self, request: Request, allocation_id: FromPath[int]) -> Response:
        view = await audits.audit_view(request_context(request), allocation_id)
        if not view.row["finalised_at"]:
            raise Conflict("This audit is not final yet: its PDF can be downloaded once QA has accepted it")
        case = view.row["case_external_id"]
        html = _render(
            request,
            "reports/audit_pdf.html",
            document_title=f"{view.form.title}: case {case}",
            view=view,
            for_pdf=True,
        )
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in str(case))
        return _pdf_response(await pdf.render_pdf(html), f"qaf-audit-{allocation_id}-case-{safe}.pdf")
