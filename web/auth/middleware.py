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


def csrf_cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


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
            await _from_session(scope, ctx, state.settings)
        await app(scope, receive, send)

    return middleware


async def _from_session(scope: Scope, ctx: Context, settings) -> None:
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
        # The CSRF token must be this session's own: the CSRF middleware then
        # checks the form's or header's token against this cookie.
        cookie = csrf_cookie(scope, qaf_state(scope["app"].state).csrf_cookie_name)
        bound = session.get(SESSION_CSRF)
        if not cookie or not isinstance(bound, str) or not hmac.compare_digest(cookie, bound):
            raise PermissionDeniedException("This form is from another session. Go back, reload the page and try again.")
    if now - session[SEEN_AT] >= SEEN_RESOLUTION:
        scope["session"] = session = {**session, SEEN_AT: now}
    person_id = session.get(SESSION_PERSON)
    if person_id is None:
        return
    actor = await accounts.actor(ctx, int(person_id))
    if actor is None:
        # Deactivated, or their council is no longer served: signed out at once.
        scope["session"] = {}
        return
    if session.get(SESSION_ROLE) != actor.role:
        # What the person may do changed: a new session id (ASVS 3.2.1).
        scope["session"] = {**session, SESSION_ROLE: actor.role}
        rotate(_Request(scope))
    scope["user"] = actor
