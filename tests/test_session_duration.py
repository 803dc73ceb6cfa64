"""How long a session took: stored when it completes, read wherever the session is listed."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select, update

from pitcrew import migrate, plans
from pitcrew.db import Database
from pitcrew.models import Role, Session, utcnow
from tests.support.databases import USERS_BEFORE, Dialect, empty_database
from tests.support.factories import Person, Stage, start_session

pytestmark = pytest.mark.usefixtures("quick_passwords")


def test_completing_stores_the_time_from_going_live_and_every_list_shows_it(
    db: Database, customer: Person, mechanic: Person
) -> None:
    live = start_session(db, customer, Stage.LIVE, mechanic=mechanic)
    assert customer.client.get(f"/api/sessions/{live.sid}").json()["session"][
        "duration_seconds"
    ] is None  # fmt: skip
    done = mechanic.client.post(f"/api/sessions/{live.sid}/complete", json={"summary": "Pads."})
    assert done.status_code == 200, done.text

    session = customer.client.get(f"/api/sessions/{live.sid}").json()["session"]
    took = session["duration_seconds"]
    started = datetime.fromisoformat(session["started_at"])
    ended = datetime.fromisoformat(session["ended_at"])
    assert took == int((ended - started).total_seconds())
    assert took >= 0

    tabs = mechanic.client.get("/api/mechanic/dashboard").json()
    for tab in ("completed", "history"):
        rows = [r for r in tabs[tab] if r["session_id"] == live.sid]
        assert [r["duration_seconds"] for r in rows] == [took], tab
    mine = customer.client.get("/api/sessions").json()
    assert [s["duration_seconds"] for s in mine if s["id"] == live.sid] == [took]


def test_a_long_session_reads_in_hours_and_minutes(
    db: Database, customer: Person, mechanic: Person
) -> None:
    """The stored number as pages show it, on the room and the Completed tab."""
    done = start_session(db, customer, Stage.COMPLETED, mechanic=mechanic)
    ran_long = update(Session).where(Session.id == done.session_id)
    with db.engine.begin() as c:  # a session that ran long, as no test can wait for
        c.execute(ran_long.values(duration_seconds=3900))
    room = customer.client.get(f"/sessions/{done.sid}", headers={"Accept": "text/html"})
    assert "took 1 h 05 min of the plan's 30 min" in room.text
    page = mechanic.client.get("/mechanic/dashboard", headers={"Accept": "text/html"})
    assert "1 h 05 min" in page.text


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(None, ""), (0, "0 s"), (59, "59 s"), (60, "1 min"), (1799, "29 min"), (3900, "1 h 05 min")],
)
def test_durations_read_as_people_say_them(seconds: int | None, words: str) -> None:
    assert plans.duration_words(seconds) == words


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_sessions_completed_before_the_duration_was_kept_get_theirs(
    dialect: Dialect, tmp_path: Path
) -> None:
    """Revision 0015 fills in the duration from the times every completed session has."""
    with empty_database(dialect, f"pitcrew_duration_{os.getpid()}", tmp_path) as url:
        engine = create_engine(url)
        try:
            migrate.upgrade(engine, "0009")
            went_live = utcnow() - timedelta(hours=2)
            driver, mechanic = uuid.uuid4(), uuid.uuid4()
            done, cancelled = uuid.uuid4(), uuid.uuid4()
            with engine.begin() as c:
                for who, role in ((driver, Role.CUSTOMER), (mechanic, Role.MECHANIC)):
                    email = f"{who}@example.com"
                    row = {"id": who, "email": email, "name": role, "role": role}
                    c.execute(insert(USERS_BEFORE).values(**row, created_at=went_live))
                for sid, status in ((done, "completed"), (cancelled, "cancelled")):
                    c.execute(
                        insert(Session).values(
                            id=sid,
                            customer_user_id=driver,
                            mechanic_id=mechanic,
                            type="chat",
                            plan_code="standard",
                            status=status,
                            created_at=went_live,
                            started_at=went_live,
                            ended_at=went_live + timedelta(minutes=23, seconds=30),
                        )
                    )
            migrate.upgrade(engine)
            with engine.connect() as c:
                took = dict(c.execute(select(Session.id, Session.duration_seconds)).all())
        finally:
            engine.dispose()
    assert took == {done: 23 * 60 + 30, cancelled: None}
