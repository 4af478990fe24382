"""Pages that belong to no domain: home, health check, accessibility statement."""

from __future__ import annotations

from litestar import MediaType, Request, get
from litestar.response import Response, Template

from core.db.tables import Organisation
from web.auth.guards import signed_in
from web.home import home_page
from web.rendering import page


@get("/", include_in_schema=False, guards=[signed_in])
async def home(request: Request) -> Template:
    """What needs the signed-in person now (web.home, issue 17)."""
    return await home_page(request)


@get("/healthz", media_type=MediaType.JSON, summary="Liveness and database check")
async def healthz() -> Response:
    try:
        await Organisation.count()
    except Exception:  # the database is unreachable: say so without detail
        return Response({"status": "unavailable"}, status_code=503)
    return Response({"status": "ok"})


@get("/accessibility", include_in_schema=False)
async def accessibility(request: Request) -> Template:
    return await page(request, "accessibility.html", title="Accessibility statement")
