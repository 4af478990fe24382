"""Reports pages and exports (CORE-15, HAR-16): the page renders what
``core.services.reports`` counts; CSV and XLSX come from ``core.exports``;
the PDF of the whole report, and of one completed audit for the case record,
are the same HTML and SVG charts printed by ``core.pdf``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath
from litestar.response import Template

from core import charts, exports, pdf
from core.calendar import london_date
from core.services import audits, qa_overview, report_access, reports
from core.services.errors import Conflict, Invalid, NotFound
from web.auth.guards import signed_in
from web.context import request_context
from web.rendering import page


def sees_reports(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """A first check by role; what each reader may see of the reports is
    ``core.services.report_access``'s to say (asked by every report service)."""
    signed_in(connection, handler)
    if not report_access.may_read_some(connection.scope["user"]):
        raise PermissionDeniedException("Your role does not allow this")


@dataclass(frozen=True, slots=True)
class ChosenPeriod:
    """What the period control asked for (issue 17): the kind and a month
    ("2026-11", or "" for the period holding today) the services parse, and,
    when the person typed something that cannot be a period, each field's
    message and what they typed, so the form comes back with both."""

    kind: str
    date: str
    errors: dict[str, str]
    values: dict[str, str]
    error_parts: tuple[str, ...] | None = None


_MONTH = re.compile(r"\d{1,2}")
_YEAR = re.compile(r"\d{4}")


def chosen_period(request: Request, default_kind: str) -> ChosenPeriod:
    """The period from the report form's GOV.UK month-and-year input
    (``date-month``, ``date-year``), or from ``date=YYYY-MM`` in a link or a
    download. Years are held to 2000-2099, what a council's QA records span,
    so no query reaches the database with a year it cannot hold. Messages
    follow the GOV.UK date input's ("must include a month", "must be a real
    month"). Pages read it from ``request.state.period_choice``."""
    q = request.query_params
    kind = q.get("period") or default_kind
    errors: dict[str, str] = {}
    parts: list[str] = []
    if kind not in reports.PERIOD_KINDS:
        errors["period"] = "Choose month, quarter, calendar year or financial year"
    if "date-month" in q or "date-year" in q:
        month, year = q.get("date-month", "").strip(), q.get("date-year", "").strip()
        values = {"period": kind, "date-month": month, "date-year": year}
    else:
        typed = q.get("date", "").strip()
        month, year = (typed[5:7], typed[:4]) if re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", typed) else ("", "")
        if typed and not year:
            month, year = "", typed  # shown back as typed, refused below
        values = {"period": kind, "date-month": month, "date-year": year}
    if month or year:
        if not year:
            errors["date"], parts = "Month in the period must include a year", ["year"]
        elif not _YEAR.fullmatch(year):
            errors["date"], parts = "Year must include 4 numbers", ["year"]
        elif not 2000 <= int(year) <= 2099:
            errors["date"], parts = "Year must be between 2000 and 2099", ["year"]
        if month and not (_MONTH.fullmatch(month) and 1 <= int(month) <= 12):
            errors["date"], parts = "Month in the period must be a real month", parts + ["month"]
        elif not month and kind in ("month", "quarter") and "date" not in errors:
            errors["date"], parts = "Month in the period must include a month", ["month"]
    if errors:
        chosen = ChosenPeriod(default_kind, "", errors, values, tuple(parts) or None)
    else:
        first = int(month) if month else (4 if kind == "financial_year" else 1)
        chosen = ChosenPeriod(kind, f"{int(year):04d}-{first:02d}" if year else "", {}, values)
    request.state.period_choice = chosen
    if chosen.errors and not request.state.get("period_form"):
        # A download or PDF has no form to come back to: say what was wrong.
        raise Invalid("Choose a period that can be reported on", chosen.errors)
    return chosen


def _period_form(request: Request) -> None:
    """The page will show the period control again if what was typed is wrong."""
    request.state.period_form = True


def _period_context(request: Request) -> dict:
    chosen: ChosenPeriod = request.state.period_choice
    return {"period_choice": chosen, "period_errors": chosen.errors}


