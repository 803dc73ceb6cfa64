"""The mechanic's inbox through the API: a request seen before accepting, sessions named by
car and customer, "new request" notifications that close themselves, and unread messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pitcrew.db import Database
from pitcrew.models import Role
from tests.support.factories import Person, Stage, start_session


def _ok(answer: Any, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


# --- a request before accepting ---------------------------------------------------------


def test_incoming_rows_show_the_car_and_the_problem(
    db: Database, customer: Person, mechanic: Person
) -> None:
    issue = "Grinding noise when braking.\nWorse in the morning.\nStarted last week."
    started = start_session(db, customer, issue_description=issue)
    [row] = _ok(mechanic.client.get("/api/mechanic/requests"))["requests"]
    assert row["request_id"] == started.rid
    assert row["vehicle"] == {"year": 2016, "make": "Honda", "model": "Civic", "mileage": 84000}
    assert row["issue"] == issue
    [tab_row] = _ok(mechanic.client.get("/api/mechanic/dashboard/incoming"))["rows"]
    assert (tab_row["vehicle"], tab_row["issue"]) == (row["vehicle"], issue)
    assert not {"email", "customer_email", "phone"} & set(row)


def test_any_mechanic_previews_a_pending_request_and_nobody_once_it_is_taken(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    other = make_user(Role.MECHANIC, name="Al Other")
    started = start_session(db, customer)
    for who in (mechanic, other):
        seen = _ok(who.client.get(f"/api/mechanic/requests/{started.rid}"))
        assert seen["vehicle"]["make"] == "Honda"
        assert seen["issue"] == "Grinding noise when braking"
        assert seen["customer_name"] == customer.actor.name
        assert "email" not in str(seen).lower() and customer.email not in str(seen)

    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": started.rid}))
    gone = other.client.get(f"/api/mechanic/requests/{started.rid}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "request_gone"
    mine = _ok(mechanic.client.get(f"/api/mechanic/requests/{started.rid}"))
    assert (mine["request_status"], mine["session_id"]) == ("accepted", started.sid)


def test_an_expired_or_cancelled_request_cannot_be_previewed(
    db: Database, customer: Person, mechanic: Person
) -> None:
    for stage in (Stage.CANCELLED, Stage.EXPIRED):
        started = start_session(db, customer, stage)
        answer = mechanic.client.get(f"/api/mechanic/requests/{started.rid}")
        assert answer.status_code == 404, (stage, answer.text)
    customer_asks = customer.client.get(f"/api/mechanic/requests/{started.rid}")
    assert customer_asks.status_code == 403


# --- notifications that close themselves ------------------------------------------------


def _bell(person: Person) -> dict[str, Any]:
    return _ok(person.client.get("/api/notifications"))


def _offer_of(person: Person, request_id: str) -> dict[str, Any]:
    notes: list[dict[str, Any]] = _bell(person)["notifications"]
    [note] = [n for n in notes if n["request_id"] == request_id]
    return note


def test_a_new_request_notification_closes_for_everyone_once_it_is_taken(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    other = make_user(Role.MECHANIC, name="Al Other")
    started = start_session(db, customer)
    for who in (mechanic, other):
        note = _offer_of(who, started.rid)
        assert note["title"] == f"New request: 2016 Honda Civic · {customer.actor.name}"
        assert note["resolved_at"] is None and _bell(who)["unread"] == 1

    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": started.rid}))
    for who in (mechanic, other):
        assert _offer_of(who, started.rid)["resolved_at"] is not None
        assert _bell(who)["unread"] == 0
    assert _bell(customer)["unread"] == 1, "the customer's own news stays theirs to read"


def test_an_expired_or_cancelled_request_closes_its_notifications(
    db: Database, customer: Person, mechanic: Person
) -> None:
    for stage in (Stage.CANCELLED, Stage.EXPIRED):
        started = start_session(db, customer, stage)
        assert _offer_of(mechanic, started.rid)["resolved_at"] is not None, stage
    assert _bell(mechanic)["unread"] == 0


def test_a_handed_back_request_is_open_again_until_taken_again(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    other = make_user(Role.MECHANIC, name="Al Other")
    started = start_session(db, customer, Stage.RELEASED, mechanic=mechanic.actor)
    again = [n for n in _bell(other)["notifications"] if n["kind"] == "request.released"]
    assert [n["resolved_at"] for n in again] == [None]
    _ok(other.client.post("/api/mechanic/accept", json={"request_id": started.rid}))
    assert all(n["resolved_at"] for n in _bell(other)["notifications"])
    released = [n for n in _bell(customer)["notifications"] if n["kind"] == "request.released"]
    assert [n["resolved_at"] for n in released] == [None]
