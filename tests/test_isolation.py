"""Every pair of racing actions, in each order, forced on PostgreSQL, ends in one clean outcome.

A side connection holds the request's row lock; the two actions start in threads and queue
behind it in a known order (we wait until PostgreSQL shows each one waiting); then the lock
is released. Whatever the order, exactly one consistent state results: the first action
does what it does alone, the second either follows on from it or is refused and changes
nothing, and DESIGN's invariants hold (checked by the ``pg_db`` fixture afterwards).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select, text

from pitcrew import flow
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import Conflict, DomainError
from pitcrew.models import Event, Role, Session, SessionRequest, utcnow
from tests.support.factories import create_account, start_session

pytestmark = pytest.mark.postgres_only

TTL = timedelta(minutes=15)
WAIT_SECONDS = 15.0


@dataclass
class Cast:
    customer: Actor
    first: Actor
    second: Actor


@pytest.fixture
def people(pg_db: Database) -> Cast:
    def person(role: Role) -> Actor:
        return create_account(pg_db, role, password=None).actor

    return Cast(person(Role.CUSTOMER), person(Role.MECHANIC), person(Role.MECHANIC))


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None

    @property
    def refused(self) -> DomainError:
        assert isinstance(self.error, DomainError), f"expected a refusal, got {self!r}"
        return self.error


def _waiting(db: Database) -> int:
    with db.engine.connect() as c:
        return int(
            c.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )


def _until_waiting(db: Database, count: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while _waiting(db) < count:
        assert time.monotonic() < deadline, f"{count} action(s) never queued behind the lock"
        time.sleep(0.01)


@pytest.fixture
def interleave(pg_db: Database) -> Iterator[Callable[..., tuple[Outcome, Outcome]]]:
    threads: list[threading.Thread] = []

    def run(
        request_id: uuid.UUID, first: Callable[[], Any], second: Callable[[], Any]
    ) -> tuple[Outcome, Outcome]:
        """Queue ``first`` then ``second`` behind a held lock on the request, then release."""
        outcomes = (Outcome(), Outcome())

        def call(action: Callable[[], Any], into: Outcome) -> None:
            try:
                into.value = action()
            except BaseException as error:  # reported through the outcome
                into.error = error

        with pg_db.engine.connect() as side:
            side.execute(
                select(SessionRequest.id).where(SessionRequest.id == request_id).with_for_update()
            )
            for n, (action, into) in enumerate(zip((first, second), outcomes, strict=True)):
                thread = threading.Thread(target=call, args=(action, into), daemon=True)
                threads.append(thread)
                thread.start()
                _until_waiting(pg_db, n + 1)
            side.rollback()
        for thread in threads:
            thread.join(timeout=30)
            assert not thread.is_alive(), "an action never finished"
        for outcome in outcomes:
            if outcome.error is not None and not isinstance(outcome.error, DomainError):
                raise outcome.error
        return outcomes

    yield run
    for thread in threads:
        thread.join(timeout=30)


def _state(db: Database, session_id: uuid.UUID) -> tuple[str, str, uuid.UUID | None]:
    with db.read() as s:
        session = s.get(Session, session_id)
        request = s.scalar(
            select(SessionRequest).where(SessionRequest.parent_session_id == session_id)
        )
        assert session is not None and request is not None
        assert session.mechanic_id == request.mechanic_id
        return session.status, request.status, session.mechanic_id


def _events(db: Database, session_id: uuid.UUID, kind: str) -> int:
    with db.read() as s:
        return int(
            s.scalar(select(func.count()).where(Event.session_id == session_id, Event.kind == kind))
            or 0
        )


ORDERS = pytest.mark.parametrize("order", ["forward", "reverse"])


@ORDERS
def test_accept_against_accept(
    pg_db: Database, people: Cast, interleave: Callable[..., tuple[Outcome, Outcome]], order: str
) -> None:
    started = start_session(pg_db, people.customer)
    sid, rid = started.session_id, started.request_id
    winner, loser = (people.first, people.second)
    if order == "reverse":
        winner, loser = loser, winner
    won, lost = interleave(
        rid, partial(flow.accept, pg_db, winner, rid), partial(flow.accept, pg_db, loser, rid)
    )
    assert won.error is None and won.value.mechanic_id == winner.id
    assert isinstance(lost.error, Conflict) and lost.refused.code == "request_taken"
    assert _state(pg_db, sid) == ("waiting", "accepted", winner.id)
    assert _events(pg_db, sid, "request.accepted") == 1


@ORDERS
def test_accept_against_cancel(
    pg_db: Database, people: Cast, interleave: Callable[..., tuple[Outcome, Outcome]], order: str
) -> None:
    started = start_session(pg_db, people.customer)
    sid, rid = started.session_id, started.request_id
    accept = partial(flow.accept, pg_db, people.first, rid)
    cancel = partial(flow.cancel, pg_db, people.customer, sid, "found a garage")
    if order == "forward":
        accepted, cancelled = interleave(rid, accept, cancel)
        assert accepted.error is None and cancelled.error is None
        # The customer cancelled a session a mechanic already held: it stays in their History.
        assert _state(pg_db, sid) == ("cancelled", "cancelled", people.first.id)
        assert _events(pg_db, sid, "request.accepted") == 1
    else:
        cancelled, accepted = interleave(rid, cancel, accept)
        assert cancelled.error is None
        assert isinstance(accepted.error, Conflict) and accepted.refused.code == "request_closed"
        assert _state(pg_db, sid) == ("cancelled", "cancelled", None)
        assert _events(pg_db, sid, "request.accepted") == 0


@ORDERS
def test_accept_against_expiry(
    pg_db: Database, people: Cast, interleave: Callable[..., tuple[Outcome, Outcome]], order: str
) -> None:
    started = start_session(pg_db, people.customer)
    sid, rid = started.session_id, started.request_id
    accept = partial(flow.accept, pg_db, people.first, rid)
    expire = partial(flow.expire_due, pg_db, TTL, now=utcnow() + 2 * TTL)
    if order == "forward":
        accepted, expired = interleave(rid, accept, expire)
        assert accepted.error is None
        assert expired.value == 0, "the sweep must skip a request accepted meanwhile"
        assert _state(pg_db, sid) == ("waiting", "accepted", people.first.id)
        assert _events(pg_db, sid, "request.expired") == 0
    else:
        expired, accepted = interleave(rid, expire, accept)
        assert expired.value == 1
        assert isinstance(accepted.error, Conflict) and accepted.refused.code == "request_closed"
        assert _state(pg_db, sid) == ("cancelled", "expired", None)
        assert _events(pg_db, sid, "request.accepted") == 0


@ORDERS
def test_join_against_cancel(
    pg_db: Database, people: Cast, interleave: Callable[..., tuple[Outcome, Outcome]], order: str
) -> None:
    started = start_session(pg_db, people.customer)
    sid, rid = started.session_id, started.request_id
    flow.accept(pg_db, people.first, rid)
    join = partial(flow.join, pg_db, people.first, sid)
    cancel = partial(flow.cancel, pg_db, people.customer, sid, "no longer needed")
    if order == "forward":
        joined, cancelled = interleave(rid, join, cancel)
        assert joined.error is None and cancelled.error is None
        assert _state(pg_db, sid) == ("cancelled", "cancelled", people.first.id)
        with pg_db.read() as s:
            session = s.get(Session, sid)
            assert session is not None and session.started_at is not None
    else:
        cancelled, joined = interleave(rid, cancel, join)
        assert cancelled.error is None
        assert isinstance(joined.error, Conflict) and joined.refused.code == "invalid_transition"
        assert _state(pg_db, sid) == ("cancelled", "cancelled", people.first.id)
        with pg_db.read() as s:
            session = s.get(Session, sid)
            assert session is not None and session.started_at is None


@ORDERS
def test_complete_against_cancel(
    pg_db: Database, people: Cast, interleave: Callable[..., tuple[Outcome, Outcome]], order: str
) -> None:
    started = start_session(pg_db, people.customer)
    sid, rid = started.session_id, started.request_id
    flow.accept(pg_db, people.first, rid)
    flow.join(pg_db, people.first, sid)
    complete = partial(flow.complete, pg_db, people.first, sid, "Replaced the pads.")
    cancel = partial(flow.cancel, pg_db, people.customer, sid, "taking too long")
    if order == "forward":
        completed, cancelled = interleave(rid, complete, cancel)
        assert completed.error is None
        assert isinstance(cancelled.error, Conflict)
        assert cancelled.refused.code == "invalid_transition"
        assert _state(pg_db, sid) == ("completed", "accepted", people.first.id)
    else:
        cancelled, completed = interleave(rid, cancel, complete)
        assert cancelled.error is None
        assert isinstance(completed.error, Conflict)
        assert completed.refused.code == "invalid_transition"
        assert _state(pg_db, sid) == ("cancelled", "cancelled", people.first.id)
        with pg_db.read() as s:
            session = s.get(Session, sid)
            assert session is not None and session.summary is None
