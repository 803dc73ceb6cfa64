"""Races on PostgreSQL with real parallel connections: one thread, one connection, one actor.

Each round lines the racers up on a barrier so their transactions really overlap, then checks
what a user would: exactly one mechanic got the session, everyone else a 409 that names why,
the rows agree with each other (DESIGN's invariants), and the dashboards show it to the
winner alone.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from pitcrew import auth, dashboard, flow
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.errors import DomainError
from pitcrew.events import Kind
from pitcrew.models import (
    Event,
    Intake,
    RequestStatus,
    Role,
    Session,
    SessionRequest,
    SessionStatus,
)
from pitcrew.schemas import AcceptOut
from pitcrew.web.app import create_app
from tests.support.databases import assert_invariants
from tests.support.factories import (
    INTAKE,
    bearer,
    create_account,
    start_session,
    token_for,
)

pytestmark = pytest.mark.postgres_only

MECHANICS = 16
ACCEPT_ROUNDS = 200
CANCEL_RACERS = 8
CANCEL_ROUNDS = 100
IDEMPOTENCY_ROUNDS = 20
BARRIER_TIMEOUT = 30.0

T = TypeVar("T")
Outcome = AcceptOut | DomainError


def _at_once(pool: ThreadPoolExecutor, calls: list[Callable[[], T]]) -> list[T | DomainError]:
    """Run every call in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | DomainError:
        barrier.wait(BARRIER_TIMEOUT)
        try:
            return call()
        except DomainError as refused:
            return refused

    return list(pool.map(run, calls))


def _accept(db: Database, mechanic: auth.Actor, request_id: uuid.UUID) -> Callable[[], AcceptOut]:
    return partial(flow.accept, db, mechanic, request_id)


def _pair(db: Database, session_id: uuid.UUID) -> tuple[Session, SessionRequest]:
    with db.read() as s:
        session = s.get(Session, session_id)
        request = s.scalar(
            select(SessionRequest).where(SessionRequest.parent_session_id == session_id)
        )
    assert session is not None and request is not None
    return session, request


def _holders(
    pool: ThreadPoolExecutor,
    db: Database,
    mechanics: list[auth.Actor],
    tab: str,
    session_id: uuid.UUID,
) -> set[uuid.UUID]:
    """The mechanics whose ``tab`` lists the session, each read as that mechanic's own page
    load would, all at once as a crowd of mechanics would."""
    read = getattr(dashboard, tab)

    def holds(mechanic: auth.Actor) -> bool:
        with db.read() as s:
            return any(row["session_id"] == session_id for row in read(s, mechanic.id).rows)

    return {m.id for m, held in zip(mechanics, pool.map(holds, mechanics), strict=True) if held}


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=MECHANICS + 1) as executor:
        yield executor


def test_sixteen_mechanics_accept_at_once_exactly_one_wins(
    pg_db: Database, pool: ThreadPoolExecutor
) -> None:
    customer = create_account(pg_db, Role.CUSTOMER, "Casey Driver", password=None).actor
    mechanics = [
        create_account(pg_db, Role.MECHANIC, f"Mechanic {i:02d}", password=None).actor
        for i in range(MECHANICS)
    ]
    for round_no in range(ACCEPT_ROUNDS):
        started = start_session(pg_db, customer)
        session_id, request_id = started.session_id, started.request_id
        outcomes = _at_once(pool, [_accept(pg_db, m, request_id) for m in mechanics])

        winners = [
            (m, o) for m, o in zip(mechanics, outcomes, strict=True) if isinstance(o, AcceptOut)
        ]
        assert len(winners) == 1, f"round {round_no}: {len(winners)} winners"
        winner, answer = winners[0]
        assert answer.mechanic_id == winner.id and answer.session_id == session_id
        refused = Counter((o.status, o.code) for o in outcomes if isinstance(o, DomainError))
        assert refused == {(409, "request_taken"): MECHANICS - 1}, f"round {round_no}"

        session, request = _pair(pg_db, session_id)
        assert (session.status, request.status) == (SessionStatus.WAITING, RequestStatus.ACCEPTED)
        assert session.mechanic_id == request.mechanic_id == winner.id
        assert_invariants(pg_db)
        assert _holders(pool, pg_db, mechanics, "active", session_id) == {winner.id}, (
            f"round {round_no}"
        )

        # Keep every Active tab to one page for the next round.
        flow.cancel(pg_db, customer, session_id, "done with this round")

    with pg_db.read() as s:
        accepted = s.scalar(
            select(func.count()).select_from(Event).where(Event.kind == Kind.REQUEST_ACCEPTED)
        )
    assert accepted == ACCEPT_ROUNDS


