"""The operator's console through its API, on SQLite and PostgreSQL: what an admin reads
and changes, and what each change refuses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from pitcrew import events
from pitcrew.db import Database
from pitcrew.models import Event, Role
from tests.support.factories import Person, Stage, start_session

pytestmark = pytest.mark.usefixtures("quick_passwords")


@pytest.fixture
def admin(make_user: Callable[..., Person]) -> Person:
    return make_user(Role.ADMIN, name="Avery Admin")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_the_floor_shows_pending_oldest_first_with_time_left(
    db: Database,
    admin: Person,
    customer: Person,
    mechanic: Person,
    make_user: Callable[..., Person],
) -> None:
    first = start_session(db, customer)
    second = start_session(db, customer)
    waiting = start_session(db, customer, Stage.WAITING, mechanic=mechanic)
    live = start_session(db, customer, Stage.LIVE, mechanic=mechanic)
    make_user(Role.MECHANIC, name="Off Duty", on_duty=False)

    floor = admin.client.get("/api/admin/floor").json()

    assert [r["session_id"] for r in floor["pending"]] == [first.sid, second.sid]
    oldest = floor["pending"][0]
    assert oldest["customer_name"] == "Casey Driver"
    left = _at(oldest["expires_at"]) - _at(floor["at"])
    assert timedelta(minutes=14) < left <= timedelta(minutes=15)
    assert floor["on_duty"] == [
        {"id": str(mechanic.id), "name": "Bea Mechanic", "waiting": 1, "live": 1}
    ]
    assert [r["session_id"] for r in floor["waiting"]] == [waiting.sid]
    assert [(r["session_id"], r["mechanic_name"]) for r in floor["live"]] == [
        (live.sid, "Bea Mechanic")
    ]


def test_a_handed_back_request_expires_a_whole_ttl_after_the_hand_back(
    db: Database, admin: Person, customer: Person, mechanic: Person
) -> None:
    released = start_session(db, customer, Stage.RELEASED, mechanic=mechanic)
    floor = admin.client.get("/api/admin/floor").json()
    (row,) = floor["pending"]
    assert row["session_id"] == released.sid
    assert _at(row["offered_since"]) >= _at(row["created_at"])
    assert _at(row["expires_at"]) == _at(row["offered_since"]) + timedelta(minutes=15)


def test_only_an_admin_reads_the_floor(
    customer: Person, mechanic: Person, anonymous: TestClient
) -> None:
    assert anonymous.get("/api/admin/floor").status_code == 401
    for person in (customer, mechanic):
        answer = person.client.get("/api/admin/floor")
        assert answer.status_code == 403
        assert answer.json()["error"]["message"] == "Only admins can do this."


def test_an_admin_follows_the_floor_but_not_the_chat(
    db: Database, admin: Person, customer: Person, mechanic: Person
) -> None:
    start_session(db, customer, Stage.LIVE, mechanic=mechanic)
    with db.read() as s:
        rows = list(s.query(Event).order_by(Event.id))
    seen = {r.kind for r in rows if events.visible_to(r.payload, admin.id, Role.ADMIN, r.kind)}
    assert {"request.created", "request.accepted", "session.updated"} <= seen
    assert "notification.created" not in seen
