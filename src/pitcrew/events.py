"""The events log: every state change writes one row here in its own transaction.

The log is the audit trail, the source of each session's timeline, and what live pages
replay after a dropped connection (``Last-Event-ID``). Each row says who may see it, so the
stream never shows a user anything about a session that is not theirs. The
:class:`EventBus` at the end carries committed rows to the live pages of one server process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from pitcrew.db import EVENTS_WRITTEN, Database
from pitcrew.models import Event, Role, utcnow

NOTIFY_CHANNEL = "pitcrew_events"
# Signals that are never stored (someone typing), passed between hosts as they happen.
EPHEMERAL_CHANNEL = "pitcrew_ephemeral"
# In Session.info: the transaction that already holds the events lock and has notified.
_ORDERED = "pitcrew.events_ordered"

log = logging.getLogger(__name__)


class Kind(StrEnum):
    REQUEST_CREATED = "request.created"
    REQUEST_ACCEPTED = "request.accepted"
    REQUEST_CANCELLED = "request.cancelled"
    REQUEST_EXPIRED = "request.expired"
    REQUEST_RELEASED = "request.released"
    SESSION_UPDATED = "session.updated"
    MESSAGE_CREATED = "message.created"
    MESSAGE_READ = "message.read"
    CALL_SIGNAL = "call.signal"
    NOTIFICATION_CREATED = "notification.created"
    REPAIR = "doctor.repair"
    EVENTS_PRUNED = "events.pruned"
    SESSION_REASSIGNED = "session.reassigned"
    ACCOUNT_CHANGED = "account.changed"


# What live pages listen for: every kind but the doctor's repairs, which an operator makes
# and reads in the doctor's report, and the prune's mark, which no one but the stream reads.
BROWSER_KINDS: tuple[Kind, ...] = tuple(
    kind for kind in Kind if kind not in (Kind.REPAIR, Kind.EVENTS_PRUNED)
)
# Someone typing (``presence``): on the live stream, never in the table.
TYPING = "typing"
# What a page's script listens for on the live stream.
LIVE_NAMES: tuple[str, ...] = (*(kind.value for kind in BROWSER_KINDS), TYPING)


@dataclass(frozen=True)
class Audience:
    """Who may see an event: named users, and optionally every mechanic."""

    users: tuple[uuid.UUID, ...] = ()
    mechanics: bool = False

    def as_payload(self) -> dict[str, Any]:
        return {"users": [str(u) for u in self.users], "mechanics": self.mechanics}


def record(
    session: Session,
    kind: Kind,
    *,
    actor_id: uuid.UUID | None,
    audience: Audience,
    session_id: uuid.UUID | None = None,
    request_id: uuid.UUID | None = None,
    payload: Mapping[str, Any] | None = None,
    held: bool = False,
) -> Event:
    """Append an event inside the caller's transaction.

    ``payload`` is the kind's shape from ``payloads`` (docs/ARCHITECTURE.md, "Events").

    On PostgreSQL the append takes a transaction-level advisory lock first, so events commit
    in id order: a client that has seen event N never later misses an event below N. Lock
    and NOTIFY go in one statement, once per transaction: both last until its end, and a
    change that writes two events (accept and its notification) pays one round trip, not four.

    With ``held`` the event waits in the session, unwritten and without the lock, until
    :func:`write_held`; every change that serializes on the lock then holds it for the
    fewest statements (the caller must not let the session flush in between).
    """
    body = dict(payload or {})
    body["audience"] = audience.as_payload()
    event = Event(
        at=utcnow(),
        actor_id=actor_id,
        kind=kind,
        session_id=session_id,
        request_id=request_id,
        payload=body,
    )
    session.info[EVENTS_WRITTEN] = True
    if held:
        session.add(event)
        return event
    _take_order(session)
    session.add(event)
    session.flush()
    return event


def write_held(session: Session) -> None:
    """Write the events :func:`record` holds, together, under the events lock."""
    _take_order(session)
    session.flush()


def _take_order(session: Session) -> None:
    """The events lock and the NOTIFY, once per transaction (PostgreSQL only)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    transaction = session.get_transaction()
    if transaction is None or session.info.get(_ORDERED) is not transaction:
        with session.no_autoflush:  # the held events go in after the lock, not with it
            session.execute(
                text(f"SELECT pg_advisory_xact_lock(7100), pg_notify('{NOTIFY_CHANNEL}', '')")
            )
        session.info[_ORDERED] = session.get_transaction()


# What an admin's console follows live besides its own: the floor (requests and sessions as
# they move) and the accounts other admins change. Chat lines, call signals and other people's
# notifications stay with their parties.
OPERATOR_KINDS: frozenset[str] = frozenset(
    {
        Kind.REQUEST_CREATED,
        Kind.REQUEST_ACCEPTED,
        Kind.REQUEST_CANCELLED,
        Kind.REQUEST_EXPIRED,
        Kind.REQUEST_RELEASED,
        Kind.SESSION_UPDATED,
        Kind.SESSION_REASSIGNED,
        Kind.ACCOUNT_CHANGED,
    }
)


