"""Who is asking: a session for pages, a bearer token for /api.

The API never looks at cookies, so it needs no CSRF protection; pages never
accept bearer tokens. Either way the result is an ``Actor`` in ``scope["user"]``
or nobody, and the guards decide what nobody may see.

A page session (issue 15, OWASP ASVS 3.3 and 4.2.2) ends after
``QAF_SESSION_IDLE_MINUTES`` without a request and ``QAF_SESSION_MAX_HOURS``
after signing in; it takes a new id when the person's role changes; and a
form or htmx request that changes anything must carry the CSRF token of this
very session (``web/auth/signing.py`` binds one to the session at sign-in).
"""

from __future__ import annotations

import hmac

from litestar.exceptions import PermissionDeniedException
from litestar.types import ASGIApp, Receive, Scope, Send

from core.calendar import utcnow
from core.services import accounts
from core.services.context import Context
from web.auth.sessions import rotate
from web.errors import STALE_FORM
from web.state import qaf_state

SESSION_PERSON = "person_id"
SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
SESSION_CSRF = "csrf"
SESSION_ROLE = "role"
SESSION_VIA = "via"
# Password right, second factor still to give (web/auth/second_factor.py).
PENDING = "pending"
# Why the last session ended, for the sign-in page to say.
SIGNED_OUT = "signed_out"
# The last request is remembered to the minute: a page view does not
# rewrite the session each time.
SEEN_RESOLUTION = 60
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class _Request:
    """Just enough of a connection for ``rotate``."""

    def __init__(self, scope: Scope):
        self.scope = scope


def session_expired(session: dict, now: float, settings) -> str | None:
    """``"idle"`` or ``"lifetime"`` if the session has run out, else None."""
    signed_in_at, seen_at = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
    if not isinstance(signed_in_at, (int, float)) or not isinstance(seen_at, (int, float)):
        return "lifetime"  # a session from before timeouts: sign in again
    if now - signed_in_at > settings.session_max_hours * 3600:
        return "lifetime"
    if now - seen_at > settings.session_idle_minutes * 60:
        return "idle"
    return None


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
            if person_id is not None:
                scope["user"] = await accounts.actor(ctx, int(person_id))
        else:
            await _from_session(scope, receive, ctx, state.settings)
        await app(scope, receive, send)

    return middleware


async def submitted_csrf_token(scope: Scope, receive: Receive) -> str | None:
    """The CSRF token a request carries: htmx's header, or a form's field.
    The form is read as Litestar's CSRF check reads it, and kept for the
    handler (Litestar caches it on the connection)."""
    request = scope["litestar_app"].request_class(scope=scope, receive=receive)
    token = request.headers.get("x-csrftoken")
    if token:
        return token
    content_type, _ = request.content_type
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.form()).get("_csrf_token")
        return value if isinstance(value, str) else None
    return None


async def _from_session(scope: Scope, receive: Receive, ctx: Context, settings) -> None:
    session = scope.get("session")
    if not isinstance(session, dict) or not (SESSION_PERSON in session or PENDING in session):
        return
    now = utcnow().timestamp()
    ended = session_expired(session, now, settings)
    if ended:
        # Signed out; the sign-in page says why (the GOV.UK timeout pattern).
        scope["session"] = {SIGNED_OUT: ended}
        rotate(_Request(scope))
        return
    if scope["method"] not in SAFE_METHODS:
        # The CSRF token must be this session's own (a token from another
        # session, even with that session's cookie planted beside it, is
        # refused); Litestar's CSRF check then matches it to the cookie.
        token = await submitted_csrf_token(scope, receive)
        bound = session.get(SESSION_CSRF)
        if not token or not isinstance(bound, str) or not hmac.compare_digest(token, bound):
            raise PermissionDeniedException(STALE_FORM)
    if now - session[SEEN_AT] >= SEEN_RESOLUTION:
        scope["session"] = session = {**session, SEEN_AT: now}
    person_id = session.get(SESSION_PERSON)
    if person_id is None:
        return
    if scope["method"] in ("GET", "HEAD"):
        # A page: who it is and the navigation's unread badge in one query
        # (web.rendering.base_context reads the badge from here).
        actor, unread = await accounts.session_actor_and_unread(ctx, int(person_id), session[SIGNED_IN_AT])
        scope.setdefault("state", {})["qaf_unread"] = unread
    else:
        actor = await accounts.session_actor(ctx, int(person_id), session[SIGNED_IN_AT])
    if actor is None:
        # Deactivated, their council no longer served, or every session of
        # theirs ended (a new password through a reset link): signed out at once.
        scope["session"] = {}
        return
    if session.get(SESSION_ROLE) != actor.role:
        # What the person may do changed: a new session id (ASVS 3.2.1).
        scope["session"] = {**session, SESSION_ROLE: actor.role}
        rotate(_Request(scope))
    scope["user"] = actor
