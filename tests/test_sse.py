"""The live stream (GET /api/events) as a page sees it, over a real HTTP server.

Starlette's TestClient buffers responses, so these tests run uvicorn (in a thread, or as
``pitcrew serve`` processes) and read the stream with httpx. Every read has a timeout and
every server is stopped in ``finally``.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from pitcrew import chat, events, flow
from pitcrew.auth import Actor
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.web import stream
from pitcrew.web.app import create_app
from tests.support.factories import INTAKE, PASSWORD, Person, create_account, intake, start_session
from tests.support.live import (
    EventReader,
    Message,
    open_events,
    serve_in_process,
    serve_in_thread,
    wait_for,
)

READ_TIMEOUT = 5.0


@contextmanager
def listen(
    base: str, token: str | None = None, *, last_event_id: int | None = None, query: bool = False
) -> Iterator[EventReader]:
    """Open the stream; returns once the server has fixed the start point (``retry`` read)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {}
    if last_event_id is not None:
        if query:
            params["last_event_id"] = str(last_event_id)
        else:
            headers["Last-Event-ID"] = str(last_event_id)
    with open_events(base, headers, params=params, timeout=READ_TIMEOUT) as (response, reader):
        assert response.headers["content-type"].startswith("text/event-stream")
        reader.ready()
        yield reader


def _token(person: Person) -> str:
    return str(person.client.headers["Authorization"]).removeprefix("Bearer ")


def _bus(app: FastAPI) -> events.EventBus:
    bus: events.EventBus = app.state.events_bus
    return bus


def _says(line: str, message: Message) -> bool:
    """Whether the event is the chat message ``line``."""
    return bool(message.data.get("message", {}).get("body") == line)


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _visible_ids(
    db: Database, user: Person | Actor, after: int, upto: int | None = None
) -> list[int]:
    """What the table says this user may see in (after, upto], in order."""
    actor = user.actor if isinstance(user, Person) else user
    with db.read() as s:
        rows = events.events_after(s, after, limit=10_000)
    return [
        r.id
        for r in rows
        if (upto is None or r.id <= upto) and events.visible_to(r.payload, actor.id, actor.role)
    ]


# --- order, ids, replay --------------------------------------------------------------------


def test_events_arrive_in_order_with_ids(
    db: Database, live: str, customer: Person, mechanic: Person
) -> None:
    with (
        listen(live, _token(mechanic)) as seen_by_mechanic,
        listen(live, _token(customer)) as seen_by_customer,
    ):
        sid, rid = start_session(db, customer).ids
        _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
        _ok(mechanic.client.post(f"/api/sessions/{sid}/join"))
        _ok(customer.client.post(f"/api/sessions/{sid}/messages", json={"body": "It grinds."}), 201)

        def is_message(m: Message) -> bool:
            return m.kind == "message.created"

        for person, reader in ((mechanic, seen_by_mechanic), (customer, seen_by_customer)):
            got = reader.until(is_message)
            ids = [m.id for m in got]
            assert ids == sorted(set(ids)), "ids must be unique and increasing"
            assert ids == _visible_ids(db, person, 0, ids[-1])
            assert [m.kind for m in got if m.kind != "notification.created"] == [
                "request.created",
                "request.accepted",
                "session.updated",
                "message.created",
            ]
            for m in got:
                assert m.data["id"] == m.id and m.data["kind"] == m.kind
                assert "audience" not in m.data
                if m.kind != "notification.created":
                    assert m.data["session_id"] == sid
                if m.kind.startswith("request."):
                    assert m.data["request_id"] == rid
            (accepted,) = [m for m in got if m.kind == "request.accepted"]
            assert accepted.data["mechanic_id"] == str(mechanic.id)
            assert got[-1].data["message"]["body"] == "It grinds."


