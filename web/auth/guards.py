"""Role checks, one on every route (least privilege)."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler


def signed_in(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if connection.scope.get("user") is None:
        raise NotAuthorizedException("Sign in to continue")


def requires(capability: str):
    """A guard: the signed-in person's role must have ``capability``."""

    def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        signed_in(connection, handler)
        if not connection.scope["user"].can(capability):
            raise PermissionDeniedException("Your role does not allow this")

    guard.__name__ = f"requires_{capability}"
    return guard
