"""SMART action pages (CORE-12, HAR-13): my actions and my team's overdue
ones, one action with its progress, and setting an action."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from core.services import action_plans, actions
from core.services.errors import Invalid, NotFound
from web.auth.guards import signed_in
from web.context import request_context
from web.forms import date_errors, form_data, govuk_date
from web.rendering import flash, local_path, page, see_other


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


class ActionPages(Controller):
    path = "/actions"
    guards = [signed_in]
    include_in_schema = False

    @get("")
    async def mine(self, request: Request) -> Template:
        ctx = request_context(request)
        closed = await actions.my_closed_actions(ctx)
        return await page(
            request, "actions/mine.html", title="Actions",
            mine=[*await actions.my_open_actions(ctx), *closed.items], older=closed.older,
            follow_ups=await actions.my_follow_ups(ctx),
            team_overdue=await actions.team_overdue(ctx),
            team_overdue_count=await actions.team_overdue_count(ctx),
            directions=await actions.directions_to_review(ctx), plans_link=bool(action_plans.bodies_for(ctx)),
        )

    @get("/closed")
    async def closed(self, request: Request, before: int | None = None) -> Template:
        """Older closed actions of the actor, a page at a time (keyset: ``before`` an action's id)."""
        closed = await actions.my_closed_actions(request_context(request), before)
        return await page(request, "actions/closed.html", fragment="actions/_closed.html", title="Older closed actions",
                          rows=closed.items, older=closed.older)

    @post("")
    async def create(self, request: Request) -> Template | Redirect | Response:
        """Set an action; from an audit page (allocation_id), a dispute (dispute_id) or a plan."""
        ctx = request_context(request)
        data = await form_data(request)
        allocation_id, dispute_id = _int(data.get("allocation_id")), _int(data.get("dispute_id"))
        back = local_path(data.get("back"), "/actions")
        # The GOV.UK date input (issue 17: a native date field took 02/12/2026 as 12 February).
        due_on, date_error = govuk_date(data, "due_on")
        try:
            await actions.create(
                ctx, what=data.get("what", ""), owner_id=_int(data.get("owner")), due_on=due_on,
                allocation_id=allocation_id, dispute_id=dispute_id, plan=data.get("plan", ""),
            )
        except Invalid as invalid:
            owners = None
            if allocation_id is not None and dispute_id is None:
                # From an audit: the same short list as its page, with the
                # owner chosen (found by name, perhaps) kept (issue 19).
                try:
                    owners = await actions.owner_choice(ctx, allocation_id, chosen=_int(data.get("owner")))
                except NotFound:
                    owners = None
            return await page(request, "actions/new.html", title="Set an action", values=data,
                              errors=date_errors(invalid.errors, {"due_on": date_error}), owners=owners,
                              people=[] if owners else await actions.people_for(
                                  ctx, allocation_id=allocation_id, dispute_id=dispute_id),
                              status_code=422)
        flash(request, "Action set")
        return see_other(request, back)

    @get("/{action_id:int}")
    async def show(self, request: Request, action_id: FromPath[int]) -> Template:
        view = await actions.action_view(request_context(request), action_id)
        return await page(request, "actions/action.html", title="Action", a=view, values={}, errors={})

    @post("/{action_id:int}")
    async def update(self, request: Request, action_id: FromPath[int]) -> Template | Redirect | Response:
        ctx = request_context(request)
        data = await form_data(request)
        try:
            await actions.update(ctx, action_id, data.get("text", ""), data.get("status", ""))
        except Invalid as invalid:
            view = await actions.action_view(ctx, action_id)
            return await page(request, "actions/action.html", title="Action", a=view, values=data, errors=invalid.errors, status_code=422)
        flash(request, "Progress recorded")
        return see_other(request, f"/actions/{action_id}")
