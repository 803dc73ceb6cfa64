"""Proving who owns an account: email links and browsers that signed in before.

With email on (``Database.email_enabled``), an address is an account's only once its owner
opened the link sent to it: sign-up answers "check your email" whether or not the address
was free (its owner is told by email that someone tried), and an account whose address is
not confirmed cannot sign in. A forgotten password is set again through a link to the
address. Each link works once and only until it expires; like sign-in tokens, only its
hash is stored (``account_tokens``).

A browser that signs in gets a *device* token (a long-lived HttpOnly cookie) naming the
account it signed in to. The sign-in throttle counts that browser's failures on their own,
so strangers failing to sign in elsewhere never lock the owner out (``throttle``).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from pitcrew import auth, notify, throttle
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.errors import Forbidden, NotFound
from pitcrew.models import (
    AccountToken,
    AuthToken,
    LoginFailure,
    Role,
    TokenPurpose,
    User,
    utcnow,
)

VERIFY_TTL = timedelta(days=2)
DEVICE_TTL = timedelta(days=365)
# A new mechanic's link to set a password lasts longer than a reset: they may not look today.
WELCOME_LINK_TTL = timedelta(days=3)
DEVICES_KEPT = 20  # browsers remembered per account, newest first
DEVICE_KEY = "device:"  # a known browser's failures are counted under this key + its hash

LINK_GONE = "This link has expired or was already used. Ask for a new one."


@dataclass(frozen=True)
class SignedIn:
    """A sign-in just made: its token, the account, and the browser's device token."""

    token: str
    user: User
    device: str | None


