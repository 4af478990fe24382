"""Audit pages: my audits, one audit (fill in, submit, QA decision), its history."""

from __future__ import annotations

from litestar.params import FromPath
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Response, Template

from core.services import audits
from core.services.errors import Conflict, Invalid
from web.auth.guards import signed_in
from web.context import request_context
from web.forms import form_data
from web.rendering import flash, is_htmx, page


def _redirect(request: Request, url: str) -> Redirect | Response:
    if is_htmx(request):
        # Not a 3xx: the browser's XHR follows those itself, so htmx would never
        # see the HX-Redirect header (it would swap the next page in as a fragment).
        return Response(content=b"", status_code=200, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


class AuditPages(Controller):
    path = "/audits"
    guards = [signed_in]
    include_in_schema = False

    @get("")
    async def mine(self, request: Request) -> Template:
        ctx = request_context(request)
        return await page(
            request,
            "audits/mine.html",
            title="My audits",
            to_do=await audits.my_allocations(ctx),
            of_my_cases=await audits.audits_of_my_cases(ctx),
        )

    @get("/{allocation_id:int}")
    async def show(self, request: Request, allocation_id: FromPath[int]) -> Template:
        view = await audits.audit_view(request_context(request), allocation_id)
        return await self._render(request, view, view.answers, {})

    async def _render(self, request, view, values, errors, status_code=200, message=None) -> Template:
        return await page(
            request,
            "audits/audit.html",
            fragment="audits/_form.html",
            title=f"Audit of case {view.row['case_external_id']}",
            view=view,
            values=values,
            errors=errors,
            message=message,
            status_code=status_code,
        )

    @post("/{allocation_id:int}")
    async def save(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        action = data.pop("action", "save")
        data.pop("_csrf_token", None)
        try:
            revision = int(data.pop("revision", "-1"))
        except ValueError:
            revision = -1
        answers = {k: v for k, v in data.items() if k.startswith(("answer.", "grade.", "evidence."))}
        try:
            revision = await audits.save_answers(ctx, allocation_id, revision, answers)
        except Invalid as invalid:
            view = await audits.audit_view(ctx, allocation_id)
            return await self._render(request, view, data, invalid.errors, status_code=422, message=invalid.message)
        except Conflict as conflict:
            # Keep what this tab typed on screen: nothing the person wrote is lost.
            view = await audits.audit_view(ctx, allocation_id)
            return await self._render(request, view, data, {"revision": conflict.message}, status_code=409, message=conflict.message)
        if action == "submit":
            try:
                await audits.submit(ctx, allocation_id, revision)
            except Invalid as invalid:
                view = await audits.audit_view(ctx, allocation_id)
                return await self._render(
                    request,
                    view,
                    view.answers,
                    invalid.errors,
                    status_code=422,
                    message="Your answers are saved as a draft, but the audit is not ready to submit yet.",
                )
            flash(request, "Audit submitted to QA", "The QA team will review it within one working day.")
            return _redirect(request, f"/audits/{allocation_id}")
        view = await audits.audit_view(ctx, allocation_id)
        return await self._render(request, view, view.answers, {}, message="Draft saved")

    @post("/{allocation_id:int}/review")
    async def review(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        try:
            await audits.review(ctx, allocation_id, data.get("decision", ""), data.get("reason", ""))
        except Invalid as invalid:
            view = await audits.audit_view(ctx, allocation_id)
            return await page(
                request,
                "audits/audit.html",
                title=f"Audit of case {view.row['case_external_id']}",
                view=view,
                values=view.answers,
                errors={},
                review_errors=invalid.errors,
                review_values=data,
                message=None,
                status_code=422,
            )
        decision = data.get("decision")
        flash(request, "Audit accepted: it is now final" if decision == "accept" else "Audit returned to the auditor")
        return _redirect(request, "/qa")

    @get("/{allocation_id:int}/history")
    async def history(self, request: Request, allocation_id: FromPath[int]) -> Template:
        ctx = request_context(request)
        view = await audits.audit_view(ctx, allocation_id)
        return await page(
            request,
            "audits/history.html",
            title=f"History of the audit of case {view.row['case_external_id']}",
            view=view,
            entries=await audits.history(ctx, allocation_id),
        )

