"""Importing staff and cases from CSV files, for the people who administer qaf (CORE-9).

Plain forms with file uploads: no JavaScript needed. "Check file" reports
what an import would do and saves nothing; "Import" saves it all, or nothing
when the file has any problem, listing every one with its line and column.
"""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.response import Template

from core.services import imports
from web.auth.guards import requires
from web.context import request_context
from web.rendering import page

# The page lists this many problems and changed rows; the API always gives all.
SHOWN = 500

_FIELD_NAMES = {
    "display_name": "name",
    "line_manager": "line manager",
    "allocated_worker": "allocated worker",
    "chair": "CP chair or IRO",
    "involvement_started_on": "involvement started",
    "external_id": "case id",
}


def _value(value) -> str:
    if value is None or value == "":
        return "none"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def describe(result: imports.RowResult) -> str:
    """One row's changes in words: "team: A → B; line manager: x"."""
    parts = []
    for name, (before, after) in result.changes.items():
        label = _FIELD_NAMES.get(name, name.replace("_", " "))
        if result.action == "created":
            parts.append(f"{label}: {_value(after)}")
        else:
            parts.append(f"{label}: {_value(before)} → {_value(after)}")
    return "; ".join(parts)


async def _render(
    request: Request,
    *,
    kind: str | None = None,
    problems: list[imports.Problem] | None = None,
    outcome: imports.Outcome | None = None,
    status_code: int = 200,
) -> Template:
    ctx = request_context(request)
    problems = problems or []
    summary = [{"href": f"#{kind}-file", "text": p.text} for p in problems[:SHOWN]]
    if len(problems) > SHOWN:
        summary.append({"href": f"#{kind}-file", "text": f"… and {len(problems) - SHOWN} more problems"})
    changed = []
    if outcome is not None:
        changed = [
            {"line": r.line, "key": r.key, "action": r.action, "changes": describe(r)}
            for r in outcome.rows
            if r.action != "unchanged"
        ]
    return await page(
        request,
        "imports/index.html",
        title="Import staff and cases",
        guide=imports.guide(ctx),
        kind=kind,
        problems=problems,
        summary=summary,
        outcome=outcome,
        changed=changed[:SHOWN],
        more_changed=max(0, len(changed) - SHOWN),
        status_code=status_code,
    )


class ImportPages(Controller):
    path = "/imports"
    guards = [requires("administer")]
    include_in_schema = False

    @get("")
    async def index(self, request: Request) -> Template:
        return await _render(request)

    @post("/staff", status_code=200)
    async def staff(self, request: Request) -> Template:
        return await self._upload(request, "staff")

    @post("/cases", status_code=200)
    async def cases(self, request: Request) -> Template:
        return await self._upload(request, "cases")

    async def _upload(self, request: Request, kind: str) -> Template:
        form = await request.form()
        dry_run = form.get("action") != "import"
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            missing = imports.Problem(0, "", f"Select a CSV file of {kind}")
            return await _render(request, kind=kind, problems=[missing], status_code=422)
        data = await upload.read()  # the request itself is limited to 10 MB
        run = imports.import_staff if kind == "staff" else imports.import_cases
        try:
            outcome = await run(request_context(request), data, dry_run=dry_run)
        except imports.ImportRejected as rejected:
            return await _render(request, kind=kind, problems=rejected.problems, status_code=422)
        return await _render(request, kind=kind, outcome=outcome)
