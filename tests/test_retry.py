"""Serialization failures and deadlocks retry the whole transaction, a bounded number of times.

Injected failures (a psycopg error wrapped by SQLAlchemy, as the driver raises them) run on
both databases; a real deadlock and a real serialization failure run on PostgreSQL.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import psycopg.errors
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session as DbSession

from pitcrew import db as dbmodule
from pitcrew import flow, notify
from pitcrew.db import Database
from pitcrew.errors import Conflict
from pitcrew.models import Event, Notification, SessionRequest, User, utcnow
from pitcrew.schemas import IntakeIn
from tests.support.factories import INTAKE, Person


def _driver_error(kind: type[Exception]) -> OperationalError:
    """What SQLAlchemy raises when PostgreSQL reports ``kind`` (40001 or 40P01)."""
    return OperationalError("UPDATE ...", {}, kind("injected"))


def _user(email: str | None = None) -> User:
    return User(
        id=uuid.uuid4(),
        email=email or f"retry-{uuid.uuid4().hex[:10]}@example.com",
        name="Retry",
        role="customer",
        created_at=utcnow(),
    )


def _count_users(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(User)) or 0)


def _failing_first(
    times: int, kind: type[Exception]
) -> tuple[Callable[[DbSession], str], list[int]]:
    """A unit of work that writes a row, then fails with ``kind`` the first ``times`` runs."""
    calls: list[int] = []

    def work(s: DbSession) -> str:
        calls.append(1)
        s.add(_user())
        s.flush()
        if len(calls) <= times:
            raise _driver_error(kind)
        return "done"

    return work, calls


@pytest.mark.parametrize(
    "kind", [psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected]
)
def test_retryable_failure_reruns_the_whole_transaction(
    db: Database, kind: type[Exception]
) -> None:
    work, calls = _failing_first(3, kind)
    assert db.run(work) == "done"
    assert len(calls) == 4
    assert _count_users(db) == 1, "the failed attempts' writes must have been rolled back"


def test_retries_are_bounded(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pitcrew.db.time.sleep", lambda _seconds: None)
    work, calls = _failing_first(10_000, psycopg.errors.SerializationFailure)
    with pytest.raises(OperationalError) as raised:
        db.run(work)
    assert getattr(raised.value.orig, "sqlstate", None) == "40001"
    assert len(calls) == dbmodule.MAX_ATTEMPTS
    assert _count_users(db) == 0


def test_other_errors_are_not_retried(db: Database) -> None:
    calls: list[int] = []

    def refused(s: DbSession) -> None:
        calls.append(1)
        s.add(_user())
        s.flush()
        raise Conflict("no")

    with pytest.raises(Conflict):
        db.run(refused)
    assert len(calls) == 1

    email = f"twice-{uuid.uuid4().hex[:8]}@example.com"
    db.run(lambda s: s.add(_user(email)))
    duplicate_calls: list[int] = []

    def duplicate(s: DbSession) -> None:
        duplicate_calls.append(1)
        s.add(_user(email))
        s.flush()

    with pytest.raises(IntegrityError):
        db.run(duplicate)
    assert len(duplicate_calls) == 1
    assert _count_users(db) == 1


def test_commit_hooks_run_once_after_a_retried_transaction(db: Database) -> None:
    woken: list[int] = []
    db.on_events_committed(lambda: woken.append(1))
    calls: list[int] = []

    def work(s: DbSession) -> None:
        calls.append(1)
        s.add(Event(at=utcnow(), kind="test.retry", payload={}))
        s.flush()
        s.info[dbmodule.EVENTS_WRITTEN] = True
        if len(calls) == 1:
            raise _driver_error(psycopg.errors.SerializationFailure)

    db.run(work)
    assert len(calls) == 2
    assert woken == [1]
    with db.read() as s:
        assert s.scalar(select(func.count()).where(Event.kind == "test.retry")) == 1


def test_accept_interrupted_by_a_serialization_failure_happens_once(
    db: Database, customer: Person, mechanic: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry of a whole state change leaves one change, one event, one notification."""
    answer, _ = flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))
    real_follow = notify.follow
    failures: list[int] = []

    def follow_once_failing(s: DbSession, event: Event, *, held: bool = False) -> None:
        real_follow(s, event, held=held)
        if event.kind == "request.accepted" and not failures:
            failures.append(1)
            raise _driver_error(psycopg.errors.SerializationFailure)

    monkeypatch.setattr(notify, "follow", follow_once_failing)
    accepted = flow.accept(db, mechanic.actor, answer.request_id)
    assert failures == [1]
    assert accepted.session_status == "waiting"
    with db.read() as s:
        assert s.scalar(select(func.count()).where(Event.kind == "request.accepted")) == 1
        told = s.scalar(
            select(func.count()).where(
                Notification.user_id == customer.id, Notification.kind == "request.accepted"
            )
        )
        assert told == 1
        request = s.get(SessionRequest, answer.request_id)
        assert request is not None and request.mechanic_id == mechanic.id


# --- real failures on PostgreSQL ----------------------------------------------------------


def _two_users(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    a, b = _user(), _user()
    db.run(lambda s: s.add_all([a, b]))
    return a.id, b.id


def _rename(s: DbSession, user_id: uuid.UUID, name: str) -> None:
    s.execute(update(User).where(User.id == user_id).values(name=name))


@pytest.mark.postgres_only
def test_real_deadlock_is_retried_and_both_transactions_commit(pg_db: Database) -> None:
    first, second = _two_users(pg_db)
    both_hold_one = threading.Barrier(2, timeout=20)
    attempts: dict[str, int] = {"ab": 0, "ba": 0}
    errors: list[BaseException] = []

    def crossing(name: str, one: uuid.UUID, other: uuid.UUID) -> Callable[[DbSession], None]:
        def work(s: DbSession) -> None:
            attempts[name] += 1
            s.execute(text("SET LOCAL deadlock_timeout = '100ms'"))
            _rename(s, one, f"{name}-1")
            if attempts[name] == 1:
                both_hold_one.wait()
            _rename(s, other, f"{name}-2")

        return work

    def run(name: str, one: uuid.UUID, other: uuid.UUID) -> None:
        try:
            pg_db.run(crossing(name, one, other))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [
        threading.Thread(target=run, args=("ab", first, second)),
        threading.Thread(target=run, args=("ba", second, first)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(attempts.values()) == [1, 2], "exactly one side was the deadlock victim"
    victim = "ab" if attempts["ab"] == 2 else "ba"
    with pg_db.read() as s:
        names = {u.name for u in (s.get(User, first), s.get(User, second)) if u is not None}
    assert names == {f"{victim}-1", f"{victim}-2"}, "the retried transaction ran to the end"


@pytest.mark.postgres_only
def test_real_serialization_failure_is_retried(pg_db: Database) -> None:
    user_id, _ = _two_users(pg_db)
    attempts: list[int] = []

    def repeatable_read(s: DbSession) -> str:
        attempts.append(1)
        s.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        seen = s.scalar(select(User.name).where(User.id == user_id))
        if len(attempts) == 1:
            # Another transaction changes the row after this one took its snapshot.
            pg_db.run(lambda other: _rename(other, user_id, "changed meanwhile"))
        _rename(s, user_id, f"{seen} + mine")
        return str(seen)

    assert pg_db.run(repeatable_read) == "changed meanwhile"
    assert len(attempts) == 2
    with pg_db.read() as s:
        assert s.scalar(select(User.name).where(User.id == user_id)) == "changed meanwhile + mine"
