"""A session and its request, locked together, and the guarded UPDATE that changes them.

Every change to a session (``flow``), every chat line (``chat``) and every call signal
(``call``) starts by locking the pair in the order accept takes them (request, then
session), so two changes to one session never interleave, and ends with UPDATEs guarded by
the status they expect (docs/ARCHITECTURE.md, "Status flow").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import CursorResult, Update, select
from sqlalchemy.orm import Session as DbSession

from pitcrew import access
from pitcrew.errors import NotFound
from pitcrew.events import Audience
from pitcrew.models import RequestStatus, Session, SessionRequest, SessionStatus


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