def visible_to(
    event_payload: dict[str, Any], user_id: uuid.UUID, role: str, kind: str | None = None
) -> bool:
    """Whether the user may see an event (the rule the live stream and replay share)."""
    if role == Role.ADMIN and kind in OPERATOR_KINDS:
        return True
    audience = event_payload.get("audience") or {}
    if audience.get("mechanics") and role == Role.MECHANIC:
        return True
    return str(user_id) in audience.get("users", ())


@dataclass(frozen=True)
class PublicEvent:
    """An event as a client sees it: no audience, ids as strings."""

    id: int
    kind: str
    at: datetime
    session_id: uuid.UUID | None
    request_id: uuid.UUID | None
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: Event) -> PublicEvent:
        data = {k: v for k, v in (row.payload or {}).items() if k != "audience"}
        return cls(row.id, row.kind, row.at, row.session_id, row.request_id, data)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "session_id": str(self.session_id) if self.session_id else None,
            "request_id": str(self.request_id) if self.request_id else None,
            **self.data,
        }


def events_after(session: Session, after_id: int, *, limit: int = 500) -> list[Event]:
    """Events newer than ``after_id``, oldest first (the replay and the live fetch)."""
    stmt = select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
    return list(session.scalars(stmt))


def latest_id(session: Session) -> int:
    value = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
    return int(value or 0)


def pruned_up_to(session: Session) -> int:
    """The highest event id pruning has deleted (0: none); a replay from below it has a gap.

    Read through the partial index of ``events.pruned`` marks: the newest mark is the highest,
    since the prune deletes in id order.
    """
    payload = session.scalar(
        select(Event.payload)
        .where(Event.kind == Kind.EVENTS_PRUNED)
        .order_by(Event.id.desc())
        .limit(1)
    )
    return int((payload or {}).get("up_to", 0))


def session_timeline(session: Session, session_id: uuid.UUID) -> list[Event]:
    stmt = select(Event).where(Event.session_id == session_id).order_by(Event.id)
    return list(session.scalars(stmt))


