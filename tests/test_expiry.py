"""Expiry: a request nobody accepts within REQUEST_TTL expires, its session is cancelled, the
customer is told and may request again; an accept racing the expiry never lets both win."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text

from pitcrew import flow, invariants
from pitcrew.auth import Actor
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.errors import Conflict
from pitcrew.models import Event, Role, Session, SessionRequest, utcnow
from tests.support.factories import INTAKE, Person, create_account, start_session

TTL = timedelta(seconds=0.5)


@pytest.fixture
def settings(db: Database) -> Settings:
    """A short TTL and a fast sweep, so the server's own sweeper expires requests here."""
    return Settings(database_url=db.url, request_ttl=TTL, expiry_sweep_seconds=0.05)


def wait_until(check: Callable[[], Any], what: str, seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_request_nobody_accepts_expires_and_can_be_requested_again(
    db: Database, app: FastAPI, customer: Person, mechanic: Person
) -> None:
    with TestClient(app):  # the server, with its expiry sweeper
        sid, rid = start_session(db, customer).ids
        detail = wait_until(
            lambda: (
                (d := customer.client.get(f"/api/sessions/{sid}").json())["request"]["status"]
                == "expired"
                and d
            ),
            "the request to expire",
        )
    assert detail["session"]["status"] == "cancelled"
    assert detail["session"]["mechanic_id"] is None
    assert detail["request"]["closed_at"] is not None
    [note] = customer.client.get("/api/notifications").json()["notifications"]
    assert note["title"] == "No mechanic was free in time" and note["session_id"] == sid

    assert mechanic.client.get("/api/mechanic/requests").json()["requests"] == []
    late = mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    assert late.status_code == 409 and late.json()["error"]["code"] == "request_closed"
    story = [t["text"] for t in customer.client.get(f"/api/sessions/{sid}/timeline").json()]
    assert story == [
        "Casey Driver asked for a chat session (standard plan).",
        "The request expired: no mechanic accepted it in time.",
    ]

    again = customer.client.post(f"/api/sessions/{sid}/request-again")
    assert again.status_code == 201, again.text
    new = again.json()
    assert new["session_id"] != sid and new["request_id"] != rid
    assert (new["session_status"], new["request_status"]) == ("pending", "pending")
    fresh = customer.client.get(f"/api/sessions/{new['session_id']}").json()
    assert fresh["request"]["id"] == new["request_id"]
    assert fresh["intake"]["issue_description"] == INTAKE["issue_description"]
    assert fresh["intake"]["vehicle_info"]["model"] == "Civic"
    incoming = mechanic.client.get("/api/mechanic/requests").json()["requests"]
    assert [r["request_id"] for r in incoming] == [new["request_id"]]
    old = customer.client.get(f"/api/sessions/{sid}").json()
    assert (old["session"]["status"], old["request"]["status"]) == ("cancelled", "expired")


def test_requests_younger_than_the_ttl_are_left_alone(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid = start_session(db, customer).sid
    taken_sid, taken_rid = start_session(db, customer).ids
    assert mechanic.client.post("/api/mechanic/accept", json={"request_id": taken_rid}).is_success
    assert flow.expire_due(db, timedelta(minutes=15)) == 0
    assert customer.client.get(f"/api/sessions/{sid}").json()["request"]["status"] == "pending"
    # Once overdue, only the pending one expires; the accepted one is not touched.
    assert flow.expire_due(db, timedelta(minutes=15), now=utcnow() + timedelta(minutes=16)) == 1
    assert customer.client.get(f"/api/sessions/{sid}").json()["request"]["status"] == "expired"
    held = customer.client.get(f"/api/sessions/{taken_sid}").json()
    assert (held["session"]["status"], held["request"]["status"]) == ("waiting", "accepted")
    assert flow.expire_due(db, timedelta(0)) == 0, "an expired request does not expire twice"


def test_a_sweep_costs_one_query_when_nothing_is_due(
    db: Database, customer: Person, mechanic: Person
) -> None:
    for _ in range(3):
        start_session(db, customer)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in {"SELECT", "UPDATE", "INSERT"}:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert flow.expire_due(db, timedelta(minutes=15)) == 0
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1, statements
    assert "session_requests" in statements[0]


@pytest.mark.postgres_only
def test_pg_the_sweep_query_is_served_by_the_pending_index(pg_db: Database) -> None:
    query = flow.due_for_expiry(utcnow() - timedelta(minutes=15))
    compiled = query.compile(dialect=pg_db.engine.dialect)
    with pg_db.engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            row[0] for row in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
        )
    assert "ix_session_requests_pending" in plan, plan


# --- races (PostgreSQL: real parallel transactions) -------------------------------------------


@pytest.fixture
def pg_people(pg_db: Database) -> tuple[Actor, Actor]:
    customer = create_account(pg_db, Role.CUSTOMER, password=None)
    mechanic = create_account(pg_db, Role.MECHANIC, password=None)
    return customer.actor, mechanic.actor


def _kinds(db: Database, request_id: uuid.UUID) -> list[str]:
    with db.read() as s:
        return list(s.scalars(select(Event.kind).where(Event.request_id == request_id)))


@pytest.mark.postgres_only
def test_pg_accept_racing_expiry_has_exactly_one_outcome(
    pg_db: Database, pg_people: tuple[Actor, Actor]
) -> None:
    customer, mechanic = pg_people
    outcomes: Counter[str] = Counter()
    with ThreadPoolExecutor(2) as pool:
        for _ in range(50):
            started = start_session(pg_db, customer)
            barrier = threading.Barrier(2)

            def accept(rid: uuid.UUID = started.request_id, b: threading.Barrier = barrier) -> str:
                b.wait()
                try:
                    flow.accept(pg_db, mechanic, rid)
                except Conflict as refused:
                    return refused.code
                return "accepted"

            def expire(b: threading.Barrier = barrier) -> int:
                b.wait()
                return flow.expire_due(pg_db, timedelta(0))

            accepted, expired = pool.submit(accept), pool.submit(expire)
            by_accept, by_expiry = accepted.result(timeout=60), expired.result(timeout=60)
            assert (by_accept == "accepted") != (by_expiry == 1), (by_accept, by_expiry)
            with pg_db.read() as s:
                request = s.get(SessionRequest, started.request_id)
                session = s.get(Session, started.session_id)
                assert request is not None and session is not None
                pair = (request.status, session.status, request.mechanic_id, session.mechanic_id)
            kinds = _kinds(pg_db, started.request_id)
            if by_accept == "accepted":
                assert pair == ("accepted", "waiting", mechanic.id, mechanic.id)
                assert "request.expired" not in kinds and kinds.count("request.accepted") == 1
            else:
                assert by_accept == "request_closed"
                assert pair == ("expired", "cancelled", None, None)
                assert "request.accepted" not in kinds and kinds.count("request.expired") == 1
            with pg_db.engine.connect() as c:
                assert not any(invariants.violations(c).values())
            outcomes[by_accept] += 1
    assert sum(outcomes.values()) == 50
    print(f"accept vs expiry, 50 rounds: {dict(outcomes)}")


@pytest.mark.postgres_only
def test_pg_two_sweepers_expire_each_request_once(
    pg_db: Database, pg_people: tuple[Actor, Actor]
) -> None:
    customer, _ = pg_people
    for _ in range(20):
        start_session(pg_db, customer)
    barrier = threading.Barrier(2)

    def sweep() -> int:
        barrier.wait()
        return flow.expire_due(pg_db, timedelta(0))

    with ThreadPoolExecutor(2) as pool:
        counts = [f.result(timeout=60) for f in [pool.submit(sweep), pool.submit(sweep)]]
    assert sum(counts) == 20
    with pg_db.read() as s:
        expired_events = s.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "request.expired")
        )
        pending = s.scalar(
            select(func.count())
            .select_from(SessionRequest)
            .where(SessionRequest.status == "pending")
        )
    assert (expired_events, pending) == (20, 0)
