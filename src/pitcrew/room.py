"""What a session's two parties may read: the session, its request and intake, chat, timeline.

A session is readable by its customer, by the mechanic who holds it, and by an admin;
nobody else, not even other mechanics (``access.check_reader``, the rule every module that
touches a session shares).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased

from pitcrew import access, events, payloads, reads, report, words
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import Forbidden, Invalid, NotFound
from pitcrew.events import Kind
from pitcrew.models import (
    Intake,
    Session,
    SessionMessage,
    SessionRequest,
    SessionStatus,
    User,
)
from pitcrew.payloads import (
    MessageCreated,
    RequestAccepted,
    RequestOffer,
    RequestReleased,
    SessionReassigned,
    SessionUpdated,
)
from pitcrew.schemas import (
    IntakeView,
    MessageOut,
    RequestOut,
    SessionDetail,
    SessionOut,
    TimelineEntry,
)

# Pushes of other things, signalling and read markers: none of them is a step of the session.
TIMELINE_LEAVES_OUT = frozenset({Kind.NOTIFICATION_CREATED, Kind.CALL_SIGNAL, Kind.MESSAGE_READ})


def _open(s: DbSession, actor: Actor, session_id: uuid.UUID | str) -> Session:
    session = access.load_session(s, access.parse_id(session_id, "session_id"))
    access.check_reader(actor, session)
    return session


def may_see(db: Database, actor: Actor, session_id: uuid.UUID | str) -> bool:
    try:
        with db.read() as s:
            _open(s, actor, session_id)
        return True
    except (NotFound, Forbidden, Invalid):
        return False


def _names(s: DbSession, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = s.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    return {row.id: row.name for row in rows}


def detail(db: Database, actor: Actor, session_id: uuid.UUID | str) -> SessionDetail:
    with db.read() as s:
        session = _open(s, actor, session_id)
        request = s.scalar(
            select(SessionRequest).where(SessionRequest.parent_session_id == session.id)
        )
        if request is None:
            raise NotFound("This session has no request.")
        intake = s.get(Intake, session.intake_id) if session.intake_id else None
        names = _names(s, {session.customer_user_id, session.mechanic_id})
        return SessionDetail(
            session=_session_out(
                session,
                names.get(session.customer_user_id, request.customer_name),
                names.get(session.mechanic_id) if session.mechanic_id else None,
            ),
            request=RequestOut.model_validate(request, from_attributes=True),
            intake=IntakeView.model_validate(intake, from_attributes=True) if intake else None,
            report=report.of_session(s, session.id),
        )


def messages(db: Database, actor: Actor, session_id: uuid.UUID | str) -> list[MessageOut]:
    with db.read() as s:
        session = _open(s, actor, session_id)
        sender = aliased(User)
        rows = s.execute(
            select(SessionMessage, sender.name)
            .join(sender, sender.id == SessionMessage.sender_id)
            .where(SessionMessage.session_id == session.id)
            .order_by(SessionMessage.created_at, SessionMessage.id)
        ).all()
        return [MessageOut.of(m, name) for m, name in rows]


def timeline(db: Database, actor: Actor, session_id: uuid.UUID | str) -> list[TimelineEntry]:
    """Who did what when, from the events log (notifications, call signalling and read
    markers left out)."""
    with db.read() as s:
        session = _open(s, actor, session_id)
        rows = [
            e for e in events.session_timeline(s, session.id) if e.kind not in TIMELINE_LEAVES_OUT
        ]
        names = _names(s, {e.actor_id for e in rows})
        entries = []
        for e in rows:
            payload = {k: v for k, v in e.payload.items() if k != "audience"}
            name = names.get(e.actor_id) if e.actor_id else None
            entries.append(
                TimelineEntry(
                    id=e.id,
                    at=e.at,
                    kind=e.kind,
                    actor_id=e.actor_id,
                    actor_name=name,
                    text=tell(e.kind, payload, name),
                    payload=payload,
                )
            )
        return entries


def tell(kind: str, p: dict[str, Any], actor_name: str | None) -> str:
    """One event as a sentence a customer or mechanic reads in the session's timeline."""
    named = actor_name or p.get("actor_name") or p.get("mechanic_name")
    who = named or "Someone"
    if kind == Kind.REQUEST_CREATED:
        offer = payloads.read(RequestOffer, p)
        name = actor_name or offer["customer_name"] or "The customer"
        return f"{name} asked for a {offer['session_type']} session ({offer['plan_code']} plan)."
    if kind == Kind.REQUEST_ACCEPTED:
        return f"{payloads.read(RequestAccepted, p)['mechanic_name'] or who} accepted the request."
    if kind == Kind.REQUEST_RELEASED:
        name = payloads.read(RequestReleased, p)["mechanic_name"] or who
        return f"{name} handed the request back; it was offered again."
    if kind == Kind.REQUEST_EXPIRED:
        return "The request expired: no mechanic accepted it in time."
    if kind == Kind.REQUEST_CANCELLED:
        return "The request was cancelled with the session."
    if kind == Kind.MESSAGE_CREATED:
        sent = payloads.read(MessageCreated, p)["message"].get("photo")
        return f"{who} sent a photo." if sent else f"{who} wrote in the chat."
    if kind == Kind.REPAIR:
        return "pitcrew doctor repaired this session's records."
    if kind == Kind.SESSION_REASSIGNED:
        moved = payloads.read(SessionReassigned, p)
        return (
            f"{moved['actor_name'] or who} moved the session from "
            f"{moved['from_mechanic_name']} to {moved['to_mechanic_name']}."
        )
    if kind != Kind.SESSION_UPDATED:
        return kind
    return _tell_session(payloads.read(SessionUpdated, p), who)


