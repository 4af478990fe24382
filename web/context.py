"""Per-request glue: a request id on every response, and the service Context."""

from __future__ import annotations

import uuid

from litestar import Request
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.services.context import Context
from web.state import qaf_state

REQUEST_ID_HEADER = "x-request-id"


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request an id; the trail records it against every change."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware


def request_context(request: Request) -> Context:
    """The service Context for this request: who is acting, and from where."""
    state = qaf_state(request.app.state)
    return Context(
        registry=state.registry,
        actor=request.scope.get("user"),
        request_id=request.scope.get("state", {}).get("request_id", uuid.uuid4().hex),
        reads_only=request.method in ("GET", "HEAD"),
    )
