"""Who is asking: a session for pages, a bearer token for /api.

The API never looks at cookies, so it needs no CSRF protection; pages never
accept bearer tokens. Either way the result is an ``Actor`` in ``scope["user"]``
or nobody, and the guards decide what nobody may see.
"""

from __future__ import annotations

from litestar.types import ASGIApp, Receive, Scope, Send

from core.services import accounts
from core.services.context import Context
from web.state import qaf_state

SESSION_PERSON = "person_id"


def authentication_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        scope["user"] = None
        state = qaf_state(scope["app"].state)
        ctx = Context(registry=state.registry)
        person_id: int | None = None
        if scope["path"].startswith("/api/"):
            for name, value in scope.get("headers", []):
                if name == b"authorization":
                    scheme, _, token = value.decode("latin-1").partition(" ")
                    if scheme.lower() == "bearer" and token:
                        person_id = await accounts.person_for_token(token.strip())
        else:
            session = scope.get("session") or {}
            if isinstance(session, dict):
                person_id = session.get(SESSION_PERSON)
        if person_id is not None:
            scope["user"] = await accounts.actor(ctx, int(person_id))
        await app(scope, receive, send)

    return middleware
