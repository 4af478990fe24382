"""The in-app inbox."""

from litestar.params import FromPath
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from core.services import notifications
from web.auth.guards import signed_in
from web.context import request_context
from web.rendering import is_htmx, page


class NotificationPages(Controller):
    path = "/notifications"
    guards = [signed_in]
    include_in_schema = False

    @get("")
    async def inbox(self, request: Request) -> Template:
        return await page(
            request, "notifications/inbox.html", title="Notifications", items=await notifications.inbox(request_context(request))
        )

    @post("/{notification_id:int}/read")
    async def read(self, request: Request, notification_id: FromPath[int]) -> Template | Redirect:
        ctx = request_context(request)
        await notifications.mark_read(ctx, notification_id)
        if is_htmx(request):
            # Not from the inbox's first page: an older one is marked read too (issue 16: a 500).
            item = await notifications.one(ctx, notification_id)
            unread = await notifications.unread_count(ctx)  # for the navigation's badge
            return await page(
                request, "notifications/inbox.html", fragment="notifications/_item.html", title="", item=item, unread=unread
            )
        return Redirect("/notifications", status_code=303)
