"""The operator's console through its API, on SQLite and PostgreSQL: what an admin reads
and changes, and what each change refuses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pitcrew import events, waiting
from pitcrew.db import Database
from pitcrew.models import Event, Role
from tests.support.factories import Person, Stage, start_session

pytestmark = pytest.mark.usefixtures("quick_passwords")


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
    # The customer waiting on the same request is told the same end, and who could take it.
    told = waiting.facts(db, uuid.UUID(released.sid), timedelta(minutes=15))
    assert told.expires_at == _at(row["expires_at"])
    assert told.on_duty == 1


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


# --- any session ------------------------------------------------------------------------------


def test_sessions_are_found_by_customer_mechanic_vehicle_vin_status_and_day(
    db: Database,
    admin: Person,
    customer: Person,
    mechanic: Person,
    make_user: Callable[..., Person],
) -> None:
    dana = make_user(Role.CUSTOMER, name="Dana Driver")
    civic = start_session(db, customer, Stage.LIVE, mechanic=mechanic)
    vin = "1HGCM82633A004352"
    golf = start_session(
        db,
        dana,
        vehicle={"year": 2019, "make": "Volkswagen", "model": "Golf", "vin": vin},
    )

    def found(**params: str) -> list[str]:
        answer = admin.client.get("/api/admin/sessions", params=params)
        assert answer.status_code == 200, answer.text
        return [r["session_id"] for r in answer.json()["sessions"]]

    assert found() == [golf.sid, civic.sid]
    assert found(customer="dana") == [golf.sid]
    assert found(customer=dana.email.upper()) == [golf.sid]
    assert found(mechanic="bea") == [civic.sid]
    assert found(vehicle="honda civic") == [civic.sid]
    assert found(vehicle="2019") == [golf.sid]
    assert found(vin="04352") == [golf.sid]
    assert found(status="live") == [civic.sid]
    assert found(customer="100%") == []
    today = datetime.now().astimezone().date()
    assert set(found(since=str(today - timedelta(days=1)))) == {golf.sid, civic.sid}
    assert found(until=str(today - timedelta(days=2))) == []
    bad = admin.client.get("/api/admin/sessions", params={"status": "lost"})
    assert bad.status_code == 422


def test_an_admin_opens_any_session_read_only(
    db: Database, admin: Person, customer: Person, mechanic: Person
) -> None:
    from pitcrew import chat

    live = start_session(db, customer, Stage.LIVE, mechanic=mechanic)
    chat.post_message(db, customer.actor, live.session_id, "It grinds when I brake.")
    answer = admin.client.get(f"/api/admin/sessions/{live.sid}")
    assert answer.status_code == 200
    opened = answer.json()
    assert opened["detail"]["session"]["status"] == "live"
    assert [m["body"] for m in opened["messages"]] == ["It grinds when I brake."]
    assert "Bea Mechanic joined: the session is live." in [e["text"] for e in opened["timeline"]]
    # Reading changes nothing, and writing in the chat stays the parties' alone.
    said = admin.client.post(f"/api/sessions/{live.sid}/messages", json={"body": "Hi"})
    assert said.status_code == 404
    assert admin.client.get(f"/api/admin/sessions/{uuid.uuid4()}").status_code == 404


def _holders(db: Database, sid: str) -> tuple[str | None, str | None]:
    from pitcrew.models import Session, SessionRequest

    with db.read() as s:
        session = s.get(Session, uuid.UUID(sid))
        request = s.query(SessionRequest).filter_by(parent_session_id=uuid.UUID(sid)).one()
        assert session is not None
        return str(session.mechanic_id), str(request.mechanic_id)


def test_reassign_moves_a_waiting_session_and_its_request_together(
    db: Database,
    admin: Person,
    customer: Person,
    mechanic: Person,
    cole: Person,
) -> None:
    waiting = start_session(db, customer, Stage.WAITING, mechanic=mechanic)

    answer = admin.client.post(
        f"/api/admin/sessions/{waiting.sid}/reassign",
        json={"mechanic_id": str(cole.id), "from_mechanic_id": str(mechanic.id)},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["mechanic_id"] == str(cole.id)
    assert _holders(db, waiting.sid) == (str(cole.id), str(cole.id))
    active = {
        who: [r["session_id"] for r in p.client.get("/api/mechanic/dashboard").json()["active"]]
        for who, p in (("bea", mechanic), ("cole", cole))
    }
    assert active == {"bea": [], "cole": [waiting.sid]}
    # Both mechanics and the customer see it happen, with the admin as the one who did it.
    with db.read() as s:
        event = s.query(Event).filter_by(kind="session.reassigned").one()
    assert event.actor_id == admin.id
    for person in (customer, mechanic, cole):
        assert events.visible_to(event.payload, person.id, person.actor.role, event.kind)
    timeline = customer.client.get(f"/api/sessions/{waiting.sid}/timeline").json()
    assert timeline[-1]["text"] == (
        "Avery Admin moved the session from Bea Mechanic to Cole Mechanic."
    )
    titles = {
        who: [n["title"] for n in p.client.get("/api/notifications").json()["notifications"]]
        for who, p in (("customer", customer), ("bea", mechanic), ("cole", cole))
    }
    assert "Cole Mechanic will help you now" in titles["customer"]
    assert "A waiting session was moved to Cole Mechanic" in titles["bea"]
    assert "A waiting session was given to you" in titles["cole"]
    # Cole can join it now; Bea no longer can.
    assert mechanic.client.post(f"/api/sessions/{waiting.sid}/join").status_code == 404
    assert cole.client.post(f"/api/sessions/{waiting.sid}/join").status_code == 200


def test_reassign_refuses_what_it_must_and_changes_nothing(
    db: Database,
    admin: Person,
    customer: Person,
    mechanic: Person,
    make_user: Callable[..., Person],
    cole: Person,
) -> None:
    dozing = make_user(Role.MECHANIC, name="Dee Offduty", on_duty=False)
    waiting = start_session(db, customer, Stage.WAITING, mechanic=mechanic)
    live = start_session(db, customer, Stage.LIVE, mechanic=mechanic)
    pending = start_session(db, customer)

    def reassign(
        sid: str, to: Person | None, held_by: Person, who: Person = admin
    ) -> tuple[int, str]:
        body = {"mechanic_id": str((to or customer).id), "from_mechanic_id": str(held_by.id)}
        answer = who.client.post(f"/api/admin/sessions/{sid}/reassign", json=body)
        return answer.status_code, answer.json()["error"]["code"]

    assert reassign(live.sid, cole, mechanic) == (409, "session_moved")
    assert reassign(pending.sid, cole, mechanic) == (409, "session_moved")
    assert reassign(waiting.sid, cole, dozing) == (409, "session_moved")  # not who holds it
    assert reassign(waiting.sid, dozing, mechanic) == (409, "not_on_duty")
    assert reassign(waiting.sid, None, mechanic) == (422, "not_a_mechanic")
    assert reassign(waiting.sid, mechanic, mechanic) == (422, "same_mechanic")
    assert reassign(waiting.sid, cole, mechanic, who=mechanic)[0] == 403
    assert reassign(str(uuid.uuid4()), cole, mechanic)[0] == 404
    assert _holders(db, waiting.sid) == (str(mechanic.id), str(mechanic.id))
    with db.read() as s:
        assert s.query(Event).filter_by(kind="session.reassigned").count() == 0


def test_an_admin_cancels_for_the_customer_with_a_reason(
    db: Database, admin: Person, customer: Person, mechanic: Person
) -> None:
    waiting = start_session(db, customer, Stage.WAITING, mechanic=mechanic)
    done = start_session(db, customer, Stage.COMPLETED, mechanic=mechanic)
    url = f"/api/admin/sessions/{waiting.sid}/cancel"

    assert admin.client.post(url, json={"reason": "  "}).status_code == 422
    assert customer.client.post(url, json={"reason": "Asked by phone"}).status_code == 403
    answer = admin.client.post(url, json={"reason": "Asked by phone"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["session_status"] == "cancelled"
    detail = customer.client.get(f"/api/sessions/{waiting.sid}").json()
    assert (detail["session"]["status"], detail["request"]["status"]) == ("cancelled", "cancelled")
    timeline = customer.client.get(f"/api/sessions/{waiting.sid}/timeline").json()
    assert "Avery Admin cancelled the session (Asked by phone)." in [e["text"] for e in timeline]
    again = admin.client.post(url, json={"reason": "Again"})
    assert again.status_code == 409
    refused = admin.client.post(f"/api/admin/sessions/{done.sid}/cancel", json={"reason": "No"})
    assert refused.status_code == 409


def test_the_sessions_page_finds_and_says_what_it_could_not_read(
    db: Database, app: FastAPI, customer: Person, mechanic: Person
) -> None:
    from pitcrew import auth
    from tests.support.factories import PASSWORD

    auth.create_user(
        db, email="root@example.com", name="Avery Admin", role=Role.ADMIN, password=PASSWORD
    )
    live = start_session(db, customer, Stage.LIVE, mechanic=mechanic)
    with TestClient(app) as browser:
        signed = browser.post(
            "/api/auth/login", json={"email": "root@example.com", "password": PASSWORD}
        )
        assert signed.status_code == 200
        found = browser.get("/admin/sessions", params={"customer": "casey", "status": "live"})
        assert found.status_code == 200 and f'data-session="{live.sid}"' in found.text
        assert "1 session" in found.text
        bad = browser.get("/admin/sessions", params={"since": "yesterday"})
        assert bad.status_code == 200 and "a day is written like" in bad.text
        page = browser.get(f"/sessions/{live.sid}").text
        assert "Live session between Casey Driver and Bea Mechanic." in page
        assert "You are in a live session" not in page
