"""The domain's small family of errors; the web layer maps each to one HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses; ``code`` is stable for clients, ``message`` is for people."""

    status = 400
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class Invalid(DomainError):
    status = 422
    default_code = "invalid"


class Unauthenticated(DomainError):
    status = 401
    default_code = "not_signed_in"


class Forbidden(DomainError):
    status = 403
    default_code = "forbidden"


class NotFound(DomainError):
    status = 404
    default_code = "not_found"


class Conflict(DomainError):
    status = 409
    default_code = "conflict"


class TooLarge(DomainError):
    status = 413
    default_code = "too_large"


class TooManyRequests(DomainError):
    status = 429
    default_code = "too_many_requests"


class Unavailable(DomainError):
    """Busy for a moment: the client should try again after ``retry_after`` seconds."""

    status = 503
    default_code = "unavailable"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
