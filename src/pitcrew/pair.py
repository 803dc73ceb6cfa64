"""A session and its request, locked together, and the guarded UPDATE that changes them.

Every change to a session (``flow``), every chat line (``chat``) and every call signal
(``call``) starts by locking the pair in the order accept takes them (request, then
session), so two changes to one session never interleave, and ends with UPDATEs guarded by
the status they expect (docs/ARCHITECTURE.md, "Status flow").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, Update, func, select, update
from sqlalchemy.orm import Session as DbSession

from pitcrew import access
from pitcrew.errors import NotFound
from pitcrew.events import Audience
from pitcrew.models import RequestStatus, Session, SessionRequest, SessionStatus, utcnow


@dataclass(frozen=True)
class Pair:
    """A session and its request, locked for this transaction."""

    session: Session
    request: SessionRequest | None


@dataclass(frozen=True)
class Moved:
    """What a move found and left: the statuses before and after it."""

    previous: SessionStatus
    status: SessionStatus
    request_status: RequestStatus | None


def lock(s: DbSession, session_id: uuid.UUID) -> Pair:
    """Lock request, then session, and read both; NotFound when there is no such session."""
    request = s.scalars(
        select(SessionRequest)
        .where(SessionRequest.parent_session_id == session_id)
        .with_for_update()
    ).first()
    session = s.scalars(select(Session).where(Session.id == session_id).with_for_update()).first()
    if session is None:
        raise access.unknown_session()
    return Pair(session=session, request=request)


def by_request(s: DbSession, request_id: uuid.UUID) -> tuple[SessionRequest, Session]:
    """A request and its session as they stand, unlocked; NotFound when there is no such
    request."""
    found = s.execute(
        select(SessionRequest, Session)
        .join(Session, Session.id == SessionRequest.parent_session_id)
        .where(SessionRequest.id == request_id)
    ).first()
    if found is None:
        raise NotFound("No such request.")
    request, session = found
    return request, session


@dataclass(frozen=True)
class Standing:
    """Where a request and its session stand, read without a lock."""

    request_status: RequestStatus
    mechanic_id: uuid.UUID | None
    session_id: uuid.UUID
    session_status: SessionStatus


def standing(s: DbSession, request_id: uuid.UUID) -> Standing:
    """A request and its session as they stand, in one read of four columns; NotFound when
    there is no such request."""
    found = s.execute(
        select(
            SessionRequest.status,
            SessionRequest.mechanic_id,
            Session.id,
            Session.status,
        )
        .join(Session, Session.id == SessionRequest.parent_session_id)
        .where(SessionRequest.id == request_id)
    ).first()
    if found is None:
        raise NotFound("No such request.")
    return Standing(RequestStatus(found[0]), found[1], found[2], SessionStatus(found[3]))


def take_request(
    s: DbSession, request_id: uuid.UUID, mechanic_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID, int] | None:
    """Accept: the request moves from pending to accepted and its session from pending to
    waiting, both held by the mechanic. None when the request was no longer pending (another
    mechanic won); else its session, its customer and how many sessions moved (1, or 0 when
    the session was not pending).

    The request's guarded UPDATE decides the winner: on PostgreSQL a racing UPDATE waits for
    the winner's commit, then finds no pending row. There both UPDATEs go in one statement,
    so the winner holds the request's row lock for one round trip fewer. The session's UPDATE
    reads the session as the statement began, which is how it stands: whoever held the
    pending request's lock meanwhile either left request and session as they were (a chat
    line, a call signal) or moved the request out of pending, and then no row is won.
    """
    won = (
        update(SessionRequest)
        .where(SessionRequest.id == request_id, SessionRequest.status == RequestStatus.PENDING)
        .values(status=RequestStatus.ACCEPTED, mechanic_id=mechanic_id, accepted_at=utcnow())
        .returning(SessionRequest.parent_session_id, SessionRequest.customer_id)
    )
    if s.get_bind().dialect.name != "postgresql":
        row = s.execute(won).first()
        if row is None:
            return None
        moved = guarded_update(s, _to_waiting(row[0], mechanic_id))
        return row[0], row[1], moved
    request = won.cte("won")
    session = (
        _to_waiting(request.c.parent_session_id, mechanic_id).returning(Session.id).cte("moved")
    )
    count = select(func.count()).select_from(session).scalar_subquery()
    found = s.execute(select(request.c.parent_session_id, request.c.customer_id, count)).first()
    return None if found is None else (found[0], found[1], int(found[2]))


def _to_waiting(session_id: Any, mechanic_id: uuid.UUID) -> Update:
    return (
        update(Session)
        .where(
            Session.id == session_id,
            Session.status == SessionStatus.PENDING,
            Session.mechanic_id.is_(None),
        )
        .values(status=SessionStatus.WAITING, mechanic_id=mechanic_id)
    )


def guarded_update(s: DbSession, stmt: Update) -> int:
    """Run a conditional UPDATE; the number of rows it changed (0: its guard did not hold)."""
    result = s.execute(stmt)
    assert isinstance(result, CursorResult)
    return result.rowcount


def audience(session: Session) -> Audience:
    """The session's two parties (one while nobody holds it)."""
    users = [session.customer_user_id]
    if session.mechanic_id is not None:
        users.append(session.mechanic_id)
    return Audience(users=tuple(users))
