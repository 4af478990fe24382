"""Server-side sessions that touch the store only when there is something to
keep, take a new id when someone signs in, and live only as long as the browser.

Litestar's server-side backend writes the session on every response, and
creates one for every request without a cookie (a health probe, a first
visit): measured here, one session file written per request, the largest
single cost of a page after the database, and a sessions directory that grew
by thousands of files per benchmark minute. Here a session is written when it
changes, and an empty one is never stored.

Issue 15 (OWASP ASVS 3.2, 3.3, 3.4):

- ``rotate(request)`` gives the session a new id: at every sign-in and every
  change of what the person may do. The data moves to the new id and the old
  id is deleted, so a cookie planted before sign-in (session fixation), or an
  old one replayed, holds nothing.
- The cookie has no expiry (it goes when the browser closes) and is named
  ``__Host-session`` when the base URL is https (secure, whole site, this
  host only). How long a session lasts is decided on the server
  (``web/auth/middleware.py``: idle timeout and absolute lifetime); the store
  forgets it after the absolute lifetime at the latest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty, Message, ScopeSession

# Where the session as loaded is kept for the response to compare against.
_LOADED = "qaf_session_loaded"
# Set by ``rotate``: the session takes a new id with this response.
_ROTATE = "qaf_session_rotate"
# The id the response gave the session (after a rotation), for tests and logs.
ISSUED = "qaf_session_issued"


def rotate(connection: ASGIConnection) -> None:
    """Give the session a new id when the response is sent."""
    connection.scope.setdefault("state", {})[_ROTATE] = True


class QafSessionBackend(ServerSideSessionBackend):
    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        # Serialised, so an in-place change to a nested value still shows.
        connection.scope.setdefault("state", {})[_LOADED] = self.serialize_data(data, connection.scope) if data else None
        return data

    def _cookie(self, value: str, **extra: Any) -> str:
        config = self.config
        # No max_age or expires: a session cookie, gone when the browser closes.
        return Cookie(
            key=config.key, value=value, path="/", secure=config.secure, httponly=True, samesite=config.samesite, **extra
        ).to_header(header="")

    async def store_in_message(self, scope_session: ScopeSession, message: Message, connection: ASGIConnection) -> None:
        state = connection.scope.setdefault("state", {})
        old_id = connection.cookies.get(self.config.key)
        if old_id == "null":
            old_id = None
        store = self.config.get_store_from_app(connection.scope["app"])
        headers = MutableScopeHeaders.from_message(message)
        emptied = scope_session is Empty or not scope_session
        if emptied:
            if not old_id:
                return  # nothing to keep, nothing to forget: no session at all
            await self.delete(old_id, store=store)
            headers.add("Set-Cookie", self._cookie("null", expires=0))
            return
        if state.get(_ROTATE) or not old_id:
            # A new id; the old one (if any) holds nothing from now on.
            if old_id:
                await self.delete(old_id, store=store)
            session_id = self.generate_session_id()
            state[ISSUED] = session_id
            await self.set(session_id=session_id, data=self.serialize_data(scope_session, connection.scope), store=store)
            headers.add("Set-Cookie", self._cookie(session_id))
            return
        loaded = state.get(_LOADED)
        serialised = self.serialize_data(scope_session, connection.scope)
        if loaded is not None and serialised == loaded:
            return  # unchanged: the stored copy stands until it expires
        if loaded is None:
            # A cookie naming no stored session (expired, or made up): never
            # store under an id the browser chose; issue a fresh one.
            session_id = self.generate_session_id()
            state[ISSUED] = session_id
            await self.set(session_id=session_id, data=serialised, store=store)
            headers.add("Set-Cookie", self._cookie(session_id))
            return
        await self.set(session_id=old_id, data=serialised, store=store)


@dataclass
class QafSessionConfig(ServerSideSessionConfig):
    _backend_class = QafSessionBackend  # type: ignore[assignment]
