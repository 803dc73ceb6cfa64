"""Who may touch a session: its two parties, and nobody else.

A session belongs to its customer and to the mechanic who holds it; to other customers and
other mechanics it does not exist (404, as an unknown id). The status flow, chat, calls,
photos and the session room all ask :func:`check_party` (docs/ARCHITECTURE.md, "Modules"),
so the rule is written once. Admins may read a session (:func:`check_reader`) but never act in one.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.orm import Session as DbSession

from pitcrew.auth import Actor
from pitcrew.errors import Forbidden, Invalid, NotFound
from pitcrew.models import RequestStatus, Role, Session

# Both parties: what most actions and every read allow.
PARTIES: frozenset[Role] = frozenset({Role.CUSTOMER, Role.MECHANIC})


class HasParties(Protocol):
    """A session row, or any row carrying its two parties."""

    @property
    def customer_user_id(self) -> uuid.UUID: ...

    @property
    def mechanic_id(self) -> uuid.UUID | None: ...


def part_of(user_id: uuid.UUID, session: HasParties) -> Role | None:
    """The part the user plays in the session, if any."""
    if session.customer_user_id == user_id:
        return Role.CUSTOMER
    if session.mechanic_id is not None and session.mechanic_id == user_id:
        return Role.MECHANIC
    return None


def check_party(actor: Actor, session: HasParties, allowed: frozenset[Role] = PARTIES) -> Role:
    """The actor's part in the session, when it is one of ``allowed``; Forbidden otherwise."""
    part = part_of(actor.id, session)
    if part is not None and part in allowed:
        return part
    if part is not None:
        who = "its customer" if allowed == {Role.CUSTOMER} else "its mechanic"
        raise Forbidden(f"Only {who} can do this.")
    # Someone else's session answers exactly like one that does not exist: which ids are
    # sessions is itself private.
    raise unknown_session()


def check_role(actor: Actor, role: Role) -> None:
    """Work for one kind of account only: the console's for admins, the API's mechanic and
    customer routes for theirs."""
    if actor.role != role:
        raise Forbidden(f"Only {role}s can do this.")


def require_admin(actor: Actor) -> None:
    check_role(actor, Role.ADMIN)


def unknown_session() -> NotFound:
    return NotFound("No such session.")


def load_session(s: DbSession, session_id: uuid.UUID) -> Session:
    """The session with this id, or the same NotFound that a session of someone else gives."""
    session = s.get(Session, session_id)
    if session is None:
        raise unknown_session()
    return session


def check_reader(actor: Actor, session: HasParties) -> None:
    """Reading a session: its parties, and an admin looking into it."""
    if actor.role != Role.ADMIN:
        check_party(actor, session)


def may_read(actor: Actor, session: HasParties) -> bool:
    """:func:`check_reader` as a yes or no."""
    return actor.role == Role.ADMIN or part_of(actor.id, session) is not None


class PhotoSeen(HasParties, Protocol):
    """A photo's message with its session's parties and the status of its request."""

    @property
    def sender_id(self) -> uuid.UUID: ...

    @property
    def request_status(self) -> RequestStatus: ...


def may_see_photo(actor: Actor, photo: PhotoSeen) -> bool:
    """A chat photo: its session's parties and admins (:func:`may_read`), and any mechanic
    previewing the pending request, for the photos its customer added while waiting."""
    if may_read(actor, photo):
        return True
    previewing = actor.role == Role.MECHANIC and photo.request_status == RequestStatus.PENDING
    return previewing and photo.sender_id == photo.customer_user_id


def parse_id(value: uuid.UUID | str, what: str) -> uuid.UUID:
    """An id from a path or a body; a clear 422 rather than a 404 for a malformed one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        noun = what.replace("_id", "").replace("_", " ")
        raise Invalid(f"That is not a valid {noun} id", code="invalid_id") from None
