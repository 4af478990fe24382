"""A report's tables as rows, and as CSV and XLSX (CORE-15: exportable).

Every table the report page shows is here by key, with the same headings,
so an export says exactly what the page said.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from core.services.reports import AgreementRow, Report


@dataclass(frozen=True, slots=True)
class Table:
    key: str
    title: str
    head: list[str]
    rows: list[list]


class Percent(float):
    """A share as a number (0.83), shown as "83%" on the page, in the PDF and
    in a CSV, and written to a spreadsheet as a number formatted ``0%``, so
    people can sort, average and chart it."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{round(100 * self)}%"

    __repr__ = __str__


def _pct(part: int, whole: int) -> Percent | str:
    return Percent(part / whole) if whole else ""


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


# Excel reads a CSV as the local code page unless it starts with a byte order
# mark: without it, a name such as "Zoë" opens as "ZoÃ«".
BOM = "\ufeff"


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer)
    writer.writerow(table.head)
    for row in table.rows:
        writer.writerow([str(v) if isinstance(v, Percent) else _safe(v) for v in row])
    return buffer.getvalue()


# Excel refuses these in a sheet's name, and allows at most 31 characters.
_NOT_IN_SHEET_NAME = re.compile(r"[\\/*?:\[\]]")
_SHEET_NAME_LENGTH = 31


