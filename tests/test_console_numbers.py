"""The console's numbers, on SQLite and PostgreSQL: what each mechanic did in a period, and a
chart drawn on the server that needs nothing from the network."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pitcrew import auth, flow, numbers
from pitcrew.db import Database
from pitcrew.models import Role, utcnow
from tests.support.factories import PASSWORD, Person, Stage, start_session

pytestmark = pytest.mark.usefixtures("quick_passwords")


def _a_day_of_work(db: Database, customer: Person, bea: Person, cole: Person) -> None:
    rated = start_session(db, customer, Stage.COMPLETED, mechanic=bea)
    flow.rate(db, customer.actor, rated.session_id, 5)
    other = start_session(db, customer, Stage.COMPLETED, mechanic=bea)
    flow.rate(db, customer.actor, other.session_id, 4)
    start_session(db, customer, Stage.COMPLETED, mechanic=bea)  # not rated
    start_session(db, customer, Stage.RELEASED, mechanic=cole)
    start_session(db, customer, Stage.EXPIRED)  # the released one expires with it


def test_numbers_per_mechanic_and_for_everyone(
    db: Database,
    admin: Person,
    customer: Person,
    mechanic: Person,
    cole: Person,
) -> None:
    _a_day_of_work(db, customer, mechanic, cole)

    answer = admin.client.get("/api/admin/numbers", params={"days": 7})

    assert answer.status_code == 200, answer.text
    got = answer.json()
    everyone = got["everyone"]
    assert (everyone["completed"], everyone["ratings"], everyone["rating_average"]) == (3, 2, 4.5)
    assert everyone["hand_backs"] == 1 and got["expired"] == 2
    assert everyone["median_accept_seconds"] >= 0
    by_name = {m["name"]: m for m in got["mechanics"]}
    assert list(by_name) == ["Bea Mechanic", "Cole Mechanic"]
    assert (by_name["Bea Mechanic"]["completed"], by_name["Bea Mechanic"]["hand_backs"]) == (3, 0)
    assert (by_name["Cole Mechanic"]["completed"], by_name["Cole Mechanic"]["hand_backs"]) == (0, 1)
    assert len(got["days"]) == 7 and got["days"][-1] == {
        "day": str(utcnow().date()),
        "completed": 3,
        "expired": 2,
    }
    assert admin.client.get("/api/admin/numbers", params={"days": 0}).status_code == 422
    assert mechanic.client.get("/api/admin/numbers").status_code == 403


def test_a_period_that_ended_before_the_work_counts_none_of_it(
    db: Database, customer: Person, mechanic: Person, cole: Person
) -> None:
    _a_day_of_work(db, customer, mechanic, cole)
    with db.read() as s:
        earlier = numbers.period(s, 30, today=utcnow().date() - timedelta(days=1))
    assert earlier.everyone.completed == 0 and earlier.expired == 0 and earlier.mechanics == []


def test_the_numbers_page_draws_its_chart_without_the_network(
    db: Database, app: FastAPI, customer: Person, mechanic: Person, cole: Person
) -> None:
    _a_day_of_work(db, customer, mechanic, cole)
    auth.create_user(
        db, email="root@example.com", name="Avery Admin", role=Role.ADMIN, password=PASSWORD
    )
    with TestClient(app) as browser:
        login = {"email": "root@example.com", "password": PASSWORD}
        assert browser.post("/api/auth/login", json=login).status_code == 200
        page = browser.get("/admin/numbers", params={"days": "30"}).text
    assert "<svg" in page and page.count('class="bar-done"') == 30
    assert "3 completed, 2 expired" in page
    assert "http://" not in page.split("<svg", 1)[1].split("</svg>", 1)[0].replace(
        "http://www.w3.org", ""
    )
    assert 'data-mechanic="' in page and "Bea Mechanic" in page
