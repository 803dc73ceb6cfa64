"""Who is typing: a signal passed to the other party's live pages and never stored.

Unlike every change (an event row, replayed after a dropped connection), "Dana is typing…"
is worth nothing a few seconds later, so it skips the events table: the sender's server hands
it to the event bus, which delivers it to the other party's open streams. On PostgreSQL it
goes through ``NOTIFY`` on its own channel, so a page connected to another host gets it too;
a signal lost on the way is simply not shown. Each sender may send :data:`BURST` per session
in any :data:`WINDOW` seconds (counted per server process).
"""

from __future__ import annotations

import json
import threading
import time
import uuid

from sqlalchemy import text

from pitcrew import access, events
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import Conflict, TooManyRequests
from pitcrew.models import Role, SessionStatus

TYPING = events.TYPING  # the live stream's event name
BURST, WINDOW = 3, 3.0  # at most 3 signals of one sender in one session in any 3 seconds
_KEEP = 600.0  # forget senders quiet for this long


class Limiter:
    """At most ``burst`` signals per (sender, session) in any ``window`` seconds: a page tells
    every 2 s while its person types, and once more right after a message is sent."""

    def __init__(self, burst: int, window: float) -> None:
        self.burst = burst
        self.window = window
        self._sent: dict[tuple[uuid.UUID, uuid.UUID], list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, sender: uuid.UUID, session: uuid.UUID, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._sent) > 10_000:  # a long-running server forgets old senders
                self._sent = {k: t for k, t in self._sent.items() if now - t[-1] < _KEEP}
            recent = [t for t in self._sent.get((sender, session), []) if now - t < self.window]
            if len(recent) >= self.burst:
                return False
            self._sent[(sender, session)] = [*recent, now]
            return True


LIMITER = Limiter(BURST, WINDOW)


def typing(
    db: Database, bus: events.EventBus | None, actor: Actor, session_id: uuid.UUID | str
) -> None:
    """Tell the other party of a live session that ``actor`` is typing."""
    sid = access.parse_id(session_id, "session_id")
    with db.read() as s:
        session = access.load_session(s, sid)
        role = access.check_party(actor, session)
        if session.status != SessionStatus.LIVE:
            raise Conflict("The chat is open while the session is live.", code="chat_closed")
        other = session.mechanic_id if role == Role.CUSTOMER else session.customer_user_id
    if not LIMITER.allow(actor.id, sid):
        raise TooManyRequests(
            "Typing is told at most 3 times in 3 seconds.", code="typing_too_often"
        )
    assert other is not None  # a live session has both parties
    first_name = (actor.name.split() or [actor.name])[0]
    data = {"session_id": str(sid), "user_id": str(actor.id), "name": first_name}
    if bus is None:
        return  # no live pages on this server
    if db.is_postgres and bus.listening:
        signal = json.dumps({"to": str(other), "kind": TYPING, "data": data})
        with db.engine.begin() as c:  # every host's bus hears it, this one's included
            c.execute(
                text("SELECT pg_notify(:channel, :signal)"),
                {"channel": events.EPHEMERAL_CHANNEL, "signal": signal},
            )
    else:
        bus.pass_on(str(other), TYPING, data)
