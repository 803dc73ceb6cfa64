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

from pitcrew import pair
from pitcrew.access import parse_id
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import NotFound
from pitcrew.models import Intake, RequestStatus, SessionMessage, SessionRequest
from pitcrew.schemas import MessageOut, RequestPreview, offered

GONE = "This request is no longer open: another mechanic took it, or it expired or was cancelled."


def may_preview(request: SessionRequest, mechanic_id: uuid.UUID) -> bool:
    """Pending: every mechanic. Accepted: only its mechanic. Closed: nobody."""
    if request.status == RequestStatus.PENDING:
        return True
    return request.status == RequestStatus.ACCEPTED and request.mechanic_id == mechanic_id


def details(s: DbSession, request: SessionRequest) -> list[MessageOut]:
    """What the customer added to the request's session (messages and photos), oldest first."""
    rows = s.scalars(
        select(SessionMessage)
        .where(
            SessionMessage.session_id == request.parent_session_id,
            SessionMessage.sender_id == request.customer_id,
        )
        .order_by(SessionMessage.created_at, SessionMessage.id)
    ).all()
    return [MessageOut.of(m, request.customer_name) for m in rows]


def request_preview(db: Database, mechanic: Actor, request_id: uuid.UUID | str) -> RequestPreview:
    rid = parse_id(request_id, "request_id")
    with db.read() as s:
        request, session = pair.by_request(s, rid)
        if not may_preview(request, mechanic.id):
            raise NotFound(GONE, code="request_gone")
        intake = s.get(Intake, session.intake_id) if session.intake_id else None
        return RequestPreview(
            **offered(request),
            request_status=request.status,
            request_created_at=request.created_at,
            vehicle=intake.vehicle_info if intake else None,
            issue=intake.issue_description if intake else "",
            details=details(s, request),
        )
