"""When a request and its session disagree, which of them is right, and what would break.

The request is the record of what mechanics did (it is what they accept), so the session is
brought in line with it, except where the session has already moved on (cancelled, live or
completed), which only a person can judge. Every planned repair is checked against the pair
invariants (docs/ARCHITECTURE.md, section "Invariants") before it is offered: a repair that
would leave the pair breaking another invariant only trades one problem for another, so it
is refused and the pair is left to a person.

Statuses may arrive as pitcrew's enums or as the text a database holds; the comparisons are
written against the enums, which equal their text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pitcrew.doctor.words import short
from pitcrew.models import HELD_STATUSES, RequestStatus, SessionStatus

RowValues = Mapping[str, Any]

KNOWN_REQUEST_STATUSES = frozenset(RequestStatus)
KNOWN_SESSION_STATUSES = frozenset(SessionStatus)
# A session the mechanic still answers for, or that ended after they held it.
SHOWN_TO_MECHANIC = frozenset({*HELD_STATUSES, SessionStatus.CANCELLED})
# A session nobody has started in yet: cancelling it takes nothing from anyone.
NOT_STARTED = frozenset({SessionStatus.PENDING, SessionStatus.WAITING})


@dataclass
class Fix:
    """The values each row gets; an empty fix means the pair already agrees."""

    request: dict[str, Any] = field(default_factory=dict)
    session: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unsure:
    """No certain repair: why, in words for the person who must decide."""

    reason: str


# --- the pair invariants, as the SQL in ``invariants`` states them ----------------------


def _held_without_mechanic(request: RowValues | None, session: RowValues) -> bool:
    return session["status"] in HELD_STATUSES and session["mechanic_id"] is None


def _invisible_to_mechanic(request: RowValues | None, session: RowValues) -> bool:
    mechanic = session["mechanic_id"]
    if mechanic is None:
        return False
    if request is None or request["mechanic_id"] != mechanic:
        return True
    status = session["status"]
    if status not in SHOWN_TO_MECHANIC:
        return True
    return status == SessionStatus.CANCELLED and request["status"] not in (
        RequestStatus.ACCEPTED,
        RequestStatus.CANCELLED,
    )


def _mechanic_mismatch(request: RowValues, session: RowValues) -> bool:
    return bool(request["mechanic_id"] != session["mechanic_id"])


def _pending_mismatch(request: RowValues, session: RowValues) -> bool:
    request_pending = request["status"] == RequestStatus.PENDING
    if request_pending != (session["status"] == SessionStatus.PENDING):
        return True
    return request_pending and bool(request["mechanic_id"] or session["mechanic_id"])


def _accepted_not_held(request: RowValues, session: RowValues) -> bool:
    return request["status"] == RequestStatus.ACCEPTED and session["status"] not in HELD_STATUSES


def _closed_request_open_session(request: RowValues, session: RowValues) -> bool:
    closed = request["status"] in (RequestStatus.CANCELLED, RequestStatus.EXPIRED)
    return closed and session["status"] != SessionStatus.CANCELLED


# Invariants a session can break with or without a request pointing at it.
_SESSION_RULES: dict[int, Callable[[RowValues | None, RowValues], bool]] = {
    5: _held_without_mechanic,
    7: _invisible_to_mechanic,
}
# Invariants of a request and its session together.
_PAIR_RULES: dict[int, Callable[[RowValues, RowValues], bool]] = {
    2: _mechanic_mismatch,
    3: _pending_mismatch,
    4: _accepted_not_held,
    6: _closed_request_open_session,
}


def breaks(request: RowValues | None, session: RowValues) -> set[int]:
    """The pair invariants (2 to 7) that a request and its session break, in Python.

    The same rules as ``invariants.INVARIANTS``, so that a planned repair can be checked
    before it is written rather than found broken by the next run.
    """
    found = {number for number, rule in _SESSION_RULES.items() if rule(request, session)}
    if request is not None:
        found |= {number for number, rule in _PAIR_RULES.items() if rule(request, session)}
    return found


# --- the repair of one pair -------------------------------------------------------------


@dataclass(frozen=True)
class _Pair:
    """A request and its session, with the names the rules below speak in."""

    request: RowValues
    session: RowValues
    now: datetime
    request_status: Any
    session_status: Any
    request_mechanic: Any
    session_mechanic: Any

    @classmethod
    def of(cls, request: RowValues, session: RowValues, now: datetime) -> _Pair:
        return cls(
            request,
            session,
            now,
            request_status=request["status"],
            session_status=session["status"],
            request_mechanic=request["mechanic_id"],
            session_mechanic=session["mechanic_id"],
        )

    @property
    def closed_at(self) -> datetime:
        """When the request closed: its own record, else its session's end, else now."""
        return self.request.get("closed_at") or self.session.get("ended_at") or self.now

    @property
    def ended_at(self) -> datetime:
        return self.session.get("ended_at") or self.request.get("closed_at") or self.now

    @property
    def accepted_at(self) -> datetime:
        """The best record of the acceptance: its own, the session's start, its creation."""
        moment: datetime = (
            self.request.get("accepted_at")
            or self.session.get("started_at")
            or self.session["created_at"]
        )
        return moment


def _hand_to(fix: Fix, pair: _Pair, mechanic: Any) -> None:
    """Name ``mechanic`` on whichever row lacks them, and on a session naming another."""
    if pair.request_mechanic is None and mechanic is not None:
        fix.request["mechanic_id"] = mechanic
    if pair.session_mechanic != mechanic:
        fix.session["mechanic_id"] = mechanic


