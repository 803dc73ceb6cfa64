"""What the operator's console reads: the floor as it is now, and any session.

Reads only; what an admin changes goes through ``oversight`` (sessions) and ``people``
(accounts), each a guarded transaction with its event, like every other change.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import ColumnElement, String, case, cast, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.orm import Session as DbSession

from pitcrew import room, waiting, words
from pitcrew.access import require_admin
from pitcrew.admin_schemas import (
    Floor,
    HeldSession,
    OnDuty,
    SessionFile,
    SessionPage,
    SessionQuery,
    SessionRow,
    WaitingRequest,
)
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.models import (
    Intake,
    RequestStatus,
    Session,
    SessionRequest,
    SessionStatus,
    User,
    utcnow,
)
from pitcrew.schemas import offered

FLOOR_LIMIT = 200
PAGE_SIZE = 50


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
    released = waiting.last_hand_backs(s, [r.parent_session_id for r in rows])
    out = []
    for r in rows:
        since = waiting.offered_since(r.created_at, released.get(r.parent_session_id))
        out.append(
            WaitingRequest(
                **offered(r), created_at=r.created_at, offered_since=since, expires_at=since + ttl
            )
        )
    return out


def _on_duty(s: DbSession) -> list[OnDuty]:
    held = (Session.mechanic_id == User.id) & Session.status.in_(
        (SessionStatus.WAITING, SessionStatus.LIVE)
    )
    waiting = func.sum(case((Session.status == SessionStatus.WAITING, 1), else_=0))
    live = func.sum(case((Session.status == SessionStatus.LIVE, 1), else_=0))
    rows = s.execute(
        select(User.id, User.name, waiting, live)
        .outerjoin(Session, held)
        .where(User.on_duty_mechanic())
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


# --- any session ---------------------------------------------------------------------------


def _contains(
    column: ColumnElement[str] | InstrumentedAttribute[str], text: str
) -> ColumnElement[bool]:
    """Case-insensitive "holds this text" (LIKE's wildcards in the text match themselves)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped.lower()}%", escape="\\")


def find_sessions(s: DbSession, query: SessionQuery) -> SessionPage:
    """Sessions matching every part of the query given, newest first, a page at a time."""
    customer, mechanic = aliased(User), aliased(User)
    car = Intake.vehicle_info
    stmt = (
        select(Session, SessionRequest.status, customer.name, mechanic.name, car)
        .join(SessionRequest, SessionRequest.parent_session_id == Session.id)
        .join(customer, customer.id == Session.customer_user_id)
        .outerjoin(mechanic, mechanic.id == Session.mechanic_id)
        .outerjoin(Intake, Intake.id == Session.intake_id)
    )
    if query.customer.strip():
        text = query.customer.strip()
        stmt = stmt.where(or_(_contains(customer.name, text), _contains(customer.email, text)))
    if query.mechanic.strip():
        text = query.mechanic.strip()
        stmt = stmt.where(or_(_contains(mechanic.name, text), _contains(mechanic.email, text)))
    if query.vehicle.strip():
        parts = [car["year"].as_string(), car["make"].as_string(), car["model"].as_string()]
        for word in query.vehicle.split():
            stmt = stmt.where(or_(*(_contains(cast(p, String), word) for p in parts)))
    if query.vin.strip():
        stmt = stmt.where(_contains(car["vin"].as_string(), query.vin.strip()))
    if query.status is not None:
        stmt = stmt.where(Session.status == query.status)
    if query.since is not None:
        stmt = stmt.where(Session.created_at >= datetime.combine(query.since, time(), UTC))
    if query.until is not None:
        end = datetime.combine(query.until, time(), UTC) + timedelta(days=1)
        stmt = stmt.where(Session.created_at < end)
    page = max(0, query.page)
    rows = s.execute(
        stmt.order_by(Session.created_at.desc(), Session.id.desc())
        .offset(page * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    found = [_session_row(*row) for row in rows[:PAGE_SIZE]]
    return SessionPage(sessions=found, more=len(rows) > PAGE_SIZE)


def _session_row(
    session: Session,
    request_status: RequestStatus,
    customer_name: str,
    mechanic_name: str | None,
    car: dict[str, object] | None,
) -> SessionRow:
    car = car or {}
    vin = car.get("vin")
    return SessionRow(
        session_id=session.id,
        status=session.status,
        request_status=request_status,
        session_type=session.type,
        customer_id=session.customer_user_id,
        customer_name=customer_name,
        mechanic_id=session.mechanic_id,
        mechanic_name=mechanic_name,
        vehicle=words.vehicle(car),
        vin=str(vin) if vin else None,
        created_at=session.created_at,
    )


def open_session(db: Database, admin: Actor, session_id: uuid.UUID | str) -> SessionFile:
    """A session as an admin opens it: read through ``room``, which lets an admin read any."""
    require_admin(admin)
    return SessionFile(
        detail=room.detail(db, admin, session_id),
        timeline=room.timeline(db, admin, session_id),
        messages=room.messages(db, admin, session_id),
    )


def mechanics_on_duty(s: DbSession) -> list[OnDuty]:
    """Who could take a session now (the reassign form's choices)."""
    return _on_duty(s)
