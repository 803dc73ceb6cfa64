"""Reassigning races on PostgreSQL with real parallel connections: one thread, one connection.

An admin moves a waiting session to another mechanic at the very moment its mechanic joins
it, or hands it back and another mechanic accepts it. Each round lines both up on a barrier
so their transactions really overlap, then checks what a user would: exactly one of them
happened, the other was refused and changed nothing, the session and its request name the
same mechanic (DESIGN's invariants), and only that mechanic's Active tab lists it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select

from pitcrew import dashboard, flow, oversight
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import DomainError
from pitcrew.models import Role, Session, SessionRequest, SessionStatus
from tests.support.databases import assert_invariants
from tests.support.factories import Stage, create_account, start_session

pytestmark = pytest.mark.postgres_only

ROUNDS = 40
BARRIER_SECONDS = 30.0


def _at_once(pool: ThreadPoolExecutor, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, released together; a refusal is returned, not raised."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(BARRIER_SECONDS)
        try:
            return call()
        except DomainError as refused:
            return refused

    return list(pool.map(run, calls))


def _holder(db: Database, sid: Any) -> tuple[SessionStatus, Any, Any]:
    with db.read() as s:
        session = s.get(Session, sid)
        request = s.scalar(select(SessionRequest).where(SessionRequest.parent_session_id == sid))
        assert session is not None and request is not None
        return session.status, session.mechanic_id, request.mechanic_id


def _active_for(db: Database, mechanics: list[Actor], sid: Any) -> set[Any]:
    with db.read() as s:
        return {
            m.id
            for m in mechanics
            if any(row["session_id"] == sid for row in dashboard.active(s, m.id).rows)
        }


def _hand_back_then_accept(db: Database, bea: Actor, dee: Actor, sid: Any, rid: Any) -> Any:
    """Bea hands the session back, and Dee accepts it the moment it is offered again."""
    flow.release(db, bea, sid)
    return flow.accept(db, dee, rid)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


def _cast(db: Database) -> tuple[Actor, Actor, Actor, Actor, Actor]:
    def person(role: Role, name: str) -> Actor:
        return create_account(db, role, name, password=None).actor

    return (
        person(Role.ADMIN, "Avery Admin"),
        person(Role.CUSTOMER, "Dana Driver"),
        person(Role.MECHANIC, "Bea Mechanic"),
        person(Role.MECHANIC, "Cole Mechanic"),
        person(Role.MECHANIC, "Dee Mechanic"),
    )


def test_reassign_racing_the_mechanics_own_join_has_one_outcome(
    pg_db: Database, pool: ThreadPoolExecutor
) -> None:
    admin, customer, bea, cole, dee = _cast(pg_db)
    outcomes: Counter[str] = Counter()
    for round_no in range(ROUNDS):
        sid = start_session(pg_db, customer, Stage.WAITING, mechanic=bea).session_id
        moved, joined = _at_once(
            pool,
            [
                partial(oversight.reassign, pg_db, admin, sid, cole.id, bea.id),
                partial(flow.join, pg_db, bea, sid),
            ],
        )
        status, session_mechanic, request_mechanic = _holder(pg_db, sid)
        assert session_mechanic == request_mechanic, f"round {round_no}"
        if isinstance(joined, DomainError):
            # The reassign came first: Bea no longer holds it, so it is not hers to join.
            assert not isinstance(moved, DomainError), f"round {round_no}: both refused"
            assert (joined.status, status, session_mechanic) == (404, "waiting", cole.id)
            assert _active_for(pg_db, [bea, cole, dee], sid) == {cole.id}
            outcomes["reassigned"] += 1
        else:
            # The join came first: the session is live, and not waiting for anyone any more.
            assert isinstance(moved, DomainError), f"round {round_no}: both happened"
            assert (moved.status, moved.code) == (409, "session_moved")
            assert (status, session_mechanic) == ("live", bea.id)
            assert _active_for(pg_db, [bea, cole, dee], sid) == {bea.id}
            outcomes["joined"] += 1
        assert_invariants(pg_db)
        flow.cancel(pg_db, customer, sid)
    assert sum(outcomes.values()) == ROUNDS
    print(f"reassign against join: {dict(outcomes)}")


def test_reassign_racing_a_hand_back_and_a_new_accept_has_one_outcome(
    pg_db: Database, pool: ThreadPoolExecutor
) -> None:
    admin, customer, bea, cole, dee = _cast(pg_db)
    outcomes: Counter[str] = Counter()

    for round_no in range(ROUNDS):
        started = start_session(pg_db, customer, Stage.WAITING, mechanic=bea)
        sid, rid = started.session_id, started.request_id

        moved, taken = _at_once(
            pool,
            [
                partial(oversight.reassign, pg_db, admin, sid, cole.id, bea.id),
                partial(_hand_back_then_accept, pg_db, bea, dee, sid, rid),
            ],
        )
        status, session_mechanic, request_mechanic = _holder(pg_db, sid)
        assert status == "waiting" and session_mechanic == request_mechanic, f"round {round_no}"
        if isinstance(moved, DomainError):
            # Bea handed it back first: it was no longer hers to move, and Dee took it.
            assert (moved.status, moved.code) == (409, "session_moved"), f"round {round_no}"
            assert not isinstance(taken, DomainError), f"round {round_no}: both refused"
            assert session_mechanic == dee.id
            outcomes["handed back and accepted"] += 1
        else:
            # The reassign came first: the hand-back is refused, so nothing was offered again.
            assert isinstance(taken, DomainError), f"round {round_no}: both happened"
            assert taken.status == 404
            assert session_mechanic == cole.id
            outcomes["reassigned"] += 1
        assert _active_for(pg_db, [bea, cole, dee], sid) == {session_mechanic}
        assert_invariants(pg_db)
        flow.cancel(pg_db, customer, sid)
    assert sum(outcomes.values()) == ROUNDS
    print(f"reassign against hand-back and accept: {dict(outcomes)}")
