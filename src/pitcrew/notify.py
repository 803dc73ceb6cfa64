"""Notifications that follow from events, written in the event's own transaction.

Nothing here is called by a route: ``flow`` records an event and hands it to :func:`follow`,
so a notification exists exactly when the change it tells of was committed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session as DbSession

from pitcrew import events
from pitcrew.events import Audience, Kind
from pitcrew.models import Event, Notification, Role, User, utcnow


@dataclass(frozen=True)
class Message:
    title: str
    body: str = ""


def _on_duty_mechanics(s: DbSession) -> list[uuid.UUID]:
    stmt = select(User.id).where(User.role == Role.MECHANIC.value, User.on_duty.is_(True))
    return list(s.scalars(stmt))


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


def recipients_and_message(s: DbSession, event: Event) -> tuple[list[uuid.UUID], Message] | None:
    """Who hears of an event, and what they are told; None when nobody needs telling."""
    p = event.payload
    customer = _uuid(p.get("customer_id"))
    mechanic = _uuid(p.get("mechanic_id"))
    kind = event.kind
    if kind == Kind.REQUEST_CREATED:
        return _on_duty_mechanics(s), Message(
            f"New request from {p.get('customer_name')}",
            f"{p.get('session_type')} session, {p.get('plan_code')} plan",
        )
    if kind == Kind.REQUEST_ACCEPTED and customer:
        return [customer], Message(
            f"{p.get('mechanic_name')} accepted your request", "They will join shortly."
        )
    if kind == Kind.REQUEST_EXPIRED and customer:
        return [customer], Message(
            "No mechanic was free in time",
            "Your request expired. You can request again with one click.",
        )
    if kind == Kind.REQUEST_RELEASED and customer:
        return [customer], Message(
            f"{p.get('mechanic_name')} handed your request back",
            "It is open again for every mechanic on duty.",
        )
    if kind != Kind.SESSION_UPDATED:
        return None
    status = p.get("session_status")
    actor_role = p.get("actor_role")
    if "rating" in p and mechanic:
        return [mechanic], Message(
            f"Your session was rated {p['rating']}/5", p.get("comment") or ""
        )
    if status == "live" and customer:
        return [customer], Message(f"{p.get('actor_name')} joined: your session is live")
    if status == "completed" and customer:
        return [customer], Message("Your session is complete", "The mechanic's summary is ready.")
    if status == "cancelled":
        if actor_role == Role.CUSTOMER.value and mechanic:
            return [mechanic], Message("The customer cancelled the session", p.get("reason") or "")
        if actor_role == Role.MECHANIC.value and customer:
            return [customer], Message("The mechanic cancelled the session", p.get("reason") or "")
    return None


def follow(s: DbSession, event: Event) -> None:
    """Write the notifications an event calls for, and one event that pushes them live."""
    told = recipients_and_message(s, event)
    if told is None:
        return
    users, message = told
    users = [u for u in users if u != event.actor_id]
    if not users:
        return
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "user_id": user,
            "kind": event.kind,
            "title": message.title[:200],
            "body": message.body,
            "session_id": event.session_id,
            "request_id": event.request_id,
            "created_at": now,
        }
        for user in users
    ]
    s.execute(insert(Notification), rows)
    events.record(
        s,
        Kind.NOTIFICATION_CREATED,
        actor_id=None,
        audience=Audience(users=tuple(users)),
        session_id=event.session_id,
        request_id=event.request_id,
        payload={"title": message.title, "body": message.body, "about": event.kind},
    )


def list_for(s: DbSession, user_id: uuid.UUID, *, limit: int = 50) -> list[Notification]:
    stmt = (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc())
        .limit(limit)
    )
    return list(s.scalars(stmt))


def unread_count(s: DbSession, user_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    return int(s.scalar(stmt) or 0)


def mark_read(s: DbSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> bool:
    """Mark one of the user's notifications read; False when it is not theirs or unknown."""
    owner = s.scalar(select(Notification.user_id).where(Notification.id == notification_id))
    if owner != user_id:
        return False
    s.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return True
