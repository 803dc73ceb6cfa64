"""A restart under load, as a deploy does it: SIGTERM, then a new server on the same port.

Customers keep starting intakes and mechanics keep accepting them while the server stops
and another starts; a mechanic's page keeps its live stream, reconnecting with
``Last-Event-ID`` as a browser does. Afterwards every write a client was told succeeded is
there, the page received every event it may see exactly once and in order, and DESIGN's
invariants hold.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from pitcrew import events, invariants
from pitcrew.db import Database
from pitcrew.models import Role, SessionRequest
from tests.support.accounts import TokenAccount as Account
from tests.support.accounts import account
from tests.support.factories import INTAKE
from tests.support.live import EventReader, free_port, serve_in_process, wait_for

pytestmark = [pytest.mark.postgres_only, pytest.mark.serial]

GRACE_SECONDS = 10
WRITES_PER_SERVER = 12


@dataclass
class Load:
    """What the clients were told, and the ids the live page received."""

    base: str
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    intakes: list[tuple[str, str]] = field(default_factory=list)  # (session id, request id)
    accepted: dict[str, uuid.UUID] = field(default_factory=dict)  # request id -> mechanic
    pending: list[str] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    listening: threading.Event = field(default_factory=threading.Event)
    reconnects: int = 0
    failures: list[str] = field(default_factory=list)

    def post(self, client: httpx.Client, path: str, **kwargs: object) -> httpx.Response:
        """POST until the server answers (across the restart), as a retrying client does."""
        while True:
            try:
                answer = client.post(path, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError:  # between servers, or cut at the old one's end
                time.sleep(0.05)
                continue
            if answer.status_code != 503:
                return answer
            time.sleep(0.05)

    def start_intakes(self, customer: Account) -> None:
        with httpx.Client(base_url=self.base, headers=customer.headers, timeout=30) as client:
            while not self.stop.is_set():
                key = {"Idempotency-Key": uuid.uuid4().hex}  # the same key on every retry
                answer = self.post(client, "/api/intake/start", json=INTAKE, headers=key)
                if answer.status_code != 201:
                    self.failures.append(f"intake: {answer.status_code} {answer.text}")
                    return
                body = answer.json()
                with self.lock:
                    self.intakes.append((body["session_id"], body["request_id"]))
                    self.pending.append(body["request_id"])

    def accept(self, mechanic: Account) -> None:
        with httpx.Client(base_url=self.base, headers=mechanic.headers, timeout=30) as client:
            while not self.stop.is_set():
                with self.lock:
                    rid = random.choice(self.pending) if self.pending else None
                if rid is None:
                    time.sleep(0.02)
                    continue
                answer = self.post(client, "/api/mechanic/accept", json={"request_id": rid})
                with self.lock:
                    if answer.status_code == 200:
                        self.accepted[rid] = mechanic.actor.id
                    elif answer.status_code != 409:
                        self.failures.append(f"accept: {answer.status_code} {answer.text}")
                    if rid in self.pending:
                        self.pending.remove(rid)

    def watch(self, mechanic: Account) -> None:
        """A page's live stream: on any end, reconnect and replay from the last id seen."""
        while not self.stop.is_set():
            headers = dict(mechanic.headers)
            if self.received:
                headers["Last-Event-ID"] = str(self.received[-1])
            try:
                with (
                    httpx.Client(base_url=self.base, timeout=30) as client,
                    client.stream("GET", "/api/events", headers=headers) as response,
                ):
                    if response.status_code != 200:
                        time.sleep(0.05)
                        continue
                    reader = EventReader(response.iter_lines())
                    reader.ready()  # from here on, whatever commits reaches this stream
                    self.listening.set()
                    while (message := reader.next()) is not None:
                        with self.lock:
                            self.received.append(message.id)
            except (httpx.TransportError, StopIteration):
                time.sleep(0.05)
            with self.lock:
                self.reconnects += 1


def _visible_ids(db: Database, mechanic: Account, after: int) -> list[int]:
    with db.read() as s:
        rows = events.events_after(s, after, limit=1_000_000)
        return [
            row.id
            for row in rows
            if events.visible_to(row.payload, mechanic.actor.id, mechanic.actor.role)
        ]


def test_restart_under_load_loses_no_write_and_no_event(
    pg_db: Database, pg_url: str, tmp_path: Path
) -> None:
    customers = [account(pg_db, Role.CUSTOMER) for _ in range(2)]
    mechanics = [account(pg_db, Role.MECHANIC) for _ in range(3)]
    port = free_port()
    settings = {
        "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        "MEDIA_DIR": str(tmp_path),
        "LOG_LEVEL": "info",
    }
    load = Load(f"http://127.0.0.1:{port}")
    with pg_db.read() as s:
        start = events.latest_id(s)
    workers = [threading.Thread(target=load.watch, args=(mechanics[0],), daemon=True)]
    workers += [threading.Thread(target=load.start_intakes, args=(c,)) for c in customers]
    workers += [threading.Thread(target=load.accept, args=(m,)) for m in mechanics]

    def writes() -> int:
        with load.lock:
            return len(load.intakes) + len(load.accepted)

    with serve_in_process(
        pg_url, tmp_path / "first.log", events_poll_seconds=1, port=port, settings=settings
    ) as (_, first):
        workers[0].start()
        wait_for(load.listening.is_set, "the page's live stream", 30)
        for worker in workers[1:]:
            worker.start()
        wait_for(lambda: writes() >= WRITES_PER_SERVER, "writes to the first server", 60)
        stopping = time.monotonic()
        first.send_signal(signal.SIGTERM)
        # uvicorn ends by raising the signal again once it has shut down (systemd counts
        # that as a clean stop); its log says whether the shutdown was the graceful one
        assert first.wait(GRACE_SECONDS + 15) in (0, -signal.SIGTERM)
        stopped_in = time.monotonic() - stopping
        said = (tmp_path / "first.log").read_text()
        assert "Application shutdown complete" in said and "Finished server process" in said
    before = writes()
    with serve_in_process(
        pg_url, tmp_path / "second.log", events_poll_seconds=1, port=port, settings=settings
    ):
        wait_for(lambda: writes() >= before + WRITES_PER_SERVER, "writes to the second", 60)
        load.stop.set()
        for worker in workers[1:]:
            worker.join(60)
            assert not worker.is_alive()
        expected = _visible_ids(pg_db, mechanics[0], start)
        wait_for(lambda: len(load.received) >= len(expected), "the page to catch up", 30)
    workers[0].join(30)

    assert load.failures == []
    assert stopped_in < GRACE_SECONDS + 10
    assert load.reconnects >= 1  # the first server ended the stream; the page came back
    assert load.received == expected  # every event once, in order, across the restart
    with pg_db.read() as s:
        holders = dict(s.execute(select(SessionRequest.id, SessionRequest.mechanic_id)).all())
    for _session_id, rid in load.intakes:
        assert uuid.UUID(rid) in holders, f"acknowledged intake {rid} is missing"
    for rid, mechanic_id in load.accepted.items():
        assert holders[uuid.UUID(rid)] == mechanic_id, f"acknowledged accept of {rid} is lost"
    with pg_db.engine.connect() as c:
        assert {k: v for k, v in invariants.violations(c).items() if v} == {}
