"""Live updates: N open dashboards (SSE clients) and the time from commit to each of them.

The clients are plain asyncio protocols rather than httpx streams: a thousand of them share
one process, and every microsecond the client spends per message would be counted as
latency. Events are committed by a process of their own (bench.writer) through
``pitcrew.flow.start_intake`` (a new request is shown to every mechanic), which notes the
moment each transaction committed; the server learns of it the way it learns of any other
process's commit.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.seed import Account
from bench.server import Server
from bench.stats import Latency


class SseClient(asyncio.Protocol):
    """One dashboard's stream: HTTP/1.1, chunked, Server-Sent Events, parsed incrementally."""

    def __init__(self, token: str, port: int, received: dict[str, list[float]]) -> None:
        self.request = (
            f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
        self.received = received
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.transport: asyncio.Transport | None = None
        self._head = b""
        self._chunks = b""
        self._events = b""
        self._in_body = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"stream closed before it started: {exc}"))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if not self._in_body:
            self._head += data
            if b"\r\n\r\n" not in self._head:
                return
            head, _, data = self._head.partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" ":
                self.ready.set_exception(ConnectionError(status.decode()))
                return
            self._in_body = True
        self._chunks += data
        while True:  # de-chunk
            line_end = self._chunks.find(b"\r\n")
            if line_end < 0:
                break
            size = int(self._chunks[:line_end].split(b";")[0], 16)
            if len(self._chunks) < line_end + 2 + size + 2:
                break
            self._events += self._chunks[line_end + 2 : line_end + 2 + size]
            self._chunks = self._chunks[line_end + 2 + size + 2 :]
        while b"\n\n" in self._events:
            message, _, self._events = self._events.partition(b"\n\n")
            self._on_message(message, now)

    def _on_message(self, message: bytes, now: float) -> None:
        kind = data = None
        for line in message.split(b"\n"):
            if line.startswith(b"retry:") and not self.ready.done():
                self.ready.set_result(None)  # subscribed: every later commit will arrive
            elif line.startswith(b"event: "):
                kind = line[7:]
            elif line.startswith(b"data: "):
                data = line[6:]
        if kind == b"request.created" and data is not None:
            request_id = json.loads(data)["request_id"]
            self.received.setdefault(request_id, []).append(now)


def _same(client: SseClient) -> Callable[[], SseClient]:
    return lambda: client


async def open_streams(
    server: Server, mechanics: list[Account], clients: int, received: dict[str, list[float]]
) -> list[SseClient]:
    """``clients`` dashboards subscribed to ``server``, connected in batches as a crowd of
    pages would; each notes when it read each new request into ``received``."""
    loop = asyncio.get_running_loop()
    streams: list[SseClient] = []
    for first in range(0, clients, 50):
        batch = [
            SseClient(mechanics[i % len(mechanics)].token, server.port, received)
            for i in range(first, min(clients, first + 50))
        ]
        await asyncio.gather(
            *(loop.create_connection(_same(c), "127.0.0.1", server.port) for c in batch)
        )
        streams += batch
    await asyncio.wait_for(asyncio.gather(*(s.ready for s in streams)), timeout=120)
    return streams


@dataclass
class Realtime:
    clients: int
    events: int
    latency: Latency | None = None
    delivered: int = 0
    expected: int = 0
    bytes_per_connection: float = 0.0
    connect_seconds: float = 0.0
    dropped: int = 0  # streams that ended during the run
    per_event: list[Latency] = field(default_factory=list)  # each event's spread over clients
    server_cpu: float = 0.0  # seconds the workers used from the first commit to the last delivery

    @property
    def cpu_per_delivery(self) -> float:
        """Server CPU per message delivered (seconds): the fan-out's cost per open page."""
        return self.server_cpu / self.delivered if self.delivered else 0.0

    @property
    def delivered_share(self) -> float:
        return self.delivered / self.expected if self.expected else 0.0


async def measure(
    server: Server,
    database_url: str,
    mechanics: list[Account],
    customer: Account,
    *,
    clients: int,
    events: int,
    interval: float,
) -> Realtime:
    result = Realtime(clients=clients, events=events)
    received: dict[str, list[float]] = {}
    rss_before = server.rss_bytes()
    started = time.monotonic()
    streams = await open_streams(server, mechanics, clients, received)
    result.connect_seconds = time.monotonic() - started
    await asyncio.sleep(1.0)  # let the workers settle before reading their memory
    result.bytes_per_connection = (server.rss_bytes() - rss_before) / clients

    committed: dict[str, float] = {}
    cpu_before = server.cpu_seconds()
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.writer",
        database_url,
        str(customer.actor.id),
        str(events),
        str(interval),
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert writer.stdout is not None
    async for line in writer.stdout:
        request_id, at = line.decode().split()
        committed[request_id] = float(at)
    if await writer.wait() != 0 or len(committed) != events:
        raise RuntimeError(f"the event writer failed after {len(committed)} events")
    deadline = time.monotonic() + 15
    result.expected = clients * events
    while time.monotonic() < deadline:
        if sum(len(received.get(r, ())) for r in committed) >= result.expected:
            break
        await asyncio.sleep(0.05)
    latencies = [t - at for r, at in committed.items() for t in received.get(r, ())]
    result.server_cpu = server.cpu_seconds() - cpu_before
    result.delivered = len(latencies)
    result.latency = Latency.of(latencies)
    result.per_event = [
        Latency.of([t - at for t in received.get(r, ())]) for r, at in committed.items()
    ]
    result.dropped = sum(1 for s in streams if s.closed)
    for s in streams:
        if s.transport is not None:
            s.transport.close()
    return result