def _tell_session(p: SessionUpdated, who: str) -> str:
    if "rating" in p:
        comment = f": \u201c{p['comment']}\u201d" if p.get("comment") else "."
        return f"{who} rated the session {p['rating']}/5{comment}"
    status = p["session_status"]
    if status == SessionStatus.LIVE:
        return f"{who} joined: the session is live."
    if status == SessionStatus.COMPLETED:
        return f"{who} completed the session."
    if status == SessionStatus.CANCELLED:
        reason = f" ({p['reason']})" if p.get("reason") else ""
        return f"{who} cancelled the session{reason}."
    return f"{who} changed the session: it is now {words.sentence(status)}."


def customer_sessions(db: Database, actor: Actor, *, limit: int = 50) -> list[SessionOut]:
    """A customer's own sessions, newest first (their home page), each with its ``unread``
    messages from the mechanic."""
    with db.read() as s:
        found = s.execute(
            select(Session, reads.unread(Session.id, actor.id))
            .where(Session.customer_user_id == actor.id)
            .order_by(Session.created_at.desc())
            .limit(limit)
        ).all()
        names = _names(s, {r.mechanic_id for r, _ in found})
        return [
            _session_out(
                r, actor.name, names.get(r.mechanic_id) if r.mechanic_id else None, unread or 0
            )
            for r, unread in found
        ]


def _session_out(
    row: Session, customer_name: str, mechanic_name: str | None, unread: int = 0
) -> SessionOut:
    columns = {name: getattr(row, name) for name in SessionOut.model_fields if hasattr(row, name)}
    known = {"customer_name": customer_name, "mechanic_name": mechanic_name, "unread": unread}
    return SessionOut.model_validate(columns | known)


def customer_intakes(
    db: Database, actor: Actor, session_ids: list[uuid.UUID]
) -> dict[uuid.UUID, IntakeView]:
    """The intake behind each of the customer's own sessions, so their list names the vehicle."""
    if not session_ids:
        return {}
    with db.read() as s:
        rows = s.execute(
            select(Session.id, Intake)
            .join(Intake, Intake.id == Session.intake_id)
            .where(Session.customer_user_id == actor.id, Session.id.in_(session_ids))
        ).all()
        return {sid: IntakeView.model_validate(i, from_attributes=True) for sid, i in rows}