def _cut(text: str, length: int) -> str:
    """``text`` in at most ``length`` characters, at a word's end where one is near."""
    if len(text) <= length:
        return text
    cut = text[:length]
    space = cut.rfind(" ", 0, length + 1) if text[length] != " " else length
    return (cut[:space] if space > length // 2 else cut).rstrip(" ,")


def sheet_names(titles: list[str], taken: set[str] | None = None) -> list[str]:
    """Each table's title as a sheet name Excel accepts: in words, cut to 31
    characters, and unique (Excel ignores case) by a number at the end."""
    used = {t.casefold() for t in (taken or set())}
    out = []
    for title in titles:
        base = " ".join(_NOT_IN_SHEET_NAME.sub(" ", title.replace(":", ",")).split()).strip("'") or "Table"
        name = _cut(base, _SHEET_NAME_LENGTH)
        n = 1
        while name.casefold() in used:
            n += 1
            tail = f" ({n})"
            name = _cut(base, _SHEET_NAME_LENGTH - len(tail)) + tail
        used.add(name.casefold())
        out.append(name)
    return out


ABOUT = "About"


def to_xlsx(chosen: list[Table], heading: str) -> bytes:
    """One sheet per table, named by its title, the headings on row 1 (frozen,
    with a filter) so the sheet sorts and filters as it is; numbers and shares
    as numbers. The report's heading is the workbook's title and, with each
    sheet's full title, on a last "About" sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    book.properties.title = heading
    names = sheet_names([t.title for t in chosen], {ABOUT})
    for table, name in zip(chosen, names):
        sheet = book.create_sheet(title=name)
        sheet.append(table.head)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([float(v) if isinstance(v, Percent) else _safe(v) for v in row])
            for cell, value in zip(sheet[sheet.max_row], row):
                if isinstance(value, Percent):
                    cell.number_format = "0%"
        sheet.freeze_panes = "A2"
        width = max(len(table.head), 1)
        sheet.auto_filter.ref = f"A1:{get_column_letter(width)}{max(sheet.max_row, 1)}"
        sheet.column_dimensions["A"].width = 40
        for i in range(2, width + 1):
            sheet.column_dimensions[get_column_letter(i)].width = max(12, min(30, len(str(table.head[i - 1])) + 4))
    about = book.create_sheet(title=ABOUT)
    about.append([heading])
    about["A1"].font = Font(bold=True, size=14)
    about.append([])
    about.append(["Sheet", "Table"])
    for cell in about[3]:
        cell.font = Font(bold=True)
    for table, name in zip(chosen, names):
        about.append([name, table.title])
    about.column_dimensions["A"].width = 34
    about.column_dimensions["B"].width = 80
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ----------------------------------------- QA overview, lenses, yes/no summaries


def _grade_tables(prefix: str, what: str, rows, scales: dict) -> list[Table]:
    """One table per grading scale: forms on different scales never share columns."""
    out = []
    for scale, (scale_label, levels) in scales.items():
        chosen = [r for r in rows if scale in r.grades]
        if not chosen:
            continue
        short = scale.split(":")[-1]
        out.append(
            Table(
                f"{prefix}_{short}",
                f"Overall grades of completed audits by {what}: {scale_label}",
                [what.capitalize(), *[label for _, label in levels], "Total"],
                [[r.title, *[r.grades[scale].get(k, 0) for k, _ in levels], sum(r.grades[scale].values())] for r in chosen],
            )
        )
    return out


def _activity_rows(rows) -> list[list]:
    return [
        [
            r.title, r.allocated, r.completed, r.on_time, r.overdue,
            r.actions_raised, r.actions_closed, r.actions_overdue,
            r.follow_ups, r.follow_ups_in_time, r.follow_ups_overdue,
        ]
        for r in rows
    ]


_ACTIVITY_HEAD = [
    "Allocated", "Completed", "Completed on time", "Overdue",
    "Actions raised", "Actions closed", "Actions overdue",
    "Follow-ups required", "Follow-ups done in time", "Follow-ups overdue",
]


def lens_tables(overview) -> dict[str, Table]:
    """CSCP-10: the report cut by lens (empty when the council has no lenses)."""
    if not overview.by_lens:
        return {}
    out = [Table("lenses", "By lens", ["Lens", *_ACTIVITY_HEAD], _activity_rows(overview.by_lens))]
    out += _grade_tables("lens_grades", "lens", overview.by_lens, overview.scales)
    return {t.key: t for t in out}


def overview_tables(overview) -> dict[str, Table]:
    """BED-6: all QA activity by type, its grades, follow-ups by rule, and (CSCP-10) by lens."""
    shown = [r for r in overview.activities]
    out = [
        Table(
            "activity",
            "QA activity by type",
            ["Activity", *_ACTIVITY_HEAD],
            _activity_rows(shown) + _activity_rows([overview.total]),
        )
    ]
    out += _grade_tables("grades", "activity", [r for r in shown if r.completed], overview.scales)
    out.append(
        Table(
            "follow_ups",
            "Follow-ups required by escalation rules",
            ["Required", "Within", "Raised", "Done in time", "Done late", "Still open", "Overdue"],
            [[r.action, r.within, r.raised, r.in_time, r.late, r.open, r.overdue] for r in overview.follow_up_rules],
        )
    )
    tables_ = {t.key: t for t in out}
    tables_.update(lens_tables(overview))
    return tables_


def question_tables(summary) -> dict[str, Table]:
    """BED-7: required against done per auditor role, and every question's answers."""
    out = [
        Table(
            "required",
            "Audits required and done, by auditor role",
            ["Audit", "Auditor role", "People", "With someone to audit", "Required", "Allocated", "Done", "Still to do"],
            [
                [
                    r.form_title, r.role_label, r.people, "" if r.auditing is None else r.auditing,
                    "" if r.required is None else r.required, r.allocated, r.done,
                    "" if r.required is None else max(r.required - r.done, 0),
                ]
                for r in summary.roles
            ],
        )
    ]
    for form, title in summary.forms:
        out.append(
            Table(
                f"questions_{form.split(':')[-1]}",
                f"{title}: answers in {summary.completed.get(form, 0)} completed audits",
                ["Question", "Yes (or recorded)", "No", "Not answered"],
                [[q.label, q.yes, q.no if q.kind == "yes_no" else "", q.unanswered] for q in summary.questions if q.form == form],
            )
        )
    return {t.key: t for t in out}
