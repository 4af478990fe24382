"""Reports pages and exports (CORE-15, HAR-16): the page renders what
``core.services.reports`` counts; CSV and XLSX come from ``core.exports``."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Template

from core import charts, exports
from core.calendar import london_date
from core.services import reports
from core.services.errors import NotFound
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


class ReportPages(Controller):
    path = "/reports"
    guards = [sees_reports]
    include_in_schema = False

    @get("")
    async def report_page(self, request: Request) -> Template:
        ctx, report, tables = await _tables(request)
        query = {
            "period": report.period.kind,
            "date": report.period.key,
            "scope": "org" if report.scope.kind == "org" else f"{report.scope.kind}:{report.scope.id}",
        }
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
            grade_chart=charts.grade_distribution("grades-chart", report.grades, report.levels),
            movement_chart=charts.movement("movement-chart", report.movement) if report.movement else None,
            trend_chart=charts.trend("trend-chart", report.trend),
        )

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