def to_sse(event: PublicEvent) -> bytes:
    """The wire form live pages read: one Server-Sent Events message per event."""
    data = json.dumps(event.as_json(), separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n".encode()


# --- the bus that carries committed events to live pages ---------------------------------


@dataclass(frozen=True)
class Live:
    """A committed event on its way to subscribers, encoded once for all of them."""

    id: int
    payload: dict[str, Any]
    message: bytes
    kind: str = ""
    ephemeral: bool = False  # a typing signal: not in the table, never replayed

    @classmethod
    def from_row(cls, row: Event) -> Live:
        return cls(row.id, row.payload or {}, to_sse(PublicEvent.from_row(row)), row.kind)


class Subscription:
    """One live page's bounded queue; ``None`` in it means "this stream is over".

    A page that falls ``size`` events behind is dropped rather than buffered without bound:
    it reconnects with ``Last-Event-ID`` and replays from the table, so it loses nothing.
    """

    def __init__(self, user_id: uuid.UUID, role: str, size: int) -> None:
        self.user_id = user_id
        self.role = role
        self.ended = False
        self._queue: asyncio.Queue[Live | None] = asyncio.Queue(size)

    def offer(self, item: Live) -> None:
        if self.ended or not visible_to(item.payload, self.user_id, self.role, item.kind):
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            log.info("live stream of user %s fell behind; dropping it", self.user_id)
            self.end()

    def end(self) -> None:
        """Stop the stream; what is still queued is dropped (the client replays it)."""
        if self.ended:
            return
        self.ended = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def next(self, timeout: float) -> Live | None:
        """The next event, or ``None`` when the stream is over; TimeoutError when idle.

        ``asyncio.timeout`` rather than ``wait_for``: no extra task per event, which a
        thousand open pages pay on every event (bench/RESULTS.md, real time).
        """
        async with asyncio.timeout(timeout):
            return await self._queue.get()


class EventBus:
    """Carries committed events to this server process's live pages.

    The events table is the source of truth: the bus remembers the last id it has seen and,
    each time it is woken, runs one query for what is newer and hands each event to the
    subscribers allowed to see it. Wake-ups come from PostgreSQL ``LISTEN`` (writes made by
    any process), from this process's own commits (``Database.on_events_committed``) and
    from a slow poll that covers anything both missed. Because events commit in id order,
    "everything after the last id seen" never skips one.

    It also knows :attr:`pruned_up_to`, the highest event id pruning has deleted (read at the
    start, then from each ``events.pruned`` mark it fans out): a page that asks to replay from
    below it would miss events, so the stream tells it to reload instead.
    """

    PAGE = 500
    LISTEN_BACKOFF_MAX = 30.0

    def __init__(self, db: Database, *, poll_seconds: float, queue_size: int = 1000) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.queue_size = queue_size
        self.last_id = 0
        self.pruned_up_to = 0
        self.closing = False
        self.listening = False
        self._subscribers: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions = contextlib.ExitStack()  # undone by stop()

    # lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        self.last_id, self.pruned_up_to = await asyncio.to_thread(self._latest)
        self._subscriptions.callback(self.db.on_events_committed(self.wake))
        self._tasks.append(asyncio.create_task(self._pump(), name="pitcrew-events-pump"))
        if self.db.is_postgres:
            self._tasks.append(asyncio.create_task(self._listen(), name="pitcrew-events-listen"))

    async def stop(self) -> None:
        self._subscriptions.close()
        self.close_streams()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._loop = None

    def close_streams(self) -> None:
        """End every stream and refuse new ones: the server is shutting down."""
        self.closing = True
        for subscription in list(self._subscribers):
            subscription.end()
        self._subscribers.clear()

    def close_streams_soon(self) -> None:
        """:meth:`close_streams` from any thread, or from a signal handler."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(self.close_streams)

    # subscribers

    def subscribe(self, user_id: uuid.UUID, role: str) -> Subscription:
        """Receive every visible event newer than :attr:`last_id` at this moment."""
        subscription = Subscription(user_id, role, self.queue_size)
        if self.closing:
            subscription.end()
        else:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    # wake-ups

    def wake(self) -> None:
        """Something committed events: fetch them soon. Safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        woken = self._woken
        assert woken is not None
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(woken.set)

    async def _pump(self) -> None:
        assert self._woken is not None
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
            # cancellation that stop() sends when a wake-up lands at the same moment, and
            # the pump would then sleep a whole poll before stop() returns.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._woken.wait()
            self._woken.clear()
            try:
                while await self._fetch_once():
                    pass
            except Exception:
                log.exception("could not read new events; retrying")
                await asyncio.sleep(min(self.poll_seconds, 1.0))
                self._woken.set()

    async def _fetch_once(self) -> bool:
        """Fan out one page of new events; True when there may be more."""
        rows = await asyncio.to_thread(self._page, self.last_id)
        for item in rows:
            if item.kind == Kind.EVENTS_PRUNED:
                self.pruned_up_to = max(self.pruned_up_to, int(item.payload.get("up_to", 0)))
            for subscription in list(self._subscribers):
                subscription.offer(item)
                if subscription.ended:
                    self._subscribers.discard(subscription)
            self.last_id = item.id
        return len(rows) == self.PAGE

    def pass_on(self, to: str, kind: str, data: dict[str, Any]) -> None:
        """Deliver an ephemeral signal to one user's open streams on this server: an SSE
        message without an id, so it is never replayed. Safe from any thread."""
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        message = f"event: {kind}\ndata: {body}\n\n".encode()
        item = Live(0, {"audience": {"users": [to]}}, message, kind, ephemeral=True)
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def offer() -> None:
            for subscription in list(self._subscribers):
                subscription.offer(item)

        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(offer)

    def _ephemeral_noted(self, payload: str) -> None:
        """A signal another host (or this one) sent through ``EPHEMERAL_CHANNEL``."""
        try:
            signal = json.loads(payload)
            self.pass_on(str(signal["to"]), str(signal["kind"]), dict(signal["data"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed ephemeral signal")

    def _page(self, after_id: int) -> list[Live]:
        with self.db.read() as s:
            return [Live.from_row(row) for row in events_after(s, after_id, limit=self.PAGE)]

    def _latest(self) -> tuple[int, int]:
        with self.db.read() as s:
            return latest_id(s), pruned_up_to(s)

    async def _listen(self) -> None:
        """Hold one LISTEN connection for the process; reconnect with backoff when it drops."""
        import psycopg

        conninfo = self.db.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo,
                    autocommit=True,
                    application_name="pitcrew-events",
                    keepalives=1,
                    keepalives_idle=30,
                    keepalives_interval=10,
                    keepalives_count=3,
                ) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    await conn.execute(f"LISTEN {EPHEMERAL_CHANNEL}")
                    self.listening = True
                    delay = 0.5
                    self.wake()  # whatever committed while we were not listening
                    async for note in conn.notifies():
                        if note.channel == EPHEMERAL_CHANNEL:
                            self._ephemeral_noted(note.payload)
                        else:
                            self.wake()
            except Exception as error:
                log.warning("events LISTEN connection lost (%s); retrying in %.1fs", error, delay)
            finally:
                self.listening = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.LISTEN_BACKOFF_MAX)
