"""SQLite deployments: mechanics accepting one request at the same moment, for real.

Each mechanic is a thread with its own engine and connection to one SQLite file, released
together by a barrier, so their transactions really contend for the file's write lock (the
PostgreSQL counterpart is test_accept_race.py). Exactly one wins; every other one is told
the request was taken; request, session, events and the mechanics' tabs agree.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pitcrew import auth, dashboard, flow, invariants
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import Conflict
from pitcrew.models import Event, Role, Session, SessionRequest
from pitcrew.schemas import AcceptOut, IntakeIn
from tests.support.factories import INTAKE

pytestmark = pytest.mark.sqlite_only

MECHANICS = 6
ROUNDS = 8


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "race.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def main_db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    try:
        yield database
    finally:
        database.dispose()


def _actor(db: Database, role: Role, n: int) -> Actor:
    user = auth.create_user(
        db,
        email=f"{role.value}-{n}-{uuid.uuid4().hex[:6]}@example.com",
        name=f"{role.value.title()} {n}",
        role=role,
        password=None,
        on_duty=role == Role.MECHANIC,
    )
    return auth.actor_of(user)


def test_sqlite_one_winner_among_mechanics_accepting_at_once(
    sqlite_url: str, main_db: Database
) -> None:
    customer = _actor(main_db, Role.CUSTOMER, 0)
    mechanics = [_actor(main_db, Role.MECHANIC, n) for n in range(MECHANICS)]
    # One engine, hence one connection, per mechanic: as separate server processes would be.
    engines = [Database(sqlite_url) for _ in mechanics]
    winners: dict[uuid.UUID, uuid.UUID] = {}
    try:
        with ThreadPoolExecutor(MECHANICS) as pool:
            for _ in range(ROUNDS):
                answer, _ = flow.start_intake(main_db, customer, IntakeIn.model_validate(INTAKE))
                gate = threading.Barrier(MECHANICS)

                def race(
                    i: int,
                    request_id: uuid.UUID = answer.request_id,
                    gate: threading.Barrier = gate,
                ) -> AcceptOut | Conflict:
                    gate.wait(10)
                    try:
                        return flow.accept(engines[i], mechanics[i], request_id)
                    except Conflict as error:
                        return error

                outcomes = list(pool.map(race, range(MECHANICS)))
                won = [o for o in outcomes if isinstance(o, AcceptOut)]
                lost = [o for o in outcomes if isinstance(o, Conflict)]
                assert len(won) == 1 and len(lost) == MECHANICS - 1, outcomes
                assert all(refused.code == "request_taken" for refused in lost)
                assert all(refused.status == 409 for refused in lost)
                winners[answer.session_id] = won[0].mechanic_id
    finally:
        for engine in engines:
            engine.dispose()

    with main_db.read() as s:
        rows = s.execute(
            select(
                Session.id, Session.status, Session.mechanic_id, SessionRequest.mechanic_id
            ).join(SessionRequest, SessionRequest.parent_session_id == Session.id)
        ).all()
        accepted_events = s.scalar(select(func.count()).where(Event.kind == "request.accepted"))
        for mechanic in mechanics:
            active = {r["session_id"] for r in dashboard.active(s, mechanic.id).rows}
            assert active == {sid for sid, m in winners.items() if m == mechanic.id}
    assert {r[0]: (r[1], r[2], r[3]) for r in rows} == {
        sid: ("waiting", m, m) for sid, m in winners.items()
    }
    assert accepted_events == ROUNDS
    with main_db.engine.connect() as c:
        assert {k: v for k, v in invariants.violations(c).items() if v} == {}
