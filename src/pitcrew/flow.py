"""THE status flow: every way a session and its request change in normal use.

Each public function is one transaction (``Database.run``) that locks or guards the rows it
expects to change, checks the transition against the tables below, updates request and
session together, and records its event in the same transaction. A route calls exactly one
of these. Outside this module only the operator's tools write a status: ``doctor`` when it
repairs a broken pair and ``adopt`` when it takes over the replaced system's rows
(docs/ARCHITECTURE.md, "Status flow"). Chat lines ride on the same locks (``chat``), as do
call signals (``call``).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy import Exists, Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from pitcrew import access, events, notify, pair, payloads, plans, report, vehicles, words
from pitcrew.access import PARTIES, parse_id
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import Conflict, Forbidden, Invalid
from pitcrew.events import Audience, Kind
from pitcrew.models import (
    Event,
    IdempotencyKey,
    Intake,
    RequestStatus,
    Role,
    Session,
    SessionRequest,
    SessionStatus,
    search_text,
    utcnow,
)
from pitcrew.pair import Moved, Pair
from pitcrew.schemas import AcceptOut, CompleteIn, IntakeIn, IntakeOut


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
    # Before a mechanic joins, the customer adds details (and the mechanic holding it may reply).
    Action.MESSAGE: (frozenset({S.PENDING, S.WAITING, S.LIVE}), None),
}

# action -> (request statuses it may start from, request status it leads to); absent: untouched
REQUEST_FLOW: dict[Action, tuple[frozenset[RequestStatus], RequestStatus]] = {
    Action.ACCEPT: (frozenset({R.PENDING}), R.ACCEPTED),
    Action.CANCEL: (frozenset({R.PENDING, R.ACCEPTED}), R.CANCELLED),
    Action.EXPIRE: (frozenset({R.PENDING}), R.EXPIRED),
    Action.RELEASE: (frozenset({R.ACCEPTED}), R.PENDING),
}

CUSTOMER_ONLY: frozenset[Role] = frozenset({Role.CUSTOMER})
MECHANIC_ONLY: frozenset[Role] = frozenset({Role.MECHANIC})


def allowed_actions(status: SessionStatus) -> list[Action]:
    return [a for a, (sources, _) in SESSION_FLOW.items() if status in sources]


def can_request_again(status: SessionStatus) -> bool:
    """A session that ended without help (cancelled or expired) may be requested again."""
    return status == S.CANCELLED


def refuse(action: Action, status: SessionStatus) -> Conflict:
    """The 409 for an action the session's status does not allow, saying what it allows."""
    possible = [str(a) for a in allowed_actions(status) if a is not Action.EXPIRE]
    then = f" It can be: {', '.join(possible)}." if possible else " Nothing more can happen to it."
    return Conflict(
        f"Cannot {action}: this session is {words.sentence(status)}.{then}",
        code="invalid_transition",
    )


def _require_role(actor: Actor, role: Role) -> None:
    if actor.role != role:
        raise Forbidden(f"Only a {role} can do this.")


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

    def work(s: DbSession) -> tuple[IntakeOut, bool]:
        if idempotency_key is not None:
            earlier = _replay(s, customer, idempotency_key, body_hash)
            if earlier is not None:
                return earlier, False
        return _create_intake(s, customer, intake, idempotency_key, body_hash), True

    try:
        return db.run(work)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # Another transaction took the same key first: answer as it did.
        return db.run(work)


def _replay(s: DbSession, customer: Actor, key: str, body_hash: str) -> IntakeOut | None:
    """The answer already given for this key, if any; a different body under it is refused."""
    seen = s.get(IdempotencyKey, (customer.id, key))
    if seen is None:
        return None
    if seen.request_hash != body_hash:
        raise Conflict(
            "This Idempotency-Key was already used with a different intake.",
            code="idempotency_key_reused",
        )
    return IntakeOut.model_validate(seen.response)