def test_reconnect_with_last_event_id_replays_exactly_the_gap(
    db: Database,
    live: str,
    customer: Person,
    mechanic: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events.EventBus, "PAGE", 2)  # replay then spans several pages
    with listen(live, _token(customer)) as reader:
        sid, rid = start_session(db, customer).ids
        created = reader.until(lambda m: m.kind == "request.created")[-1]
    # Offline: the mechanic accepts, joins and writes twice.
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    _ok(mechanic.client.post(f"/api/sessions/{sid}/join"))
    for body in ("Hello", "Check the pads"):
        _ok(mechanic.client.post(f"/api/sessions/{sid}/messages", json={"body": body}), 201)
    missed = _visible_ids(db, customer, created.id)
    assert len(missed) >= 5

    for query, line in ((False, "Thanks"), (True, "Bye")):  # the header, or the query
        with listen(live, _token(customer), last_event_id=created.id, query=query) as again:
            replayed = again.take(len(missed))
            assert [m.id for m in replayed] == missed
            chat = [m.data["message"]["body"] for m in replayed if m.kind == "message.created"]
            assert chat[:2] == ["Hello", "Check the pads"]
            # Then live, without a gap or a repeat.
            _ok(customer.client.post(f"/api/sessions/{sid}/messages", json={"body": line}), 201)
            tail = again.until(partial(_says, line))
            ids = [m.id for m in replayed + tail]
            assert ids == _visible_ids(db, customer, created.id, ids[-1])
        missed = _visible_ids(db, customer, created.id)


def test_replay_hands_over_to_live_without_gap_or_repeat(
    db: Database, live: str, customer: Person, mechanic: Person
) -> None:
    sid, rid = start_session(db, customer).ids
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    _ok(mechanic.client.post(f"/api/sessions/{sid}/join"))
    count = 30
    writing = threading.Event()

    def chatter() -> None:
        writing.set()
        for i in range(count):
            chat.post_message(db, customer.actor, sid, f"line {i}")

    writer = threading.Thread(target=chatter)
    writer.start()
    try:
        writing.wait(5)
        with listen(live, _token(mechanic), last_event_id=0) as reader:
            got = reader.until(
                lambda m: m.data.get("message", {}).get("body") == f"line {count - 1}"
            )
    finally:
        writer.join(timeout=30)
    ids = [m.id for m in got]
    assert ids == _visible_ids(db, mechanic, 0, ids[-1])
    bodies = [m.data["message"]["body"] for m in got if m.kind == "message.created"]
    assert bodies == [f"line {i}" for i in range(count)]


def test_without_last_event_id_the_stream_starts_now(
    db: Database, live: str, customer: Person, mechanic: Person
) -> None:
    start_session(db, customer)  # before the page opened: not sent
    # An id from the future (say, a restored database) also starts now, hiding nothing new.
    with (
        listen(live, _token(mechanic)) as fresh,
        listen(live, _token(mechanic), last_event_id=10**12) as ahead,
    ):
        sid = start_session(db, customer).sid
        for reader in (fresh, ahead):
            first = reader.next()
            assert first is not None and first.kind == "request.created"
            assert first.data["session_id"] == sid


# --- who sees what ---------------------------------------------------------------------------


