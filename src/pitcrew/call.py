"""Video calls: what a party's browser needs before it calls, and the signalling it sends.

The call itself is browser to browser (WebRTC); pitcrew only carries its signalling
(:func:`signal`) over the events stream, to the other party alone. ICE servers may hold
TURN credentials, so only the session's customer and its mechanic are given them.

A party has one call, whichever of their pages it is in. Each page sends its own random
``tab`` id with its signals (and ``to``, the other party's page, once it knows it), and a
page that joins the call first sends a ``claim``: that one goes to the sender's own other
pages, which let the call go. Nothing of this is stored beyond the signal's event.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.orm import Session as DbSession

from pitcrew import access, events, pair, words
from pitcrew.access import parse_id
from pitcrew.auth import Actor
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.errors import Conflict, Invalid, TooLarge
from pitcrew.events import Audience, Kind
from pitcrew.models import Role, SessionStatus, SessionType
from pitcrew.payloads import CallSignal
from pitcrew.schemas import CallOut, SignalKind

# A call runs only while its session is live: it cannot start before the mechanic joins
# nor outlive completion or cancellation.
CALL_STATUSES = frozenset({SessionStatus.LIVE})
MAX_SIGNAL_BYTES = 32 * 1024
_SIGNAL_NEEDS: dict[SignalKind, tuple[str, type]] = {
    SignalKind.OFFER: ("sdp", str),
    SignalKind.ANSWER: ("sdp", str),
    SignalKind.ICE: ("candidates", list),
}


def setup(db: Database, actor: Actor, session_id: uuid.UUID, settings: Settings) -> CallOut:
    with db.read() as s:
        session = access.load_session(s, session_id)
        role = access.check_party(actor, session)
        return CallOut(
            session_id=session_id,
            session_type=session.type,
            session_status=session.status,
            role=role,
            ice_servers=[server.model_dump(exclude_none=True) for server in settings.ice_servers],
            max_signal_bytes=MAX_SIGNAL_BYTES,
        )


def signal(
    db: Database,
    actor: Actor,
    session_id: uuid.UUID | str,
    kind: SignalKind,
    call_id: str,
    data: dict[str, Any] | None = None,
    *,
    tab: str | None = None,
    to: str | None = None,
) -> int:
    """Pass one WebRTC signalling message to the other party of a live video session.

    It is recorded like every change, so a page that lost its stream replays what it missed,
    but only the other party ever sees it; a claim only the sender's own pages. Returns the
    event id.
    """
    sid = parse_id(session_id, "session_id")
    data = dict(data or {})
    if len(json.dumps(data, separators=(",", ":"))) > MAX_SIGNAL_BYTES:
        raise TooLarge(
            f"A call signal can be at most {MAX_SIGNAL_BYTES // 1024} KiB.", code="signal_too_large"
        )
    needed = _SIGNAL_NEEDS.get(kind)
    if needed is not None and not isinstance(data.get(needed[0]), needed[1]):
        raise Invalid(f"An {kind} signal needs data.{needed[0]}.", code="invalid_signal")

    def work(s: DbSession) -> int:
        session = pair.lock(s, sid).session
        role = access.check_party(actor, session)
        if session.status not in CALL_STATUSES:
            raise Conflict(
                f"No call now: this session is {words.sentence(session.status)}."
                " Calls run while it is live.",
                code="call_closed",
            )
        if session.type != SessionType.VIDEO:
            raise Conflict(
                "This is a chat session; calls are for video sessions.", code="not_video"
            )
        other = session.mechanic_id if role == Role.CUSTOMER else session.customer_user_id
        assert other is not None  # a live session has its mechanic
        reader = actor.id if kind == SignalKind.CLAIM else other
        event = events.record(
            s,
            Kind.CALL_SIGNAL,
            actor_id=actor.id,
            audience=Audience(users=(reader,)),
            session_id=sid,
            payload=CallSignal(
                signal=kind, call_id=call_id, from_role=role, data=data, tab=tab, to=to
            ),
        )
        return event.id

    return db.run(work)
