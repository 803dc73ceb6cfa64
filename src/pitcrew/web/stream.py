"""GET /api/events: the live stream every page listens to (Server-Sent Events).

A page that lost its connection reconnects with ``Last-Event-ID`` and first gets, from the
events table, everything it missed and may see; the live events follow with no gap and no
duplicate. Each message is ``id: <event id>``, ``event: <kind>``, ``data: <JSON>``.

A page whose ``Last-Event-ID`` is older than what pruning has deleted cannot be replayed
without a gap: it gets one ``reload`` message, and the stream ends. The page reloads, shows
the current state and connects again from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import FrameType
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from starlette.types import Receive, Scope, Send

from pitcrew import events
from pitcrew.db import Database
from pitcrew.errors import Invalid
from pitcrew.web.deps import DB, CurrentActor
from pitcrew.web.errors import ErrorOut, _responses, error_response

PING_SECONDS = 15.0
RETRY = b"retry: 2000\n\n"
PING = b": ping\n\n"
RELOAD = b"event: reload\ndata: {}\n\n"
# One page of a replay: the id it reaches, its messages, and whether more may follow.
Page = tuple[int, list[bytes], bool]
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)

router = APIRouter(prefix="/api", tags=["live"])


class EventStream(Response):
    """A response that lasts as long as the page: replay, then live events, then pings.

    It ends when the client goes away, when the bus drops it (too far behind, or the server
    is shutting down), and never holds a database connection while it waits.
    """

    media_type = "text/event-stream"

    def __init__(
        self, bus: events.EventBus, db: Database, user_id: uuid.UUID, role: str, after: int | None
    ) -> None:
        # Not Response.__init__: that would declare an empty body (Content-Length: 0).
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.bus = bus
        self.db = db
        self.user_id = user_id
        self.role = role
        self.after = after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def until_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            async def stream() -> None:
                with contextlib.suppress(OSError):  # the client went away mid-write
                    await self._stream(send)
                group.cancel_scope.cancel()

            group.start_soon(until_disconnect)
            group.start_soon(stream)

    async def _stream(self, send: Send) -> None:
        # Subscribe before reading the table: every event is then either in the replay or
        # in the queue (or both, and the cursor drops the second copy). The start point is
        # fixed before the first byte goes out, so a client that has read ``retry`` knows
        # that whatever commits from then on will reach it.
        subscription = self.bus.subscribe(self.user_id, self.role)
        try:
            page = await asyncio.to_thread(self._start)
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await self._write(send, RETRY)
            while True:  # the replay, page by page
                if page is None:
                    await send({"type": "http.response.body", "body": RELOAD, "more_body": False})
                    return
                cursor, missed, more = page
                for message in missed:
                    await self._write(send, message)
                if not more:
                    break
                page = await asyncio.to_thread(self._missed, cursor)
            while True:  # live
                try:
                    item = await subscription.next(PING_SECONDS)
                except TimeoutError:
                    await self._write(send, PING)
                    continue
                if item is None:
                    break
                if item.ephemeral:  # someone typing: passed on as it comes, never replayed
                    await self._write(send, item.message)
                elif item.id > cursor:
                    cursor = item.id
                    await self._write(send, item.message)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.bus.unsubscribe(subscription)

    def _start(self) -> Page | None:
        """Where this stream starts, and the first page of what the client missed; ``None``
        when part of that was pruned and the page must reload."""
        if self.after is not None and self.after < self.bus.pruned_up_to:
            return None  # known without a query
        with self.db.read() as s:
            latest = events.latest_id(s)
        if self.after is None or self.after >= latest:
            # A fresh page starts now; an id from the future (a restored database) is
            # treated the same way rather than hiding the next events.
            return latest, [], False
        return self._missed(self.after)

    def _missed(self, after: int) -> Page | None:
        """One page of the table after ``after``: the id it reaches, the messages this user
        may see, and whether more may follow; ``None`` when events after ``after`` were pruned.

        The prune mark is read after the page: a prune that deleted rows before the page was
        read committed its mark with them, so it is seen here even when the bus has not yet
        fanned it out.
        """
        with self.db.read() as s:
            rows = events.events_after(s, after, limit=events.EventBus.PAGE)
            if after < events.pruned_up_to(s):
                return None
            messages = [
                events.to_sse(events.PublicEvent.from_row(row))
                for row in rows
                if events.visible_to(row.payload, self.user_id, self.role, row.kind)
            ]
        reached = rows[-1].id if rows else after
        return reached, messages, len(rows) == events.EventBus.PAGE

    @staticmethod
    async def _write(send: Send, chunk: bytes) -> None:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})


def _resume_after(header: str | None, query: str | None) -> int | None:
    """The last event id the client has; the header (set by reconnecting browsers) wins."""
    value = header if header is not None else query
    if value is None or not value.strip():
        return None
    try:
        return max(0, int(value.strip()))
    except ValueError:
        raise Invalid("Last-Event-ID must be an event id.", code="invalid_last_event_id") from None


@router.get(
    "/events",
    response_model=None,
    response_class=Response,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "The event stream",
        },
        **_responses(401, 422),
        503: {"model": ErrorOut, "description": "Live updates are not running on this server"},
    },
)
async def stream_events(
    request: Request,
    actor: CurrentActor,
    db: DB,
    last_event_id_header: Annotated[
        str | None, Header(alias="last-event-id", description="Replay events after this id.")
    ] = None,
    last_event_id: Annotated[
        str | None, Query(description="Same as the header, for clients that cannot set it.")
    ] = None,
) -> Response:
    """Server-Sent Events about what this user may see; ``Last-Event-ID`` replays the gap."""
    after = _resume_after(last_event_id_header, last_event_id)
    bus: events.EventBus | None = getattr(request.app.state, "events_bus", None)
    if bus is None:
        return error_response(503, "unavailable", "Live updates are not running.")
    return EventStream(bus, db, actor.id, actor.role, after)


@asynccontextmanager
async def live_events(app: FastAPI) -> AsyncIterator[None]:
    """The server's event bus, started with it and stopped (streams ended) with it."""
    bus = events.EventBus(app.state.db, poll_seconds=app.state.settings.events_poll_seconds)
    await bus.start()
    app.state.events_bus = bus
    try:
        with _end_streams_on_signal(bus):
            yield
    finally:
        app.state.events_bus = None
        await bus.stop()


@contextmanager
def _end_streams_on_signal(bus: events.EventBus) -> Iterator[None]:
    """End the streams as soon as the server is told to stop.

    uvicorn waits for open responses to finish before it shuts the application down, and a
    live stream never finishes by itself; so the stop signal (Ctrl+C, ``kill``) ends them,
    and then passes on to the server's own handler.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in SHUTDOWN_SIGNALS}

    def on_signal(sig: int, frame: FrameType | None) -> None:
        bus.close_streams_soon()
        handler = previous[sig]
        if callable(handler):
            handler(sig, frame)
        elif handler == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    for number in previous:
        signal.signal(number, on_signal)
    try:
        yield
    finally:
        for number, handler in previous.items():
            if signal.getsignal(number) is on_signal and handler is not None:
                signal.signal(number, handler)
