"""Notifications and emails that follow from events, written in the event's own transaction.

Routes only read here (the bell's list and count, marking one read). Changes reach this
module through their events: ``flow`` records an event and hands it to :func:`follow`, so a
notification (and the email outbox row, when email is on) exists exactly when the change
it tells of was committed. ``mailer`` sends the outbox later, outside any request.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session as DbSession

from pitcrew import events, payloads, report, words
from pitcrew.db import emails_queued
from pitcrew.events import Audience, Kind
from pitcrew.models import (
    EmailOutbox,
    Event,
    Intake,
    Notification,
    Role,
    Session,
    SessionReport,
    SessionStatus,
    User,
    utcnow,
)
from pitcrew.payloads import (
    NotificationCreated,
    RequestAccepted,
    RequestExpired,
    RequestOffer,
    RequestReleased,
    SessionReassigned,
    SessionUpdated,
)


@dataclass(frozen=True)
class Message:
    title: str
    body: str = ""
    email: str | None = None  # the email template when the moment is worth an email


@dataclass(frozen=True)
class Notice:
    users: list[uuid.UUID]
    message: Message


def _on_duty_mechanics(s: DbSession) -> list[uuid.UUID]:
    stmt = select(User.id).where(User.on_duty_mechanic())
    return list(s.scalars(stmt))


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _offer(p: RequestOffer) -> str:
    return f"{p['session_type']} session, {p['plan_code']} plan"


def _named(s: DbSession, event: Event, customer_name: str) -> str:
    """The session the event is about, as mechanics name it: its car and its customer."""
    info = s.scalar(
        select(Intake.vehicle_info)
        .join(Session, Session.intake_id == Intake.id)
        .where(Session.id == event.session_id)
    )
    return words.session_name(info, customer_name)


def notices(s: DbSession, event: Event) -> list[Notice]:
    """Who hears of an event and what they are told; empty when nobody needs telling.

    What a mechanic is told names the session by car and customer ("2016 Honda Civic · Dana
    Driver"), in the notification and in the email's subject alike.
    """
    kind, p = event.kind, event.payload
    if kind == Kind.REQUEST_CREATED:
        created = payloads.read(RequestOffer, p)
        title = f"New request: {_named(s, event, created['customer_name'])}"
        return [Notice(_on_duty_mechanics(s), Message(title, _offer(created), "new_request"))]
    if kind == Kind.REQUEST_ACCEPTED:
        accepted = payloads.read(RequestAccepted, p)
        title = f"{accepted['mechanic_name']} accepted your request"
        body = "They will join shortly."
        return [
            Notice([uuid.UUID(accepted["customer_id"])], Message(title, body, "request_accepted"))
        ]
    if kind == Kind.REQUEST_EXPIRED:
        expired = payloads.read(RequestExpired, p)
        body = "Your request expired. You can request again with one click."
        title = "No mechanic was free in time"
        return [
            Notice([uuid.UUID(expired["customer_id"])], Message(title, body, "request_expired"))
        ]
    if kind == Kind.REQUEST_RELEASED:
        released = payloads.read(RequestReleased, p)
        return _released_notices(s, released, _named(s, event, released["customer_name"]))
    if kind == Kind.SESSION_UPDATED:
        return _session_notices(s, event, payloads.read(SessionUpdated, p))
    if kind == Kind.SESSION_REASSIGNED:
        return _reassigned_notices(payloads.read(SessionReassigned, p))
    return []


def _reassigned_notices(p: SessionReassigned) -> list[Notice]:
    """Both mechanics and the customer hear who holds the session now."""
    to, before = p["to_mechanic_name"], p["from_mechanic_name"]
    return [
        Notice([uuid.UUID(p["to_mechanic_id"])], Message("A waiting session was given to you")),
        Notice([uuid.UUID(p["from_mechanic_id"])], Message(f"A waiting session was moved to {to}")),
        Notice(
            [uuid.UUID(p["customer_id"])],
            Message(f"{to} will help you now", f"{before} could not join, so {to} took over."),
        ),
    ]


def _released_notices(s: DbSession, p: RequestReleased, name: str) -> list[Notice]:
    title = f"Open again: {name}"
    told = [Notice(_on_duty_mechanics(s), Message(title, _offer(p), "new_request"))]
    title = f"{p['mechanic_name']} handed your request back"
    body = "It is open again for every mechanic on duty."
    told.append(Notice([uuid.UUID(p["customer_id"])], Message(title, body)))
    return told


def _customer_name(s: DbSession, customer: uuid.UUID) -> str:
    return s.scalar(select(User.name).where(User.id == customer)) or ""


def _session_notices(s: DbSession, event: Event, p: SessionUpdated) -> list[Notice]:
    customer = uuid.UUID(p["customer_id"])
    mechanic = _uuid(p["mechanic_id"])
    status = p["session_status"]
    if "rating" in p:
        name = _named(s, event, _customer_name(s, customer))
        title = f"Rated {p['rating']}/5: {name}"
        return [Notice([mechanic], Message(title, p.get("comment") or ""))] if mechanic else []
    if status == SessionStatus.LIVE:
        title = f"{p['actor_name']} joined: your session is {words.sentence(status)}"
        return [Notice([customer], Message(title, email="session_live"))]
    if status == SessionStatus.COMPLETED:
        body = "The mechanic's summary is ready."
        return [Notice([customer], Message("Your session is complete", body, "session_completed"))]
    if status != SessionStatus.CANCELLED:
        return []
    name = _named(s, event, _customer_name(s, customer)) if mechanic else ""
    return _cancelled_notices(p["actor_role"], p.get("reason") or "", customer, mechanic, name)


def _cancelled_notices(
    actor_role: Role, reason: str, customer: uuid.UUID, mechanic: uuid.UUID | None, name: str
) -> list[Notice]:
    """Each party hears who cancelled, unless they did it themselves."""
    told = []
    if actor_role != Role.CUSTOMER:
        title = (
            "The mechanic cancelled the session"
            if actor_role == Role.MECHANIC
            else "Your session was cancelled"
        )
        told.append(Notice([customer], Message(title, reason, "session_cancelled")))
    if mechanic and actor_role != Role.MECHANIC:
        title = (
            f"Cancelled by the customer: {name}"
            if actor_role == Role.CUSTOMER
            else f"Cancelled: {name}"
        )
        told.append(Notice([mechanic], Message(title, reason)))
    return told


# A request offered to mechanics ("new request", "open again") ...
OFFERS = (Kind.REQUEST_CREATED.value, Kind.REQUEST_RELEASED.value)
# ... leaves everyone's to-do list when one of these closes it.
CLOSES_OFFER = frozenset({Kind.REQUEST_ACCEPTED, Kind.REQUEST_EXPIRED, Kind.REQUEST_CANCELLED})


def resolve_offers(s: DbSession, event: Event) -> int:
    """Mark every mechanic's offer of the event's request resolved, when the event closes it.

    Runs in the transition's transaction, so a bell never counts a request nobody can take.
    Only mechanics' notifications: the customer's "handed back" notice is theirs to read.
    """
    if event.kind not in CLOSES_OFFER or event.request_id is None:
        return 0
    mechanics = select(User.id).where(User.role == Role.MECHANIC)
    resolved = s.execute(
        update(Notification)
        .where(
            Notification.request_id == event.request_id,
            Notification.kind.in_(OFFERS),
            Notification.resolved_at.is_(None),
            Notification.user_id.in_(mechanics),
        )
        .values(resolved_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(resolved, "rowcount", 0) or 0)


def follow(s: DbSession, event: Event, *, held: bool = False) -> None:
    """Write the notifications (and emails) an event calls for, and the events that push them;
    resolve the offers the event closes.

    The one who made the change is never told of it. With ``held`` the event and the ones
    written here wait for ``events.write_held`` (see ``events.record``).
    """
    with s.no_autoflush if held else contextlib.nullcontext():
        resolve_offers(s, event)
        for notice in notices(s, event):
            users = [u for u in dict.fromkeys(notice.users) if u != event.actor_id]
            if not users:
                continue
            _notify(s, event, users, notice.message, held=held)
            if notice.message.email is not None and emails_queued(s):
                _queue_emails(s, event, users, notice.message)


def _notify(
    s: DbSession, event: Event, users: list[uuid.UUID], message: Message, *, held: bool
) -> None:
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
        payload=NotificationCreated(title=message.title, body=message.body, about=event.kind),
        held=held,
    )


# --- email ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("pitcrew", "templates_email"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def render_email(template: str, subject: str, context: dict[str, Any]) -> Email:
    """Both bodies of one email; user text is escaped in the HTML one by autoescape."""
    env = _templates()
    context = {**context, "subject": subject}
    return Email(
        subject=" ".join(subject.split())[:200],
        text=env.get_template(f"{template}.txt").render(context),
        html=env.get_template(f"{template}.html").render(context),
    )


def _wants_email(role: str, opted_in: bool) -> bool:
    """Customers hear of their own request's key moments; mechanics only when opted in."""
    return role == Role.CUSTOMER or (role == Role.MECHANIC and opted_in)


def _queue_emails(s: DbSession, event: Event, users: list[uuid.UUID], message: Message) -> None:
    assert message.email is not None
    people = s.execute(
        select(User.email, User.name, User.role, User.notify_by_email).where(User.id.in_(users))
    ).all()
    people = [p for p in people if _wants_email(p.role, p.notify_by_email)]
    if not people:
        return
    context = _email_context(s, event, message)
    rows = [
        _outbox_row(
            person.email,
            render_email(message.email, message.title, {**context, "name": person.name}),
        )
        for person in people
    ]
    s.execute(insert(EmailOutbox), rows)


def _outbox_row(to_address: str, email: Email) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": uuid.uuid4(),
        "to_address": to_address,
        "subject": email.subject,
        "text_body": email.text,
        "html_body": email.html,
        "created_at": now,
        "attempts": 0,
        "next_attempt_at": now,
    }


