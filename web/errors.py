"""Refusals become clear answers: JSON with a reason for /api, a page otherwise.

Nothing personal is logged: only the request id, status and the error class.
"""

from __future__ import annotations

import logging

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException, ValidationException
from litestar.response import Redirect, Template

from core.services.errors import ServiceError
from web.rendering import shell_context

log = logging.getLogger("qaf.web")

STALE_FORM = "This form is from another session. Go back, reload the page and try again."


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_page(request: Request, status: int, title: str, message: str) -> Template:
    # Litestar calls exception handlers synchronously: no database here.
    context = shell_context(request, title)
    return Template(
        template_name="errors/error.html",
        context=context | {"status": status, "message": message},
        status_code=status,
    )


def service_error(request: Request, exc: ServiceError) -> Response:
    if _is_api(request):
        body = {"status_code": exc.status, "detail": exc.message}
        if getattr(exc, "errors", None):
            body["errors"] = exc.errors
        return Response(body, status_code=exc.status, media_type=MediaType.JSON)
    titles = {404: "Page not found", 403: "You cannot do that", 409: "This changed elsewhere", 422: "Check your answers", 429: "Try again later"}
    return _error_page(request, exc.status, titles.get(exc.status, "Something is not right"), exc.message)


def http_error(request: Request, exc: HTTPException) -> Response:
    response = _http_error(request, exc)
    # What the framework says with the error stays said: a 405's Allow (issue 16).
    for name, value in (exc.headers or {}).items():
        response.headers.setdefault(name, value)
    return response


def _http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if _is_api(request):
        body = {"status_code": status, "detail": exc.detail}
        if isinstance(exc, ValidationException) and exc.extra:
            body["errors"] = exc.extra
        return Response(body, status_code=status, media_type=MediaType.JSON)
    if isinstance(exc, NotAuthorizedException):
        return Redirect(f"/login?next={request.url.path}", status_code=303)
    if isinstance(exc, PermissionDeniedException):
        if exc.detail in (STALE_FORM, "CSRF token verification failed"):
            # A form from another session or browser (issue 15): say what to do.
            return _error_page(request, 403, "You cannot do that", STALE_FORM)
        return _error_page(request, 403, "You cannot do that", "Your role does not give you access to this page.")
    if status == 404:
        return _error_page(request, 404, "Page not found", "If you typed the web address, check it is correct.")
    return _error_page(request, status, "Sorry, there is a problem", str(exc.detail))


def unexpected_error(request: Request, exc: Exception) -> Response:
    request_id = request.scope.get("state", {}).get("request_id", "")
    log.exception("unhandled %s on request %s", type(exc).__name__, request_id)
    if _is_api(request):
        return Response(
            {"status_code": 500, "detail": f"Internal error; quote request id {request_id}"},
            status_code=500,
            media_type=MediaType.JSON,
        )
    return _error_page(
        request, 500, "Sorry, there is a problem with the service", f"Quote this reference if you report it: {request_id}"
    )


def unstorable_value(request: Request, exc: Exception) -> Response:
    """A value no database column can hold reached a query: an id beyond the
    database's integers, a date beyond its calendar, a NUL character in text
    (issue 16: these were 500s). The request is refused and nothing was
    written: its transaction rolled back with the error."""
    log.info("refused an unstorable value (%s)", type(exc).__name__)
    message = "A value in the request is out of range or contains a character that cannot be stored."
    if _is_api(request):
        return Response({"status_code": 400, "detail": message}, status_code=400, media_type=MediaType.JSON)
    return _error_page(request, 400, "Sorry, there is a problem", message)


def _unstorable() -> dict[type[Exception], object]:
    # SQLite: "Python int too large to convert to SQLite INTEGER".
    from web.context import NulCharacter

    found: dict[type[Exception], object] = {OverflowError: unstorable_value, NulCharacter: unstorable_value}
    try:
        import asyncpg
        from asyncpg.exceptions import _base

        # The server's (a NUL in text, a date beyond its calendar) and the
        # driver's own (an argument beyond int64/int32).
        found[asyncpg.exceptions.DataError] = unstorable_value
        found[_base.DataError] = unstorable_value
    except ImportError:  # the SQLite-only install
        pass
    return found


HANDLERS = {ServiceError: service_error, HTTPException: http_error, **_unstorable(), Exception: unexpected_error}
