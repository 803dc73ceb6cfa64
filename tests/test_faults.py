"""Faults lose nothing that was acknowledged, and the server recovers by itself.

- the server process is killed (SIGKILL) in the middle of a stream of accepts;
- a database connection is killed (``pg_terminate_backend``) in the middle of a transaction;
- PostgreSQL itself restarts under load (the local cluster, via ``pg_ctlcluster``).

Afterwards: DESIGN's invariants hold (no orphan), every write a client was told succeeded is
there, a retried request is answered as before without being done twice, the server answers
again without being restarted, and a live page (SSE) that reconnects misses no event.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from pitcrew import auth, events, flow, invariants, notify
from pitcrew.auth import Actor
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import (
    Event,
    IdempotencyKey,
    Notification,
    Role,
    Session,
    SessionRequest,
)
from pitcrew.schemas import IntakeIn
from pitcrew.web.app import create_app
from tests.support.databases import PG_SERVER
from tests.support.factories import INTAKE, PASSWORD
from tests.support.live import serve_in_process, wait_for

# Restarting PostgreSQL cuts every worker's connections, and killing a server mid-stream is
# only a test when nothing else decides the timing: these run alone, after the parallel part.
pytestmark = pytest.mark.serial

TIMEOUT = httpx.Timeout(10.0)


# --- helpers --------------------------------------------------------------------------------


# the events table polled every second, so a page catches up soon after the database is back
serving = partial(serve_in_process, events_poll_seconds=1)


@dataclass
class Account:
    actor: Actor
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _account(db: Database, role: Role) -> Account:
    user = auth.create_user(
        db,
        email=f"{role.value}-{uuid.uuid4().hex[:8]}@example.com",
        name=f"{role.value.title()} {uuid.uuid4().hex[:4]}",
        role=role,
        password=PASSWORD,
        on_duty=role == Role.MECHANIC,
    )
    token, _ = auth.login(db, user.email, PASSWORD, Settings().token_ttl)
    return Account(auth.actor_of(user), token)


def _no_orphans(db: Database) -> None:
    with db.engine.connect() as c:
        broken = {k: v for k, v in invariants.violations(c).items() if v}
    assert broken == {}


def _holder(db: Database, request_id: str) -> tuple[str, Any, str, Any]:
    """(request status, request mechanic, session status, session mechanic)."""
    with db.read() as s:
        row = s.execute(
            select(
                SessionRequest.status,
                SessionRequest.mechanic_id,
                Session.status,
                Session.mechanic_id,
            )
            .join(Session, Session.id == SessionRequest.parent_session_id)
            .where(SessionRequest.id == uuid.UUID(request_id))
        ).one()
    return row[0], row[1], row[2], row[3]


def _count(db: Database, stmt: Any) -> int:
    with db.read() as s:
        return int(s.scalar(stmt) or 0)


# --- the server killed mid-stream -----------------------------------------------------------


def test_server_killed_during_accepts_loses_no_acknowledged_accept(
    db: Database, tmp_path: Path
) -> None:
    customer = _account(db, Role.CUSTOMER)
    mechanics = [_account(db, Role.MECHANIC) for _ in range(4)]
    body = IntakeIn.model_validate(INTAKE)
    requests = [str(flow.start_intake(db, customer.actor, body)[0].request_id) for _ in range(80)]
    acknowledged: list[tuple[str, uuid.UUID]] = []
    refused: list[str] = []
    lock = threading.Lock()

    def accept_all(base: str, mechanic: Account) -> None:
        order = random.sample(requests, len(requests))
        with httpx.Client(base_url=base, timeout=TIMEOUT, headers=mechanic.headers) as client:
            for rid in order:
                try:
                    answer = client.post("/api/mechanic/accept", json={"request_id": rid})
                except httpx.TransportError:
                    return  # the server is gone
                with lock:
                    if answer.status_code == 200:
                        acknowledged.append((rid, mechanic.actor.id))
                    else:
                        assert answer.status_code == 409, answer.text
                        refused.append(rid)

    with serving(db.url, tmp_path / "server.log") as (base, process):
        threads = [threading.Thread(target=accept_all, args=(base, m)) for m in mechanics]
        for t in threads:
            t.start()
        wait_for(lambda: len(acknowledged) >= 15, "some accepts to be acknowledged", 30)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        for t in threads:
            t.join(30)
            assert not t.is_alive()
    assert len(acknowledged) < len(requests), "the kill came too late to test anything"

    _no_orphans(db)
    for rid, mechanic_id in acknowledged:
        assert _holder(db, rid) == ("accepted", mechanic_id, "waiting", mechanic_id)
    accepted = _count(db, select(func.count()).where(SessionRequest.status == "accepted"))
    assert accepted >= len(acknowledged)
    assert _count(db, select(func.count()).where(Event.kind == "request.accepted")) == accepted
    assert _count(db, select(func.count()).where(SessionRequest.status == "pending")) == (
        len(requests) - accepted
    )

    # A new server on the same database carries on: the winner's retry is answered as before,
    # and what was never accepted still can be.
    with serving(db.url, tmp_path / "server-again.log") as (base, _):
        rid, winner_id = acknowledged[0]
        winner = next(m for m in mechanics if m.actor.id == winner_id)
        again = httpx.post(
            f"{base}/api/mechanic/accept",
            json={"request_id": rid},
            headers=winner.headers,
            timeout=TIMEOUT,
        )
        assert again.status_code == 200 and again.json()["mechanic_id"] == str(winner_id)
        with db.read() as s:
            pending = s.scalar(
                select(SessionRequest.id).where(SessionRequest.status == "pending").limit(1)
            )
        assert pending is not None, "the kill came too late: every request was accepted"
        late = httpx.post(
            f"{base}/api/mechanic/accept",
            json={"request_id": str(pending)},
            headers=mechanics[0].headers,
            timeout=TIMEOUT,
        )
        assert late.status_code == 200, late.text
    _no_orphans(db)


# --- a connection killed mid-transaction ---------------------------------------------------


def _backends(db: Database, where: str) -> list[int]:
    with db.engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                f" AND pid <> pg_backend_pid() AND {where}"
            )
        )
        return [int(r[0]) for r in rows]


def _terminate(db: Database, pids: list[int]) -> None:
    with db.engine.connect() as c:
        for pid in pids:
            c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    wait_for(lambda: not set(pids) & set(_backends(db, "true")), "the backends to go", 30)


@pytest.mark.postgres_only
def test_connection_killed_mid_transaction_changes_nothing_and_the_pool_recovers(
    pg_db: Database, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_db = Database(pg_url)
    app = create_app(Settings(database_url=pg_url), server_db)
    customer = _account(pg_db, Role.CUSTOMER)
    mechanic = _account(pg_db, Role.MECHANIC)
    answer, _ = flow.start_intake(pg_db, customer.actor, IntakeIn.model_validate(INTAKE))
    rid = str(answer.request_id)

    inside = threading.Event()
    carry_on = threading.Event()
    real_follow = notify.follow

    def follow_then_stall(s: Any, event: Event, *, held: bool = False) -> None:
        real_follow(s, event, held=held)
        if event.kind == "request.accepted" and not inside.is_set():
            inside.set()  # both rows are updated, the notifications written, nothing committed
            assert carry_on.wait(30)

    monkeypatch.setattr(notify, "follow", follow_then_stall)
    outcome: dict[str, Any] = {}
    try:
        with TestClient(app) as client:

            def accept() -> None:
                outcome["answer"] = client.post(
                    "/api/mechanic/accept", json={"request_id": rid}, headers=mechanic.headers
                )

            worker = threading.Thread(target=accept)
            worker.start()
            assert inside.wait(30)
            stalled = _backends(pg_db, "state = 'idle in transaction'")
            assert len(stalled) == 1
            _terminate(pg_db, stalled)
            carry_on.set()
            worker.join(30)

            failed = outcome["answer"]
            assert failed.status_code == 503, failed.text
            assert failed.json()["error"]["code"] == "unavailable"
            assert failed.headers["Retry-After"] == "1"
            assert _holder(pg_db, rid) == ("pending", None, "pending", None)
            assert (
                _count(
                    pg_db,
                    select(func.count()).select_from(Event).where(Event.kind == "request.accepted"),
                )
                == 0
            )
            assert (
                _count(
                    pg_db,
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.kind == "request.accepted"),
                )
                == 0
            )

            # The same server, the same pool: the client's retry goes through.
            retried = client.post(
                "/api/mechanic/accept", json={"request_id": rid}, headers=mechanic.headers
            )
            assert retried.status_code == 200, retried.text

            # Every pooled connection killed while idle: the next requests still succeed,
            # because the pool checks a connection before handing it out.
            _terminate(pg_db, _backends(pg_db, "state = 'idle'"))
            for _ in range(3):
                tabs = client.get("/api/mechanic/dashboard", headers=mechanic.headers)
                assert tabs.status_code == 200, tabs.text
            assert [r["request_id"] for r in tabs.json()["active"]] == [rid]
    finally:
        carry_on.set()
        server_db.dispose()
    assert _holder(pg_db, rid) == ("accepted", mechanic.actor.id, "waiting", mechanic.actor.id)


# --- PostgreSQL restarted under load -------------------------------------------------------


def _local_cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster serving the test server's port, if we run it."""
    url = make_url(PG_SERVER)
    if url.host not in ("127.0.0.1", "localhost") or shutil.which("pg_lsclusters") is None:
        return None
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    )
    for line in listing.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == str(url.port or 5432):
            return parts[0], parts[1]
    return None


