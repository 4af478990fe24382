"""Cycles: the monthly allocation lists, issued automatically or by the QA team."""

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from core.calendar import london_date
from core.services import cycles
from web.auth.guards import requires
from web.context import request_context
from web.rendering import flash, page


class CyclePages(Controller):
    path = "/cycles"
    guards = [requires("administer")]
    include_in_schema = False

    @get("")
    async def index(self, request: Request) -> Template:
        rows = await cycles.list_cycles(request_context(request))
        return await page(request, "cycles/index.html", title="Audit cycles", cycles=rows)

    @post("")
    async def issue(self, request: Request) -> Redirect:
        ctx = request_context(request)
        today = london_date(ctx.now)
        result = await cycles.issue_cycle(ctx, ctx.actor.organisation_id, today.year, today.month)
        if result.created:
            flash(request, f"{today:%B %Y} cycle issued", f"{result.allocations} audits allocated.")
        else:
            flash(request, f"The {today:%B %Y} cycle was already issued", kind="important")
        return Redirect("/cycles", status_code=303)
