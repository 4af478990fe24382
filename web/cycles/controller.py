"""Cycles: the monthly allocation lists, issued automatically or by the QA team.

Only a council whose framework runs monthly cycles (``cycles:`` in its
council definition) is offered the button; for any other a request to issue
one is refused with the reason (a 400), by the page and the API alike."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from core.calendar import london_date
from core.services import cycles
from core.services.context import Context
from web.auth.guards import requires
from web.context import request_context
from web.rendering import flash, page


class IssuedCycle(msgspec.Struct, kw_only=True):
    """The API's answer: the month's cycle, and whether this call issued it."""

    cycle_id: int
    month: str
    created: bool
    allocations: int


def _runs_cycles(ctx: Context) -> bool:
    assert ctx.actor
    return ctx.registry.council(ctx.actor.council).cycles is not None


async def _issue_this_month(ctx: Context) -> IssuedCycle:
    assert ctx.actor
    today = london_date(ctx.now)
    # The service refuses a council without cycles with its reason (a 400).
    result = await cycles.issue_cycle(ctx, ctx.actor.organisation_id, today.year, today.month)
    return IssuedCycle(cycle_id=result.cycle_id, month=f"{today:%B %Y}", created=result.created, allocations=result.allocations)


class CyclePages(Controller):
    path = "/cycles"
    guards = [requires("administer")]
    include_in_schema = False

    @get("")
    async def index(self, request: Request) -> Template:
        ctx = request_context(request)
        rows = await cycles.list_cycles(ctx)
        assert ctx.actor
        return await page(
            request, "cycles/index.html", title="Audit cycles", cycles=rows,
            runs_cycles=_runs_cycles(ctx), council_name=ctx.registry.council(ctx.actor.council).name,
        )

    @post("")
    async def issue(self, request: Request) -> Redirect:
        issued = await _issue_this_month(request_context(request))
        if issued.created:
            flash(request, f"{issued.month} cycle issued", f"{issued.allocations} audits allocated.")
        else:
            flash(request, f"The {issued.month} cycle was already issued", kind="important")
        return Redirect("/cycles", status_code=303)


class CyclesApi(Controller):
    """/api/v1/cycles: what the Cycles page's button does, for integrations."""

    path = "/cycles"
    guards = [requires("administer")]

    @post("", summary="Issue this month's cycle; 400 with the reason where the council runs no monthly cycles", status_code=200)
    async def issue(self, request: Request) -> IssuedCycle:
        return await _issue_this_month(request_context(request))
