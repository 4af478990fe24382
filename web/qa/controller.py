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
    async def queue(self, request: Request, after: int | None = None) -> Template:
        """The oldest ``audits.QA_PAGE`` waiting, then a page at a time (``after`` an id)."""
        ctx = request_context(request)
        queue = await audits.qa_queue(ctx, limit=audits.QA_PAGE + 1, after=after)
        waiting, more = (await audits.qa_queue_waiting(ctx) if (after is not None or len(queue) > audits.QA_PAGE)
                         else (len(queue), False))
        return await page(
            request,
            "qa/queue.html",
            title="QA queue",
            queue=queue[: audits.QA_PAGE],
            later=queue[audits.QA_PAGE - 1].id if len(queue) > audits.QA_PAGE else None,
            waiting=waiting,
            more=more,
            paged=after is not None,
            agreement=await moderation.agreement(ctx),
        )
