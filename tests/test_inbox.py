"""The mechanic's inbox through the API: a request seen before accepting, sessions named by
car and customer, "new request" notifications that close themselves, and unread messages."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from pitcrew.db import Database
from pitcrew.events import Kind
from pitcrew.models import Event, Intake, Role, User
from pitcrew.models import Session as SessionModel
from tests.support.factories import Person, Stage, start_session
from tests.support.photos import phone_photo, send_photo


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


def test_a_car_kept_by_the_replaced_system_shows_as_it_was_given(
    db: Database, customer: Person, mechanic: Person
) -> None:
    """An adopted intake may lack a year or keep its mileage as text: every list, the preview
    and the room still show it, never a server error."""
    car = {"make": "Subaru", "model": "Outback", "year": None, "mileage": "121,000 km"}
    pending = start_session(db, customer)
    held = start_session(db, customer, Stage.LIVE, mechanic=mechanic.actor)

    def keep_as_adopted(s: DbSession) -> None:
        sids = (uuid.UUID(pending.sid), uuid.UUID(held.sid))
        intakes = select(SessionModel.intake_id).where(SessionModel.id.in_(sids))
        s.execute(update(Intake).where(Intake.id.in_(intakes)).values(vehicle_info=car))

    db.run(keep_as_adopted)
    [row] = _ok(mechanic.client.get("/api/mechanic/requests"))["requests"]
    assert row["vehicle"] == car
    preview = _ok(mechanic.client.get(f"/api/mechanic/requests/{pending.rid}"))
    assert "Outback" in str(preview)
    whole = _ok(mechanic.client.get("/api/mechanic/dashboard"))
    assert [r["vehicle"] for r in whole["active"]] == [car]
    detail = _ok(mechanic.client.get(f"/api/sessions/{held.sid}"))
    assert "121,000 km" in str(detail)
    room = mechanic.client.get(f"/sessions/{held.sid}")
    assert room.status_code == 200 and "Subaru Outback" in room.text


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


# --- unread -----------------------------------------------------------------------------


def _say(person: Person, sid: str, body: str) -> str:
    message_id: str = _ok(
        person.client.post(f"/api/sessions/{sid}/messages", json={"body": body}), 201
    )["id"]
    return message_id


def _read(person: Person, sid: str, message_id: str) -> dict[str, Any]:
    return _ok(person.client.post(f"/api/sessions/{sid}/read", json={"message_id": message_id}))


def _active_unread(mechanic: Person) -> dict[str, int]:
    rows = _ok(mechanic.client.get("/api/mechanic/dashboard"))["active"]
    return {row["session_id"]: row["unread"] for row in rows}


def _read_events(db: Database, sid: str) -> int:
    with db.read() as s:
        return len(
            s.scalars(
                select(Event.id).where(
                    Event.kind == Kind.MESSAGE_READ, Event.session_id == uuid.UUID(sid)
                )
            ).all()
        )


def test_unread_counts_the_other_partys_messages_after_my_marker(
    db: Database, customer: Person, mechanic: Person
) -> None:
    quiet = start_session(db, customer, Stage.LIVE, mechanic=mechanic.actor)
    busy = start_session(db, customer, Stage.LIVE, mechanic=mechanic.actor)
    first = _say(customer, busy.sid, "It grinds.")
    _say(customer, busy.sid, "Only when braking.")
    _say(mechanic, busy.sid, "Front or back?")
    assert _active_unread(mechanic) == {quiet.sid: 0, busy.sid: 2}
    sessions: list[dict[str, Any]] = customer.client.get("/api/sessions").json()
    [mine] = [r for r in sessions if r["id"] == busy.sid]
    assert mine["unread"] == 1
    bell = _ok(mechanic.client.get("/api/notifications"))
    assert bell["messages_unread"] == 2
    assert bell["conversations"] == [
        {"session_id": busy.sid, "name": f"2016 Honda Civic · {customer.actor.name}", "unread": 2}
    ]

    assert _read(mechanic, busy.sid, first) == {
        "session_id": busy.sid,
        "message_id": first,
        "unread": 1,
    }
    assert _active_unread(mechanic)[busy.sid] == 1


def test_the_read_marker_never_moves_back_and_repeats_change_nothing(
    db: Database, customer: Person, mechanic: Person
) -> None:
    started = start_session(db, customer, Stage.LIVE, mechanic=mechanic.actor)
    first = _say(customer, started.sid, "It grinds.")
    last = _say(customer, started.sid, "Only when braking.")
    assert _read(mechanic, started.sid, last)["unread"] == 0
    assert _read_events(db, started.sid) == 1
    for again in (first, last, first):
        assert _read(mechanic, started.sid, again) == {
            "session_id": started.sid,
            "message_id": last,
            "unread": 0,
        }
    assert _read_events(db, started.sid) == 1, "a marker that did not move is no news"
    later = _say(customer, started.sid, "Still there?")
    assert _active_unread(mechanic)[started.sid] == 1
    assert _read(mechanic, started.sid, later)["message_id"] == later


def test_read_names_a_message_of_this_session(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    one = start_session(db, customer, Stage.LIVE, mechanic=mechanic.actor)
    two = start_session(db, customer, Stage.LIVE, mechanic=mechanic.actor)
    elsewhere = _say(customer, two.sid, "Other car.")
    answer = mechanic.client.post(f"/api/sessions/{one.sid}/read", json={"message_id": elsewhere})
    assert answer.status_code == 404
    stranger = make_user(Role.MECHANIC, name="Al Other")
    answer = stranger.client.post(f"/api/sessions/{two.sid}/read", json={"message_id": elsewhere})
    assert answer.status_code == 404


# --- details while waiting --------------------------------------------------------------


def test_details_added_while_waiting_show_in_the_preview_and_at_the_top_of_the_chat(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    other = make_user(Role.MECHANIC, name="Al Other")
    started = start_session(db, customer)
    said = _say(customer, started.sid, "The warning light came on too.")
    photo = send_photo(customer, started.sid, phone_photo(1, (800, 600)))
    details = _ok(other.client.get(f"/api/mechanic/requests/{started.rid}"))["details"]
    assert [d["id"] for d in details] == [said, photo["id"]]
    assert details[0]["body"] == "The warning light came on too."
    thumb = other.client.get(details[1]["photo"]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    refused = mechanic.client.post(f"/api/sessions/{started.sid}/messages", json={"body": "Hi"})
    assert refused.status_code == 404, "nobody's session is a mechanic's to write in"

    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": started.rid}))
    assert other.client.get(details[1]["photo"]["thumbnail_url"]).status_code == 404
    later = _say(customer, started.sid, "It is parked outside.")
    chat = _ok(mechanic.client.get(f"/api/sessions/{started.sid}/messages"))
    assert [m["id"] for m in chat] == [said, photo["id"], later]  # type: ignore[index]
    assert _active_unread(mechanic)[started.sid] == 3


def test_no_details_once_the_request_is_closed(db: Database, customer: Person) -> None:
    started = start_session(db, customer, Stage.CANCELLED)
    answer = customer.client.post(f"/api/sessions/{started.sid}/messages", json={"body": "Hi"})
    assert answer.status_code == 409


# --- sound ------------------------------------------------------------------------------


def test_the_sound_switch_is_kept_per_mechanic(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    other = make_user(Role.MECHANIC, name="Al Other")
    assert _ok(mechanic.client.post("/api/me/sound", json={"enabled": True})) == {"enabled": True}
    with db.read() as s:
        chosen = dict(s.execute(select(User.id, User.sound_alerts)).tuples().all())
    assert chosen[mechanic.id] is True and chosen[other.id] is False
    assert customer.client.post("/api/me/sound", json={"enabled": True}).status_code == 403
    assert _ok(mechanic.client.post("/api/me/sound", json={"enabled": False})) == {"enabled": False}
