"""What a customer waiting for a mechanic is told: who could pick the request up, and until when."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from pitcrew.db import Database
from pitcrew.events import Kind
from pitcrew.models import Event, SessionRequest, User


@dataclass(frozen=True)
class Waiting:
    on_duty: int  # mechanics on duty now
    expires_at: datetime  # when the request expires unless someone accepts it


def facts(db: Database, session_id: uuid.UUID, ttl: timedelta) -> Waiting:
    """For a pending request: how many mechanics could take it, and when its offer ends."""
    with db.read() as s:
        on_duty = s.scalar(select(func.count()).where(User.on_duty_mechanic()))
        made = s.scalar(
            select(SessionRequest.created_at).where(SessionRequest.parent_session_id == session_id)
        )
        handed_back = last_hand_backs(s, [session_id]).get(session_id)
    assert made is not None  # every session has its request (invariant 1)
    return Waiting(on_duty=int(on_duty or 0), expires_at=offered_since(made, handed_back) + ttl)


def offered_since(made: datetime, handed_back: datetime | None) -> datetime:
    """A request is offered from when it was made, or made again by its last hand-back: its
    expiry counts from there (the rule of ``flow.due_for_expiry``)."""
    return max(made, handed_back) if handed_back is not None else made


def last_hand_backs(s: DbSession, session_ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """When each session's request was last handed back (absent: never)."""
    if not session_ids:
        return {}
    rows = s.execute(
        select(Event.session_id, func.max(Event.at))
        .where(Event.kind == Kind.REQUEST_RELEASED, Event.session_id.in_(session_ids))
        .group_by(Event.session_id)
    )
    return {sid: at for sid, at in rows if sid is not None}
