"""In-app notifications: who is told of what, as each user finds it in GET /api/notifications."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pitcrew import flow
from pitcrew.db import Database
from pitcrew.models import Role, utcnow
from tests.support.factories import Person, start_session


def _inbox(person: Person) -> dict[str, Any]:
    answer = person.client.get("/api/notifications")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _titles(person: Person) -> list[str]:
    """Newest first, as the notification list shows them."""
    return [n["title"] for n in _inbox(person)["notifications"]]


def _ok(answer: Any, status: int = 200) -> None:
    assert answer.status_code == status, answer.text


def test_every_on_duty_mechanic_hears_of_a_new_request(
    db: Database, customer: Person, make_user: Callable[..., Person]
) -> None:
    on_duty = [make_user(Role.MECHANIC), make_user(Role.MECHANIC)]
    off_duty = make_user(Role.MECHANIC, on_duty=False)
    sid, rid = start_session(db, customer).ids
    for mechanic in on_duty:
        inbox = _inbox(mechanic)
        assert inbox["unread"] == 1
        [note] = inbox["notifications"]
        assert note["title"] == "New request: 2016 Honda Civic · Casey Driver"
        assert note["body"] == "chat session, standard plan"
        assert (note["session_id"], note["request_id"]) == (sid, rid)
        assert note["kind"] == "request.created" and note["read_at"] is None
    assert _titles(off_duty) == []
    assert _titles(customer) == [], "nobody is told of what they did themselves"


def test_the_customer_hears_of_each_step_and_the_mechanic_of_the_rating(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid, rid = start_session(db, customer).ids
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    _ok(mechanic.client.post(f"/api/sessions/{sid}/join"))
    _ok(mechanic.client.post(f"/api/sessions/{sid}/complete", json={"summary": "Worn pads."}))
    _ok(customer.client.post(f"/api/sessions/{sid}/rating", json={"rating": 4, "comment": "Ta"}))

    assert _titles(customer) == [
        "Your session is complete",
        "Bea Mechanic joined: your session is live",
        "Bea Mechanic accepted your request",
    ]
    assert _titles(mechanic) == [
        "Rated 4/5: 2016 Honda Civic · Casey Driver",
        "New request: 2016 Honda Civic · Casey Driver",
    ]
    rated = _inbox(mechanic)["notifications"][0]
    assert rated["body"] == "Ta" and rated["session_id"] == sid


def test_customer_is_told_when_the_mechanic_cancels(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid, rid = start_session(db, customer).ids
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    _ok(mechanic.client.post(f"/api/sessions/{sid}/cancel", json={"reason": "Out of parts"}))
    newest = _inbox(customer)["notifications"][0]
    assert newest["title"] == "The mechanic cancelled the session"
    assert newest["body"] == "Out of parts"
    assert newest["request_id"] == rid
    assert "Cancelled by the customer: 2016 Honda Civic · Casey Driver" not in _titles(mechanic)


def test_mechanic_is_told_when_the_customer_cancels(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid, rid = start_session(db, customer).ids
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    _ok(customer.client.post(f"/api/sessions/{sid}/cancel", json={"reason": "Fixed it myself"}))
    newest = _inbox(mechanic)["notifications"][0]
    assert (newest["title"], newest["body"]) == (
        "Cancelled by the customer: 2016 Honda Civic · Casey Driver",
        "Fixed it myself",
    )
    assert _titles(customer) == ["Bea Mechanic accepted your request"]


def test_customer_is_told_when_the_request_expires(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid, rid = start_session(db, customer).ids
    assert flow.expire_due(db, timedelta(minutes=15), now=utcnow() + timedelta(minutes=16)) == 1
    [note] = _inbox(customer)["notifications"]
    assert note["title"] == "No mechanic was free in time"
    assert "request again" in note["body"]
    assert (note["session_id"], note["request_id"], note["kind"]) == (sid, rid, "request.expired")


def test_notifications_are_marked_read_by_their_owner_only(
    db: Database, customer: Person, mechanic: Person
) -> None:
    start_session(db, customer)
    [note] = _inbox(mechanic)["notifications"]
    stranger = customer.client.post(f"/api/notifications/{note['id']}/read")
    assert stranger.status_code == 404  # as unknown as a made-up id: ids reveal nothing
    assert _inbox(mechanic)["unread"] == 1

    _ok(mechanic.client.post(f"/api/notifications/{note['id']}/read"), 204)
    inbox = _inbox(mechanic)
    assert inbox["unread"] == 0
    assert inbox["notifications"][0]["read_at"] is not None
    _ok(mechanic.client.post(f"/api/notifications/{note['id']}/read"), 204)
