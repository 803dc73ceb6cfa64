"""What a customer waiting for a mechanic is told: who could pick the request up, and until when."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from pitcrew.db import Database
from pitcrew.events import Kind
from pitcrew.models import Event, Role, SessionRequest, User


@dataclass(frozen=True)
class Waiting:
    on_duty: int  # mechanics on duty now
    expires_at: datetime  # when the request expires unless someone accepts it


def facts(db: Database, session_id: uuid.UUID, ttl: timedelta) -> Waiting:
    """For a pending request: the offer runs ``ttl`` from when it was made, or made again by
    a hand-back (the rule of ``flow.expire_due``)."""
    with db.read() as s:
        on_duty = s.scalar(
            select(func.count()).where(User.role == Role.MECHANIC, User.on_duty.is_(True))
        )
        made = s.scalar(
            select(SessionRequest.created_at).where(SessionRequest.parent_session_id == session_id)
        )
        handed_back = s.scalar(
            select(func.max(Event.at)).where(
                Event.session_id == session_id, Event.kind == Kind.REQUEST_RELEASED
            )
        )
    assert made is not None  # every session has its request (invariant 1)
    offered = max(made, handed_back) if handed_back is not None else made
    return Waiting(on_duty=int(on_duty or 0), expires_at=offered + ttl)
