"""Action plan pages (CSCP-8, BED-6): a body's plans with their progress, a
new plan, one plan with its actions and learning, marking it complete.

Only the people whose role sits on a body (and QA administrators) reach
these pages; the service refuses everyone else (403 for the list, 404 for a
plan)."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from core.services import action_plans, actions
from core.services.errors import Conflict, Forbidden, Invalid
from web.auth.guards import signed_in
from web.context import request_context
from web.forms import date_errors, form_data, govuk_date
from web.rendering import flash, page, see_other


def _int(value: str | None) -> int | None:
    try:
        return int((value or "").strip())
    except ValueError:
        return None


class PlanPages(Controller):
    path = "/plans"
    guards = [signed_in]
    include_in_schema = False

    @get("")
    async def index(self, request: Request) -> Template:
        ctx = request_context(request)
        return await page(request, "plans/list.html", title="Action plans", plans=await action_plans.plans(ctx),
                          bodies=action_plans.bodies_for(ctx), partnership=bool(ctx.registry.council(ctx.actor.council).lenses))

    async def _new(self, request: Request, values: dict, errors: dict, status_code: int = 200) -> Template:
        ctx = request_context(request)
        bodies = action_plans.bodies_for(ctx)
        if not bodies:
            raise Forbidden("Only members of a body that monitors action plans can open one")
        return await page(request, "plans/new.html", title="Open an action plan", bodies=bodies,
                          sources=list(action_plans.SOURCES.items()), values=values, errors=errors, status_code=status_code)

    @get("/new")
    async def new(self, request: Request) -> Template:
        return await self._new(request, {}, {})

    @post("/new")
    async def create(self, request: Request) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        allocation_id = _int(data.get("allocation_id"))
        if data.get("allocation_id", "").strip() and allocation_id is None:
            allocation_id = -1  # not a number: the service answers "no audit with that number" beside the field
        try:
            plan_id = await action_plans.create(
                ctx, body=data.get("body", ""), title=data.get("title", ""), source_kind=data.get("source_kind", ""),
                source_detail=data.get("source_detail", ""), allocation_id=allocation_id,
            )
        except Invalid as invalid:
            return await self._new(request, data, invalid.errors, 422)
        flash(request, "Action plan opened", "Add its SMART actions: what, who and by when.")
        return see_other(request, f"/plans/{plan_id}")

    async def _show(self, request: Request, plan_id: int, *, values: dict | None = None, errors: dict | None = None,
                    status_code: int = 200) -> Template:
        ctx = request_context(request)
        view = await action_plans.plan_view(ctx, plan_id)
        return await page(
            request, "plans/plan.html", title=view["plan"]["title"], p=view, people=await actions.people_for(ctx, action_plan_id=plan_id),
            values=values or {}, errors=errors or {}, status_code=status_code,
        )

    @get("/{plan_id:int}")
    async def show(self, request: Request, plan_id: FromPath[int]) -> Template:
        return await self._show(request, plan_id)

    @post("/{plan_id:int}/actions")
    async def add_action(self, request: Request, plan_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        due_on, date_error = govuk_date(data, "due_on")
        try:
            await action_plans.add_action(ctx, plan_id, what=data.get("what", ""), owner_id=_int(data.get("owner")),
                                          due_on=due_on)
        except Invalid as invalid:
            return await self._show(request, plan_id, values=data, errors=date_errors(invalid.errors, {"due_on": date_error}),
                                    status_code=422)
        flash(request, "Action added to the plan")
        return see_other(request, f"/plans/{plan_id}")

    @post("/{plan_id:int}/learning")
    async def learning(self, request: Request, plan_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        shared_on, date_error = govuk_date(data, "shared_on")
        try:
            await action_plans.record_learning(
                ctx, plan_id, learned=data.get("learned", ""), channel=data.get("channel", ""),
                audience=data.get("audience", ""), shared_on=shared_on,
            )
        except Invalid as invalid:
            return await self._show(request, plan_id, values=data, errors=date_errors(invalid.errors, {"shared_on": date_error}),
                                    status_code=422)
        flash(request, "Learning recorded")
        return see_other(request, f"/plans/{plan_id}")

    @post("/{plan_id:int}/complete")
    async def complete(self, request: Request, plan_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        try:
            await action_plans.complete(ctx, plan_id)
        except Conflict as refused:
            # Shown on the plan itself, linked from the error summary to the button.
            return await self._show(request, plan_id, errors={"complete": refused.message}, status_code=409)
        flash(request, "Action plan complete")
        return see_other(request, f"/plans/{plan_id}")
