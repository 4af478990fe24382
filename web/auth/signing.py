"""Starting and ending a page session (issue 15).

Every sign-in, by password (with its second factor) or through the council's
identity provider, goes through ``start_session``: the session takes a new id
(the one the browser came with, if any, is deleted) and a new CSRF token bound
to it, so nothing from before the sign-in carries over.
"""

from __future__ import annotations

from litestar import Request, Response
from litestar.middleware.csrf import generate_csrf_token

from core.calendar import utcnow
from web.auth.middleware import PENDING, SEEN_AT, SESSION_CSRF, SESSION_PERSON, SESSION_ROLE, SESSION_VIA, SIGNED_IN_AT
from web.auth.sessions import rotate
from web.state import qaf_state


def _set_csrf(request: Request, response: Response, token: str) -> None:
    state = qaf_state(request.app.state)
    response.set_cookie(
        key=state.csrf_cookie_name, value=token, path="/", secure=state.settings.https, httponly=True, samesite="lax"
    )


def _fresh(request: Request, response: Response, data: dict) -> None:
    now = utcnow().timestamp()
    token = generate_csrf_token(qaf_state(request.app.state).settings.secret_key)
    request.clear_session()
    request.set_session({**data, SIGNED_IN_AT: now, SEEN_AT: now, SESSION_CSRF: token})
    rotate(request)
    _set_csrf(request, response, token)


def start_session(request: Request, response: Response, *, person_id: int, role: str, via: str, **extra) -> None:
    """Sign ``person_id`` in on ``response``: a new session id and CSRF token."""
    _fresh(request, response, {SESSION_PERSON: person_id, SESSION_ROLE: role, SESSION_VIA: via, **extra})


def start_pending(request: Request, response: Response, *, person_id: int, **extra) -> None:
    """The password was right; the second factor is still to come. A session
    of its own (new id, new CSRF token) that gives no access to anything."""
    _fresh(request, response, {PENDING: person_id, **extra})


def end_session(request: Request) -> None:
    request.clear_session()
