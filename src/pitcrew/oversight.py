"""What an admin may do to a session from the console: move a waiting session to another
mechanic, and cancel one on the customer's behalf.

Reassigning is a transition of its own, outside ``flow``'s tables because no status changes:
the session stays ``waiting`` and its request ``accepted``, and only who holds them moves.
Like every change it is one transaction that locks the pair (request, then session: the
order accept takes them), moves both rows with UPDATEs guarded by what the admin saw (the
session waiting, held by the mechanic they saw), and records its event in the same
transaction. Whatever moved in between (the mechanic joined, handed it back, another admin
reassigned it) makes the guard fail: 409, and nothing changes.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from pitcrew import events, flow, notify, pair, payloads, words
from pitcrew.access import parse_id, require_admin
from pitcrew.admin_schemas import CancelledOut, ReassignedOut
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import Conflict, Invalid
from pitcrew.events import Audience, Kind
from pitcrew.models import RequestStatus, Role, Session, SessionRequest, SessionStatus, User

R = RequestStatus


def reassign(
    db: Database,
    admin: Actor,
    session_id: uuid.UUID | str,
    to_mechanic_id: uuid.UUID,
    from_mechanic_id: uuid.UUID,
) -> ReassignedOut:
    """Move a waiting session, with its request, from the mechanic who holds it to another
    mechanic on duty; both mechanics and the customer see it happen."""
    require_admin(admin)
    sid = parse_id(session_id, "session_id")
    if to_mechanic_id == from_mechanic_id:
        raise Invalid(
            "Choose a different mechanic from the one who holds it.", code="same_mechanic"
        )

    def work(s: DbSession) -> ReassignedOut:
        locked = pair.lock(s, sid)
        _check_unmoved(s, locked, from_mechanic_id)
        target = _on_duty_mechanic(s, to_mechanic_id)
        request = locked.request
        assert request is not None  # checked by _check_unmoved
        held_by = (Session.id == sid, Session.status == SessionStatus.WAITING)
        moved = pair.guarded_update(
            s,
            update(Session)
            .where(*held_by, Session.mechanic_id == from_mechanic_id)
            .values(mechanic_id=target.id),
        )
        accepted = (
            SessionRequest.id == request.id,
            SessionRequest.status == RequestStatus.ACCEPTED,
        )
        moved += pair.guarded_update(
            s,
            update(SessionRequest)
            .where(*accepted, SessionRequest.mechanic_id == from_mechanic_id)
            .values(mechanic_id=target.id),
        )
        if moved != 2:
            raise _moved_meanwhile(SessionStatus.WAITING)
        _record_reassigned(s, admin, locked, from_mechanic_id, target)
        return ReassignedOut(
            session_id=sid,
            mechanic_id=target.id,
            previous_mechanic_id=from_mechanic_id,
            session_status=SessionStatus.WAITING,
        )

    return db.run(work)


def _check_unmoved(s: DbSession, locked: pair.Pair, from_mechanic_id: uuid.UUID) -> None:
    session, request = locked.session, locked.request
    if (
        session.status != SessionStatus.WAITING
        or session.mechanic_id != from_mechanic_id
        or request is None
        or request.status != RequestStatus.ACCEPTED
    ):
        holder = s.get(User, session.mechanic_id) if session.mechanic_id else None
        raise _moved_meanwhile(session.status, holder.name if holder else None)


def _moved_meanwhile(status: SessionStatus, holder: str | None = None) -> Conflict:
    held = f", held by {holder}" if holder else ""
    return Conflict(
        f"This session moved meanwhile: it is now {words.sentence(status)}{held}. "
        "Only a session waiting for the mechanic you saw can be reassigned.",
        code="session_moved",
    )


def _on_duty_mechanic(s: DbSession, mechanic_id: uuid.UUID) -> User:
    """The mechanic to take the session, locked so that going off duty or being deactivated
    waits for this transaction (and then finds the session among theirs)."""
    user = s.scalars(select(User).where(User.id == mechanic_id).with_for_update()).first()
    if user is None or user.role != Role.MECHANIC:
        raise Invalid("Choose a mechanic to take the session.", code="not_a_mechanic")
    if not user.on_duty:
        raise Conflict(f"{user.name} is not on duty.", code="not_on_duty")
    return user


def _record_reassigned(
    s: DbSession, admin: Actor, locked: pair.Pair, from_id: uuid.UUID, target: User
) -> None:
    session = locked.session
    before = s.get(User, from_id)
    payload = payloads.SessionReassigned(
        customer_id=str(session.customer_user_id),
        from_mechanic_id=str(from_id),
        from_mechanic_name=before.name if before else "",
        to_mechanic_id=str(target.id),
        to_mechanic_name=target.name,
        session_status=SessionStatus.WAITING,
        actor_name=admin.name,
    )
    event = events.record(
        s,
        Kind.SESSION_REASSIGNED,
        actor_id=admin.id,
        audience=Audience(users=(session.customer_user_id, from_id, target.id)),
        session_id=session.id,
        request_id=locked.request.id if locked.request else None,
        payload=payload,
    )
    notify.follow(s, event)


def cancel_for_customer(
    db: Database, admin: Actor, session_id: uuid.UUID | str, reason: str
) -> CancelledOut:
    """Cancel a session on its customer's behalf (they called and asked), saying why."""
    require_admin(admin)
    if not reason.strip():
        raise Invalid("Say why the session is cancelled.", code="reason_required")
    status = flow.cancel(db, admin, session_id, reason, for_customer=True)
    return CancelledOut(session_id=parse_id(session_id, "session_id"), session_status=status)
