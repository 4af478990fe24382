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
        # The id the outermost layer gave the request (web.operations), so
        # the log line and the trail name the same one.
        state = scope.setdefault("state", {})
        request_id = state.setdefault("request_id", uuid.uuid4().hex)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware


class NulCharacter(ValueError):
    """A NUL character in a request's text: no text column can hold it."""


# A NUL as a form or query sends it, as JSON escapes it, or raw. Multipart
# bodies are left alone: their files are binary (evidence files).
_NULS = (b"%00", b"\\u0000", b"\x00")


def nul_refusing_middleware(app: ASGIApp) -> ASGIApp:
    """Refuse a NUL character anywhere in a request's path, query or text body
    (issue 16: one gave a 500 on PostgreSQL, before sign-in too). The body is
    checked as it is read, so nothing is buffered twice; the error reaches the
    handlers as :class:`NulCharacter` (400 with a reason, nothing written)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if any(nul in scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"") for nul in _NULS):
            raise NulCharacter(scope.get("path", ""))
        content_type = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
        if content_type.startswith(b"multipart/"):
            await app(scope, receive, send)
            return
        tail = b""

        async def checked() -> Message:
            nonlocal tail
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                if any(nul in tail + body for nul in _NULS):
                    raise NulCharacter("body")
                tail = body[-5:]
            return message

        await app(scope, checked, send)

    return middleware


def request_context(request: Request) -> Context:
    """The service Context for this request: who is acting, and from where."""
    reads_only = request.method in ("GET", "HEAD")
    scope_state = request.scope.setdefault("state", {})
    if reads_only:
        # A page GET asks several services: they share one Context, so what
        # one loaded (an audit and its visibility, the actor's line) the
        # next reuses, and every part of the page sees the same instant.
        ctx = scope_state.get("qaf_context")
        if ctx is not None and ctx.actor is request.scope.get("user"):
            return ctx
    state = qaf_state(request.app.state)
    ctx = Context(
        registry=state.registry,
        actor=request.scope.get("user"),
        request_id=scope_state.get("request_id", uuid.uuid4().hex),
        reads_only=reads_only,
    )
    if reads_only:
        scope_state["qaf_context"] = ctx
    return ctx
