"""The events log: every state change writes one row here in its own transaction.

The log is the audit trail, the source of each session's timeline, and what live pages
replay after a dropped connection (``Last-Event-ID``). Each row says who may see it, so the
stream never shows a user anything about a session that is not theirs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from pitcrew.db import EVENTS_WRITTEN
from pitcrew.models import Event, Role, utcnow

NOTIFY_CHANNEL = "pitcrew_events"


class Kind(StrEnum):
    REQUEST_CREATED = "request.created"
    REQUEST_ACCEPTED = "request.accepted"
    REQUEST_CANCELLED = "request.cancelled"
    REQUEST_EXPIRED = "request.expired"
    REQUEST_RELEASED = "request.released"
    SESSION_UPDATED = "session.updated"
    MESSAGE_CREATED = "message.created"
    NOTIFICATION_CREATED = "notification.created"
    REPAIR = "doctor.repair"


@dataclass(frozen=True)
class Audience:
    """Who may see an event: named users, and optionally every mechanic."""

    users: tuple[uuid.UUID, ...] = ()
    mechanics: bool = False

    def as_payload(self) -> dict[str, Any]:
        return {"users": [str(u) for u in self.users], "mechanics": self.mechanics}


def record(
    session: Session,
    kind: Kind,
    *,
    actor_id: uuid.UUID | None,
    audience: Audience,
    session_id: uuid.UUID | None = None,
    request_id: uuid.UUID | None = None,
    payload: dict[str, Any] | None = None,
) -> Event:
    """Append an event inside the caller's transaction.

    On PostgreSQL the append takes a transaction-level advisory lock first, so events commit
    in id order: a client that has seen event N never later misses an event below N.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7100)"))
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    body = dict(payload or {})
    body["audience"] = audience.as_payload()
    event = Event(
        at=utcnow(),
        actor_id=actor_id,
        kind=kind.value,
        session_id=session_id,
        request_id=request_id,
        payload=body,
    )
    session.add(event)
    session.flush()
    session.info[EVENTS_WRITTEN] = True
    return event


def visible_to(event_payload: dict[str, Any], user_id: uuid.UUID, role: str) -> bool:
    """Whether the user may see an event (the rule the live stream and replay share)."""
    audience = event_payload.get("audience") or {}
    if audience.get("mechanics") and role == Role.MECHANIC:
        return True
    return str(user_id) in audience.get("users", ())


@dataclass(frozen=True)
class PublicEvent:
    """An event as a client sees it: no audience, ids as strings."""

    id: int
    kind: str
    at: datetime
    session_id: uuid.UUID | None
    request_id: uuid.UUID | None
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: Event) -> PublicEvent:
        data = {k: v for k, v in (row.payload or {}).items() if k != "audience"}
        return cls(row.id, row.kind, row.at, row.session_id, row.request_id, data)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "session_id": str(self.session_id) if self.session_id else None,
            "request_id": str(self.request_id) if self.request_id else None,
            **self.data,
        }


def events_after(session: Session, after_id: int, *, limit: int = 500) -> list[Event]:
    """Events newer than ``after_id``, oldest first (the replay and the live fetch)."""
    stmt = select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
    return list(session.scalars(stmt))


def latest_id(session: Session) -> int:
    value = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
    return int(value or 0)


def session_timeline(session: Session, session_id: uuid.UUID) -> list[Event]:
    stmt = select(Event).where(Event.session_id == session_id).order_by(Event.id)
    return list(session.scalars(stmt))