def queue_email(
    s: DbSession, to_address: str, template: str, subject: str, context: dict[str, Any]
) -> bool:
    """One email to one address in the caller's transaction, where email is on; whether it
    was queued (account emails: a link to confirm an address or set a new password)."""
    if not emails_queued(s):
        return False
    email = render_email(template, subject, context)
    s.execute(insert(EmailOutbox), [_outbox_row(to_address, email)])
    return True


def _email_context(s: DbSession, event: Event, message: Message) -> dict[str, Any]:
    p = {k: v for k, v in event.payload.items() if k != "audience"}
    found = s.execute(
        select(Session.type, Session.plan_code, Intake.vehicle_info, Intake.issue_description)
        .outerjoin(Intake, Intake.id == Session.intake_id)
        .where(Session.id == event.session_id)
    ).first()
    vehicle_info: dict[str, Any] = (found.vehicle_info if found else None) or {}
    vehicle = words.vehicle(vehicle_info)
    return {
        "title": message.title,
        "body": message.body,
        "kind": event.kind,
        "again": event.kind == Kind.REQUEST_RELEASED,
        "customer_name": p.get("customer_name") or "",
        "mechanic_name": p.get("mechanic_name") or p.get("actor_name") or "",
        "actor_name": p.get("actor_name") or "",
        "session_type": found.type if found else p.get("session_type", ""),
        "plan_code": found.plan_code if found else p.get("plan_code", ""),
        "vehicle": vehicle,
        "mileage": vehicle_info.get("mileage"),
        "issue": (found.issue_description if found else None) or "",
        "summary": p.get("summary") or "",
        "reason": p.get("reason") or "",
        "report": _report_words(s, event.session_id) if p.get("summary") else None,
    }


def _report_words(s: DbSession, session_id: uuid.UUID | None) -> dict[str, Any] | None:
    """The completed session's report as the email tells it (its PDF is on the session page)."""
    row = s.get(SessionReport, session_id) if session_id else None
    if row is None:
        return None
    steps = [
        {
            "urgency": report.URGENCY_WORDS.get(step["urgency"], step["urgency"]),
            "text": step["text"],
            "cost": report.cost_words(step.get("cost_min"), step.get("cost_max")),
        }
        for step in row.steps
    ]
    return {
        "findings": row.findings,
        "steps": steps,
        "codes": list(row.trouble_codes),
        "photos": len(row.photo_ids),
    }


# --- reading ----------------------------------------------------------------------------


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
        Notification.user_id == user_id,
        Notification.read_at.is_(None),
        Notification.resolved_at.is_(None),
    )
    return int(s.scalar(stmt) or 0)


def mark_read(s: DbSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> bool:
    """Mark one of the user's notifications read; False when there is no such notification.

    Someone else's notification is "no such notification" too: ids are not a way to learn
    what exists.
    """
    owner = s.scalar(select(Notification.user_id).where(Notification.id == notification_id))
    if owner is None or owner != user_id:
        return False
    s.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return True