def test_a_user_never_receives_events_about_someone_elses_session(
    db: Database, live: str, make_user: Callable[..., Person]
) -> None:
    c1, c2, c3 = (make_user(Role.CUSTOMER) for _ in range(3))
    m1, m2 = make_user(Role.MECHANIC), make_user(Role.MECHANIC)
    people = {"c1": c1, "c2": c2, "m1": m1, "m2": m2}
    with (
        listen(live, _token(c1)) as r_c1,
        listen(live, _token(c2)) as r_c2,
        listen(live, _token(m1)) as r_m1,
        listen(live, _token(m2)) as r_m2,
    ):
        s1, q1 = start_session(db, c1).ids
        s2, q2 = start_session(db, c2).ids
        _ok(m1.client.post("/api/mechanic/accept", json={"request_id": q1}))
        _ok(m2.client.post("/api/mechanic/accept", json={"request_id": q2}))
        for mech, sid, cust in ((m1, s1, c1), (m2, s2, c2)):
            _ok(mech.client.post(f"/api/sessions/{sid}/join"))
            _ok(cust.client.post(f"/api/sessions/{sid}/messages", json={"body": "hi"}), 201)
            _ok(mech.client.post(f"/api/sessions/{sid}/messages", json={"body": "hello"}), 201)
            _ok(mech.client.post(f"/api/sessions/{sid}/complete", json={"summary": "Pads."}))
        # The last event each of them may see: after it, nothing earlier can still arrive.
        _ok(c1.client.post(f"/api/sessions/{s1}/rating", json={"rating": 5, "comment": ""}))
        _ok(c2.client.post(f"/api/sessions/{s2}/rating", json={"rating": 4, "comment": ""}))
        s3 = start_session(db, c3).sid

        def rated(sid: str) -> Callable[[Message], bool]:
            return lambda m: (
                m.kind == "session.updated"
                and m.data.get("session_id") == sid
                and ("rating" in m.data)
            )

        got = {
            "c1": r_c1.until(rated(s1)),
            "c2": r_c2.until(rated(s2)),
            "m1": r_m1.until(lambda m: m.kind == "request.created" and m.data["session_id"] == s3),
            "m2": r_m2.until(lambda m: m.kind == "request.created" and m.data["session_id"] == s3),
        }

    own = {"c1": s1, "c2": s2, "m1": s1, "m2": s2}
    for who, messages in got.items():
        kinds = {m.kind for m in messages}
        assert {"request.created", "request.accepted", "session.updated", "message.created"} <= (
            kinds
        ), who
        for m in messages:
            about = m.data["session_id"]
            if who.startswith("c") or m.kind in ("message.created", "session.updated"):
                assert about == own[who], f"{who} received {m.kind} about another session"
            if m.kind == "notification.created" and about != own[who]:
                assert m.data["about"] == "request.created", f"{who} was told of {m.data}"
        assert [m.id for m in messages] == _visible_ids(db, people[who], 0, messages[-1].id)
    # Mechanics see every request come and go; each sees only its own chat.
    for who in ("m1", "m2"):
        requests = {m.data["session_id"] for m in got[who] if m.kind.startswith("request.")}
        assert requests == {s1, s2, s3}
        accepted = {m.data["session_id"] for m in got[who] if m.kind == "request.accepted"}
        assert accepted == {s1, s2}


def test_stream_needs_sign_in_and_accepts_the_cookie(
    db: Database, live: str, customer: Person, anonymous: Any
) -> None:
    answer = anonymous.get("/api/events")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "not_signed_in"
    with httpx.Client(base_url=live, timeout=READ_TIMEOUT) as browser:
        signed = browser.post(
            "/api/auth/login", json={"email": customer.email, "password": PASSWORD}
        )
        assert signed.status_code == 200 and browser.cookies
        with browser.stream("GET", "/api/events") as response:
            assert response.status_code == 200
            reader = EventReader(response.iter_lines())
            reader.ready()
            sid = start_session(db, customer).sid
            first = reader.next()
    assert first is not None and first.kind == "request.created"
    assert first.data["session_id"] == sid


def test_bad_last_event_id_is_refused(customer: Person) -> None:
    answer = customer.client.get("/api/events", headers={"Last-Event-ID": "yesterday"})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_last_event_id"
    documented = customer.client.get("/openapi.json").json()["paths"]["/api/events"]["get"]
    assert list(documented["responses"]["200"]["content"]) == ["text/event-stream"]


# --- the connection's life ---------------------------------------------------------------------


def test_idle_stream_pings_and_closing_it_unsubscribes(
    app: FastAPI, live: str, customer: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "PING_SECONDS", 0.1)
    with listen(live, _token(customer)) as reader:
        assert reader.line() == ": ping"
        assert _bus(app).subscriber_count == 1
    wait_for(lambda: _bus(app).subscriber_count == 0, "the closed stream to unsubscribe")


def test_server_shutdown_ends_open_streams(app: FastAPI, customer: Person) -> None:
    with serve_in_thread(app) as base, listen(base, _token(customer)) as reader:
        _bus(app).close_streams_soon()  # what SIGTERM / Ctrl+C does under `pitcrew serve`
        assert reader.next() is None, "the stream should end when the server stops"
        with listen(base, _token(customer)) as late:
            assert late.next() is None, "a stream opened while stopping ends at once"


