"""Health in the operator's console, on SQLite and PostgreSQL: the doctor's counts, a repair
made exactly as shown to the admin (or not at all), and the audit list of admins' changes."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from pitcrew import doctor
from pitcrew.db import Database
from pitcrew.models import Event, Role
from tests.support.broken import stored_id, unguarded
from tests.support.factories import Person, Stage, start_session, statuses

pytestmark = pytest.mark.usefixtures("quick_passwords")


def _break_invariant_3(db: Database, customer: Person) -> tuple[str, str]:
    """A pending request whose session says cancelled: the product never writes this."""
    started = start_session(db, customer)
    with unguarded(db) as c:
        c.execute(
            text("UPDATE sessions SET status = 'cancelled' WHERE id = :s"),
            {"s": stored_id(started.session_id, db)},
        )
    return started.sid, started.rid


def test_a_clean_database_is_green_with_nothing_to_repair(admin: Person) -> None:
    health = admin.client.get("/api/admin/health").json()
    assert [(i["number"], i["count"]) for i in health["invariants"]] == [
        (n, 0) for n in range(1, 8)
    ]
    assert health["repairable"] == [] and health["plan"] is None
    refused = admin.client.post("/api/admin/health/repair", json={"plan": "anything"})
    assert refused.status_code == 409


def test_a_repair_makes_exactly_the_changes_shown_with_the_admin_as_its_actor(
    db: Database, admin: Person, customer: Person, mechanic: Person
) -> None:
    sid, _ = _break_invariant_3(db, customer)
    health = admin.client.get("/api/admin/health").json()
    assert {i["number"]: i["count"] for i in health["invariants"]}[3] == 1
    (finding,) = health["repairable"]
    assert finding["session_id"] == sid and finding["changes"]
    assert (
        mechanic.client.post("/api/admin/health/repair", json={"plan": health["plan"]}).status_code
        == 403
    )

    done = admin.client.post("/api/admin/health/repair", json={"plan": health["plan"]})

    assert done.status_code == 200, done.text
    assert done.json() == {"repaired": 1}
    after = admin.client.get("/api/admin/health").json()
    assert all(i["count"] == 0 for i in after["invariants"]) and after["repairable"] == []
    (last,) = after["last_repairs"]
    assert last["by"] == "Avery Admin" and last["session_id"] == sid
    with db.read() as s:
        repair = s.scalar(select(Event).where(Event.kind == "doctor.repair"))
    assert repair is not None and repair.actor_id == admin.id
    audit = admin.client.get("/api/admin/audit").json()
    assert audit[0]["kind"] == "doctor.repair" and audit[0]["admin_name"] == "Avery Admin"


def test_a_repair_of_a_plan_that_changed_meanwhile_writes_nothing(
    db: Database, admin: Person, customer: Person
) -> None:
    first, _ = _break_invariant_3(db, customer)
    shown = admin.client.get("/api/admin/health").json()["plan"]
    _break_invariant_3(db, customer)  # something else broke after the admin looked

    refused = admin.client.post("/api/admin/health/repair", json={"plan": shown})

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "plan_changed")
    health = admin.client.get("/api/admin/health").json()
    assert {i["number"]: i["count"] for i in health["invariants"]}[3] == 2
    with db.read() as s:
        assert s.scalar(select(Event.id).where(Event.kind == "doctor.repair")) is None
    assert admin.client.post("/api/admin/health/repair", json={"plan": health["plan"]}).json() == {
        "repaired": 2
    }
    assert first in {
        r["session_id"] for r in admin.client.get("/api/admin/health").json()["last_repairs"]
    }


def test_the_audit_list_tells_every_admin_change_newest_first(
    db: Database,
    admin: Person,
    customer: Person,
    mechanic: Person,
    cole: Person,
) -> None:
    waiting = start_session(db, customer, Stage.WAITING, mechanic=mechanic)
    other = start_session(db, customer, Stage.WAITING, mechanic=cole)
    admin.client.post(
        f"/api/admin/sessions/{waiting.sid}/reassign",
        json={"mechanic_id": str(cole.id), "from_mechanic_id": str(mechanic.id)},
    )
    admin.client.post(f"/api/admin/sessions/{waiting.sid}/cancel", json={"reason": "By phone"})
    admin.client.post(f"/api/admin/people/{cole.id}/deactivate")
    customer.client.post(f"/api/sessions/{uuid.uuid4()}/cancel")  # not an admin: not listed

    texts = [a["text"] for a in admin.client.get("/api/admin/audit").json()]

    assert texts == [
        "Avery Admin handed Cole Mechanic's waiting session back (account deactivated).",
        "Avery Admin: Cole Mechanic — Signed out everywhere and taken off duty.",
        "Avery Admin cancelled the session (By phone).",
        "Avery Admin moved the session from Bea Mechanic to Cole Mechanic.",
    ]
    assert statuses(db, other) == ("pending", "pending")
    assert customer.client.get("/api/admin/audit").status_code == 403


def test_the_health_page_shows_what_will_change_before_it_changes(
    db: Database, app: FastAPI, customer: Person
) -> None:
    from pitcrew import auth
    from tests.support.factories import PASSWORD

    sid, _ = _break_invariant_3(db, customer)
    auth.create_user(
        db, email="root@example.com", name="Avery Admin", role=Role.ADMIN, password=PASSWORD
    )
    with TestClient(app) as browser:
        login = {"email": "root@example.com", "password": PASSWORD}
        assert browser.post("/api/auth/login", json=login).status_code == 200
        page = browser.get("/admin/health").text
    assert 'data-invariant="3" data-ok="no"' in page
    assert 'data-invariant="1" data-ok="yes"' in page
    assert f"#{sid[:8]}" in page and "I have read exactly what will change" in page
    assert "→" in page  # each change, before and after
    doctor.apply(db)
