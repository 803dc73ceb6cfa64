"""Someone typing ("Dana is typing…"): told to the other party only, limited, never stored."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from pitcrew.db import Database
from pitcrew.models import Event, Role
from tests.support.factories import Person, Stage, start_session
from tests.support.live import Message
from tests.support.room import listen

pytestmark = pytest.mark.usefixtures("quick_passwords")


def _events(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Event)) or 0)


def _typing(person: Person, sid: str) -> int:
    status: int = person.client.post(f"/api/sessions/{sid}/typing").status_code
    return status


def test_typing_reaches_the_other_party_only_and_leaves_no_trace(
    db: Database,
    live: str,
    customer: Person,
    mechanic: Person,
    make_user: Callable[..., Person],
) -> None:
    sid = start_session(db, customer, Stage.LIVE, mechanic=mechanic).sid
    before = _events(db)
    with listen(live, customer) as at_customer, listen(live, mechanic) as at_mechanic:
        assert [_typing(customer, sid) for _ in range(4)] == [204, 204, 204, 429]
        assert _typing(mechanic, sid) == 204  # the other sender has a limit of their own

        def is_typing(m: Message) -> bool:
            return m.kind == "typing"

        told = at_mechanic.until(is_typing)[0]
        assert told.id == 0, "never replayed: it carries no event id"
        assert told.data == {"session_id": sid, "user_id": str(customer.id), "name": "Casey"}
        # The customer hears the mechanic, never themselves.
        heard = at_customer.until(is_typing)[-1]
        assert heard.data["name"] == "Bea"
        mechanic.client.post(f"/api/sessions/{sid}/messages", json={"body": "Hello"})
        seen = at_customer.until(lambda m: m.kind == "message.created")
        assert not [m for m in seen if is_typing(m)]
    assert _events(db) == before + 1, "only the chat message was stored"

    outsider = make_user(Role.MECHANIC)
    assert _typing(outsider, sid) == 404
    done = start_session(db, customer, Stage.COMPLETED, mechanic=mechanic).sid
    answer = customer.client.post(f"/api/sessions/{done}/typing")
    assert answer.status_code == 409
    assert answer.json()["error"]["message"] == "The chat is open while the session is live."
