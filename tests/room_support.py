"""What the session room's tests share: a person's event stream and sessions made live."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import INTAKE, Person
from tests.support.live import EventReader, open_events

READ_TIMEOUT = 10.0


@contextmanager
def listen(base: str, person: Person) -> Iterator[EventReader]:
    """Open the person's stream; returns once whatever commits from now on will reach it."""
    headers = {"Authorization": str(person.client.headers["Authorization"])}
    with open_events(base, headers, timeout=READ_TIMEOUT) as (_, reader):
        assert reader.line().startswith("retry:")
        yield reader


def start_session(customer: Person, session_type: str = "video") -> tuple[str, str]:
    answer = customer.client.post(
        "/api/intake/start", json={**INTAKE, "session_type": session_type}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["session_id"], body["request_id"]


def live_session(customer: Person, mechanic: Person, session_type: str = "video") -> str:
    """A session of the given type, accepted and joined by the mechanic: live."""
    sid, rid = start_session(customer, session_type)
    accepted = mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    assert accepted.status_code == 200, accepted.text
    joined = mechanic.client.post(f"/api/sessions/{sid}/join")
    assert joined.status_code == 200, joined.text
    return sid
