"""What a service refuses, in words a person can act on."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class Unreadable(ServiceError):
    """A request that cannot be answered as asked: a page cursor that is not
    the reader's, a page size out of range (400, with the reason)."""

    status = 400


class NotFound(ServiceError):
    """Absent, or not visible to this person: the two look the same (no leak)."""

    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    """The record changed since the person loaded it (another tab or person)."""

    status = 409


class Invalid(ServiceError):
    """Input that cannot be accepted; ``errors`` maps each field to its message."""

    status = 422

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.errors = errors or {}


class TooMany(ServiceError):
    """More of something in a short time than any person's work needs."""

    status = 429