def _pg_answers() -> bool:
    url = make_url(PG_SERVER)
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((url.host or "127.0.0.1", url.port or 5432)) == 0


def _ctl(cluster: tuple[str, str], action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action],
        check=True,
        timeout=120,
        capture_output=True,
    )


@contextmanager
def restartable_cluster() -> Iterator[tuple[str, str]]:
    # CI runs as root next to its own cluster: a run that cannot restart it must say so
    # loudly, not pass with this test skipped.
    cluster = _local_cluster()
    assert cluster is not None, (
        f"restarting PostgreSQL needs its local cluster: pg_lsclusters lists none for {PG_SERVER}"
    )
    assert os.geteuid() == 0, "restarting PostgreSQL (pg_ctlcluster) needs root"
    try:
        yield cluster
    finally:
        if not _pg_answers():
            _ctl(cluster, "start")
        wait_for(_pg_answers, "PostgreSQL to be up again", 120)


def _postmaster_start(db: Database) -> Any:
    with db.engine.connect() as c:
        return c.scalar(text("SELECT pg_postmaster_start_time()"))


@dataclass
class Load:
    """Intakes and accepts kept flowing by a few clients, with what was acknowledged."""

    base: str
    customer: Account
    mechanics: list[Account]
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    intakes: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> answer
    accepted: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    unavailable: int = 0

    def acknowledged(self) -> int:
        with self.lock:
            return len(self.accepted)

    def _until_answered(self, client: httpx.Client, method: str, path: str, **kw: Any) -> Any:
        """Retry through the outage; a 503 or a dropped connection means "again"."""
        while not self.stop.is_set():
            try:
                answer = client.request(method, path, **kw)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code != 503:
                return answer
            with self.lock:
                self.unavailable += 1
            time.sleep(0.1)
        return None

    def run(self, mechanic: Account) -> None:
        with httpx.Client(base_url=self.base, timeout=TIMEOUT) as client:
            while not self.stop.is_set():
                key = uuid.uuid4().hex
                started = self._until_answered(
                    client,
                    "POST",
                    "/api/intake/start",
                    json=INTAKE,
                    headers={**self.customer.headers, "Idempotency-Key": key},
                )
                if started is None:
                    return
                assert started.status_code == 201, started.text
                with self.lock:
                    self.intakes[key] = started.json()
                rid = started.json()["request_id"]
                taken = self._until_answered(
                    client,
                    "POST",
                    "/api/mechanic/accept",
                    json={"request_id": rid},
                    headers=mechanic.headers,
                )
                if taken is None:
                    return
                assert taken.status_code == 200, taken.text
                with self.lock:
                    self.accepted.append((rid, mechanic.actor.id))


