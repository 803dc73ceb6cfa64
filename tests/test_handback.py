"""Hand-back: a mechanic releases a session they accepted and have not joined; the request is
offered to every on-duty mechanic again, and history and timeline keep the whole story."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from pitcrew import dashboard, flow
from pitcrew.db import Database
from pitcrew.models import Event, Role, SessionRequest, utcnow
from tests.support.factories import Person, start_session
from tests.support.live import serve_in_thread
from tests.test_sse import listen


def _ok(answer: Any, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _incoming(mechanic: Person) -> list[str]:
    return [r["request_id"] for r in _ok(mechanic.client.get("/api/mechanic/requests"))["requests"]]


def _titles(person: Person) -> list[str]:
    return [n["title"] for n in _ok(person.client.get("/api/notifications"))["notifications"]]


def test_a_handed_back_request_is_offered_again_and_the_story_is_kept(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    other = make_user(Role.MECHANIC, name="Al Other")
    sid, rid = start_session(db, customer).ids
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    accepted_at = _ok(mechanic.client.get(f"/api/sessions/{sid}"))["request"]["accepted_at"]

    released = _ok(mechanic.client.post(f"/api/sessions/{sid}/release"))
    assert released == {"session_id": sid, "session_status": "pending"}
    detail = _ok(customer.client.get(f"/api/sessions/{sid}"))
    assert (detail["session"]["status"], detail["session"]["mechanic_id"]) == ("pending", None)
    assert (detail["request"]["status"], detail["request"]["mechanic_id"]) == ("pending", None)
    assert detail["request"]["accepted_at"] is None

    assert _incoming(other) == [rid] and _incoming(mechanic) == [rid]
    assert _titles(customer)[0] == "Bea Mechanic handed your request back"
    assert _titles(other)[0] == "Open again: 2016 Honda Civic · Casey Driver"
    assert "Open again: 2016 Honda Civic · Casey Driver" not in _titles(mechanic)

    tabs = _ok(mechanic.client.get("/api/mechanic/dashboard"))
    assert tabs["active"] == []
    [row] = tabs["history"]
    assert (row["request_id"], row["session_id"], row["request_status"]) == (
        rid,
        sid,
        "released",
    )
    assert row["customer_name"] == "Casey Driver" and row["session_type"] == "chat"
    assert datetime.fromisoformat(row["accepted_at"]) == datetime.fromisoformat(accepted_at)
    assert row["released_at"] is not None and row["released_at"] > row["accepted_at"]

    taken = _ok(other.client.post("/api/mechanic/accept", json={"request_id": rid}))
    assert taken["mechanic_id"] == str(other.id) and taken["session_status"] == "waiting"
    assert [
        r["session_id"] for r in _ok(other.client.get("/api/mechanic/dashboard"))["active"]
    ] == [sid]
    mine = _ok(mechanic.client.get("/api/mechanic/dashboard"))["history"]
    assert [(r["session_id"], r["request_status"]) for r in mine] == [(sid, "released")]
    theirs = _ok(other.client.get("/api/mechanic/dashboard"))["history"]
    assert [(r["session_id"], r["request_status"]) for r in theirs] == [(sid, "accepted")]
    assert mechanic.client.get(f"/api/sessions/{sid}").status_code == 404

    answer = customer.client.get(f"/api/sessions/{sid}/timeline")
    assert answer.status_code == 200, answer.text
    timeline: list[dict[str, Any]] = answer.json()
    assert [(t["kind"], t["actor_name"], t["text"]) for t in timeline] == [
        (
            "request.created",
            "Casey Driver",
            "Casey Driver asked for a chat session (standard plan).",
        ),
        ("request.accepted", "Bea Mechanic", "Bea Mechanic accepted the request."),
        (
            "request.released",
            "Bea Mechanic",
            "Bea Mechanic handed the request back; it was offered again.",
        ),
        ("request.accepted", "Al Other", "Al Other accepted the request."),
    ]
    as_other_sees_it = other.client.get(f"/api/sessions/{sid}/timeline")
    assert as_other_sees_it.status_code == 200 and as_other_sees_it.json() == timeline


def test_only_its_mechanic_can_hand_back_and_only_before_joining(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    other = make_user(Role.MECHANIC)
    sid, rid = start_session(db, customer).ids
    assert customer.client.post(f"/api/sessions/{sid}/release").status_code == 403
    pending = mechanic.client.post(f"/api/sessions/{sid}/release")
    assert pending.status_code == 409, "a pending session has nothing to hand back"
    assert pending.json()["error"]["code"] == "invalid_transition"
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    assert other.client.post(f"/api/sessions/{sid}/release").status_code == 404
    _ok(mechanic.client.post(f"/api/sessions/{sid}/join"))
    late = mechanic.client.post(f"/api/sessions/{sid}/release")
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "invalid_transition"
    detail = _ok(customer.client.get(f"/api/sessions/{sid}"))
    assert (detail["session"]["status"], detail["session"]["mechanic_id"]) == (
        "live",
        str(mechanic.id),
    )
    assert _incoming(other) == []


def test_a_handed_back_request_waits_a_whole_ttl_again(
    db: Database, customer: Person, mechanic: Person
) -> None:
    sid, rid = start_session(db, customer).ids
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    _ok(mechanic.client.post(f"/api/sessions/{sid}/release"))
    with db.read() as s:
        created = s.scalar(
            select(SessionRequest.created_at).where(SessionRequest.id == uuid.UUID(rid))
        )
        handed_back = s.scalar(select(Event.at).where(Event.kind == "request.released"))
    assert created is not None and handed_back is not None
    now = utcnow()
    # A TTL that has run out since creation but not since the hand-back:
    ttl = now - (created + (handed_back - created) / 2)
    assert flow.expire_due(db, ttl, now=now) == 0
    assert _incoming(mechanic) == [rid]
    # Once a whole TTL has passed since the hand-back too, it expires.
    assert flow.expire_due(db, ttl, now=handed_back + ttl + timedelta(seconds=1)) == 1
    assert _ok(customer.client.get(f"/api/sessions/{sid}"))["request"]["status"] == "expired"


def test_history_pages_through_accepts_and_hand_backs_newest_first(
    db: Database, customer: Person, mechanic: Person
) -> None:
    first_sid, first = start_session(db, customer).ids
    second_sid, second = start_session(db, customer).ids
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": first}))
    _ok(mechanic.client.post(f"/api/sessions/{first_sid}/release"))
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": second}))
    _ok(mechanic.client.post(f"/api/sessions/{second_sid}/cancel", json={"reason": "Busy"}))
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": first}))

    expected = [(first, "accepted"), (second, "cancelled"), (first, "released")]
    seen: list[tuple[str, str]] = []
    cursor: str | None = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        page = _ok(mechanic.client.get("/api/mechanic/dashboard/history", params=params))
        seen += [(r["request_id"], r["request_status"]) for r in page["rows"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(seen) < 10, "paging must end"
    assert seen == expected
    with db.read() as s:
        one_by_one: list[tuple[str, str]] = []
        cursor = None
        while True:
            part = dashboard.history(s, mechanic.id, dashboard.Window(cursor, 1))
            one_by_one += [(str(r["request_id"]), r["request_status"]) for r in part.rows]
            if part.next_cursor is None:
                break
            cursor = part.next_cursor
    assert one_by_one == expected


def test_a_hand_back_reaches_other_mechanics_live(
    db: Database, app: FastAPI, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    other = make_user(Role.MECHANIC, name="Al Other")
    sid, rid = start_session(db, customer).ids
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    token = str(other.client.headers["Authorization"]).removeprefix("Bearer ")
    with serve_in_thread(app) as base, listen(base, token) as seen_by_other:
        _ok(mechanic.client.post(f"/api/sessions/{sid}/release"))
        got = seen_by_other.until(lambda m: m.kind == "request.released")
    released = got[-1].data
    assert (released["request_id"], released["session_id"]) == (rid, sid)
    assert released["request_status"] == "pending"
    assert released["customer_name"] == "Casey Driver"
    assert (released["session_type"], released["plan_code"]) == ("chat", "standard")
    assert released["mechanic_name"] == "Bea Mechanic"
    _ok(other.client.post("/api/mechanic/accept", json={"request_id": rid}))
