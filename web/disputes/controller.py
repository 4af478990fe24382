"""Dispute pages (HAR-11, HAR-9): raise a dispute of a final audit's grades,
then take its stages."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from core.services import audits, disputes
from core.services.errors import Invalid
from web import history
from web.auth.guards import signed_in
from web.context import request_context
from web.forms import form_data
from web.rendering import flash, page, see_other


def _domains_from(data: dict[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, value in data.items():
        for part in ("proposed", "rationale"):
            if key.startswith(f"{part}.") and value.strip():
                out.setdefault(key.split(".", 1)[1], {})[part] = value
    return out


class DisputePages(Controller):
    path = "/disputes"
    guards = [signed_in]
    include_in_schema = False

    async def _new(self, request: Request, allocation_id: int, values: dict, errors: dict, status_code: int = 200) -> Template:
        ctx = request_context(request)
        view = await audits.audit_view(ctx, allocation_id)
        council = ctx.registry.council(view.row["council"])
        current = await disputes.latest_final_grades(allocation_id)
        return await page(
            request, "disputes/new.html", title=f"Dispute the grades of the audit of {view.row['subject']}",
            view=view, criteria=council.grading_criteria, current=current, values=values, errors=errors, status_code=status_code,
        )

    @get("/new/{allocation_id:int}")
    async def new(self, request: Request, allocation_id: FromPath[int]) -> Template:
        return await self._new(request, allocation_id, {}, {})

    @post("/new/{allocation_id:int}")
    async def raise_(self, request: Request, allocation_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        try:
            dispute_id = await disputes.raise_dispute(ctx, allocation_id, data.get("criteria", ""), _domains_from(data))
        except Invalid as invalid:
            return await self._new(request, allocation_id, data, invalid.errors, 422)
        flash(request, "Dispute raised", "The auditor and the QA team have been told.")
        return see_other(request, f"/disputes/{dispute_id}")

    async def _show(self, request: Request, dispute_id: int, values: dict, errors: dict, status_code: int = 200) -> Template:
        ctx = request_context(request)
        view = await disputes.dispute_view(ctx, dispute_id)
        council = ctx.registry.council(view["row"]["council"])
        # The stages as sentences (issue 17): the trail keeps them as stored.
        view["history"] = await history.sentences(
            view["history"], history.dispute_words(view, {c.key: c.label for c in council.grading_criteria}))
        return await page(
            request, "disputes/dispute.html", title=f"Dispute about the audit of {view['row']['subject']}",
            d=view, values=values, errors=errors, status_code=status_code,
        )

    @get("/{dispute_id:int}")
    async def show(self, request: Request, dispute_id: FromPath[int]) -> Template:
        return await self._show(request, dispute_id, {}, {})

    @post("/{dispute_id:int}/step")
    async def step(self, request: Request, dispute_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        amendments = {k.split(".", 1)[1]: v for k, v in data.items() if k.startswith("amend.")}
        try:
            await disputes.take_step(
                ctx, dispute_id, data.get("transition", ""), data.get("reason", ""),
                outcome=data.get("outcome", ""), amendments=amendments, participants=data.get("participants", ""),
            )
        except Invalid as invalid:
            return await self._show(request, dispute_id, data, invalid.errors, 422)
        flash(request, "Recorded")
        return see_other(request, f"/disputes/{dispute_id}")
