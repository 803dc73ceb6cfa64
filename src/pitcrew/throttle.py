"""Signing in and signing up as an attacker meets them: throttled, and silent about accounts.

Failed sign-ins are counted per account (the email as typed, lower-cased, whether or not an
account has it) and per client address, in the database so that every worker counts the
same attempts. Past ``login_max_failures`` within ``login_window`` the answer is 429 with
``Retry-After``, given before any password is checked.

An attempt is written down *before* its password is checked and struck off when it
succeeds, so a burst of parallel guesses is counted as it arrives, not after the slow hash.

A browser that signed in to the account before (``accounts.device_key``) is limited by its
own failures only, so strangers failing elsewhere never lock the owner out. Sign-ups and
link emails are counted apart from sign-ins, under keys of their own (:func:`quietly_limited`).

Sign-up with email off never says whether an address already has an account: with a
taken address it answers exactly as a successful sign-up does (same status, same shape,
cookies set). If the password is that account's, the person is simply signed in; otherwise
the token it returns signs nobody in and the next page asks them to sign in. That keeps
sign-up one step for new customers without turning it into a list of who is registered.
(With email on, sign-up goes through ``accounts.sign_up`` and a link instead.)
"""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm import Session as DbSession

from pitcrew import auth
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.errors import Conflict, TooManyRequests, Unauthenticated
from pitcrew.models import LoginFailure, Role, User, utcnow

# Advisory-lock namespaces: an account's key is always locked before an address's key, so
# two sign-ins never wait on each other in a cycle.
_ACCOUNT_LOCK = 7101
_ADDRESS_LOCK = 7102


@dataclass(frozen=True)
class Policy:
    max_failures: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(max_failures=settings.login_max_failures, window=settings.login_window)


class Throttled(TooManyRequests):
    """Too many failed sign-ins; ``retry_after`` is whole seconds until one more is allowed."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            f"Too many failed sign-ins. Try again in {minutes} minute{'s' * (minutes > 1)}.",
            code="too_many_attempts",
        )
        self.retry_after = retry_after


def account_key(email: str) -> str:
    return email.strip().lower()[:320]


def _lock(s: DbSession, namespace: int, key: str) -> None:
    if s.get_bind().dialect.name == "postgresql":
        s.execute(
            text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))"), {"ns": namespace, "key": key}
        )


def _wait(
    s: DbSession,
    column: InstrumentedAttribute[str],
    key: str,
    *,
    cutoff: datetime,
    now: datetime,
    policy: Policy,
) -> int | None:
    """Seconds until ``key`` may try again, or None when it may try now."""
    count = s.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(column == key, LoginFailure.at > cutoff)
    )
    if not count or count < policy.max_failures:
        return None
    # The attempt whose expiry brings the count back under the limit.
    freeing = s.scalar(
        select(LoginFailure.at)
        .where(column == key, LoginFailure.at > cutoff)
        .order_by(LoginFailure.at)
        .offset(count - policy.max_failures)
        .limit(1)
    )
    assert freeing is not None
    return max(1, math.ceil((freeing + policy.window - now).total_seconds()))


def begin_attempt(
    db: Database,
    email: str,
    address: str,
    policy: Policy,
    *,
    now: datetime | None = None,
    scope: str = "",
    device: str | None = None,
) -> None:
    """Refuse with :class:`Throttled` when over the limit; else count this attempt as failed.

    ``scope`` keeps other counts (sign-ups, reset emails) apart from sign-ins. ``device``
    is the key of a browser known to the account (``accounts.device_key``): its attempts
    are limited by its own failures alone, so strangers' failures never lock it out.
    """
    account = (scope + account_key(email))[:320]
    address = (scope + address)[:64]

    def work(s: DbSession) -> None:
        moment = now or utcnow()
        cutoff = moment - policy.window
        limits = [(LoginFailure.address, address)]
        limits = (
            [(LoginFailure.account, device)]
            if device
            else [(LoginFailure.account, account), *limits]
        )
        _lock(s, _ACCOUNT_LOCK, device or account)
        _lock(s, _ADDRESS_LOCK, address)
        s.execute(delete(LoginFailure).where(LoginFailure.at <= cutoff))
        waits = [
            _wait(s, column, key, cutoff=cutoff, now=moment, policy=policy)
            for column, key in limits
        ]
        longest = max((w for w in waits if w is not None), default=None)
        if longest is not None:
            raise Throttled(longest)
        s.add(LoginFailure(id=uuid.uuid4(), account=device or account, address=address, at=moment))

    db.run(work)


def succeeded(db: Database, email: str, device: str | None = None) -> None:
    """A correct password clears the account's failures (not those of the address)."""
    keys = [account_key(email), *([device] if device else [])]
    db.run(lambda s: s.execute(delete(LoginFailure).where(LoginFailure.account.in_(keys))))


def login(
    db: Database,
    email: str,
    password: str,
    *,
    address: str,
    settings: Settings,
    device: str | None = None,
) -> tuple[str, User]:
    """:func:`auth.login` behind the throttle; ``device`` is the key of a browser known to
    the account (``accounts.device_key``), if the attempt comes from one."""
    begin_attempt(db, email, address, Policy.from_settings(settings), device=device)
    token, user = auth.login(db, email, password, settings.token_ttl)
    succeeded(db, email, device)
    return token, user


def quietly_limited(
    db: Database, email: str, *, address: str, settings: Settings, scope: str
) -> bool:
    """Whether this request for an email (a link, a sign-up) is over its own limit.

    Counted apart from sign-ins, per address typed and per client address, so nobody can
    flood an inbox, and asking for emails never locks anyone out of signing in.
    """
    try:
        begin_attempt(db, email, address, Policy.from_settings(settings), scope=scope)
    except Throttled:
        return True
    return False


def register(
    db: Database,
    *,
    email: str,
    name: str,
    password: str,
    address: str,
    settings: Settings,
) -> tuple[str, User]:
    """Create a customer account and sign it in; a taken address gets the same answer.

    Goes through the throttle like a sign-in, since with a taken address it checks the
    password of that account.
    """
    begin_attempt(db, email, address, Policy.from_settings(settings))
    ttl = settings.token_ttl
    try:
        auth.create_user(db, email=email, name=name, role=Role.CUSTOMER, password=password)
    except Conflict:
        try:
            token, user = auth.login(db, email, password, ttl)
        except Unauthenticated:
            return _decoy(email, name)
    else:
        token, user = auth.login(db, email, password, ttl)
    succeeded(db, email)
    return token, user


def _decoy(email: str, name: str) -> tuple[str, User]:
    """What a new account's answer looks like, for nobody: a token that was never stored."""
    user = User(
        id=uuid.uuid4(),
        email=account_key(email),
        name=name.strip(),
        role=Role.CUSTOMER.value,
        on_duty=False,
        notify_by_email=False,
        created_at=utcnow(),
    )
    return secrets.token_urlsafe(32), user
