"""A request as mechanics see it before accepting: the car, the whole intake, what was added.

Mechanics pick the requests they are good at, so a pending request's intake is open to
every mechanic. Once the request is taken, expired or cancelled it is nobody's to preview
any more (404, like an unknown id), except for the mechanic who won it: they hold the
session and read it there too. The customer's contact details are never part of it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from pitcrew.access import parse_id
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import NotFound
from pitcrew.models import Intake, RequestStatus, Session, SessionMessage, SessionRequest
from pitcrew.schemas import MessageOut, RequestPreview, message_photo

GONE = "This request is no longer open: another mechanic took it, or it expired or was cancelled."


def may_preview(request: SessionRequest, mechanic_id: uuid.UUID) -> bool:
    """Pending: every mechanic. Accepted: only its mechanic. Closed: nobody."""
    if request.status == RequestStatus.PENDING:
        return True
    return request.status == RequestStatus.ACCEPTED and request.mechanic_id == mechanic_id


def details(s: DbSession, session_id: uuid.UUID, customer_id: uuid.UUID) -> list[MessageOut]:
    """What the customer added to the session (messages and photos), oldest first."""
    rows = s.scalars(
        select(SessionMessage)
        .where(SessionMessage.session_id == session_id, SessionMessage.sender_id == customer_id)
        .order_by(SessionMessage.created_at, SessionMessage.id)
    ).all()
    return [
        MessageOut(
            id=m.id,
            session_id=m.session_id,
            sender_id=m.sender_id,
            sender_name="",
            body=m.body,
            created_at=m.created_at,
            photo=message_photo(m),
        )
        for m in rows
    ]


def request_preview(db: Database, mechanic: Actor, request_id: uuid.UUID | str) -> RequestPreview:
    rid = parse_id(request_id, "request_id")
    with db.read() as s:
        found = s.execute(
            select(SessionRequest, Intake)
            .join(Session, Session.id == SessionRequest.parent_session_id)
            .outerjoin(Intake, Intake.id == Session.intake_id)
            .where(SessionRequest.id == rid)
        ).first()
        if found is None:
            raise NotFound("No such request.")
        request, intake = found
        if not may_preview(request, mechanic.id):
            raise NotFound(GONE, code="request_gone")
        return RequestPreview(
            request_id=request.id,
            request_status=request.status,
            session_id=request.parent_session_id,
            customer_name=request.customer_name,
            session_type=request.session_type,
            plan_code=request.plan_code,
            request_created_at=request.created_at,
            vehicle=intake.vehicle_info if intake else None,
            issue=intake.issue_description if intake else "",
            details=[
                d.model_copy(update={"sender_name": request.customer_name})
                for d in details(s, request.parent_session_id, request.customer_id)
            ],
        )
