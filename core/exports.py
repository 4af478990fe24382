"""A report's tables as rows, and as CSV and XLSX (CORE-15: exportable).

Every table the report page shows is here by key, with the same headings,
so an export says exactly what the page said.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from core.services.reports import AgreementRow, Report


@dataclass(frozen=True, slots=True)
class Table:
    key: str
    title: str
    head: list[str]
    rows: list[list]


def _pct(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else ""


def tables(report: Report, agreement: dict[str, list[AgreementRow]] | None = None) -> dict[str, Table]:
    level_labels = [label for _, label in report.levels]
    c = report.counts
    out = [
        Table(
            "completion",
            "Completion and timeliness",
            ["Measure", "Number"],
            [
                ["Allocated", c.allocated],
                ["Completed", c.completed],
                ["Completed on time", c.on_time],
                ["Overdue", c.overdue],
            ],
        ),
        Table(
            "grades",
            "Final grades by domain",
            ["Domain", *level_labels, "Total", "Changed by moderation", "Changed by dispute"],
            [
                [g.title, *g.levels.values(), g.total, g.changed_by_moderation, g.changed_by_dispute]
                for g in report.grades
            ],
        ),
        Table(
            "movement",
            "Re-audit movement by domain",
            ["Domain", "Improved", "Same", "Downgraded"],
            [[m.title, m.improved, m.same, m.downgraded] for m in report.movement],
        ),
        Table(
            "strengths",
            "Strengths: evidence behind the best grades",
            ["Domain", "Grades", "Examples"],
            [[t.title, t.count, " | ".join(t.quotes)] for t in report.strengths],
        ),
        Table(
            "development",
            "Areas for development: evidence behind the lower grades",
            ["Domain", "Grades", "Examples"],
            [[t.title, t.count, " | ".join(t.quotes)] for t in report.development],
        ),
        Table(
            "actions",
            "Actions from escalations",
            ["Measure", "Number"],
            [
                ["Opened", report.follow_ups.opened],
                ["Closed", report.follow_ups.closed],
                ["Overdue", report.follow_ups.overdue],
            ],
        ),
        Table(
            "escalations",
            "Escalations raised",
            ["Escalation", "Times raised"],
            [[rule.replace("_", " ").capitalize(), n] for rule, n in report.escalations],
        ),
        Table(
            "trend",
            "Trend",
            ["Period", "Allocated", "Completed", "Completed on time", "Overdue", *[f"Overall: {lab}" for lab in level_labels]],
            [
                [p.period.label, p.counts.allocated, p.counts.completed, p.counts.on_time, p.counts.overdue, *p.overall.values()]
                for p in report.trend
            ],
        ),
    ]
    for by, rows in (agreement or {}).items():
        out.append(
            Table(
                f"moderation_{by}",
                f"Moderation by {by}: how often QA agreed with the auditor's grade",
                [by.capitalize(), "Domain grades moderated", "Agreed", "Agreement"],
                [[r.who, r.moderated, r.agreed, _pct(r.agreed, r.moderated)] for r in rows],
            )
        )
    return {t.key: t for t in out}


def _safe(value):
    """No cell starts a formula when a spreadsheet opens the file (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.head)
    for row in table.rows:
        writer.writerow([_safe(v) for v in row])
    return buffer.getvalue()


def to_xlsx(chosen: list[Table], heading: str) -> bytes:
    """One sheet per table: the report heading, then the table with its headings."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for table in chosen:
        sheet = book.create_sheet(title=table.key[:31])
        sheet.append([heading])
        sheet.append([table.title])
        sheet["A1"].font = Font(bold=True, size=14)
        sheet["A2"].font = Font(bold=True)
        sheet.append(table.head)
        for cell in sheet[3]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([_safe(v) for v in row])
        sheet.column_dimensions["A"].width = 40
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