def _cancel_session(pair: _Pair) -> Fix:
    return Fix(session={"status": SessionStatus.CANCELLED, "ended_at": pair.ended_at})


def _cancel_request(pair: _Pair) -> Fix:
    return Fix(request={"status": RequestStatus.CANCELLED, "closed_at": pair.closed_at})


def _accepted(pair: _Pair) -> Fix | Unsure:
    mechanic = pair.request_mechanic or pair.session_mechanic
    if mechanic is None:
        return Unsure("the request is accepted but neither row names a mechanic")
    fix = Fix()
    _hand_to(fix, pair, mechanic)
    if pair.session_status == SessionStatus.PENDING:
        fix.session["status"] = (
            SessionStatus.LIVE if pair.session.get("started_at") else SessionStatus.WAITING
        )
    elif pair.session_status == SessionStatus.CANCELLED:
        # Cancelling a session cancels its request; the request missed that step.
        fix.request.update(_cancel_request(pair).request)
    return fix


def _pending(pair: _Pair) -> Fix | Unsure:
    if pair.request_mechanic is not None:
        return _pending_naming_a_mechanic(pair)
    if pair.session_mechanic is not None:
        return _pending_with_session_held(pair)
    if pair.session_status == SessionStatus.WAITING:
        return Fix(session={"status": SessionStatus.PENDING})
    if pair.session_status == SessionStatus.CANCELLED:
        return _cancel_request(pair)
    if pair.session_status != SessionStatus.PENDING:
        return Unsure(f"the session is {pair.session_status} but nobody accepted its request")
    return Fix()


def _pending_with_session_held(pair: _Pair) -> Fix | Unsure:
    """The session names a mechanic, the request nobody: the request missed an accept."""
    if pair.session_status in HELD_STATUSES:
        return Fix(
            request={
                "status": RequestStatus.ACCEPTED,
                "mechanic_id": pair.session_mechanic,
                "accepted_at": pair.accepted_at,
            }
        )
    if pair.session_status == SessionStatus.PENDING:
        return Fix(session={"mechanic_id": None})
    return Unsure(
        f"the session is {pair.session_status}, held by {short(pair.session_mechanic)},"
        " its request pending"
    )


def _pending_naming_a_mechanic(pair: _Pair) -> Fix | Unsure:
    agreeing = pair.session_mechanic == pair.request_mechanic
    if agreeing and pair.session_status in HELD_STATUSES:
        return Fix(request={"status": RequestStatus.ACCEPTED, "accepted_at": pair.accepted_at})
    return Unsure(f"the request is pending yet names mechanic {short(pair.request_mechanic)}")


def _cancelled(pair: _Pair) -> Fix | Unsure:
    if pair.session_status not in (*NOT_STARTED, SessionStatus.CANCELLED):
        return Unsure(f"the request is cancelled but its session is {pair.session_status}")
    fix = Fix()
    _hand_to(fix, pair, pair.request_mechanic or pair.session_mechanic)
    if pair.session_status in NOT_STARTED:
        fix.session.update(_cancel_session(pair).session)
    return fix


def _expired(pair: _Pair) -> Fix | Unsure:
    """Nobody accepted it in time, unless a mechanic is named: then it was cancelled."""
    if pair.request_mechanic is not None or pair.session_mechanic is not None:
        return _expired_naming_a_mechanic(pair)
    if pair.session_status in NOT_STARTED:
        return _cancel_session(pair)
    if pair.session_status != SessionStatus.CANCELLED:
        return Unsure(f"the request expired but its session is {pair.session_status}")
    return Fix()


def _expired_naming_a_mechanic(pair: _Pair) -> Fix | Unsure:
    request_mechanic, session_mechanic = pair.request_mechanic, pair.session_mechanic
    one_mechanic = request_mechanic is None or session_mechanic is None
    if pair.session_status != SessionStatus.CANCELLED or not (
        one_mechanic or request_mechanic == session_mechanic
    ):
        return Unsure("the request expired yet a mechanic is named on it or its session")
    # A mechanic held it before it was cancelled: it was accepted, not expired.
    mechanic = request_mechanic or session_mechanic
    fix = Fix(
        request={
            "status": RequestStatus.CANCELLED,
            "mechanic_id": mechanic,
            "closed_at": pair.closed_at,
        }
    )
    if session_mechanic != mechanic:
        fix.session["mechanic_id"] = mechanic
    return fix


_BY_REQUEST_STATUS: dict[RequestStatus, Callable[[_Pair], Fix | Unsure]] = {
    RequestStatus.ACCEPTED: _accepted,
    RequestStatus.PENDING: _pending,
    RequestStatus.CANCELLED: _cancelled,
    RequestStatus.EXPIRED: _expired,
}


def agree(request: RowValues, session: RowValues, now: datetime) -> Fix | Unsure:
    """The changes that make a request and its session agree, when they are certain."""
    request_status, session_status = request["status"], session["status"]
    if request_status not in KNOWN_REQUEST_STATUSES:
        return Unsure(f"the request's status {request_status!r} is not one pitcrew knows")
    if session_status not in KNOWN_SESSION_STATUSES:
        return Unsure(f"the session's status {session_status!r} is not one pitcrew knows")
    return _BY_REQUEST_STATUS[RequestStatus(request_status)](_Pair.of(request, session, now))


def certain_fix(request: RowValues, session: RowValues, now: datetime) -> Fix | Unsure:
    """``agree``'s fix, refused when the pair it leaves would still break an invariant."""
    outcome = agree(request, session, now)
    if isinstance(outcome, Unsure):
        return outcome
    if breaks({**request, **outcome.request}, {**session, **outcome.session}):
        return Unsure("no single change makes this request and session agree")
    return outcome