def test_a_page_that_falls_behind_is_dropped_not_buffered(
    db: Database, customer: Person, mechanic: Person
) -> None:
    async def scenario() -> tuple[bool, int, list[events.Live | None]]:
        bus = events.EventBus(db, poll_seconds=60, queue_size=2)
        await bus.start()
        try:
            slow = bus.subscribe(mechanic.id, Role.MECHANIC)
            for _ in range(3):
                await asyncio.to_thread(flow.start_intake, db, customer.actor, intake())
            # The page never reads; the bus must drop it rather than grow its queue.
            deadline = time.monotonic() + 10
            while not slow.ended and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            received = [await slow.next(1.0)]
            return slow.ended, bus.subscriber_count, received
        finally:
            await bus.stop()

    ended, subscribers, received = asyncio.run(scenario())
    assert ended and subscribers == 0
    assert received == [None], "a dropped page's stream ends (it reconnects and replays)"


# --- PostgreSQL: several server processes ----------------------------------------------------


def _login(base: str, email: str) -> str:
    answer = httpx.post(
        f"{base}/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


@pytest.mark.postgres_only
def test_pg_accept_in_one_process_reaches_a_stream_on_another(
    pg_db: Database, pg_url: str, tmp_path: Path
) -> None:
    customer_email = create_account(pg_db, Role.CUSTOMER).email
    mechanic = create_account(pg_db, Role.MECHANIC)
    with (
        serve_in_process(pg_url, tmp_path / "a.log", events_poll_seconds=60) as (a, _),
        serve_in_process(pg_url, tmp_path / "b.log", events_poll_seconds=60) as (b, process_b),
    ):
        customer_token = _login(a, customer_email)
        mechanic_token = _login(a, mechanic.email)
        auth_a = {"Authorization": f"Bearer {mechanic_token}"}
        with listen(b, customer_token) as on_b:
            started = httpx.post(
                f"{a}/api/intake/start",
                json=INTAKE,
                headers={"Authorization": f"Bearer {customer_token}"},
                timeout=10,
            ).json()
            accepted = httpx.post(
                f"{a}/api/mechanic/accept",
                json={"request_id": started["request_id"]},
                headers=auth_a,
                timeout=10,
            )
            assert accepted.status_code == 200, accepted.text
            # The poll is set to 60 s: only LISTEN/NOTIFY can bring this within the read timeout.
            got = on_b.until(lambda m: m.kind == "request.accepted")
            assert got[-1].data["session_id"] == started["session_id"]
            assert got[-1].data["mechanic_id"] == str(mechanic.id)

            # Stopping a server ends its open streams instead of waiting on them.
            process_b.send_signal(signal.SIGTERM)
            # What was already on its way, then the end (a hang times out the read).
            rest: list[Message] = []
            while (message := on_b.next()) is not None and len(rest) < 10:
                rest.append(message)
            assert message is None
            assert process_b.wait(10) is not None


@pytest.mark.postgres_only
def test_pg_listener_reconnects_after_its_connection_drops(pg_db: Database, pg_url: str) -> None:
    server_db = Database(pg_url)
    app = create_app(Settings(database_url=pg_url, events_poll_seconds=60), server_db)
    customer = create_account(pg_db, Role.CUSTOMER)

    def listener_pids() -> set[int]:
        with pg_db.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'pitcrew-events'"
                    " AND datname = current_database()"
                )
            )
            return {int(r[0]) for r in rows}

    try:
        before = listener_pids()
        with serve_in_thread(app) as base:
            wait_for(lambda: len(listener_pids() - before) == 1, "the LISTEN connection")
            (old,) = listener_pids() - before
            with pg_db.engine.connect() as c:
                c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": old})
            wait_for(lambda: listener_pids() - before - {old} != set(), "a new LISTEN connection")
            wait_for(lambda: _bus(app).listening, "the bus to listen again")
            token = _login(base, customer.email)
            with listen(base, token) as reader:
                # Written through another pool: only a NOTIFY can wake this server's bus.
                answer, _ = flow.start_intake(pg_db, customer.actor, intake())
                got = reader.next()
            assert got is not None and got.kind == "request.created"
            assert got.data["session_id"] == str(answer.session_id)
    finally:
        server_db.dispose()
