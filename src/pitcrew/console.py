"""What the operator's console reads: the floor as it is now.

Reads only; what an admin changes goes through ``oversight`` (sessions) and ``people``
(accounts), each a guarded transaction with its event, like every other change.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased

from pitcrew.admin_schemas import Floor, HeldSession, OnDuty, WaitingRequest
from pitcrew.events import Kind
from pitcrew.models import (
    Event,
    RequestStatus,
    Role,
    Session,
    SessionRequest,
    SessionStatus,
    User,
    utcnow,
)

FLOOR_LIMIT = 200


def floor(s: DbSession, ttl: timedelta, *, now: datetime | None = None) -> Floor:
    """Pending requests oldest first, mechanics on duty, and the sessions they hold."""
    return Floor(
        at=now or utcnow(),
        pending=_pending(s, ttl),
        on_duty=_on_duty(s),
        waiting=_held(s, SessionStatus.WAITING),
        live=_held(s, SessionStatus.LIVE),
    )


def _pending(s: DbSession, ttl: timedelta) -> list[WaitingRequest]:
    rows = list(
        s.scalars(
            select(SessionRequest)
            .where(SessionRequest.status == RequestStatus.PENDING)
            .order_by(SessionRequest.created_at, SessionRequest.id)
            .limit(FLOOR_LIMIT)
        )
    )
    released = _last_hand_backs(s, [r.parent_session_id for r in rows])
    out = []
    for r in rows:
        since = max(r.created_at, released.get(r.parent_session_id, r.created_at))
        out.append(
            WaitingRequest(
                session_id=r.parent_session_id,
                request_id=r.id,
                customer_name=r.customer_name,
                session_type=r.session_type,
                plan_code=r.plan_code,
                created_at=r.created_at,
                offered_since=since,
                expires_at=since + ttl,
            )
        )
    return out


def _last_hand_backs(s: DbSession, session_ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """When each session's request was last handed back: the sweeper's expiry counts anew
    from there (``flow.due_for_expiry``)."""
    if not session_ids:
        return {}
    rows = s.execute(
        select(Event.session_id, func.max(Event.at))
        .where(Event.kind == Kind.REQUEST_RELEASED, Event.session_id.in_(session_ids))
        .group_by(Event.session_id)
    )
    return {sid: at for sid, at in rows if sid is not None}


def _on_duty(s: DbSession) -> list[OnDuty]:
    held = (Session.mechanic_id == User.id) & Session.status.in_(
        (SessionStatus.WAITING, SessionStatus.LIVE)
    )
    waiting = func.sum(case((Session.status == SessionStatus.WAITING, 1), else_=0))
    live = func.sum(case((Session.status == SessionStatus.LIVE, 1), else_=0))
    rows = s.execute(
        select(User.id, User.name, waiting, live)
        .outerjoin(Session, held)
        .where(User.role == Role.MECHANIC, User.on_duty.is_(True))
        .group_by(User.id, User.name)
        .order_by(User.name, User.id)
    )
    return [OnDuty(id=i, name=n, waiting=int(w or 0), live=int(lv or 0)) for i, n, w, lv in rows]


def _held(s: DbSession, status: SessionStatus) -> list[HeldSession]:
    customer, mechanic = aliased(User), aliased(User)
    since = Session.started_at if status == SessionStatus.LIVE else SessionRequest.accepted_at
    rows = s.execute(
        select(Session, customer.name, mechanic.name, since)
        .join(SessionRequest, SessionRequest.parent_session_id == Session.id)
        .join(customer, customer.id == Session.customer_user_id)
        .join(mechanic, mechanic.id == Session.mechanic_id)
        .where(Session.status == status)
        .order_by(since, Session.id)
        .limit(FLOOR_LIMIT)
    )
    return [
        HeldSession(
            session_id=row.id,
            customer_name=customer_name,
            mechanic_id=row.mechanic_id,
            mechanic_name=mechanic_name,
            session_type=row.type,
            status=row.status,
            since=at or row.created_at,
        )
        for row, customer_name, mechanic_name, at in rows
    ]