async def _chosen(request: Request):
    ctx = request_context(request)
    chosen = chosen_period(request, "month")
    p = reports.parse_period(chosen.kind, chosen.date, london_date(ctx.now))
    scope = await reports.parse_scope(ctx, request.query_params.get("scope", "org"))
    return ctx, p, scope


async def _tables(request: Request):
    """The report, or (CSCP-10: ``?lens=``) the report restricted to one lens,
    and its tables. The lens cut comes from ``core.services.qa_overview``: a
    restricted report is the activity of that lens's sources of assurance."""
    ctx, p, scope = await _chosen(request)
    lens = qa_overview.parse_lens(ctx, request.query_params.get("lens", ""))
    if lens is not None:
        ov = await qa_overview.overview(ctx, p, scope, lens)
        return ctx, ov, exports.overview_tables(ov)
    report, agreement = await reports.report_with_moderation(ctx, p, scope)
    tables = exports.tables(report, agreement)
    if qa_overview.lenses(ctx):
        tables.update(exports.lens_tables(await qa_overview.overview(ctx, p, scope)))
    return ctx, report, tables


def _heading(report) -> str:
    """A report's (or overview's) period and scope, and its lens if it has one."""
    lens = getattr(report, "lens", None)
    return f"{report.period.label}: {report.scope.name or 'whole council'}" + (f", {lens[1]}" if lens else "")


def _filename(report, suffix: str, name: str = "report") -> str:
    scope = report.scope.kind + (f"-{report.scope.id}" if report.scope.id else "")
    lens = getattr(report, "lens", None)
    return f"qaf-{name}-{report.period.kind}-{report.period.key}-{scope}" + (f"-{lens[0]}" if lens else "") + suffix


def _query(report) -> dict[str, str]:
    query = {
        "period": report.period.kind,
        "date": report.period.key,
        "scope": "org" if report.scope.kind == "org" else f"{report.scope.kind}:{report.scope.id}",
    }
    lens = getattr(report, "lens", None)
    if lens:
        query["lens"] = lens[0]
    return query


def _lens_items(ctx) -> list[dict]:
    """The lens filter's choices (CSCP-10), none when the council has no lenses."""
    found = qa_overview.lenses(ctx)
    return [{"value": "", "text": "All lenses"}, *({"value": k, "text": v} for k, v in found)] if found else []


async def _overview(request: Request):
    ctx, p, scope = await _chosen(request)
    lens = qa_overview.parse_lens(ctx, request.query_params.get("lens", ""))
    ov = await qa_overview.overview(ctx, p, scope, lens)
    return ctx, ov, exports.overview_tables(ov)


async def _questions(request: Request):
    ctx = request_context(request)
    chosen = chosen_period(request, "quarter")
    p = reports.parse_period(chosen.kind, chosen.date, london_date(ctx.now))
    scope = await reports.parse_scope(ctx, request.query_params.get("scope", "org"))
    chosen = [v for v in request.query_params.getall("form", []) if v]
    forms = qa_overview.parse_forms(ctx, chosen) if chosen else qa_overview.yes_no_forms(ctx)
    summary = await qa_overview.question_summary(ctx, p, scope, forms)
    return ctx, summary, exports.question_tables(summary)


def _questions_query(summary) -> list[tuple[str, str]]:
    out = [
        ("period", summary.period.kind),
        ("date", summary.period.key),
        ("scope", "org" if summary.scope.kind == "org" else f"{summary.scope.kind}:{summary.scope.id}"),
    ]
    return out + [("form", key.split(":")[-1]) for key, _ in summary.forms]


def _csv(tables: dict, key: str, filename: str) -> Response:
    table = tables.get(key)
    if table is None:
        raise NotFound("There is no such table in this report")
    return Response(
        exports.to_csv(table),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}-{table.key}.csv"'},
    )


