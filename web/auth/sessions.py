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


class QafSessionBackend(ServerSideSessionBackend):
    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        # Serialised, so an in-place change to a nested value still shows.
        connection.scope.setdefault("state", {})[_LOADED] = self.serialize_data(data, connection.scope) if data else None
        return data

    async def store_in_message(self, scope_session: ScopeSession, message: Message, connection: ASGIConnection) -> None:
        has_cookie = bool(connection.cookies.get(self.config.key))
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
