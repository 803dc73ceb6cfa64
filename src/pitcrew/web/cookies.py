"""The browser's sign-in: an HttpOnly session cookie and a readable CSRF cookie beside it;
and the HttpOnly device cookie of a browser that signed in before."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Response

from pitcrew.accounts import DEVICE_TTL
from pitcrew.config import Settings
from pitcrew.web.deps import COOKIE, CSRF_COOKIE, request_token

DEVICE_COOKIE = "pitcrew_device"


def sign_in(response: Response, token: str, settings: Settings) -> None:
    max_age = int(settings.token_ttl.total_seconds())
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        secrets.token_urlsafe(24),
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )


def remember_device(response: Response, device: str, settings: Settings) -> None:
    """This browser signed in to the account before: its own failures alone limit it.

    Sent only to the sign-in routes, and kept after signing out (it signs nobody in).
    """
    response.set_cookie(
        DEVICE_COOKIE,
        device,
        max_age=int(DEVICE_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/api/auth",
    )


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


def _token(request: Request) -> str | None:
    return request_token(request)[0]


Token = Annotated[str | None, Depends(_token)]