def _new(s: DbSession, user_id: uuid.UUID, purpose: TokenPurpose, ttl: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    s.add(
        AccountToken(
            token_hash=auth.token_hash(token),
            user_id=user_id,
            purpose=purpose,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return token


def _drop(s: DbSession, user_id: uuid.UUID, *purposes: TokenPurpose) -> None:
    s.execute(
        delete(AccountToken).where(
            AccountToken.user_id == user_id, AccountToken.purpose.in_(purposes)
        )
    )


def _consume(s: DbSession, token: str, purpose: TokenPurpose) -> User:
    """The link's account; the link is gone from now on (a guarded DELETE: used once)."""
    user_id = s.scalar(
        delete(AccountToken)
        .where(
            AccountToken.token_hash == auth.token_hash(token),
            AccountToken.purpose == purpose,
            AccountToken.expires_at > utcnow(),
        )
        .returning(AccountToken.user_id)
    )
    user = s.get(User, user_id) if user_id is not None else None
    if user is None:
        raise NotFound(LINK_GONE, code="link_expired")
    if user.deactivated_at is not None:
        raise Forbidden(auth.DEACTIVATED, code="account_deactivated")
    return user


def _sign_in(s: DbSession, user: User, settings: Settings) -> SignedIn:
    """A new sign-in and a new device token, in the caller's transaction."""
    token = auth.issue_token(s, user.id, settings.token_ttl)
    return SignedIn(token, user, _new(s, user.id, TokenPurpose.DEVICE, DEVICE_TTL))


# --- known browsers -----------------------------------------------------------------------


def device_key(db: Database, device: str | None, email: str) -> str | None:
    """The throttle's key for this browser when it signed in to ``email``'s account before."""
    if not device:
        return None
    digest = auth.token_hash(device)
    with db.read() as s:
        owner = s.scalar(
            select(User.email)
            .join(AccountToken, AccountToken.user_id == User.id)
            .where(
                AccountToken.token_hash == digest,
                AccountToken.purpose == TokenPurpose.DEVICE,
                AccountToken.expires_at > utcnow(),
            )
        )
    if owner is None or owner.lower() != email.strip().lower():
        return None
    return DEVICE_KEY + digest[:32]


def remember_device(db: Database, user_id: uuid.UUID, known: bool, device: str | None) -> str:
    """The device token the browser keeps: the one it has when known, else a new one.

    An account keeps its newest ``DEVICES_KEPT``: a script that signs in every minute
    (and keeps no cookie) cannot grow the table without end.
    """
    if known and device:
        return device

    def work(s: DbSession) -> str:
        token = _new(s, user_id, TokenPurpose.DEVICE, DEVICE_TTL)
        s.flush()
        older = (
            select(AccountToken.token_hash)
            .where(AccountToken.user_id == user_id, AccountToken.purpose == TokenPurpose.DEVICE)
            .order_by(AccountToken.created_at.desc())
            .offset(DEVICES_KEPT)
        )
        s.execute(delete(AccountToken).where(AccountToken.token_hash.in_(older.scalar_subquery())))
        return token

    return db.run(work)


def sign_in(
    db: Database,
    email: str,
    password: str,
    *,
    address: str,
    settings: Settings,
    device: str | None,
) -> SignedIn:
    """Sign in behind the throttle, remembering the browser (``device``: its cookie)."""
    known = device_key(db, device, email)
    token, user = throttle.login(
        db, email, password, address=address, settings=settings, device=known
    )
    return SignedIn(token, user, remember_device(db, user.id, known is not None, device))


# --- sign-up ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """Who asks for an account or an email link, from where, and where links should point."""

    email: str
    address: str
    settings: Settings
    base_url: str


def register(db: Database, asked: Asked, *, name: str, password: str) -> SignedIn | None:
    """A new customer account: signed in at once with email off; with email on, None (the
    answer is "check your email", whatever the address)."""
    if not db.email_enabled:
        token, user = throttle.register(
            db,
            email=asked.email,
            name=name,
            password=password,
            address=asked.address,
            settings=asked.settings,
        )
        return SignedIn(token, user, None)
    if not _over_limit(db, asked, "signup:"):
        sign_up(db, email=asked.email, name=name, password=password, base_url=asked.base_url)
    return None


def ask_for_confirmation(db: Database, asked: Asked) -> None:
    """A new link for an account whose address is not confirmed yet, within the limit."""
    if not _over_limit(db, asked, "signup:"):
        resend_confirmation(db, asked.email, asked.base_url)


def ask_for_reset(db: Database, asked: Asked) -> None:
    """A link to set a new password, within the limit."""
    if not _over_limit(db, asked, "reset:"):
        request_reset(db, asked.email, asked.settings, asked.base_url)


def _over_limit(db: Database, asked: Asked, scope: str) -> bool:
    return throttle.quietly_limited(
        db, asked.email, address=asked.address, settings=asked.settings, scope=scope
    )


def _link(base_url: str, page: str, token: str) -> str:
    """The token rides in the fragment, which browsers never send: it stays out of logs."""
    return f"{base_url.rstrip('/')}/{page}#token={token}"


def sign_up(db: Database, *, email: str, name: str, password: str, base_url: str) -> None:
    """Create an unconfirmed customer account and email its link; a taken address's owner
    is told someone tried instead. The caller's answer is the same either way."""
    email = auth.normal_email(email)
    password_hash = auth.hash_password(password)

    def work(s: DbSession) -> None:
        user = auth.user_by_email(s, email)
        if user is None:
            user = auth.add_user(
                s,
                email=email,
                name=name.strip(),
                role=Role.CUSTOMER,
                password_hash=password_hash,
                email_verified=False,
            )
        elif user.email_verified:
            context = {"name": user.name, "sign_in": f"{base_url.rstrip('/')}/login"}
            notify.queue_email(s, user.email, "signup_taken", "Someone tried to sign up", context)
            return
        else:
            # Not confirmed yet: whoever signs up last chooses the password, and only the
            # newest link confirms it, so an earlier sign-up by someone else is undone.
            user.name, user.password_hash = name.strip(), password_hash
        _send_confirmation(s, user, base_url)

    try:
        db.run(work)
    except IntegrityError:  # the same new address signed up at the same moment: once more
        db.run(work)


def _send_confirmation(s: DbSession, user: User, base_url: str) -> None:
    _drop(s, user.id, TokenPurpose.VERIFY_EMAIL)
    token = _new(s, user.id, TokenPurpose.VERIFY_EMAIL, VERIFY_TTL)
    context = {
        "name": user.name,
        "link": _link(base_url, "verify-email", token),
        "days": VERIFY_TTL.days,
    }
    notify.queue_email(s, user.email, "verify_email", "Confirm your email address", context)


def resend_confirmation(db: Database, email: str, base_url: str) -> None:
    """A fresh link for an account not confirmed yet; nothing for any other address."""

    def work(s: DbSession) -> None:
        user = auth.user_by_email(s, email)
        if user is not None and not user.email_verified:
            _send_confirmation(s, user, base_url)

    db.run(work)


def confirm_email(db: Database, token: str, settings: Settings) -> SignedIn:
    """Opening the link confirms the address and signs in."""

    def work(s: DbSession) -> SignedIn:
        user = _consume(s, token, TokenPurpose.VERIFY_EMAIL)
        s.execute(update(User).where(User.id == user.id).values(email_verified=True))
        _drop(s, user.id, TokenPurpose.VERIFY_EMAIL)
        return _sign_in(s, user, settings)

    return db.run(work)


# --- a forgotten password ----------------------------------------------------------------


def request_reset(db: Database, email: str, settings: Settings, base_url: str) -> None:
    """Email a link to set a new password, when an account has the address (else nothing)."""

    def work(s: DbSession) -> None:
        user = auth.user_by_email(s, email)
        if user is None or user.deactivated_at is not None:
            return
        send_password_link(s, user, settings, base_url)

    db.run(work)


def send_password_link(
    s: DbSession,
    user: User,
    settings: Settings,
    base_url: str,
    *,
    welcome: bool = False,
) -> bool:
    """Queue the email with a link to set the account's password, in the caller's
    transaction: a new password, or (``welcome``) the first one of an account an admin
    made, whose link waits longer. Whether it was queued (not when email is off)."""
    ttl = WELCOME_LINK_TTL if welcome else settings.password_reset_ttl
    subject = "Set your pitcrew password" if welcome else "Set a new password"
    token = _new(s, user.id, TokenPurpose.RESET_PASSWORD, ttl)
    minutes = max(1, round(ttl.total_seconds() / 60))
    context = {
        "name": user.name,
        "link": _link(base_url, "reset-password", token),
        "expires": f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours",
    }
    return notify.queue_email(s, user.email, "password_reset", subject, context)


def reset_password(db: Database, token: str, password: str, settings: Settings) -> SignedIn:
    """Set the new password, sign out every other sign-in and browser, and sign in here.

    The link went to the address, so opening it confirms the address too, and clears the
    account's failed sign-ins: its owner is never locked out by someone else's guesses.
    """
    password_hash = auth.hash_password(password)

    def work(s: DbSession) -> SignedIn:
        user = _consume(s, token, TokenPurpose.RESET_PASSWORD)
        s.execute(
            update(User)
            .where(User.id == user.id)
            .values(password_hash=password_hash, email_verified=True)
        )
        s.execute(delete(AuthToken).where(AuthToken.user_id == user.id))
        s.execute(delete(AccountToken).where(AccountToken.user_id == user.id))
        s.execute(delete(LoginFailure).where(LoginFailure.account == user.email.lower()))
        return _sign_in(s, user, settings)

    return db.run(work)
