"""How far each party has read a session's chat, and so what is unread, everywhere it shows.

A party's marker (``session_reads``) names the last message they have read; the messages of
the other party after it, in the chat's order (time, then id), are their unread. The marker
only moves forward: an older message sent late by a slow tab changes nothing. Moving it is a
change like any other: one transaction, a guarded write, and its event (``message.read``),
which clears the mark on the reader's other pages and shows "Seen" to the other party.

:func:`unread` is a correlated count, so a list (a dashboard tab, the customer's sessions)
reads its rows and their unread counts in one query, through the index of a session's
messages by time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from pitcrew import access, events, pair, words
from pitcrew.access import parse_id
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import NotFound
from pitcrew.events import Kind
from pitcrew.models import (
    Intake,
    Role,
    Session,
    SessionMessage,
    SessionRead,
    SessionRequest,
    SessionStatus,
    utcnow,
)
from pitcrew.payloads import MessageRead

# The sessions in which a message can still arrive: their unread is what the bell counts.
OPEN_STATUSES = (SessionStatus.PENDING, SessionStatus.WAITING, SessionStatus.LIVE)


def _after(marker_at: Any, marker_id: Any) -> Any:
    """A message comes after a marker at (time, id) in the chat's order."""
    m = SessionMessage
    return or_(m.created_at > marker_at, and_(m.created_at == marker_at, m.id > marker_id))


def unread(session_id: Any, user_id: uuid.UUID) -> Any:
    """How many messages of the other party in ``session_id`` the user has not read: a scalar
    subquery, correlated with the row that supplies ``session_id``."""
    m, r = SessionMessage, SessionRead
    return (
        select(func.count(m.id))
        .select_from(m)
        .outerjoin(r, and_(r.session_id == m.session_id, r.user_id == user_id))
        .where(
            m.session_id == session_id,
            m.sender_id != user_id,
            or_(r.read_until.is_(None), _after(r.read_until, r.message_id)),
        )
        .scalar_subquery()
    )


@dataclass(frozen=True)
class Marker:
    message_id: uuid.UUID
    read_until: datetime


def marker(s: DbSession, session_id: uuid.UUID, user_id: uuid.UUID) -> Marker | None:
    """Where the user's reading of the session stands, if they read any of it."""
    row = s.get(SessionRead, (session_id, user_id))
    return Marker(row.message_id, row.read_until) if row else None


def _insert(s: DbSession) -> Any:
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(SessionRead)


def _move_marker(s: DbSession, sid: uuid.UUID, user_id: uuid.UUID, message: SessionMessage) -> bool:
    """Set the marker at ``message`` unless it is already there or further; whether it moved."""
    now = utcnow()
    created = s.execute(
        _insert(s)
        .values(
            session_id=sid,
            user_id=user_id,
            message_id=message.id,
            read_until=message.created_at,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["session_id", "user_id"])
        .returning(SessionRead.user_id)
    ).first()
    if created is not None:
        return True
    r = SessionRead
    behind = or_(
        r.read_until < message.created_at,
        and_(r.read_until == message.created_at, r.message_id < message.id),
    )
    moved = s.execute(
        update(SessionRead)
        .where(r.session_id == sid, r.user_id == user_id, behind)
        .values(message_id=message.id, read_until=message.created_at, updated_at=now)
        .returning(SessionRead.user_id)
        .execution_options(synchronize_session=False)
    ).first()
    return moved is not None


@dataclass(frozen=True)
class ReadState:
    session_id: uuid.UUID
    message_id: uuid.UUID  # where the marker stands now
    unread: int


def mark_read(
    db: Database, actor: Actor, session_id: uuid.UUID | str, message_id: uuid.UUID | str
) -> ReadState:
    """The party has read the session's chat up to ``message_id``: forward only, idempotent."""
    sid = parse_id(session_id, "session_id")
    mid = parse_id(message_id, "message_id")

    def work(s: DbSession) -> ReadState:
        session = access.load_session(s, sid)
        access.check_party(actor, session)
        message = s.get(SessionMessage, mid)
        if message is None or message.session_id != sid:
            raise NotFound("This session has no such message.", code="unknown_message")
        if _move_marker(s, sid, actor.id, message):
            events.record(
                s,
                Kind.MESSAGE_READ,
                actor_id=actor.id,
                audience=pair.audience(session),
                session_id=sid,
                payload=MessageRead(
                    reader_id=str(actor.id),
                    message_id=str(message.id),
                    read_until=message.created_at.isoformat(),
                ),
            )
        now = marker(s, sid, actor.id)
        assert now is not None
        left = s.scalar(select(unread(Session.id, actor.id)).where(Session.id == sid)) or 0
        return ReadState(session_id=sid, message_id=now.message_id, unread=int(left))

    return db.run(work)


@dataclass(frozen=True)
class Conversation:
    """One of the user's open sessions with messages they have not read."""

    session_id: uuid.UUID
    name: str  # car and customer
    unread: int


def conversations(s: DbSession, actor: Actor) -> list[Conversation]:
    """The user's open sessions with unread messages, for the bell: one query, through the
    sessions index of their role (a mechanic's by status, a customer's by time)."""
    if actor.role == Role.MECHANIC:
        mine = Session.mechanic_id == actor.id
    elif actor.role == Role.CUSTOMER:
        mine = Session.customer_user_id == actor.id
    else:
        return []
    count = unread(Session.id, actor.id).label("unread")
    inner = (
        select(Session.id, Session.intake_id, count)
        .where(mine, Session.status.in_(OPEN_STATUSES))
        .subquery()
    )
    rows = s.execute(
        select(inner.c.id, inner.c.unread, Intake.vehicle_info, SessionRequest.customer_name)
        .join(SessionRequest, SessionRequest.parent_session_id == inner.c.id)
        .outerjoin(Intake, Intake.id == inner.c.intake_id)
        .where(inner.c.unread > 0)
        .order_by(inner.c.id)
    )
    return [
        Conversation(
            session_id=row.id,
            name=words.session_name(row.vehicle_info, row.customer_name),
            unread=int(row.unread),
        )
        for row in rows
    ]
