"""HTTP load from one asyncio process on loopback: bounded in connections and in time."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bench.seed import INTAKE, Account
from bench.stats import Latency

Call = Callable[[httpx.AsyncClient, int], Awaitable[int]]


def client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0)


@dataclass
class Loop:
    """A closed loop: each of ``concurrency`` workers sends its next request on an answer."""

    latency: Latency
    statuses: Counter[int]
    seconds: float

    @property
    def rate(self) -> float:
        return self.latency.count / self.seconds if self.seconds else 0.0


async def closed_loop(base_url: str, call: Call, *, concurrency: int, seconds: float) -> Loop:
    async with client(base_url, concurrency) as http:
        await asyncio.gather(*(http.get("/healthz") for _ in range(concurrency)))  # connect
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        started = time.perf_counter()
        deadline = started + seconds

        async def worker(index: int) -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                status = await call(http, index)
                latencies.append(time.perf_counter() - t0)
                statuses[status] += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return Loop(Latency.of(latencies), statuses, time.perf_counter() - started)


def healthz() -> Call:
    async def call(http: httpx.AsyncClient, _index: int) -> int:
        return (await http.get("/healthz")).status_code

    return call


def intake(customers: list[Account]) -> Call:
    async def call(http: httpx.AsyncClient, index: int) -> int:
        who = customers[index % len(customers)]
        answer = await http.post("/api/intake/start", json=INTAKE, headers=who.headers)
        return answer.status_code

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


async def race(base_url: str, mechanics: list[Account], requests: list[str]) -> Race:
    result = Race(requests=list(requests))
    async with client(base_url, len(mechanics)) as http:
        await asyncio.gather(*(http.get("/healthz") for _ in mechanics))  # connect

        async def mechanic(who: Account) -> None:
            for request_id in requests:
                t0 = time.perf_counter()
                answer = await http.post(
                    "/api/mechanic/accept", json={"request_id": request_id}, headers=who.headers
                )
                result.latencies.append(time.perf_counter() - t0)
                if answer.status_code == 200:
                    result.winners.setdefault(request_id, []).append(str(who.actor.id))
                    result.statuses["200"] += 1
                else:
                    code = answer.json().get("error", {}).get("code", "?")
                    result.statuses[f"{answer.status_code} {code}"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(mechanic(m) for m in mechanics))
        result.seconds = time.perf_counter() - started
    return result
