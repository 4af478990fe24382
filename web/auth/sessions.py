"""Server-side sessions that touch the store only when there is something to keep.

Litestar's server-side backend writes the session on every response, and
creates one for every request without a cookie (a health probe, a first
visit): measured here, one session file written per request, the largest
single cost of a page after the database, and a sessions directory that grew
by thousands of files per benchmark minute. Here a session is written when it
changes, an empty one is never stored, and a session lasts ``max_age`` from
its last change (sign-in), not from its last page view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty, Message, ScopeSession

# Where the session as loaded is kept for the response to compare against.
_LOADED = "qaf_session_loaded"
# Set by ``start``: the response stores the session under a new id and
# forgets the old one (no session fixation across a sign-in).
_ROTATE = "qaf_session_rotate"


def start(request, values: dict) -> None:
    """Sign in: a new session, under a new session id, holding ``values``."""
    request.clear_session()
    request.set_session(values)
    request.scope.setdefault("state", {})[_ROTATE] = True


class QafSessionBackend(ServerSideSessionBackend):
    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        # Serialised, so an in-place change to a nested value still shows.
        connection.scope.setdefault("state", {})[_LOADED] = self.serialize_data(data, connection.scope) if data else None
        return data

    def get_session_id(self, connection: ASGIConnection) -> str:
        state = connection.scope.setdefault("state", {})
        if state.get(_ROTATE):
            if "qaf_session_new_id" not in state:
                state["qaf_session_new_id"] = self.generate_session_id()
            return state["qaf_session_new_id"]
        return super().get_session_id(connection)

    async def store_in_message(self, scope_session: ScopeSession, message: Message, connection: ASGIConnection) -> None:
        state = connection.scope.setdefault("state", {})
        old = connection.cookies.get(self.config.key)
        if state.get(_ROTATE) and old and old != "null":
            await self.delete(old, self.config.get_store_from_app(connection.scope["app"]))
        has_cookie = bool(old) and not state.get(_ROTATE)
        if scope_session is not Empty and not scope_session:
            if not has_cookie:
                return  # nothing to keep, nothing to forget: no session at all
            scope_session = Empty  # an emptied session is deleted, its cookie cleared
        elif scope_session is not Empty and has_cookie:
            loaded = connection.scope.get("state", {}).get(_LOADED)
            if loaded is not None and self.serialize_data(scope_session, connection.scope) == loaded:
                return  # unchanged: the stored copy stands until it expires
        await super().store_in_message(scope_session, message, connection)


@dataclass
class QafSessionConfig(ServerSideSessionConfig):
    _backend_class = QafSessionBackend  # type: ignore[assignment]
