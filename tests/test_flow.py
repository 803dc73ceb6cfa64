"""The whole flow as API calls, from intake to rating, as customer and mechanic see it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from pitcrew.db import Database
from pitcrew.models import Event, Role, Session, SessionRequest
from tests.support.factories import INTAKE, Person


def _ids(rows: list[dict[str, object]], key: str = "session_id") -> list[object]:
    return [r[key] for r in rows]


def test_intake_creates_linked_session_and_request(db: Database, customer: Person) -> None:
    answer = customer.client.post("/api/intake/start", json=INTAKE)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["session_status"] == "pending" and body["request_status"] == "pending"
    with db.read() as s:
        request = s.get(SessionRequest, __import__("uuid").UUID(body["request_id"]))
        assert request is not None
        assert str(request.parent_session_id) == body["session_id"]
        session = s.get(Session, request.parent_session_id)
        assert session is not None and session.intake_id is not None
        assert session.customer_user_id == customer.id and session.mechanic_id is None
        assert request.customer_name == "Casey Driver"


def test_whole_flow_through_the_api(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    started = customer.client.post("/api/intake/start", json=INTAKE).json()
    sid, rid = started["session_id"], started["request_id"]

    incoming = mechanic.client.get("/api/mechanic/requests").json()["requests"]
    assert [r["request_id"] for r in incoming] == [rid]
    assert incoming[0]["customer_name"] == "Casey Driver"

    accepted = mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {
        "session_id": sid,
        "request_id": rid,
        "mechanic_id": str(mechanic.id),
        "session_status": "waiting",
        "request_status": "accepted",
    }
    tabs = mechanic.client.get("/api/mechanic/dashboard").json()
    assert _ids(tabs["active"]) == [sid], "accepted session must be in Active at once"
    assert tabs["active"][0]["session_status"] == "waiting"
    assert tabs["incoming"] == []
    assert _ids(tabs["history"]) == [sid]

    other = make_user(Role.MECHANIC)
    assert other.client.get("/api/mechanic/dashboard").json()["incoming"] == []

    joined = mechanic.client.post(f"/api/sessions/{sid}/join")
    assert joined.status_code == 200 and joined.json()["session"]["status"] == "live"

    said = customer.client.post(f"/api/sessions/{sid}/messages", json={"body": "It grinds."})
    assert said.status_code == 201, said.text
    mechanic.client.post(f"/api/sessions/{sid}/messages", json={"body": "Check the pads."})
    chat = customer.client.get(f"/api/sessions/{sid}/messages").json()
    assert [(m["sender_name"], m["body"]) for m in chat] == [
        ("Casey Driver", "It grinds."),
        ("Bea Mechanic", "Check the pads."),
    ]

    done = mechanic.client.post(f"/api/sessions/{sid}/complete", json={"summary": "Worn pads."})
    assert done.status_code == 200 and done.json()["session"]["status"] == "completed"
    tabs = mechanic.client.get("/api/mechanic/dashboard").json()
    assert tabs["active"] == []
    assert _ids(tabs["completed"]) == [sid]

    seen = customer.client.get(f"/api/sessions/{sid}").json()
    assert seen["session"]["summary"] == "Worn pads."
    assert seen["intake"]["vehicle_info"]["make"] == "Honda"

    rated = customer.client.post(
        f"/api/sessions/{sid}/rating", json={"rating": 5, "comment": "Great"}
    )
    assert rated.status_code == 200, rated.text
    tabs = mechanic.client.get("/api/mechanic/dashboard").json()
    assert tabs["completed"][0]["rating"] == 5

    timeline = customer.client.get(f"/api/sessions/{sid}/timeline").json()
    assert [t["kind"] for t in timeline] == [
        "request.created",
        "request.accepted",
        "session.updated",
        "message.created",
        "message.created",
        "session.updated",
        "session.updated",
    ]


def test_history_keeps_accepted_and_cancelled(
    db: Database, customer: Person, mechanic: Person
) -> None:
    first = customer.client.post("/api/intake/start", json=INTAKE).json()
    second = customer.client.post("/api/intake/start", json=INTAKE).json()
    for started in (first, second):
        assert (
            mechanic.client.post(
                "/api/mechanic/accept", json={"request_id": started["request_id"]}
            ).status_code
            == 200
        )
    cancelled = customer.client.post(
        f"/api/sessions/{second['session_id']}/cancel", json={"reason": "Fixed it"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["session"]["status"] == "cancelled"
    assert cancelled.json()["request"]["status"] == "cancelled"
    tabs = mechanic.client.get("/api/mechanic/dashboard").json()
    assert _ids(tabs["active"]) == [first["session_id"]]
    history = {r["session_id"]: r["request_status"] for r in tabs["history"]}
    assert history == {first["session_id"]: "accepted", second["session_id"]: "cancelled"}


def test_accept_is_idempotent_for_the_winner(
    db: Database, customer: Person, mechanic: Person
) -> None:
    rid = customer.client.post("/api/intake/start", json=INTAKE).json()["request_id"]
    first = mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    again = mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    with db.read() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(Event).where(Event.kind == "request.accepted")
            )
            == 1
        )


def test_second_mechanic_gets_409_and_nothing_changes(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    rid = customer.client.post("/api/intake/start", json=INTAKE).json()["request_id"]
    mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    late = make_user(Role.MECHANIC)
    answer = late.client.post("/api/mechanic/accept", json={"request_id": rid})
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "request_taken"
    assert late.client.get("/api/mechanic/dashboard").json()["active"] == []
    assert len(mechanic.client.get("/api/mechanic/dashboard").json()["active"]) == 1


def test_idempotency_key_replays_the_first_answer(db: Database, customer: Person) -> None:
    headers = {"Idempotency-Key": "abc-123"}
    first = customer.client.post("/api/intake/start", json=INTAKE, headers=headers)
    again = customer.client.post("/api/intake/start", json=INTAKE, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = dict(INTAKE, issue_description="Something else entirely")
    clash = customer.client.post("/api/intake/start", json=other, headers=headers)
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "idempotency_key_reused"
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Session)) == 1


def test_dashboard_pages_by_cursor(db: Database, customer: Person, mechanic: Person) -> None:
    from pitcrew import dashboard

    for _ in range(5):
        rid = customer.client.post("/api/intake/start", json=INTAKE).json()["request_id"]
        mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    seen: list[object] = []
    cursor = None
    with db.read() as s:
        while True:
            page = dashboard.active(s, mechanic.id, dashboard.Window(cursor, 2))
            seen += [r["session_id"] for r in page.rows]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    everything = mechanic.client.get("/api/mechanic/dashboard").json()["active"]
    assert seen == [r["session_id"] for r in everything] or [str(x) for x in seen] == [
        r["session_id"] for r in everything
    ]
    assert len(seen) == 5
