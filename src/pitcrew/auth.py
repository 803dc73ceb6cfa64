"""Who is acting: accounts, passwords, sign-in tokens, and a mechanic's own switches.

A token is random, shown to the client once and stored only as its SHA-256 (as are the
account tokens of ``accounts``), so the same token serves as the browser's HttpOnly cookie
and as an API client's bearer token, and signing out deletes it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from pitcrew.db import Database
from pitcrew.errors import Conflict, Forbidden, Invalid, Unauthenticated
from pitcrew.models import AuthToken, Role, User, utcnow


@dataclass(frozen=True)
class Actor:
    """The signed-in user a change is made by."""

    id: uuid.UUID
    role: Role
    name: str


_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("pitcrew-no-such-user")

MIN_PASSWORD = 8
DEACTIVATED = "This account has been deactivated. Ask an admin of pitcrew to reactivate it."


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"A password needs at least {MIN_PASSWORD} characters.", code="weak_password")
    return _hasher.hash(password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normal_email(email: str) -> str:
    """An address as stored: trimmed and lower-case (one account per address, in any case)."""
    email = email.strip().lower()
    if "@" not in email:
        raise Invalid("That does not look like an email address.", code="invalid_email")
    return email


def user_by_email(s: DbSession, email: str) -> User | None:
    return s.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def actor_of(user: User) -> Actor:
    return Actor(id=user.id, role=user.role, name=user.name)


def create_user(
    db: Database,
    *,
    email: str,
    name: str,
    role: Role,
    password: str | None,
    on_duty: bool = False,
    user_id: uuid.UUID | None = None,
) -> User:
    """Create an account; a clear 409 when the email (in any case) is taken."""
    password_hash = hash_password(password) if password is not None else None
    email = normal_email(email)

    def work(s: DbSession) -> User:
        return add_user(
            s,
            email=email,
            name=name.strip(),
            role=role,
            password_hash=password_hash,
            on_duty=on_duty,
            user_id=user_id,
        )

    try:
        return db.run(work)
    except IntegrityError:
        raise Conflict("An account with that email already exists.", code="email_taken") from None


def add_user(
    s: DbSession,
    *,
    email: str,
    name: str,
    role: Role,
    password_hash: str | None,
    on_duty: bool = False,
    email_verified: bool = True,
    user_id: uuid.UUID | None = None,
) -> User:
    """A new account's row, in the caller's transaction (the email already normalized)."""
    user = User(
        id=user_id or uuid.uuid4(),
        email=email,
        name=name,
        role=role,
        password_hash=password_hash,
        on_duty=on_duty,
        email_verified=email_verified,
        created_at=utcnow(),
    )
    s.add(user)
    s.flush()
    return user


def set_password(db: Database, email: str, password: str) -> None:
    password_hash = hash_password(password)

    def work(s: DbSession) -> None:
        user = user_by_email(s, email)
        if user is None:
            raise Invalid(f"No account with the email {email}.", code="unknown_email")
        user.password_hash = password_hash
        s.execute(delete(AuthToken).where(AuthToken.user_id == user.id))

    db.run(work)


def login(db: Database, email: str, password: str, ttl: timedelta) -> tuple[str, User]:
    """Check the password and issue a token; the same answer for unknown email or bad password.

    An account whose address is not confirmed yet is told so, but only with its password.
    """
    with db.read() as s:
        user = user_by_email(s, email)
    try:
        _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
        ok = user is not None and user.password_hash is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        raise Unauthenticated("Wrong email or password.", code="bad_credentials")
    if user.deactivated_at is not None:
        raise Forbidden(DEACTIVATED, code="account_deactivated")
    if not user.email_verified:
        raise Forbidden(
            "Confirm your email address first: open the link we sent you, "
            "or ask for a new one below.",
            code="email_unverified",
        )
    return db.run(lambda s: issue_token(s, user.id, ttl)), user


def issue_token(s: DbSession, user_id: uuid.UUID, ttl: timedelta) -> str:
    """A new sign-in for the user, in the caller's transaction; the token is shown once."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    s.add(
        AuthToken(
            token_hash=token_hash(token), user_id=user_id, created_at=now, expires_at=now + ttl
        )
    )
    return token


# Who a token signs in: the active account whose token hashes to ``:token_hash``, while that
# token lasts (``:now``). Built once: it is asked on every authenticated request.
_ACTOR_FOR_TOKEN = (
    select(User.id, User.role, User.name)
    .join(AuthToken, AuthToken.user_id == User.id)
    .where(
        AuthToken.token_hash == bindparam("token_hash"),
        AuthToken.expires_at > bindparam("now", type_=AuthToken.expires_at.type),
        User.deactivated_at.is_(None),
    )
)


def actor_for_token(db: Database, token: str) -> Actor | None:
    """Who ``token`` signs in, read afresh on every request so that signing out, a new
    password or a deactivated account takes effect at once.

    Asked on every authenticated request, so it reads three columns on a bare connection
    rather than loading the account into a unit of work.
    """
    with db.engine.connect() as conn:
        params = {"token_hash": token_hash(token), "now": utcnow()}
        row = conn.execute(_ACTOR_FOR_TOKEN, params).first()
    return None if row is None else Actor(id=row.id, role=row.role, name=row.name)


def logout(db: Database, token: str) -> None:
    db.run(lambda s: s.execute(delete(AuthToken).where(AuthToken.token_hash == token_hash(token))))


def load_user(db: Database, user_id: uuid.UUID) -> User:
    with db.read() as s:
        user = s.get(User, user_id)
    if user is None:
        raise Unauthenticated("This account no longer exists.")
    return user


# --- a mechanic's switches --------------------------------------------------------------


def set_on_duty(db: Database, mechanic: Actor, on_duty: bool) -> bool:
    """On duty means: notified of every new request."""
    return _set_mechanic_switch(db, mechanic, "on_duty", on_duty)


def set_email_notifications(db: Database, mechanic: Actor, enabled: bool) -> bool:
    """Opt in to an email for every new request while on duty (customers always get theirs)."""
    return _set_mechanic_switch(db, mechanic, "notify_by_email", enabled)


def set_sound(db: Database, mechanic: Actor, enabled: bool) -> bool:
    """Opt in to a short sound for new requests (while on duty) and new messages."""
    return _set_mechanic_switch(db, mechanic, "sound_alerts", enabled)


def _set_mechanic_switch(db: Database, mechanic: Actor, column: str, value: bool) -> bool:
    if mechanic.role != Role.MECHANIC:
        raise Forbidden(f"Only a {Role.MECHANIC} can do this.")

    def work(s: DbSession) -> bool:
        s.execute(update(User).where(User.id == mechanic.id).values({column: value}))
        return value

    return db.run(work)
