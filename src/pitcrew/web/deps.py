"""What every route needs: the database, the settings, and who is asking."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from pitcrew import access, auth, photo_store
from pitcrew.auth import Actor
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.errors import Forbidden, Unauthenticated
from pitcrew.models import Role
from pitcrew.photo_store import PhotoStore

COOKIE = "pitcrew_session"
CSRF_COOKIE = "pitcrew_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_photo_store(request: Request) -> PhotoStore:
    return photo_store.choose(
        request.app.state.settings.media_store,
        media_dir=request.app.state.settings.media_dir,
        db=request.app.state.db,
    )


def request_token(request: Request) -> tuple[str | None, bool]:
    """The sign-in token and whether it came from the cookie (which then needs CSRF)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None, False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else (None, False)


def check_csrf(request: Request) -> None:
    """Double-submit check for cookie-signed unsafe requests: header or form field = cookie."""
    expected = request.cookies.get(CSRF_COOKIE)
    given = request.headers.get(CSRF_HEADER) or getattr(request.state, "csrf_form_token", None)
    if not expected or not given or not secrets.compare_digest(expected, given):
        raise Forbidden("Missing or wrong CSRF token; reload the page.", code="csrf")


def optional_actor(request: Request, db: Annotated[Database, Depends(get_db)]) -> Actor | None:
    cached: Actor | None = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    token, from_cookie = request_token(request)
    if token is None:
        return None
    actor = auth.actor_for_token(db, token)
    if actor is not None and from_cookie and request.method not in SAFE_METHODS:
        check_csrf(request)
    request.state.actor = actor
    return actor


async def current_actor(actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    if actor is None:
        raise Unauthenticated("Sign in first.")
    return actor


def role_actor(role: Role) -> Callable[[Actor], Awaitable[Actor]]:
    """The dependency of a route that only accounts of ``role`` may call (403 for others)."""

    async def only(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        access.check_role(actor, role)
        return actor

    return only


mechanic_actor = role_actor(Role.MECHANIC)
customer_actor = role_actor(Role.CUSTOMER)
admin_actor = role_actor(Role.ADMIN)

DB = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Photos = Annotated[PhotoStore, Depends(get_photo_store)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
MaybeActor = Annotated[Actor | None, Depends(optional_actor)]
Mechanic = Annotated[Actor, Depends(mechanic_actor)]
Customer = Annotated[Actor, Depends(customer_actor)]
Admin = Annotated[Actor, Depends(admin_actor)]
