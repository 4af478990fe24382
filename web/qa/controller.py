"""The QA queue: audits waiting for moderation (HAR 2.6)."""

from litestar import Controller, Request, get
from litestar.response import Template

from core.services import audits, moderation
from web.auth.guards import requires
from web.context import request_context
from web.rendering import page


class QaPages(Controller):
    path = "/qa"
    guards = [requires("qa_review")]
    include_in_schema = False

    @get("")
    async def queue(self, request: Request) -> Template:
        ctx = request_context(request)
        return await page(
            request,
            "qa/queue.html",
            title="QA queue",
            queue=await audits.qa_queue(ctx),
            agreement=await moderation.agreement(ctx),
        )