def _create_intake(
    s: DbSession, customer: Actor, intake: IntakeIn, key: str | None, body_hash: str
) -> IntakeOut:
    now = utcnow()
    car = vehicles.choose(s, customer, intake)
    row = Intake(
        customer_id=customer.id,
        vehicle_info=car.info,
        vehicle_id=car.vehicle_id,
        issue_description=intake.issue_description,
        id=uuid.uuid4(),
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
        search_text=search_text(customer.name, car.info, intake.issue_description),
    )
    request = SessionRequest.offering(sess, customer.name)
    answer = IntakeOut(
        session_id=sess.id,
        request_id=request.id,
        session_status=sess.status,
        request_status=request.status,
    )
    if key is not None:
        _remember(s, customer, key, body_hash, answer)
    for new in (row, sess, request):
        s.add(new)
        s.flush()
    _emit(
        s,
        Kind.REQUEST_CREATED,
        actor=customer,
        audience=Audience(users=(customer.id,), mechanics=True),
        session_id=sess.id,
        request_id=request.id,
        payload=payloads.offer(request),
    )
    return answer


def _remember(s: DbSession, customer: Actor, key: str, body_hash: str, answer: IntakeOut) -> None:
    """Keep the answer under its key; a concurrent retry with the same key stops here."""
    response = answer.model_dump(mode="json")
    s.add(IdempotencyKey(user_id=customer.id, key=key, request_hash=body_hash, response=response))
    s.flush()


