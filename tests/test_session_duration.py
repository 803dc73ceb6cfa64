"""How long a session took: stored when it completes, read wherever the session is listed."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import update

from pitcrew import plans
from pitcrew.db import Database
from pitcrew.models import Session
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
