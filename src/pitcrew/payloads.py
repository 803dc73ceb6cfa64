"""What each kind of event carries, written once for the writer and every reader.

``flow``, ``chat`` and ``call`` build these; ``notify``, ``room``, ``metrics`` and the pages
read them back with :func:`read`, which turns the stored JSON into the same shape again
(statuses and roles as their enums), so writer and readers cannot drift apart silently.
The browser receives them as the ``data`` of each Server-Sent Event (docs/ARCHITECTURE.md,
"Events").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter
from typing_extensions import TypedDict

from pitcrew.events import Kind
from pitcrew.models import RequestStatus, Role, SessionRequest, SessionStatus, SessionType
from pitcrew.schemas import SignalKind


class RequestOffer(TypedDict):
    """``request.created``: the offer every mechanic on duty sees."""

    customer_id: str
    customer_name: str
    session_type: SessionType
    plan_code: str
    request_status: RequestStatus
    created_at: str


def offer(request: SessionRequest) -> RequestOffer:
    """The request as mechanics are offered it."""
    return RequestOffer(
        customer_id=str(request.customer_id),
        customer_name=request.customer_name,
        session_type=request.session_type,
        plan_code=request.plan_code,
        request_status=request.status,
        created_at=request.created_at.isoformat(),
    )


class RequestAccepted(TypedDict):
    mechanic_id: str
    mechanic_name: str
    customer_id: str
    request_status: RequestStatus
    session_status: SessionStatus


class RequestReleased(RequestOffer):
    """The offer as it is again, with who handed it back and when they had taken it."""

    mechanic_id: str
    mechanic_name: str
    accepted_at: str | None
    session_status: SessionStatus


class RequestExpired(TypedDict):
    request_status: RequestStatus
    session_status: SessionStatus
    customer_id: str


class RequestCancelled(TypedDict):
    """Seen by every mechanic (the row leaves Incoming): the reason stays with the parties."""

    request_status: RequestStatus


class SessionDetails(TypedDict, total=False):
    """What the move itself brings: the summary, the reason, the rating, the request's status."""

    request_status: RequestStatus
    summary: str
    reason: str
    rating: int
    comment: str


class SessionUpdated(SessionDetails):
    """A session moved (joined, completed, cancelled) or was rated."""

    session_status: SessionStatus
    previous_status: SessionStatus
    customer_id: str
    mechanic_id: str | None
    actor_role: Role
    actor_name: str


class MessageCreated(TypedDict):
    message: dict[str, Any]  # schemas.MessageOut as JSON


class MessageRead(TypedDict):
    """A party's read marker moved forward: their other pages clear the unread mark, and the
    other party's room shows "Seen"."""

    reader_id: str
    message_id: str
    read_until: str


class CallSignal(TypedDict):
    signal: SignalKind
    call_id: str
    from_role: Role
    data: dict[str, Any]
    tab: str | None  # the sending page
    to: str | None  # the page of the other party it is meant for, when the sender knows it


class NotificationCreated(TypedDict):
    title: str
    body: str
    about: str  # the kind of the event it tells of


class SessionReassigned(TypedDict):
    """An admin moved a waiting session (and its request) from one mechanic to another."""

    customer_id: str
    from_mechanic_id: str
    from_mechanic_name: str
    to_mechanic_id: str
    to_mechanic_name: str
    session_status: SessionStatus
    actor_name: str


class AccountChanged(TypedDict):
    """An admin changed an account: what they did, to whom, and what it changed."""

    action: str
    user_id: str
    user_name: str
    detail: str


class EventsPruned(TypedDict):
    up_to: int  # the highest event id the prune deleted; a replay from below it has a gap


Payload = (
    RequestOffer
    | RequestAccepted
    | RequestReleased
    | RequestExpired
    | RequestCancelled
    | SessionUpdated
    | MessageCreated
    | MessageRead
    | CallSignal
    | NotificationCreated
    | EventsPruned
    | SessionReassigned
    | AccountChanged
)

# Each kind's shape; ``doctor.repair`` events carry what the repair found, free-form.
SHAPES: dict[Kind, type[Any]] = {
    Kind.REQUEST_CREATED: RequestOffer,
    Kind.REQUEST_ACCEPTED: RequestAccepted,
    Kind.REQUEST_RELEASED: RequestReleased,
    Kind.REQUEST_EXPIRED: RequestExpired,
    Kind.REQUEST_CANCELLED: RequestCancelled,
    Kind.SESSION_UPDATED: SessionUpdated,
    Kind.MESSAGE_CREATED: MessageCreated,
    Kind.MESSAGE_READ: MessageRead,
    Kind.CALL_SIGNAL: CallSignal,
    Kind.NOTIFICATION_CREATED: NotificationCreated,
    Kind.EVENTS_PRUNED: EventsPruned,
    Kind.SESSION_REASSIGNED: SessionReassigned,
    Kind.ACCOUNT_CHANGED: AccountChanged,
}

T = TypeVar("T")


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def read(shape: type[T], payload: Mapping[str, Any]) -> T:
    """A stored payload as its kind's shape; keys it does not name (the audience) are left out."""
    adapter = _ADAPTERS.get(shape)
    if adapter is None:
        adapter = _ADAPTERS[shape] = TypeAdapter(shape)
    read_back: T = adapter.validate_python(dict(payload))
    return read_back


def session_status(kind: str, payload: Mapping[str, Any]) -> SessionStatus | None:
    """The session status an event led to, for the kinds that name one."""
    try:
        shape = SHAPES.get(Kind(kind))
    except ValueError:  # a kind this version does not write
        return None
    if shape is None:
        return None
    status: SessionStatus | None = read(shape, payload).get("session_status")
    return status
