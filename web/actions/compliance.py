"""Compliance audit pages (BED-4): a manager opens a compliance audit of a
supervisee's case, fills it in on the audit page, and completes it here, where
its remedial actions become the worker's management direction."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from core.services import audits, compliance
from core.services.errors import Invalid
from web.auth.guards import signed_in
from web.context import request_context
from web.forms import form_data
from web.rendering import flash, page, see_other


def _int(value: str | None) -> int | None:
    try:
        return int((value or "").strip())
    except ValueError:
        return None


class CompliancePages(Controller):
    path = "/compliance"
    guards = [signed_in]
    include_in_schema = False

    async def _index(self, request: Request, errors: dict, status_code: int = 200) -> Template:
        ctx = request_context(request)
        return await page(request, "compliance/index.html", title="Compliance audits before supervision",
                          supervisees=await compliance.supervisees(ctx), errors=errors, status_code=status_code)

    @get("")
    async def index(self, request: Request) -> Template:
        return await self._index(request, {})

    @post("")
    async def start(self, request: Request) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        try:
            allocation_id = await compliance.start(ctx, _int(data.get("case")))
        except Invalid as invalid:
            return await self._index(request, invalid.errors, 422)
        flash(request, "Compliance audit opened", "Fill it in, then complete it before supervision.")
        return see_other(request, f"/audits/{allocation_id}")

    async def _show(self, request: Request, allocation_id: int, errors: dict, status_code: int = 200) -> Template:
        ctx = request_context(request)
        view = await audits.audit_view(ctx, allocation_id)
        return await page(
            request, "compliance/complete.html", title=f"Complete the compliance audit of {view.row['subject']}",
            view=view, rows=compliance._remedial_rows(view.answers), errors=errors, status_code=status_code,
            may_complete=view.row.get("submitted_at") is None
            or (bool(compliance._remedial_rows(view.answers)) and not await compliance.direction_set(allocation_id)),
        )

    @get("/{allocation_id:int}")
    async def show(self, request: Request, allocation_id: FromPath[int]) -> Template:
        return await self._show(request, allocation_id, {})

    @post("/{allocation_id:int}/complete")
    async def complete(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        try:
            created = await compliance.complete(ctx, allocation_id, _int(data.get("revision")))
        except Invalid as invalid:
            return await self._show(request, allocation_id, invalid.errors, 422)
        flash(request, "Compliance audit completed",
              f"{len(created)} remedial action(s) set as a management direction, to review in supervision." if created else "No remedial actions were needed.")
        return see_other(request, f"/audits/{allocation_id}")
