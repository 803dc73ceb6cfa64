"""THE status flow: every way a session and its request change, and nothing else.

Each public function is one transaction (``Database.run``) that locks or guards the rows it
expects to change, checks the transition against the tables below, updates request and
session together, and records its event in the same transaction. A route calls exactly one
of these; no other module writes a status.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy import Exists, Row, Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from pitcrew import events, notify
from pitcrew.db import Database
from pitcrew.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from pitcrew.events import Audience, Kind
from pitcrew.models import (
    Event,
    IdempotencyKey,
    Intake,
    RequestStatus,
    Role,
    Session,
    SessionMessage,
    SessionRequest,
    SessionStatus,
    SessionType,
    User,
    utcnow,
)
from pitcrew.schemas import AcceptOut, IntakeIn, IntakeOut, MessageOut, PhotoOut, SignalKind


@dataclass(frozen=True)
class Actor:
    """The signed-in user a change is made by."""

    id: uuid.UUID
    role: Role
    name: str


class Action(StrEnum):
    ACCEPT = "accept"
    JOIN = "join"
    COMPLETE = "complete"
    CANCEL = "cancel"
    EXPIRE = "expire"
    RELEASE = "release"
    RATE = "rate"
    MESSAGE = "message"


S = SessionStatus
R = RequestStatus

# action -> (session statuses it may start from, session status it leads to)
SESSION_FLOW: dict[Action, tuple[frozenset[SessionStatus], SessionStatus | None]] = {
    Action.ACCEPT: (frozenset({S.PENDING}), S.WAITING),
    Action.JOIN: (frozenset({S.WAITING}), S.LIVE),
    Action.COMPLETE: (frozenset({S.LIVE}), S.COMPLETED),
    Action.CANCEL: (frozenset({S.PENDING, S.WAITING, S.LIVE}), S.CANCELLED),
    Action.EXPIRE: (frozenset({S.PENDING}), S.CANCELLED),
    Action.RELEASE: (frozenset({S.WAITING}), S.PENDING),
    Action.RATE: (frozenset({S.COMPLETED}), None),
    Action.MESSAGE: (frozenset({S.LIVE}), None),
}

# action -> (request statuses it may start from, request status it leads to); absent: untouched
REQUEST_FLOW: dict[Action, tuple[frozenset[RequestStatus], RequestStatus]] = {
    Action.ACCEPT: (frozenset({R.PENDING}), R.ACCEPTED),
    Action.CANCEL: (frozenset({R.PENDING, R.ACCEPTED}), R.CANCELLED),
    Action.EXPIRE: (frozenset({R.PENDING}), R.EXPIRED),
    Action.RELEASE: (frozenset({R.ACCEPTED}), R.PENDING),
}

STATUS_WORDS = {
    S.PENDING: "waiting for a mechanic",
    S.WAITING: "accepted and waiting for the mechanic to join",
    S.LIVE: "live",
    S.COMPLETED: "completed",
    S.CANCELLED: "cancelled",
}


def allowed_actions(status: SessionStatus) -> list[Action]:
    return [a for a, (sources, _) in SESSION_FLOW.items() if status in sources]


def can_request_again(status: SessionStatus) -> bool:
    """A session that ended without help (cancelled or expired) may be requested again."""
    return status == S.CANCELLED


def _refuse(action: Action, status: str) -> Conflict:
    current = SessionStatus(status)
    possible = [str(a) for a in allowed_actions(current) if a is not Action.EXPIRE]
    then = f" It can be: {', '.join(possible)}." if possible else " Nothing more can happen to it."
    return Conflict(
        f"Cannot {action}: this session is {STATUS_WORDS[current]}.{then}",
        code="invalid_transition",
    )


def _require_role(actor: Actor, role: Role) -> None:
    if actor.role != role:
        raise Forbidden(f"Only a {role} can do this.")


def _parse_id(value: uuid.UUID | str, what: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Invalid(f"{what} must be a UUID.", code="invalid_id") from None


# --- intake -----------------------------------------------------------------------------


def start_intake(
    db: Database, customer: Actor, intake: IntakeIn, *, idempotency_key: str | None = None
) -> tuple[IntakeOut, bool]:
    """Create the intake, its session and its request, linked, in one transaction.

    Returns the answer and whether it was created now (False when an ``Idempotency-Key``
    replayed an earlier answer). The same key with a different body is refused.
    """
    _require_role(customer, Role.CUSTOMER)
    if idempotency_key is not None and not (0 < len(idempotency_key.strip()) <= 200):
        raise Invalid(
            "Idempotency-Key must be 1 to 200 characters, not all blank.",
            code="invalid_idempotency_key",
        )
    body_hash = hashlib.sha256(intake.model_dump_json().encode()).hexdigest()

    def replay(s: DbSession) -> tuple[IntakeOut, bool] | None:
        if idempotency_key is None:
            return None
        seen = s.get(IdempotencyKey, (customer.id, idempotency_key))
        if seen is None:
            return None
        if seen.request_hash != body_hash:
            raise Conflict(
                "This Idempotency-Key was already used with a different intake.",
                code="idempotency_key_reused",
            )
        return IntakeOut.model_validate(seen.response), False

    def work(s: DbSession) -> tuple[IntakeOut, bool]:
        earlier = replay(s)
        if earlier is not None:
            return earlier
        now = utcnow()
        row = Intake(
            id=uuid.uuid4(),
            customer_id=customer.id,
            vehicle_info=intake.vehicle.model_dump(exclude_none=True),
            issue_description=intake.issue_description,
            created_at=now,
        )
        sess = Session(
            id=uuid.uuid4(),
            customer_user_id=customer.id,
            type=intake.session_type,
            plan_code=intake.plan_code,
            status=S.PENDING,
            intake_id=row.id,
            created_at=now,
        )
        request = SessionRequest(
            id=uuid.uuid4(),
            customer_id=customer.id,
            customer_name=customer.name,
            session_type=intake.session_type,
            plan_code=intake.plan_code,
            status=R.PENDING,
            parent_session_id=sess.id,
            created_at=now,
        )
        answer = IntakeOut(
            session_id=sess.id,
            request_id=request.id,
            session_status=sess.status,
            request_status=request.status,
        )
        if idempotency_key is not None:
            s.add(
                IdempotencyKey(
                    user_id=customer.id,
                    key=idempotency_key,
                    request_hash=body_hash,
                    response=answer.model_dump(mode="json"),
                    created_at=now,
                )
            )
            s.flush()  # a concurrent retry with the same key stops here
        s.add(row)
        s.flush()
        s.add(sess)
        s.flush()
        s.add(request)
        s.flush()
        _emit(
            s,
            Kind.REQUEST_CREATED,
            actor=customer,
            audience=Audience(users=(customer.id,), mechanics=True),
            session_id=sess.id,
            request_id=request.id,
            payload=_request_payload(request),
        )
        return answer, True

    try:
        return db.run(work)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # Another transaction took the same key first: answer as it did.
        return db.run(work)


def request_again(db: Database, customer: Actor, session_id: uuid.UUID | str) -> IntakeOut:
    """One click after an expiry or cancel: the same intake, a new linked session and request."""
    sid = _parse_id(session_id, "session_id")
    with db.read() as s:
        old = s.get(Session, sid)
        if old is None:
            raise NotFound("No such session.")
        if old.customer_user_id != customer.id:
            raise Forbidden("This session is not yours.")
        if not can_request_again(SessionStatus(old.status)) or old.intake_id is None:
            raise Conflict("Only a cancelled session can be requested again.", code="not_cancelled")
        previous = s.get(Intake, old.intake_id)
        assert previous is not None
        again = IntakeIn.model_validate(
            {
                "vehicle": previous.vehicle_info,
                "issue_description": previous.issue_description,
                "session_type": old.type,
                "plan_code": old.plan_code,
            }
        )
    answer, _ = start_intake(db, customer, again)
    return answer


# --- accept -----------------------------------------------------------------------------


def accept(db: Database, mechanic: Actor, request_id: uuid.UUID | str) -> AcceptOut:
    """The race: the first mechanic to move the request out of ``pending`` wins.

    The guarded UPDATE on the request decides the winner (on PostgreSQL a racing UPDATE
    waits for the winner's commit, then finds no pending row); the session moves in the same
    transaction, and the deferred foreign key refuses a commit where they disagree. Accepting
    again by the winner returns the same answer.
    """
    _require_role(mechanic, Role.MECHANIC)
    rid = _parse_id(request_id, "request_id")

    def work(s: DbSession) -> AcceptOut:
        now = utcnow()
        won = s.execute(
            update(SessionRequest)
            .where(SessionRequest.id == rid, SessionRequest.status == R.PENDING)
            .values(status=R.ACCEPTED, mechanic_id=mechanic.id, accepted_at=now)
            .returning(SessionRequest.parent_session_id, SessionRequest.customer_id)
        ).first()
        if won is None:
            return _accept_refused(s, mechanic, rid)
        session_id, customer_id = won
        moved = s.execute(
            update(Session)
            .where(
                Session.id == session_id,
                Session.status == S.PENDING,
                Session.mechanic_id.is_(None),
            )
            .values(status=S.WAITING, mechanic_id=mechanic.id)
            .returning(Session.id)
        ).first()
        if moved is None:
            raise Conflict("The request's session is no longer pending.", code="request_closed")
        _emit(
            s,
            Kind.REQUEST_ACCEPTED,
            actor=mechanic,
            audience=Audience(users=(customer_id,), mechanics=True),
            session_id=session_id,
            request_id=rid,
            payload={
                "mechanic_id": str(mechanic.id),
                "mechanic_name": mechanic.name,
                "customer_id": str(customer_id),
                "request_status": R.ACCEPTED,
                "session_status": S.WAITING,
            },
        )
        return AcceptOut(
            session_id=session_id,
            request_id=rid,
            mechanic_id=mechanic.id,
            session_status=S.WAITING,
            request_status=R.ACCEPTED,
        )

    return db.run(work)


def _accept_refused(s: DbSession, mechanic: Actor, rid: uuid.UUID) -> AcceptOut:
    current = s.execute(
        select(
            SessionRequest.status,
            SessionRequest.mechanic_id,
            SessionRequest.parent_session_id,
            Session.status,
        )
        .join(Session, Session.id == SessionRequest.parent_session_id)
        .where(SessionRequest.id == rid)
    ).first()
    if current is None:
        raise NotFound("No such request.")
    status, holder, session_id, session_status = current
    if status == R.ACCEPTED and holder == mechanic.id:
        return AcceptOut(
            session_id=session_id,
            request_id=rid,
            mechanic_id=mechanic.id,
            session_status=str(session_status),
            request_status=status,
        )
    now = f"this session is {STATUS_WORDS[SessionStatus(session_status)]}"
    if status == R.ACCEPTED:
        raise Conflict(
            f"Another mechanic accepted this request first; {now}.", code="request_taken"
        )
    raise Conflict(
        f"This request is {status} and can no longer be accepted; {now}.", code="request_closed"
    )


# --- session transitions ----------------------------------------------------------------


@dataclass
class _Pair:
    session: Row[*tuple[Any, ...]]
    request: Row[*tuple[Any, ...]] | None


def _lock_pair(s: DbSession, sid: uuid.UUID) -> _Pair:
    """Lock request, then session (the order accept takes them in), and read both."""
    request = s.execute(
        select(SessionRequest.id, SessionRequest.status, SessionRequest.mechanic_id)
        .where(SessionRequest.parent_session_id == sid)
        .with_for_update()
    ).first()
    session = s.execute(
        select(
            Session.id,
            Session.status,
            Session.customer_user_id,
            Session.mechanic_id,
            Session.rating,
        )
        .where(Session.id == sid)
        .with_for_update()
    ).first()
    if session is None:
        raise NotFound("No such session.")
    return _Pair(session=session, request=request)


def _check_party(actor: Actor, pair: _Pair, *, customer: bool, mechanic: bool) -> None:
    is_customer = pair.session.customer_user_id == actor.id
    is_mechanic = pair.session.mechanic_id is not None and pair.session.mechanic_id == actor.id
    if (customer and is_customer) or (mechanic and is_mechanic):
        return
    unheld = pair.session.mechanic_id is None
    if mechanic and not customer and actor.role == Role.MECHANIC and unheld:
        # Nobody holds it, so its state is why no mechanic can do this: the flow table
        # refuses it with a 409 that says so (every held status has its mechanic).
        return
    if is_customer or is_mechanic:
        who = "its customer" if customer and not mechanic else "its mechanic"
        raise Forbidden(f"Only {who} can do this.")
    raise Forbidden("This session is not yours.")


def _move(
    s: DbSession,
    action: Action,
    pair: _Pair,
    session_values: dict[str, Any],
    request_values: dict[str, Any] | None = None,
) -> tuple[SessionStatus, RequestStatus | None]:
    """Apply ``action`` to the locked pair with guarded UPDATEs; refuse it if not allowed."""
    sources, target = SESSION_FLOW[action]
    status = pair.session.status
    if status not in sources:
        raise _refuse(action, status)
    values = dict(session_values)
    if target is not None:
        values["status"] = target
    done = s.execute(
        update(Session)
        .where(Session.id == pair.session.id, Session.status == status)
        .values(**values)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise _refuse(action, status)
    new_request_status: RequestStatus | None = None
    if action in REQUEST_FLOW and pair.request is not None:
        req_sources, req_target = REQUEST_FLOW[action]
        if pair.request.status in req_sources:
            moved = s.execute(
                update(SessionRequest)
                .where(
                    SessionRequest.id == pair.request.id,
                    SessionRequest.status == pair.request.status,
                )
                .values(status=req_target, **(request_values or {}))
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise _refuse(action, status)
            new_request_status = req_target
    return SessionStatus(target or status), new_request_status


def _session_audience(pair: _Pair) -> Audience:
    users = [pair.session.customer_user_id]
    if pair.session.mechanic_id is not None:
        users.append(pair.session.mechanic_id)
    return Audience(users=tuple(users))


def join(db: Database, mechanic: Actor, session_id: uuid.UUID | str) -> SessionStatus:
    """The mechanic opens the live room: waiting → live."""
    sid = _parse_id(session_id, "session_id")

    def work(s: DbSession) -> SessionStatus:
        pair = _lock_pair(s, sid)
        _check_party(mechanic, pair, customer=False, mechanic=True)
        status, _ = _move(s, Action.JOIN, pair, {"started_at": utcnow()})
        _emit_session(s, mechanic, pair, status)
        return status

    return db.run(work)


def complete(
    db: Database, mechanic: Actor, session_id: uuid.UUID | str, summary: str
) -> SessionStatus:
    """The mechanic closes the session with what they found: live → completed."""
    sid = _parse_id(session_id, "session_id")

    def work(s: DbSession) -> SessionStatus:
        pair = _lock_pair(s, sid)
        _check_party(mechanic, pair, customer=False, mechanic=True)
        status, _ = _move(s, Action.COMPLETE, pair, {"ended_at": utcnow(), "summary": summary})
        _emit_session(s, mechanic, pair, status, summary=summary)
        return status

    return db.run(work)


def cancel(
    db: Database, actor: Actor, session_id: uuid.UUID | str, reason: str = ""
) -> SessionStatus:
    """Either party ends a session that has not completed; its request is cancelled with it."""
    sid = _parse_id(session_id, "session_id")

    def work(s: DbSession) -> SessionStatus:
        pair = _lock_pair(s, sid)
        _check_party(actor, pair, customer=True, mechanic=True)
        now = utcnow()
        status, request_status = _move(
            s, Action.CANCEL, pair, {"ended_at": now}, {"closed_at": now}
        )
        _emit_session(s, actor, pair, status, reason=reason, request_status=request_status)
        if request_status is not None and pair.request is not None:
            _emit(
                s,
                Kind.REQUEST_CANCELLED,
                actor=actor,
                audience=Audience(users=(pair.session.customer_user_id,), mechanics=True),
                session_id=sid,
                request_id=pair.request.id,
                payload={"request_status": request_status, "reason": reason},
            )
        return status

    return db.run(work)


def release(db: Database, mechanic: Actor, session_id: uuid.UUID | str) -> SessionStatus:
    """Hand-back: the mechanic gives up a session before joining; both rows are pending again."""
    sid = _parse_id(session_id, "session_id")

    def work(s: DbSession) -> SessionStatus:
        pair = _lock_pair(s, sid)
        _check_party(mechanic, pair, customer=False, mechanic=True)
        request = s.scalar(select(SessionRequest).where(SessionRequest.parent_session_id == sid))
        # What it was before the hand-back: the offer mechanics see again, and when it was taken.
        offer = _request_payload(request) if request is not None else {}
        accepted_at = request.accepted_at if request is not None else None
        status, _ = _move(
            s,
            Action.RELEASE,
            pair,
            {"mechanic_id": None},
            {"mechanic_id": None, "accepted_at": None},
        )
        assert pair.request is not None
        _emit(
            s,
            Kind.REQUEST_RELEASED,
            actor=mechanic,
            audience=Audience(users=(pair.session.customer_user_id, mechanic.id), mechanics=True),
            session_id=sid,
            request_id=pair.request.id,
            payload={
                **offer,
                "mechanic_id": str(mechanic.id),
                "mechanic_name": mechanic.name,
                "accepted_at": accepted_at.isoformat() if accepted_at else None,
                "request_status": R.PENDING,
                "session_status": status,
            },
        )
        return status

    return db.run(work)


def rate(
    db: Database, customer: Actor, session_id: uuid.UUID | str, rating: int, comment: str = ""
) -> None:
    """The customer rates a completed session, once."""
    sid = _parse_id(session_id, "session_id")
    if not 1 <= rating <= 5:
        raise Invalid("rating must be between 1 and 5.", code="invalid_rating")

    def work(s: DbSession) -> None:
        pair = _lock_pair(s, sid)
        _check_party(customer, pair, customer=True, mechanic=False)
        if pair.session.status != S.COMPLETED:
            raise _refuse(Action.RATE, pair.session.status)
        done = s.execute(
            update(Session)
            .where(Session.id == sid, Session.status == S.COMPLETED, Session.rating.is_(None))
            .values(rating=rating, rating_comment=comment or None)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(
                "This session is completed and has already been rated.", code="already_rated"
            )
        _emit_session(s, customer, pair, S.COMPLETED, rating=rating, comment=comment)

    db.run(work)


def post_message(db: Database, actor: Actor, session_id: uuid.UUID | str, body: str) -> MessageOut:
    """A chat line in a live session, from its customer or its mechanic."""
    sid = _parse_id(session_id, "session_id")
    body = body.strip()
    if not body:
        raise Invalid("A message cannot be empty.", code="empty_message")
    return _add_message(db, actor, sid, body)


@dataclass(frozen=True)
class Attachment:
    """A photo already safely on disk (paths relative to MEDIA_DIR), waiting for its message."""

    path: str
    content_type: str
    width: int
    height: int
    size: int
    thumbnail_path: str


def message_photo(message: SessionMessage) -> PhotoOut | None:
    """The photo a message carries, as clients see it (URLs, never disk paths)."""
    if message.attachment_path is None:
        return None
    url = f"/api/sessions/{message.session_id}/photos/{message.id}"
    return PhotoOut(
        url=url,
        thumbnail_url=f"{url}/thumb",
        content_type=message.attachment_type or "",
        width=message.attachment_width or 0,
        height=message.attachment_height or 0,
        bytes=message.attachment_bytes or 0,
    )


def _check_may_message(actor: Actor, pair: _Pair) -> None:
    _check_party(actor, pair, customer=True, mechanic=True)
    if pair.session.status not in SESSION_FLOW[Action.MESSAGE][0]:
        raise _refuse(Action.MESSAGE, pair.session.status)


def _add_message(
    db: Database,
    actor: Actor,
    sid: uuid.UUID,
    body: str,
    attachment: Attachment | None = None,
) -> MessageOut:
    """A chat message row and its event in one transaction, text and photo alike."""
    files: dict[str, Any] = {}
    if attachment is not None:
        files = {
            "attachment_path": attachment.path,
            "attachment_type": attachment.content_type,
            "attachment_width": attachment.width,
            "attachment_height": attachment.height,
            "attachment_bytes": attachment.size,
            "thumbnail_path": attachment.thumbnail_path,
        }

    def work(s: DbSession) -> MessageOut:
        pair = _lock_pair(s, sid)
        _check_may_message(actor, pair)
        message = SessionMessage(
            id=uuid.uuid4(),
            session_id=sid,
            sender_id=actor.id,
            body=body,
            created_at=utcnow(),
            **files,
        )
        s.add(message)
        s.flush()
        out = MessageOut(
            id=message.id,
            session_id=sid,
            sender_id=actor.id,
            sender_name=actor.name,
            body=body,
            created_at=message.created_at,
            photo=message_photo(message),
        )
        events.record(
            s,
            Kind.MESSAGE_CREATED,
            actor_id=actor.id,
            audience=_session_audience(pair),
            session_id=sid,
            payload={"message": out.model_dump(mode="json")},
        )
        return out

    return db.run(work)


def check_may_post(db: Database, actor: Actor, session_id: uuid.UUID | str) -> None:
    """Refuse now what :func:`post_photo` would refuse, so a refused photo is never stored."""
    sid = _parse_id(session_id, "session_id")
    with db.read() as s:
        row = s.execute(
            select(
                Session.id,
                Session.status,
                Session.customer_user_id,
                Session.mechanic_id,
                Session.rating,
            ).where(Session.id == sid)
        ).first()
        if row is None:
            raise NotFound("No such session.")
        _check_may_message(actor, _Pair(session=row, request=None))


def post_photo(
    db: Database,
    actor: Actor,
    session_id: uuid.UUID | str,
    attachment: Attachment,
    caption: str = "",
) -> MessageOut:
    """A photo in the chat of a live session: the message row for files already on disk.

    The caller writes the files first; this commits the row and its event together, so a
    message never names a file that is not there.
    """
    return _add_message(db, actor, _parse_id(session_id, "session_id"), caption.strip(), attachment)


# --- video calls ------------------------------------------------------------------------

# A call runs only while its session is live: it cannot start before the mechanic joins
# nor outlive completion or cancellation.
CALL_STATUSES = frozenset({S.LIVE})
MAX_SIGNAL_BYTES = 32 * 1024
_SIGNAL_NEEDS: dict[SignalKind, tuple[str, type]] = {
    SignalKind.OFFER: ("sdp", str),
    SignalKind.ANSWER: ("sdp", str),
    SignalKind.ICE: ("candidates", list),
}


def signal(
    db: Database,
    actor: Actor,
    session_id: uuid.UUID | str,
    kind: SignalKind,
    call_id: str,
    data: dict[str, Any] | None = None,
) -> int:
    """Pass one WebRTC signalling message to the other party of a live video session.

    It is recorded like every change, so a page that lost its stream replays what it missed,
    but only the other party ever sees it. Returns the event id.
    """
    sid = _parse_id(session_id, "session_id")
    data = dict(data or {})
    if len(json.dumps(data, separators=(",", ":"))) > MAX_SIGNAL_BYTES:
        raise TooLarge(
            f"A call signal can be at most {MAX_SIGNAL_BYTES // 1024} KiB.", code="signal_too_large"
        )
    needed = _SIGNAL_NEEDS.get(kind)
    if needed is not None and not isinstance(data.get(needed[0]), needed[1]):
        raise Invalid(f"A {kind} signal needs data.{needed[0]}.", code="invalid_signal")

    def work(s: DbSession) -> int:
        pair = _lock_pair(s, sid)
        _check_party(actor, pair, customer=True, mechanic=True)
        status = pair.session.status
        if status not in CALL_STATUSES:
            raise Conflict(
                f"No call now: this session is {STATUS_WORDS[SessionStatus(status)]}."
                " Calls run while it is live.",
                code="call_closed",
            )
        if s.scalar(select(Session.type).where(Session.id == sid)) != SessionType.VIDEO:
            raise Conflict(
                "This is a chat session; calls are for video sessions.", code="not_video"
            )
        is_customer = actor.id == pair.session.customer_user_id
        other = pair.session.mechanic_id if is_customer else pair.session.customer_user_id
        assert other is not None  # a live session has its mechanic
        event = events.record(
            s,
            Kind.CALL_SIGNAL,
            actor_id=actor.id,
            audience=Audience(users=(other,)),
            session_id=sid,
            payload={
                "signal": kind,
                "call_id": call_id,
                "from_role": Role.CUSTOMER if is_customer else Role.MECHANIC,
                "data": data,
            },
        )
        return event.id

    return db.run(work)


# --- expiry -----------------------------------------------------------------------------


def expire_due(
    db: Database, ttl: timedelta, *, now: datetime | None = None, batch: int = 100
) -> int:
    """Expire pending requests older than ``ttl`` and cancel their sessions.

    One indexed query finds candidates; each is then expired in its own guarded transaction,
    so a mechanic accepting at the same moment either wins (and the expiry skips it) or loses
    with a 409. Safe to run in several processes at once. A request handed back by its
    mechanic waits a whole ``ttl`` again from the hand-back, so it is really offered anew.
    """
    cutoff = (now or utcnow()) - ttl
    with db.read() as s:
        due = list(s.scalars(due_for_expiry(cutoff, batch)))
    expired = 0
    for sid in due:
        if db.run(partial(_expire_one, sid=sid, cutoff=cutoff)):
            expired += 1
    return expired


def due_for_expiry(cutoff: datetime, batch: int = 100) -> Select[uuid.UUID]:
    """The sessions of pending requests waiting since before ``cutoff``, oldest first.

    Served by the partial index of pending requests, so its cost follows the few pending
    requests, not the whole history.
    """
    return (
        select(SessionRequest.parent_session_id)
        .where(
            SessionRequest.status == R.PENDING,
            SessionRequest.created_at < cutoff,
            ~_released_since(SessionRequest.parent_session_id, cutoff),
        )
        .order_by(SessionRequest.created_at)
        .limit(batch)
    )


def _released_since(session_id: Any, cutoff: datetime) -> Exists:
    """Whether the session's request was handed back at or after ``cutoff``."""
    return (
        select(Event.id)
        .where(
            Event.session_id == session_id,
            Event.kind == Kind.REQUEST_RELEASED,
            Event.at >= cutoff,
        )
        .exists()
    )


def _expire_one(s: DbSession, *, sid: uuid.UUID, cutoff: datetime) -> bool:
    pair = _lock_pair(s, sid)
    if pair.request is None or pair.request.status != R.PENDING:
        return False
    created = s.scalar(
        select(SessionRequest.created_at).where(SessionRequest.id == pair.request.id)
    )
    if created is None or created >= cutoff:
        return False
    if s.scalar(select(_released_since(sid, cutoff))):
        return False
    now = utcnow()
    status, request_status = _move(s, Action.EXPIRE, pair, {"ended_at": now}, {"closed_at": now})
    _emit(
        s,
        Kind.REQUEST_EXPIRED,
        actor=None,
        audience=Audience(users=(pair.session.customer_user_id,), mechanics=True),
        session_id=sid,
        request_id=pair.request.id,
        payload={
            "request_status": request_status or R.EXPIRED,
            "session_status": status,
            "customer_id": str(pair.session.customer_user_id),
        },
    )
    return True


# --- mechanics --------------------------------------------------------------------------


def set_on_duty(db: Database, mechanic: Actor, on_duty: bool) -> bool:
    """On duty means: notified of every new request."""
    return _set_mechanic_switch(db, mechanic, "on_duty", on_duty)


def set_email_notifications(db: Database, mechanic: Actor, enabled: bool) -> bool:
    """Opt in to an email for every new request while on duty (customers always get theirs)."""
    return _set_mechanic_switch(db, mechanic, "notify_by_email", enabled)


def _set_mechanic_switch(db: Database, mechanic: Actor, column: str, value: bool) -> bool:
    _require_role(mechanic, Role.MECHANIC)

    def work(s: DbSession) -> bool:
        s.execute(update(User).where(User.id == mechanic.id).values({column: value}))
        return value

    return db.run(work)


# --- events -----------------------------------------------------------------------------


def _request_payload(request: SessionRequest) -> dict[str, Any]:
    return {
        "customer_id": str(request.customer_id),
        "customer_name": request.customer_name,
        "session_type": request.session_type,
        "plan_code": request.plan_code,
        "request_status": request.status,
        "created_at": request.created_at.isoformat(),
    }


def _emit(
    s: DbSession,
    kind: Kind,
    *,
    actor: Actor | None,
    audience: Audience,
    session_id: uuid.UUID,
    request_id: uuid.UUID | None = None,
    payload: dict[str, Any],
) -> None:
    """Record the event, then the notifications that follow from it, in the same transaction."""
    event = events.record(
        s,
        kind,
        actor_id=actor.id if actor else None,
        audience=audience,
        session_id=session_id,
        request_id=request_id,
        payload=payload,
    )
    notify.follow(s, event)


def _emit_session(
    s: DbSession,
    actor: Actor,
    pair: _Pair,
    status: SessionStatus,
    *,
    request_status: RequestStatus | None = None,
    **details: Any,
) -> None:
    payload: dict[str, Any] = {
        "session_status": status,
        "previous_status": pair.session.status,
        "customer_id": str(pair.session.customer_user_id),
        "mechanic_id": str(pair.session.mechanic_id) if pair.session.mechanic_id else None,
        "actor_role": actor.role,
        "actor_name": actor.name,
        **details,
    }
    if request_status is not None:
        payload["request_status"] = request_status
    _emit(
        s,
        Kind.SESSION_UPDATED,
        actor=actor,
        audience=_session_audience(pair),
        session_id=pair.session.id,
        request_id=pair.request.id if pair.request is not None else None,
        payload=payload,
    )