def _xlsx(tables: dict, key: str | None, heading: str, filename: str) -> Response:
    if key and key not in tables:
        raise NotFound("There is no such table in this report")
    chosen = [tables[key]] if key else list(tables.values())
    return Response(
        exports.to_xlsx(chosen, heading),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"content-disposition": f'attachment; filename="{filename}.xlsx"'},
    )


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
        _period_form(request)
        ctx, report, tables = await _tables(request)
        query = _query(report)
        lens_only = isinstance(report, qa_overview.Overview)
        return await page(
            request,
            "reports/report.html",
            status_code=400 if request.state.period_choice.errors else 200,
            **_period_context(request),
            title=("Error: " if request.state.period_choice.errors else "") + f"Report: {_heading(report)}",
            report=report,
            lens_only=lens_only,
            tables=tables,
            heading=_heading(report),
            query=query,
            query_string=urlencode(query),
            period_items=[{"value": k, "text": v} for k, v in reports.PERIOD_KINDS.items()],
            scope_items=[{"value": c.value, "text": c.text} for c in await reports.scope_choices(ctx)],
            lens_items=_lens_items(ctx),
            yes_no_forms=qa_overview.yes_no_forms(ctx),
            **({} if lens_only else _charts(report)),
        )

    @get("/report.pdf")
    async def pdf_export(self, request: Request) -> Response:
        """The whole report, charts included, as one PDF (CORE-15)."""
        _, report, tables = await _tables(request)
        lens_only = isinstance(report, qa_overview.Overview)
        html = _render(
            request,
            "reports/report_pdf.html",
            document_title=f"Quality assurance report: {_heading(report)}",
            heading=_heading(report),
            report=report,
            lens_only=lens_only,
            tables=tables,
            **({} if lens_only else _charts(report)),
        )
        return _pdf_response(await pdf.render_pdf(html), _filename(report, ".pdf"))

    @get("/overview")
    async def overview_page(self, request: Request) -> Template:
        """BED-6: the monthly overview of all QA activity, by activity type."""
        _period_form(request)
        ctx, ov, tables = await _overview(request)
        query = _query(ov)
        return await page(
            request,
            "reports/overview.html",
            status_code=400 if request.state.period_choice.errors else 200,
            **_period_context(request),
            title=("Error: " if request.state.period_choice.errors else "") + f"QA activity overview: {_heading(ov)}",
            overview=ov,
            tables=tables,
            heading=_heading(ov),
            query=query,
            query_string=urlencode(query),
            period_items=[{"value": k, "text": v} for k, v in reports.PERIOD_KINDS.items()],
            scope_items=[{"value": c.value, "text": c.text} for c in await reports.scope_choices(ctx)],
            lens_items=_lens_items(ctx),
        )

    @get("/overview.pdf")
    async def overview_pdf(self, request: Request) -> Response:
        _, ov, tables = await _overview(request)
        html = _render(
            request,
            "reports/overview_pdf.html",
            document_title=f"QA activity overview: {_heading(ov)}",
            heading=_heading(ov),
            overview=ov,
            tables=tables,
        )
        return _pdf_response(await pdf.render_pdf(html), _filename(ov, ".pdf", "overview"))

    @get("/overview/export.csv")
    async def overview_csv(self, request: Request) -> Response:
        _, ov, tables = await _overview(request)
        return _csv(tables, request.query_params.get("table", ""), _filename(ov, "", "overview"))

    @get("/overview/export.xlsx")
    async def overview_xlsx(self, request: Request) -> Response:
        _, ov, tables = await _overview(request)
        return _xlsx(tables, request.query_params.get("table"), f"QA activity overview: {_heading(ov)}", _filename(ov, "", "overview"))

    @get("/questions")
    async def questions_page(self, request: Request) -> Template:
        """BED-7: the quarterly summary of yes/no audits (supervision audits)."""
        _period_form(request)
        ctx, summary, tables = await _questions(request)
        query = _questions_query(summary)
        return await page(
            request,
            "reports/questions.html",
            status_code=400 if request.state.period_choice.errors else 200,
            **_period_context(request),
            title=("Error: " if request.state.period_choice.errors else "") + f"Yes/no audits summary: {_heading(summary)}",
            summary=summary,
            tables=tables,
            heading=_heading(summary),
            query=dict(query),
            chosen_forms=[key.split(":")[-1] for key, _ in summary.forms],
            query_string=urlencode(query),
            period_items=[{"value": k, "text": v} for k, v in reports.PERIOD_KINDS.items()],
            scope_items=[{"value": c.value, "text": c.text} for c in await reports.scope_choices(ctx)],
            form_items=[{"value": key.split(":")[-1], "text": title} for key, title in qa_overview.yes_no_forms(ctx)],
        )

    @get("/questions.pdf")
    async def questions_pdf(self, request: Request) -> Response:
        _, summary, tables = await _questions(request)
        html = _render(
            request,
            "reports/questions_pdf.html",
            document_title=f"Yes/no audits summary: {_heading(summary)}",
            heading=_heading(summary),
            summary=summary,
            tables=tables,
        )
        return _pdf_response(await pdf.render_pdf(html), _filename(summary, ".pdf", "questions"))

    @get("/questions/export.csv")
    async def questions_csv(self, request: Request) -> Response:
        _, summary, tables = await _questions(request)
        return _csv(tables, request.query_params.get("table", ""), _filename(summary, "", "questions"))

    @get("/questions/export.xlsx")
    async def questions_xlsx(self, request: Request) -> Response:
        _, summary, tables = await _questions(request)
        return _xlsx(tables, request.query_params.get("table"), f"Yes/no audits summary: {_heading(summary)}", _filename(summary, "", "questions"))

    @get("/export.csv")
    async def csv_export(self, request: Request) -> Response:
        _, report, tables = await _tables(request)
        return _csv(tables, request.query_params.get("table", ""), _filename(report, ""))

    @get("/export.xlsx")
    async def xlsx_export(self, request: Request) -> Response:
        _, report, tables = await _tables(request)
        return _xlsx(tables, request.query_params.get("table"), _heading(report), _filename(report, ""))


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
        case = view.row["case_external_id"] or view.row["subject_short"]
        html = _render(
            request,
            "reports/audit_pdf.html",
            document_title=f"{view.form.title}: {view.row['subject']}",
            view=view,
            for_pdf=True,
            **(await _audit_pdf_extras(request_context(request), allocation_id)),
        )
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in str(case))
        return _pdf_response(await pdf.render_pdf(html), f"qaf-audit-{allocation_id}-{'case-' if view.row['case_external_id'] and not view.row['meeting_type'] else ''}{safe}.pdf")


    @get("/{allocation_id:int}/case-note.txt")
    async def case_note_text(self, request: Request, allocation_id: FromPath[int]) -> Response:
        """HAR-17: the case note as a text file, to upload to the case record
        beside the PDF or paste from (issue 17: "the case note cannot be
        downloaded"). Whoever can see the final audit; 409 before it is final
        or where the council keeps no case note."""
        from core.services import reports_of_audit

        note = await reports_of_audit.case_note(request_context(request), allocation_id)
        view = await audits.audit_view(request_context(request), allocation_id)
        case = view.row["case_external_id"] or view.row["subject_short"]
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in str(case))
        text = (
            f"Title: {note.title}\r\nType of note: {note.note_type}\r\nDate: {note.date}\r\nTime: {note.time}\r\n\r\n"
            + note.text.replace("\r\n", "\n").replace("\n", "\r\n")
            + "\r\n"
        )
        return Response(
            # Windows line ends and a BOM: it opens as written in Notepad and Word.
            content=("\ufeff" + text).encode("utf-8"),
            media_type="text/plain; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="qaf-case-note-{safe}.txt"', "Cache-Control": "no-store"},
        )


async def _audit_pdf_extras(ctx, allocation_id: int) -> dict:
    """What the case record needs beside the audit itself (issue 17): its
    follow-ups and SMART actions, the later re-audit that supersedes it, and
    the case note where the council keeps one (HAR-17)."""
    from core.db.tables import Allocation
    from core.services import actions, reports_of_audit

    try:
        note = await reports_of_audit.case_note(ctx, allocation_id)
    except Conflict:
        note = None

    later = (
        await Allocation.select(Allocation.finalised_at)
        .where((Allocation.previous == allocation_id) & Allocation.finalised_at.is_not_null())
        .order_by(Allocation.finalised_at, ascending=False)
        .first()
    )
    return {
        "follow_ups": await reports_of_audit.follow_ups(ctx, allocation_id),
        "audit_actions": await actions.of_allocation(ctx, allocation_id),
        "re_audited_at": later["finalised_at"] if later else None,
        "case_note": note,
    }
