"""People in the operator's console, on SQLite and PostgreSQL: adding a mechanic, deactivating
and reactivating, a link to set a new password, a new role, and what each refuses."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from pitcrew.db import Database
from pitcrew.models import EmailOutbox, Event, Role, User
from tests.support.factories import PASSWORD, Person, Stage, start_session, statuses

pytestmark = pytest.mark.usefixtures("quick_passwords")


def _audit(db: Database, action: str) -> list[Event]:
    with db.read() as s:
        rows = s.scalars(select(Event).where(Event.kind == "account.changed").order_by(Event.id))
        return [e for e in rows if e.payload["action"] == action]


def _sign_in(anonymous: TestClient, email: str, password: str) -> tuple[int, str]:
    answer = anonymous.post("/api/auth/login", json={"email": email, "password": password})
    anonymous.cookies.clear()
    return answer.status_code, answer.json().get("error", {}).get("code", "")


def test_a_new_mechanic_gets_a_one_time_password_when_email_is_off(
    db: Database, admin: Person, anonymous: TestClient, customer: Person
) -> None:
    new = {"name": "Nia Newhire", "email": "Nia@Example.com"}
    answer = admin.client.post("/api/admin/people", json=new)
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["link_sent"] is False and len(made["password"]) >= 12
    assert made["account"]["role"] == "mechanic" and made["account"]["on_duty"] is False
    assert _sign_in(anonymous, "nia@example.com", made["password"]) == (200, "")
    (audit,) = _audit(db, "created")
    assert audit.actor_id == admin.id and audit.payload["user_name"] == "Nia Newhire"

    again = admin.client.post("/api/admin/people", json=new)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "email_taken")
    assert customer.client.post("/api/admin/people", json=new).status_code == 403
    bad = admin.client.post("/api/admin/people", json={"name": " ", "email": "not an address"})
    assert bad.status_code == 422


def test_a_new_mechanic_gets_a_link_to_set_a_password_when_email_is_on(
    db: Database, admin: Person, anonymous: TestClient
) -> None:
    db.email_enabled = True
    answer = admin.client.post(
        "/api/admin/people", json={"name": "Nia Newhire", "email": "nia@example.com"}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["link_sent"] is True and answer.json()["password"] is None
    with db.read() as s:
        (email,) = s.scalars(select(EmailOutbox).where(EmailOutbox.to_address == "nia@example.com"))
    assert email.subject.endswith("Set your pitcrew password")
    found = re.search(r"reset-password#token=([\w-]+)", email.text_body)
    assert found, email.text_body
    chosen = anonymous.post(
        "/api/auth/password-reset/confirm", json={"token": found[1], "password": PASSWORD}
    )
    assert chosen.status_code == 200 and chosen.json()["user"]["role"] == "mechanic"
    anonymous.cookies.clear()
    assert _sign_in(anonymous, "nia@example.com", PASSWORD) == (200, "")


def test_deactivating_signs_out_takes_off_duty_and_hands_waiting_sessions_back(
    db: Database, admin: Person, anonymous: TestClient, customer: Person, mechanic: Person
) -> None:
    waiting = start_session(db, customer, Stage.WAITING, mechanic=mechanic)
    live = start_session(db, customer, Stage.LIVE, mechanic=mechanic)
    url = f"/api/admin/people/{mechanic.id}/deactivate"

    answer = admin.client.post(url)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["handed_back"] == [waiting.sid]
    assert body["account"]["on_duty"] is False and body["account"]["deactivated_at"]
    assert mechanic.client.get("/api/auth/me").status_code == 401  # signed out everywhere
    assert _sign_in(anonymous, mechanic.email, PASSWORD) == (403, "account_deactivated")
    assert statuses(db, waiting) == ("pending", "pending")
    assert statuses(db, live) == ("live", "accepted")  # a live session is the admin's call
    with db.read() as s:
        released = s.scalar(select(Event).where(Event.kind == "request.released"))
    assert released is not None and released.actor_id == admin.id
    assert released.payload["mechanic_id"] == str(mechanic.id)
    floor = admin.client.get("/api/admin/floor").json()
    assert floor["on_duty"] == [] and [r["session_id"] for r in floor["pending"]] == [waiting.sid]
    assert len(_audit(db, "deactivated")) == 1

    twice = admin.client.post(url)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "deactivated")
    own = admin.client.post(f"/api/admin/people/{admin.id}/deactivate")
    assert (own.status_code, own.json()["error"]["code"]) == (409, "own_account")
    assert customer.client.post(url).status_code == 403

    back = admin.client.post(f"/api/admin/people/{mechanic.id}/reactivate")
    assert back.status_code == 200 and back.json()["deactivated_at"] is None
    assert _sign_in(anonymous, mechanic.email, PASSWORD) == (200, "")
    again = admin.client.post(f"/api/admin/people/{mechanic.id}/reactivate")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "active")
    assert len(_audit(db, "reactivated")) == 1
    flow_cancel = customer.client.post(f"/api/sessions/{live.sid}/cancel", json={"reason": "x"})
    assert flow_cancel.status_code == 200


def test_a_reset_link_is_sent_only_with_email_on_and_to_an_active_account(
    db: Database, admin: Person, customer: Person
) -> None:
    url = f"/api/admin/people/{customer.id}/password-reset"
    off = admin.client.post(url)
    assert (off.status_code, off.json()["error"]["code"]) == (409, "email_off")
    db.email_enabled = True
    sent = admin.client.post(url)
    assert sent.status_code == 202 and customer.email in sent.json()["message"]
    with db.read() as s:
        assert s.scalar(select(EmailOutbox.subject).where(EmailOutbox.to_address == customer.email))
    assert admin.client.post(f"/api/admin/people/{customer.id}/deactivate").status_code == 200
    refused = admin.client.post(url)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "deactivated")
    assert len(_audit(db, "reset_link")) == 1


def test_a_role_changes_unless_sessions_or_the_admin_themself_stand_in_the_way(
    db: Database, admin: Person, customer: Person, mechanic: Person
) -> None:
    def change(person: Person, role: str) -> tuple[int, str]:
        answer = admin.client.post(f"/api/admin/people/{person.id}/role", json={"role": role})
        body = answer.json()
        return answer.status_code, body["error"]["code"] if "error" in body else body["role"]

    waiting = start_session(db, customer, Stage.WAITING, mechanic=mechanic)
    assert change(mechanic, "customer") == (409, "holds_sessions")
    assert change(admin, "customer") == (409, "own_account")
    assert change(customer, "customer") == (422, "same_role")
    assert change(customer, "lord")[0] == 422
    mechanic.client.post(f"/api/sessions/{waiting.sid}/release")
    assert change(mechanic, "customer") == (200, "customer")
    with db.read() as s:
        user = s.get(User, mechanic.id)
        assert user is not None and (user.role, user.on_duty) == (Role.CUSTOMER, False)
    assert mechanic.client.get("/api/mechanic/dashboard").status_code == 403
    (audit,) = _audit(db, "role_changed")
    assert audit.payload["detail"] == "Role changed from mechanic to customer."


def test_people_are_found_by_name_email_and_role(
    admin: Person, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    make_user(Role.MECHANIC, name="Cole Mechanic")

    def names(**params: str) -> list[str]:
        answer = admin.client.get("/api/admin/people", params=params)
        assert answer.status_code == 200, answer.text
        return [a["name"] for a in answer.json()["accounts"]]

    assert names(role="mechanic") == ["Bea Mechanic", "Cole Mechanic"]
    assert names(q="casey") == ["Casey Driver"]
    assert names(q=mechanic.email[:12]) == ["Bea Mechanic"]
    assert admin.client.get("/api/admin/people", params={"role": "boss"}).status_code == 422


def test_an_admin_creates_a_mechanic_from_the_page_flow(app: FastAPI) -> None:
    """The people page is there for admins only (its form is tested in Chromium)."""
    with TestClient(app) as browser:
        assert browser.get("/admin/people", follow_redirects=False).status_code == 303
