"""HTTP load from one asyncio process on loopback: bounded in connections and in time.

Each simulated user owns one keep-alive connection (bench.wire), so the concurrency is
exactly the number of users and the load generator's own CPU stays small.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from bench.seed import INTAKE, Account
from bench.stats import Latency
from bench.wire import Connection, connect

Call = Callable[[Connection, int], Awaitable[int]]


@asynccontextmanager
async def connections(base_url: str, count: int) -> AsyncIterator[list[Connection]]:
    opened = await connect(base_url, count)
    try:
        yield opened
    finally:
        await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)


@dataclass
class Loop:
    """A closed loop: each of ``concurrency`` users sends its next request on an answer."""

    latency: Latency
    statuses: Counter[int]
    seconds: float

    @property
    def rate(self) -> float:
        return self.latency.count / self.seconds if self.seconds else 0.0


async def closed_loop(base_url: str, call: Call, *, concurrency: int, seconds: float) -> Loop:
    async with connections(base_url, concurrency) as users:
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        started = time.perf_counter()
        deadline = started + seconds

        async def user(index: int) -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                status = await call(users[index], index)
                latencies.append(time.perf_counter() - t0)
                statuses[status] += 1

        await asyncio.gather(*(user(i) for i in range(concurrency)))
        return Loop(Latency.of(latencies), statuses, time.perf_counter() - started)


def healthz() -> Call:
    async def call(http: Connection, _index: int) -> int:
        return (await http.request("GET", "/healthz")).status

    return call


def intake(customers: list[Account]) -> Call:
    async def call(http: Connection, index: int) -> int:
        who = customers[index % len(customers)]
        answer = await http.request(
            "POST", "/api/intake/start", headers=who.headers, json_body=INTAKE
        )
        return answer.status

    return call


@dataclass
class Race:
    """M mechanics each trying to accept every one of K requests, all in the same order."""

    requests: list[str]
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    winners: dict[str, list[str]] = field(default_factory=dict)  # request -> mechanics with 200
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def accepts_per_second(self) -> float:
        return len(self.requests) / self.seconds if self.seconds else 0.0

    @property
    def attempts_per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def exactly_one_winner_each(self) -> bool:
        return sorted(self.winners) == sorted(self.requests) and all(
            len(w) == 1 for w in self.winners.values()
        )


async def race(
    base_urls: str | Sequence[str], mechanics: list[Account], requests: list[str]
) -> Race:
    """Every mechanic tries every request; with several hosts, mechanic i uses host i mod n."""
    bases = [base_urls] if isinstance(base_urls, str) else list(base_urls)
    result = Race(requests=list(requests))
    async with AsyncExitStack() as stack:
        users: list[Connection] = []
        for index, base in enumerate(bases):
            mine = len(mechanics[index :: len(bases)])
            users += await stack.enter_async_context(connections(base, mine))
        seated = [m for i in range(len(bases)) for m in mechanics[i :: len(bases)]]

        async def mechanic(who: Account, http: Connection) -> None:
            for request_id in requests:
                t0 = time.perf_counter()
                answer = await http.request(
                    "POST",
                    "/api/mechanic/accept",
                    headers=who.headers,
                    json_body={"request_id": request_id},
                )
                result.latencies.append(time.perf_counter() - t0)
                if answer.status == 200:
                    result.winners.setdefault(request_id, []).append(str(who.actor.id))
                    result.statuses["200"] += 1
                else:
                    code = (answer.json() or {}).get("error", {}).get("code", "?")
                    result.statuses[f"{answer.status} {code}"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(mechanic(m, c) for m, c in zip(seated, users, strict=True)))
        result.seconds = time.perf_counter() - started
    return result