def request_again(db: Database, customer: Actor, session_id: uuid.UUID | str) -> IntakeOut:
    """One click after an expiry or cancel: the same intake, a new linked session and request."""
    sid = parse_id(session_id, "session_id")
    with db.read() as s:
        old = access.load_session(s, sid)
        access.check_party(customer, old, CUSTOMER_ONLY)
        if not can_request_again(old.status) or old.intake_id is None:
            raise Conflict("Only a cancelled session can be requested again.", code="not_cancelled")
        previous = s.get(Intake, old.intake_id)
        assert previous is not None
        again = IntakeIn.model_validate(
            {
                **vehicles.for_intake_again(s, previous),
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
    rid = parse_id(request_id, "request_id")

    def work(s: DbSession) -> AcceptOut:
        won = pair.take_request(s, rid, mechanic.id)
        if won is None:
            return _accept_refused(s, mechanic, rid)
        session_id, customer_id, moved = won
        if moved != 1:
            raise Conflict("The request's session is no longer pending.", code="request_closed")
        payload = payloads.RequestAccepted(
            mechanic_id=str(mechanic.id),
            mechanic_name=mechanic.name,
            customer_id=str(customer_id),
            request_status=R.ACCEPTED,
            session_status=S.WAITING,
        )
        _emit(
            s,
            Kind.REQUEST_ACCEPTED,
            actor=mechanic,
            audience=Audience(users=(customer_id,), mechanics=True),
            session_id=session_id,
            request_id=rid,
            payload=payload,
            held=True,
        )
        events.write_held(s)
        return AcceptOut(
            session_id=session_id,
            request_id=rid,
            mechanic_id=mechanic.id,
            session_status=S.WAITING,
            request_status=R.ACCEPTED,
        )

    return db.run(work)


def _accept_refused(s: DbSession, mechanic: Actor, rid: uuid.UUID) -> AcceptOut:
    stands = pair.standing(s, rid)
    if stands.request_status == R.ACCEPTED and stands.mechanic_id == mechanic.id:
        return AcceptOut(
            session_id=stands.session_id,
            request_id=rid,
            mechanic_id=mechanic.id,
            session_status=stands.session_status,
            request_status=stands.request_status,
        )
    now = f"this session is {words.sentence(stands.session_status)}"
    if stands.request_status == R.ACCEPTED:
        raise Conflict(
            f"Another mechanic accepted this request first; {now}.", code="request_taken"
        )
    raise Conflict(
        f"This request is {stands.request_status} and can no longer be accepted; {now}.",
        code="request_closed",
    )


# --- session transitions ----------------------------------------------------------------


def check_party(actor: Actor, locked: Pair, allowed: frozenset[Role] = PARTIES) -> None:
    """The actor must be one of the ``allowed`` parties of the locked session."""
    held = locked.session.mechanic_id is not None
    if allowed == MECHANIC_ONLY and actor.role == Role.MECHANIC and not held:
        # Nobody holds it, so its state is why no mechanic can do this: the flow table
        # refuses it with a 409 that says so (every held status has its mechanic).
        return
    access.check_party(actor, locked.session, allowed)


def _move(
    s: DbSession,
    action: Action,
    locked: Pair,
    session_values: dict[str, Any],
    request_values: dict[str, Any] | None = None,
) -> Moved:
    """Apply ``action`` to the locked pair with guarded UPDATEs; refuse it if not allowed."""
    sources, target = SESSION_FLOW[action]
    status = locked.session.status
    if status not in sources:
        raise refuse(action, status)
    values = dict(session_values)
    if target is not None:
        values["status"] = target
    session_guard = (Session.id == locked.session.id, Session.status == status)
    if pair.guarded_update(s, update(Session).where(*session_guard).values(**values)) != 1:
        raise refuse(action, status)
    new_request_status: RequestStatus | None = None
    request = locked.request
    if action in REQUEST_FLOW and request is not None:
        req_sources, req_target = REQUEST_FLOW[action]
        if request.status in req_sources:
            guard = (SessionRequest.id == request.id, SessionRequest.status == request.status)
            changes = {"status": req_target, **(request_values or {})}
            if pair.guarded_update(s, update(SessionRequest).where(*guard).values(**changes)) != 1:
                raise refuse(action, status)
            new_request_status = req_target
    return Moved(previous=status, status=target or status, request_status=new_request_status)


def join(db: Database, mechanic: Actor, session_id: uuid.UUID | str) -> SessionStatus:
    """The mechanic opens the live room: waiting → live."""
    sid = parse_id(session_id, "session_id")

    def work(s: DbSession) -> SessionStatus:
        locked = pair.lock(s, sid)
        check_party(mechanic, locked, MECHANIC_ONLY)
        moved = _move(s, Action.JOIN, locked, {"started_at": utcnow()})
        _emit_session(s, mechanic, locked, moved)
        return moved.status

    return db.run(work)


def complete(
    db: Database, mechanic: Actor, session_id: uuid.UUID | str, findings: CompleteIn | str
) -> SessionStatus:
    """The mechanic closes the session with their report: live → completed, and how long it took.

    A bare string is a report holding only its summary. The report is written in the same
    transaction, before the event, so the email that follows can carry it.
    """
    sid = parse_id(session_id, "session_id")
    written = CompleteIn(summary=findings) if isinstance(findings, str) else findings

    def work(s: DbSession) -> SessionStatus:
        locked = pair.lock(s, sid)
        check_party(mechanic, locked, MECHANIC_ONLY)
        summary, now = written.summary, utcnow()
        took = plans.duration_seconds(locked.session.started_at, now)
        found_by = Session.search_text + " " + summary
        values = {
            "ended_at": now,
            "summary": summary,
            "duration_seconds": took,
            "search_text": found_by,
        }
        moved = _move(s, Action.COMPLETE, locked, values)
        report.write(s, sid, written)
        _emit_session(s, mechanic, locked, moved, payloads.SessionDetails(summary=summary))
        return moved.status

    return db.run(work)


def cancel(
    db: Database,
    actor: Actor,
    session_id: uuid.UUID | str,
    reason: str = "",
    *,
    for_customer: bool = False,
) -> SessionStatus:
    """Either party ends a session that has not completed; its request is cancelled with it.
    An admin may do it ``for_customer`` (on the customer's behalf, from the console)."""
    sid = parse_id(session_id, "session_id")

    def work(s: DbSession) -> SessionStatus:
        locked = pair.lock(s, sid)
        if not (for_customer and actor.role == Role.ADMIN):
            check_party(actor, locked)
        now = utcnow()
        moved = _move(s, Action.CANCEL, locked, {"ended_at": now}, {"closed_at": now})
        _emit_session(s, actor, locked, moved, payloads.SessionDetails(reason=reason))
        if moved.request_status is not None and locked.request is not None:
            _emit(
                s,
                Kind.REQUEST_CANCELLED,
                actor=actor,
                audience=Audience(users=(locked.session.customer_user_id,), mechanics=True),
                session_id=sid,
                request_id=locked.request.id,
                payload=payloads.RequestCancelled(request_status=moved.request_status),
            )
        return moved.status

    return db.run(work)


def release(
    db: Database, mechanic: Actor, session_id: uuid.UUID | str, *, by: Actor | None = None
) -> SessionStatus:
    """Hand-back: the mechanic gives up a session before joining; both rows are pending again.
    ``by``: the admin who hands it back for them (an account being deactivated)."""
    sid = parse_id(session_id, "session_id")

    def work(s: DbSession) -> SessionStatus:
        locked = pair.lock(s, sid)
        check_party(mechanic, locked, MECHANIC_ONLY)
        request = locked.request
        assert request is not None  # a held session has its request (invariant 1)
        # What it was before the hand-back: the offer mechanics see again, and when it was taken.
        offer = payloads.offer(request)
        accepted_at = request.accepted_at
        nobody: dict[str, Any] = {"mechanic_id": None}
        moved = _move(s, Action.RELEASE, locked, nobody, {**nobody, "accepted_at": None})
        offer["request_status"] = moved.request_status or R.PENDING
        payload = payloads.RequestReleased(
            **offer,
            mechanic_id=str(mechanic.id),
            mechanic_name=mechanic.name,
            accepted_at=accepted_at.isoformat() if accepted_at else None,
            session_status=moved.status,
        )
        _emit(
            s,
            Kind.REQUEST_RELEASED,
            actor=by or mechanic,
            audience=Audience(users=(locked.session.customer_user_id, mechanic.id), mechanics=True),
            session_id=sid,
            request_id=request.id,
            payload=payload,
        )
        return moved.status

    return db.run(work)


def rate(
    db: Database, customer: Actor, session_id: uuid.UUID | str, rating: int, comment: str = ""
) -> None:
    """The customer rates a completed session, once."""
    sid = parse_id(session_id, "session_id")
    if not 1 <= rating <= 5:
        raise Invalid("Choose a rating from 1 to 5", code="invalid_rating")

    def work(s: DbSession) -> None:
        locked = pair.lock(s, sid)
        check_party(customer, locked, CUSTOMER_ONLY)
        if locked.session.status != S.COMPLETED:
            raise refuse(Action.RATE, locked.session.status)
        unrated = (Session.id == sid, Session.status == S.COMPLETED, Session.rating.is_(None))
        stmt = update(Session).where(*unrated).values(rating=rating, rating_comment=comment or None)
        if pair.guarded_update(s, stmt) != 1:
            raise Conflict(
                "This session is completed and has already been rated.", code="already_rated"
            )
        same = Moved(previous=S.COMPLETED, status=S.COMPLETED, request_status=None)
        _emit_session(
            s, customer, locked, same, payloads.SessionDetails(rating=rating, comment=comment)
        )

    db.run(work)


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
    locked = pair.lock(s, sid)
    request = locked.request
    if request is None or request.status != R.PENDING or request.created_at >= cutoff:
        return False
    if s.scalar(select(_released_since(sid, cutoff))):
        return False
    now = utcnow()
    moved = _move(s, Action.EXPIRE, locked, {"ended_at": now}, {"closed_at": now})
    _emit(
        s,
        Kind.REQUEST_EXPIRED,
        actor=None,
        audience=Audience(users=(locked.session.customer_user_id,), mechanics=True),
        session_id=sid,
        request_id=request.id,
        payload=payloads.RequestExpired(
            request_status=moved.request_status or R.EXPIRED,
            session_status=moved.status,
            customer_id=str(locked.session.customer_user_id),
        ),
    )
    return True


# --- events -----------------------------------------------------------------------------


def _emit(
    s: DbSession,
    kind: Kind,
    *,
    actor: Actor | None,
    audience: Audience,
    session_id: uuid.UUID,
    request_id: uuid.UUID | None = None,
    payload: payloads.Payload,
    held: bool = False,
) -> None:
    """Record the event, then the notifications that follow from it, in the same transaction.

    With ``held`` the events wait for ``events.write_held`` (see ``events.record``).
    """
    event = events.record(
        s,
        kind,
        actor_id=actor.id if actor else None,
        audience=audience,
        session_id=session_id,
        request_id=request_id,
        payload=payload,
        held=held,
    )
    notify.follow(s, event, held=held)


def _emit_session(
    s: DbSession,
    actor: Actor,
    locked: Pair,
    moved: Moved,
    details: payloads.SessionDetails | None = None,
) -> None:
    session = locked.session
    extra = payloads.SessionDetails(**details) if details else payloads.SessionDetails()
    if moved.request_status is not None:
        extra["request_status"] = moved.request_status
    payload = payloads.SessionUpdated(
        session_status=moved.status,
        previous_status=moved.previous,
        customer_id=str(session.customer_user_id),
        mechanic_id=str(session.mechanic_id) if session.mechanic_id else None,
        actor_role=actor.role,
        actor_name=actor.name,
        **extra,
    )
    _emit(
        s,
        Kind.SESSION_UPDATED,
        actor=actor,
        audience=pair.audience(session),
        session_id=session.id,
        request_id=locked.request.id if locked.request is not None else None,
        payload=payload,
    )
