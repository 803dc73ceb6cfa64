"""The on-duty switch: off means no "new request" notices; on again brings them back.

Driven through the API and the dashboard page only, as a mechanic uses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from pitcrew.events import Kind
from pitcrew.models import Role
from tests.support.factories import INTAKE, Person

pytestmark = pytest.mark.usefixtures("quick_passwords")

DUTY_SWITCH = re.compile(r"<input[^>]*\bdata-duty\b[^>]*>")


def _switch(mechanic: Person, on_duty: bool) -> None:
    answer = mechanic.client.post("/api/mechanic/duty", json={"on_duty": on_duty})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"on_duty": on_duty}


def _reads_back(mechanic: Person) -> tuple[bool, bool]:
    """(the account says on duty, the dashboard's switch is shown on)."""
    me = mechanic.client.get("/api/auth/me")
    assert me.status_code == 200, me.text
    page = mechanic.client.get("/mechanic/dashboard")
    assert page.status_code == 200, page.text
    (switch,) = DUTY_SWITCH.findall(page.text)
    return bool(me.json()["on_duty"]), " checked" in switch


def _new_request_notices(person: Person) -> list[str]:
    """The request ids of the person's "new request" notifications."""
    answer = person.client.get("/api/notifications")
    assert answer.status_code == 200, answer.text
    return [
        n["request_id"]
        for n in answer.json()["notifications"]
        if n["kind"] == Kind.REQUEST_CREATED.value
    ]


def _new_request(customer: Person) -> str:
    answer = customer.client.post("/api/intake/start", json=INTAKE)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["request_id"])


def test_off_duty_hears_of_no_new_request_and_on_again_does(
    customer: Person, make_user: Callable[..., Person]
) -> None:
    bea = make_user(Role.MECHANIC, name="Bea Mechanic")
    colleague = make_user(Role.MECHANIC, name="Cole Colleague")
    assert _reads_back(bea) == (True, True)

    _switch(bea, False)
    assert _reads_back(bea) == (False, False)
    while_off = _new_request(customer)
    assert _new_request_notices(bea) == []
    assert _new_request_notices(colleague) == [while_off], "the colleague on duty is told"

    _switch(bea, True)
    assert _reads_back(bea) == (True, True)
    while_on = _new_request(customer)
    assert _new_request_notices(bea) == [while_on], "back on duty: told of what is new"
    assert sorted(_new_request_notices(colleague)) == sorted([while_off, while_on])


def test_only_a_mechanic_has_a_duty_switch(customer: Person, mechanic: Person) -> None:
    refused = customer.client.post("/api/mechanic/duty", json={"on_duty": True})
    assert refused.status_code == 403, refused.text
    assert customer.client.get("/api/auth/me").json()["on_duty"] is False
    assert _reads_back(mechanic) == (True, True)