@dataclass
class LivePage:
    """A page's event stream that reconnects with Last-Event-ID whenever it is cut."""

    base: str
    account: Account
    ids: list[int] = field(default_factory=list)
    reconnects: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            headers = {
                **self.account.headers,
                "Last-Event-ID": str(self.ids[-1] if self.ids else 0),
            }
            try:
                with (
                    httpx.Client(base_url=self.base, timeout=httpx.Timeout(30.0)) as client,
                    client.stream("GET", "/api/events", headers=headers) as response,
                ):
                    if response.status_code != 200:
                        raise httpx.TransportError(f"status {response.status_code}")
                    for line in response.iter_lines():
                        if line.startswith("id: "):
                            self.ids.append(int(line[4:]))
                        if self.stop.is_set():
                            return
            except httpx.HTTPError:
                pass
            self.reconnects += 1
            time.sleep(0.2)


@pytest.mark.postgres_only
def test_postgres_restart_under_load_loses_nothing_and_the_server_recovers(
    pg_db: Database, pg_url: str, tmp_path: Path
) -> None:
    with restartable_cluster() as cluster:
        customer = _account(pg_db, Role.CUSTOMER)
        mechanics = [_account(pg_db, Role.MECHANIC) for _ in range(3)]
        with serving(pg_url, tmp_path / "server.log") as (base, process):
            page = LivePage(base, customer)
            load = Load(base, customer, mechanics)
            threads = [threading.Thread(target=page.run)] + [
                threading.Thread(target=load.run, args=(m,)) for m in mechanics
            ]
            for t in threads:
                t.start()
            try:
                wait_for(lambda: load.acknowledged() >= 10, "load before the restart", 30)
                started_before = _postmaster_start(pg_db)
                _ctl(cluster, "restart")
                assert _postmaster_start(pg_db) > started_before, "PostgreSQL did restart"
                after_restart = load.acknowledged()
                wait_for(
                    lambda: load.acknowledged() >= after_restart + 10,
                    "the server to serve again by itself",
                    60,
                )
            finally:
                load.stop.set()
                for t in threads[1:]:
                    t.join(60)
            assert process.poll() is None, "the server itself was never restarted"
            assert httpx.get(f"{base}/healthz", timeout=TIMEOUT).status_code == 200
            mine = httpx.get(f"{base}/api/sessions", headers=customer.headers, timeout=TIMEOUT)
            assert mine.status_code == 200

            # Every event this customer may see reaches the live page, once and in order.
            with pg_db.read() as s:
                visible = [
                    e.id
                    for e in s.scalars(select(Event).order_by(Event.id))
                    if events.visible_to(e.payload, customer.actor.id, Role.CUSTOMER.value)
                ]
            wait_for(lambda: page.ids[: len(visible)] == visible, "the live page to catch up", 30)
            page.stop.set()
            threads[0].join(15)
            assert page.ids == sorted(set(page.ids)), "no event twice, none out of order"

    _no_orphans(pg_db)
    for key, started in load.intakes.items():
        rid = started["request_id"]
        with pg_db.read() as s:
            request = s.get(SessionRequest, uuid.UUID(rid))
            assert request is not None and str(request.parent_session_id) == started["session_id"]
            kept = s.get(IdempotencyKey, (customer.actor.id, key))
            assert kept is not None and json.dumps(kept.response, sort_keys=True) == json.dumps(
                started, sort_keys=True
            )
    for rid, mechanic_id in load.accepted:
        assert _holder(pg_db, rid) == ("accepted", mechanic_id, "waiting", mechanic_id)
    # Retries through the outage never did anything twice: one session per key.
    sessions = _count(
        pg_db, select(func.count()).where(Session.customer_user_id == customer.actor.id)
    )
    keys = _count(pg_db, select(func.count()).where(IdempotencyKey.user_id == customer.actor.id))
    assert sessions == keys >= len(load.intakes)
