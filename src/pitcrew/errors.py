"""The domain's small family of errors; the web layer maps each to one HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request the domain refuses; ``code`` is stable for clients, ``message`` is for people."""

    status = 400
    default_code = "invalid"

    def __init_subclass__(
        cls, *, status: int | None = None, code: str | None = None, **kwargs: Any
    ) -> None:
        """Each kind of refusal names its HTTP status and default code on its class line."""
        super().__init_subclass__(**kwargs)
        cls.status = status or cls.status
        cls.default_code = code or cls.default_code

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class Invalid(DomainError, status=422, code="invalid"):
    """The request breaks a rule of its own: a malformed id, a value out of range."""


class Unauthenticated(DomainError, status=401, code="not_signed_in"):
    """Nobody is signed in, or the sign-in has ended."""


class Forbidden(DomainError, status=403, code="forbidden"):
    """Signed in, but not as someone who may do this."""


class NotFound(DomainError, status=404, code="not_found"):
    """No such thing, or one the asker may not know exists."""


class Conflict(DomainError, status=409, code="conflict"):
    """The thing is no longer in the state the request expected."""


class TooLarge(DomainError, status=413, code="too_large"):
    """A body or a file over its limit."""


class TooManyRequests(DomainError, status=429, code="too_many_requests"):
    """Too many attempts in a short time."""


class Unavailable(DomainError, status=503, code="unavailable"):
    """Busy for a moment: the client should try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
