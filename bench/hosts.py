"""Two hosts on one PostgreSQL: a request made through one reaches dashboards on the other.

Host B serves N open dashboards; customers make K requests through host A's API, one every
``interval`` seconds. Each latency runs from the moment the intake was sent to host A to the
moment a dashboard on host B read the new request, so it includes A's whole request, the
commit, PostgreSQL's NOTIFY to B and B's fan-out: an upper bound of commit→client.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.realtime import SseClient, open_streams
from bench.seed import INTAKE, Account
from bench.server import Server
from bench.stats import Latency
from bench.wire import connect


@dataclass
class CrossHost:
    clients: int
    events: int
    latency: Latency
    delivered: int
    expected: int
    dropped: int

    @property
    def delivered_share(self) -> float:
        return self.delivered / self.expected if self.expected else 0.0


async def measure(
    a: Server,
    b: Server,
    mechanics: list[Account],
    customer: Account,
    *,
    clients: int,
    events: int,
    interval: float,
) -> CrossHost:
    received: dict[str, list[float]] = {}
    streams: list[SseClient] = await open_streams(b, mechanics, clients, received)
    sent: dict[str, float] = {}
    (http,) = await connect(a.base_url, 1)
    try:
        for _ in range(events):
            started = time.monotonic()
            answer = await http.request(
                "POST", "/api/intake/start", headers=customer.headers, json_body=INTAKE
            )
            body = answer.json() or {}
            if answer.status != 201:
                raise RuntimeError(f"host A refused an intake: {answer.status} {body}")
            sent[str(body["request_id"])] = started
            await asyncio.sleep(interval)
    finally:
        await http.close()
    expected = clients * events
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if sum(len(received.get(r, ())) for r in sent) >= expected:
            break
        await asyncio.sleep(0.05)
    latencies = [t - at for r, at in sent.items() for t in received.get(r, ())]
    dropped = sum(1 for s in streams if s.closed)
    for s in streams:
        if s.transport is not None:
            s.transport.close()
    return CrossHost(clients, events, Latency.of(latencies), len(latencies), expected, dropped)