def test_accept_racing_cancel_has_one_consistent_outcome(
    pg_db: Database, pool: ThreadPoolExecutor
) -> None:
    customer = create_account(pg_db, Role.CUSTOMER, "Casey Driver", password=None).actor
    mechanics = [
        create_account(pg_db, Role.MECHANIC, f"Mechanic {i}", password=None).actor
        for i in range(CANCEL_RACERS)
    ]
    seen: Counter[str] = Counter()
    for round_no in range(CANCEL_ROUNDS):
        started = start_session(pg_db, customer)
        session_id, request_id = started.session_id, started.request_id
        calls: list[Callable[[], object]] = [_accept(pg_db, m, request_id) for m in mechanics]
        calls.append(partial(flow.cancel, pg_db, customer, session_id, "found a garage"))
        *accepts, cancelled = _at_once(pool, calls)

        # The customer may cancel a pending or a waiting session, so the cancel always lands.
        assert cancelled == SessionStatus.CANCELLED, f"round {round_no}: {cancelled!r}"
        session, request = _pair(pg_db, session_id)
        assert (session.status, request.status) == (
            SessionStatus.CANCELLED,
            RequestStatus.CANCELLED,
        )
        winners = [m for m, o in zip(mechanics, accepts, strict=True) if isinstance(o, AcceptOut)]
        refusals = [o for o in accepts if isinstance(o, DomainError)]
        assert len(winners) + len(refusals) == CANCEL_RACERS
        assert all(r.status == 409 for r in refusals)
        with pg_db.read() as s:
            kinds = [
                e.kind
                for e in s.scalars(
                    select(Event).where(Event.session_id == session_id).order_by(Event.id)
                )
            ]
        if winners:
            # The accept committed first; the cancel then ended the waiting session.
            assert len(winners) == 1, f"round {round_no}: {len(winners)} winners"
            (winner,) = winners
            assert session.mechanic_id == request.mechanic_id == winner.id
            assert {r.code for r in refusals} <= {"request_taken", "request_closed"}
            assert kinds.index(Kind.REQUEST_ACCEPTED) < kinds.index(Kind.REQUEST_CANCELLED)
            assert _holders(pool, pg_db, mechanics, "history", session_id) == {winner.id}
            seen["accepted, then cancelled"] += 1
        else:
            # The cancel committed first: nobody may take a cancelled request.
            assert {r.code for r in refusals} == {"request_closed"}
            assert session.mechanic_id is None and request.mechanic_id is None
            assert Kind.REQUEST_ACCEPTED not in kinds
            seen["cancelled first"] += 1
        assert _holders(pool, pg_db, mechanics, "active", session_id) == set()
        assert_invariants(pg_db)
    print(f"accept vs cancel outcomes over {CANCEL_ROUNDS} rounds: {dict(seen)}")


def test_same_idempotency_key_in_parallel_creates_one_intake(
    pg_db: Database, pool: ThreadPoolExecutor
) -> None:
    token = token_for(pg_db, create_account(pg_db, Role.CUSTOMER, "Casey Driver"))
    app = create_app(Settings(database_url=pg_db.url), pg_db)
    clients = [TestClient(app) for _ in range(2)]
    try:
        for client in clients:
            client.headers.update(bearer(token))
        for round_no in range(IDEMPOTENCY_ROUNDS):
            headers = {"Idempotency-Key": f"retry-{round_no}-{uuid.uuid4().hex}"}
            answers = _at_once(
                pool,
                [
                    partial(c.post, "/api/intake/start", json=INTAKE, headers=headers)
                    for c in clients
                ],
            )
            assert [getattr(a, "status_code", a) for a in answers] == [201, 201]
            first, second = (a.json() for a in answers if isinstance(a, Response))
            assert first == second, f"round {round_no}"
            with pg_db.read() as s:
                for table in (Intake, Session, SessionRequest):
                    count = s.scalar(select(func.count()).select_from(table))
                    assert count == round_no + 1, f"round {round_no}: {table.__tablename__}"
    finally:
        for client in clients:
            client.close()
