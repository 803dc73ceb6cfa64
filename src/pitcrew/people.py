"""What an admin does to accounts from the console: find them, add a mechanic, deactivate
and reactivate, send a link to set a new password, change a role.

Each change is one transaction, guarded by the state it expects (an UPDATE whose WHERE names
it, the row count deciding), and writes an ``account.changed`` event with the admin as its
actor in the same transaction: the console's audit list reads them back. Deactivating hands
the account's waiting sessions back afterwards, each by ``flow.release``, the guarded
transition a hand-back always is, with its own event.
"""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from pitcrew import accounts, auth, events, flow, pair
from pitcrew.access import require_admin
from pitcrew.admin_schemas import (
    AccountPage,
    AccountQuery,
    AccountRow,
    Deactivated,
    MechanicCreated,
    MechanicIn,
)
from pitcrew.auth import Actor
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.errors import Conflict, DomainError, Invalid, NotFound
from pitcrew.events import Audience, Kind
from pitcrew.models import AccountToken, AuthToken, Role, Session, SessionStatus, User, utcnow
from pitcrew.payloads import AccountChanged

PAGE_SIZE = 50


def row(user: User) -> AccountRow:
    return AccountRow.model_validate(user, from_attributes=True)


def find(s: DbSession, query: AccountQuery) -> AccountPage:
    """Accounts whose name or email holds ``q``, of ``role`` if given, by name."""
    stmt = select(User)
    text = query.q.strip().lower()
    if text:
        like = f"%{text.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(or_(func.lower(User.name).like(like), func.lower(User.email).like(like)))
    if query.role is not None:
        stmt = stmt.where(User.role == query.role)
    page = max(0, query.page)
    users = list(
        s.scalars(
            stmt.order_by(func.lower(User.name), User.id)
            .offset(page * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    return AccountPage(accounts=[row(u) for u in users[:PAGE_SIZE]], more=len(users) > PAGE_SIZE)


def _record(s: DbSession, admin: Actor, action: str, user: User, detail: str = "") -> None:
    """The audit line of an admin's change to an account, in the change's transaction."""
    events.record(
        s,
        Kind.ACCOUNT_CHANGED,
        actor_id=admin.id,
        audience=Audience(users=(admin.id,)),
        payload=AccountChanged(
            action=action, user_id=str(user.id), user_name=user.name, detail=detail
        ),
    )


def _locked(s: DbSession, user_id: uuid.UUID) -> User:
    user = s.scalars(select(User).where(User.id == user_id).with_for_update()).first()
    if user is None:
        raise NotFound("No such account.", code="account_not_found")
    return user


def create_mechanic(
    db: Database, admin: Actor, new: MechanicIn, settings: Settings, base_url: str
) -> MechanicCreated:
    """A mechanic account, off duty. With email on, its owner gets a link to set a password;
    with email off, a one-time password comes back here, once, for the admin to pass on."""
    require_admin(admin)
    password = None if db.email_enabled else secrets.token_urlsafe(12)
    password_hash = auth.hash_password(password) if password else None
    email = auth.normal_email(str(new.email))

    def work(s: DbSession) -> MechanicCreated:
        user = auth.add_user(
            s, email=email, name=new.name, role=Role.MECHANIC, password_hash=password_hash
        )
        sent = password is None and accounts.send_password_link(
            s, user, settings, base_url, welcome=True
        )
        how = "a link to set a password was emailed" if sent else "a one-time password was shown"
        _record(s, admin, "created", user, f"Mechanic account created; {how}.")
        return MechanicCreated(account=row(user), link_sent=sent, password=password)

    try:
        return db.run(work)
    except IntegrityError:
        raise Conflict("An account with that email already exists.", code="email_taken") from None


def deactivate(db: Database, admin: Actor, user_id: uuid.UUID) -> Deactivated:
    """Sign the account out everywhere, take it off duty, and hand its waiting sessions back.

    The account changes in one transaction; each waiting session then goes back to pending
    in its own (``flow.release``, on the mechanic's behalf, by the admin). A session that
    moved meanwhile (its mechanic joined it just before) is left as it now is.
    """
    require_admin(admin)
    if user_id == admin.id:
        raise Conflict("You cannot deactivate your own account.", code="own_account")

    def work(s: DbSession) -> tuple[User, list[uuid.UUID]]:
        user = _locked(s, user_id)
        gone = pair.guarded_update(
            s,
            update(User)
            .where(User.id == user_id, User.deactivated_at.is_(None))
            .values(deactivated_at=utcnow(), on_duty=False),
        )
        if gone != 1:
            raise Conflict(f"{user.name}'s account is already deactivated.", code="deactivated")
        s.execute(delete(AuthToken).where(AuthToken.user_id == user_id))
        s.execute(delete(AccountToken).where(AccountToken.user_id == user_id))
        waiting = list(
            s.scalars(
                select(Session.id).where(
                    Session.mechanic_id == user_id, Session.status == SessionStatus.WAITING
                )
            )
        )
        _record(s, admin, "deactivated", user, "Signed out everywhere and taken off duty.")
        s.refresh(user)
        return user, waiting

    user, waiting = db.run(work)
    handed_back = []
    for sid in waiting:
        try:
            flow.release(db, auth.actor_of(user), sid, by=admin)
        except DomainError:
            continue  # it moved meanwhile: joined, cancelled or reassigned
        handed_back.append(sid)
    return Deactivated(account=row(user), handed_back=handed_back)


def reactivate(db: Database, admin: Actor, user_id: uuid.UUID) -> AccountRow:
    """The account can sign in again (it stays off duty until its mechanic says otherwise)."""
    require_admin(admin)

    def work(s: DbSession) -> AccountRow:
        user = _locked(s, user_id)
        back = pair.guarded_update(
            s,
            update(User)
            .where(User.id == user_id, User.deactivated_at.is_not(None))
            .values(deactivated_at=None),
        )
        if back != 1:
            raise Conflict(f"{user.name}'s account is active already.", code="active")
        _record(s, admin, "reactivated", user, "Can sign in again.")
        s.refresh(user)
        return row(user)

    return db.run(work)


def send_reset_link(
    db: Database, admin: Actor, user_id: uuid.UUID, settings: Settings, base_url: str
) -> str:
    """Email the account a link to set a new password (its current one keeps working until
    the link is used); what to tell the admin."""
    require_admin(admin)
    if not db.email_enabled:
        raise Conflict(
            "Email is not set up on this server (SMTP_URL), so no link can be sent.",
            code="email_off",
        )

    def work(s: DbSession) -> str:
        user = _locked(s, user_id)
        if user.deactivated_at is not None:
            raise Conflict(
                f"{user.name}'s account is deactivated: reactivate it first.", code="deactivated"
            )
        accounts.send_password_link(s, user, settings, base_url)
        _record(s, admin, "reset_link", user, "A link to set a new password was emailed.")
        return f"A link to set a new password is on its way to {user.email}."

    return db.run(work)


def change_role(db: Database, admin: Actor, user_id: uuid.UUID, role: Role) -> AccountRow:
    """Make the account a customer, mechanic or admin. A mechanic who holds sessions keeps
    the role until they are handed back, cancelled or completed; nobody changes their own."""
    require_admin(admin)
    if user_id == admin.id:
        raise Conflict("You cannot change your own role.", code="own_account")

    def work(s: DbSession) -> AccountRow:
        user = _locked(s, user_id)
        before = user.role
        if before == role:
            raise Invalid(f"{user.name} is a {role} already.", code="same_role")
        if before == Role.MECHANIC and _holds_sessions(s, user_id):
            raise Conflict(
                f"{user.name} holds sessions that are waiting or live: reassign, cancel or "
                "let them finish first.",
                code="holds_sessions",
            )
        changed = pair.guarded_update(
            s,
            update(User)
            .where(User.id == user_id, User.role == before)
            .values(role=role, on_duty=False),
        )
        if changed != 1:
            raise Conflict("The account changed meanwhile; look again.", code="account_moved")
        _record(s, admin, "role_changed", user, f"Role changed from {before} to {role}.")
        s.refresh(user)
        return row(user)

    return db.run(work)


def _holds_sessions(s: DbSession, user_id: uuid.UUID) -> bool:
    held = select(Session.id).where(
        Session.mechanic_id == user_id,
        Session.status.in_((SessionStatus.WAITING, SessionStatus.LIVE)),
    )
    return s.scalar(select(held.exists())) is True
