"""Every action from every state, checked against the flow's own tables.

The allowed moves are read from ``flow.SESSION_FLOW`` and ``flow.REQUEST_FLOW``, never
restated here: an action the tables do not allow must answer 409, say what state the session
is in, and leave every row as it was; an action they allow must lead where they say.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from pitcrew import chat, flow, words
from pitcrew.db import Database
from pitcrew.flow import REQUEST_FLOW, SESSION_FLOW, Action
from pitcrew.models import RequestStatus, Role, Session, SessionRequest, SessionStatus, utcnow
from pitcrew.schemas import IntakeIn
from tests.support.factories import INTAKE, Person

pytestmark = pytest.mark.usefixtures("quick_passwords")

# Expiry is the sweeper's, not anybody's request: no route reaches it.
PUBLIC = [a for a in Action if a is not Action.EXPIRE]
WATCHED = ("sessions", "session_requests", "events", "session_messages", "notifications")


@dataclass
class Cast:
    customer: Person
    holder: Person  # the mechanic who accepts (and releases, joins, completes)
    rival: Person  # another on-duty mechanic


@dataclass
class Case:
    session_id: uuid.UUID
    request_id: uuid.UUID


def _accept(db: Database, cast: Cast, case: Case) -> None:
    flow.accept(db, cast.holder.actor, case.request_id)


def _join(db: Database, cast: Cast, case: Case) -> None:
    flow.join(db, cast.holder.actor, case.session_id)


def _complete(db: Database, cast: Cast, case: Case) -> None:
    flow.complete(db, cast.holder.actor, case.session_id, "Front pads worn; replace them.")


def _rate(db: Database, cast: Cast, case: Case) -> None:
    flow.rate(db, cast.customer.actor, case.session_id, 5, "Thanks")


def _cancel(db: Database, cast: Cast, case: Case) -> None:
    flow.cancel(db, cast.customer.actor, case.session_id, "Fixed it myself")


def _release(db: Database, cast: Cast, case: Case) -> None:
    flow.release(db, cast.holder.actor, case.session_id)


def _chat(db: Database, cast: Cast, case: Case) -> None:
    chat.post_message(db, cast.customer.actor, case.session_id, "Still grinding.")


def _expire(db: Database, cast: Cast, case: Case) -> None:
    assert flow.expire_due(db, timedelta(minutes=15), now=utcnow() + timedelta(hours=1)) == 1


Step = Callable[[Database, Cast, Case], None]

# Each state a session can be in, reached through the public flow.
STATES: dict[str, list[Step]] = {
    "pending": [],
    "pending_after_release": [_accept, _release],
    "waiting": [_accept],
    "live": [_accept, _join, _chat],
    "completed": [_accept, _join, _complete],
    "completed_and_rated": [_accept, _join, _complete, _rate],
    "cancelled_while_pending": [_cancel],
    "cancelled_while_waiting": [_accept, _cancel],
    "cancelled_while_live": [_accept, _join, _cancel],
    "expired": [_expire],
}


# The states a session's story ends in: nothing more may happen to it (DESIGN).
FINAL = (
    "completed_and_rated",
    "cancelled_while_pending",
    "cancelled_while_waiting",
    "cancelled_while_live",
    "expired",
)
OPEN = [state for state in STATES if state not in FINAL]


def _reach(db: Database, cast: Cast, state: str) -> Case:
    answer, _ = flow.start_intake(db, cast.customer.actor, IntakeIn.model_validate(INTAKE))
    case = Case(session_id=answer.session_id, request_id=answer.request_id)
    for step in STATES[state]:
        step(db, cast, case)
    return case


def _statuses(db: Database, case: Case) -> tuple[SessionStatus, RequestStatus, Any]:
    with db.read() as s:
        session = s.get(Session, case.session_id)
        request = s.scalar(
            select(SessionRequest).where(SessionRequest.parent_session_id == case.session_id)
        )
    assert session is not None and request is not None
    return SessionStatus(session.status), RequestStatus(request.status), session.rating


def _allowed(action: Action, session: SessionStatus, request: RequestStatus, rated: bool) -> bool:
    sources, _ = SESSION_FLOW[action]
    if session not in sources:
        return False
    if action in REQUEST_FLOW and request not in REQUEST_FLOW[action][0]:
        return False
    # The tables cannot say "once": a rating is given a single time (DESIGN).
    return not (action is Action.RATE and rated)


@dataclass(frozen=True)
class Attempt:
    """One party trying one action through the API."""

    call: Callable[[Cast, Case], httpx.Response]
    only_while_held: bool = False  # the holder is a party only while they hold the session


def _post(
    who: str, path: str, body: dict[str, Any] | None = None
) -> Callable[[Cast, Case], httpx.Response]:
    def call(cast: Cast, case: Case) -> httpx.Response:
        client: TestClient = getattr(cast, who).client
        url = path.format(sid=case.session_id)
        answer: httpx.Response = (
            client.post(url, json=body) if body is not None else client.post(url)
        )
        return answer

    return call


def _accept_call(cast: Cast, case: Case) -> httpx.Response:
    client: TestClient = cast.rival.client
    answer: httpx.Response = client.post(
        "/api/mechanic/accept", json={"request_id": str(case.request_id)}
    )
    return answer


# Who tries each action: each party entitled to it, so only the state can refuse it.
ATTEMPTS: dict[Action, list[Attempt]] = {
    Action.ACCEPT: [Attempt(_accept_call)],
    Action.JOIN: [Attempt(_post("holder", "/api/sessions/{sid}/join"))],
    Action.COMPLETE: [
        Attempt(_post("holder", "/api/sessions/{sid}/complete", {"summary": "All done."}))
    ],
    Action.CANCEL: [
        Attempt(_post("customer", "/api/sessions/{sid}/cancel", {"reason": "Not needed"})),
        Attempt(
            _post("holder", "/api/sessions/{sid}/cancel", {"reason": "Cannot help"}),
            only_while_held=True,
        ),
    ],
    Action.RATE: [
        Attempt(_post("customer", "/api/sessions/{sid}/rating", {"rating": 4, "comment": "ok"}))
    ],
    Action.MESSAGE: [
        Attempt(_post("customer", "/api/sessions/{sid}/messages", {"body": "Hello?"})),
        Attempt(
            _post("holder", "/api/sessions/{sid}/messages", {"body": "I am here."}),
            only_while_held=True,
        ),
    ],
    Action.RELEASE: [Attempt(_post("holder", "/api/sessions/{sid}/release"))],
}


def _held(db: Database, cast: Cast, case: Case) -> bool:
    with db.read() as s:
        return s.scalar(select(Session.mechanic_id).where(Session.id == case.session_id)) == (
            cast.holder.id
        )


def _snapshot(db: Database) -> dict[str, list[tuple[str, ...]]]:
    with db.read() as s:
        return {
            table: sorted(
                tuple(str(v) for v in row) for row in s.execute(text(f"SELECT * FROM {table}"))
            )
            for table in WATCHED
        }


@pytest.fixture
def cast(customer: Person, mechanic: Person, make_user: Callable[..., Person]) -> Cast:
    return Cast(customer=customer, holder=mechanic, rival=make_user(Role.MECHANIC))


def test_every_public_action_has_a_way_in() -> None:
    assert set(ATTEMPTS) == set(PUBLIC)
    assert set(REQUEST_FLOW) <= set(SESSION_FLOW)


@pytest.mark.parametrize("state", list(STATES))
def test_action_not_allowed_in_state_is_409_and_changes_nothing(
    db: Database, cast: Cast, state: str
) -> None:
    case = _reach(db, cast, state)
    session_status, request_status, rating = _statuses(db, case)
    refused = [
        a for a in PUBLIC if not _allowed(a, session_status, request_status, rating is not None)
    ]
    assert refused, f"{state}: the tables allow everything?"
    held = _held(db, cast, case)
    for action in refused:
        for attempt in ATTEMPTS[action]:
            if attempt.only_while_held and not held:
                continue
            before = _snapshot(db)
            answer = attempt.call(cast, case)
            where = f"{action.value} while {state}"
            assert answer.status_code == 409, f"{where}: {answer.status_code} {answer.text}"
            error = answer.json()["error"]
            assert set(error) >= {"code", "message"} and error["code"], where
            assert words.sentence(session_status) in error["message"], (
                f"{where}: the message should say the session is {session_status}: "
                f"{error['message']!r}"
            )
            assert _snapshot(db) == before, f"{where} changed rows"


@pytest.mark.parametrize("state", FINAL)
def test_a_final_state_allows_no_action_at_all(db: Database, cast: Cast, state: str) -> None:
    """No test id checks nothing: from these, the 409 test above tries every action."""
    session_status, request_status, rating = _statuses(db, _reach(db, cast, state))
    allowed = [a for a in Action if _allowed(a, session_status, request_status, rating is not None)]
    assert allowed == [], f"{state} ({session_status}, {request_status}) still allows {allowed}"


@pytest.mark.parametrize("state", OPEN)
def test_action_allowed_in_state_leads_where_the_table_says(
    db: Database, cast: Cast, state: str
) -> None:
    session_status, request_status, rating = _statuses(db, _reach(db, cast, state))
    allowed = [a for a in PUBLIC if _allowed(a, session_status, request_status, rating is not None)]
    assert allowed, f"{state} is not final, yet the tables allow nothing from it"
    tried = 0
    for action in allowed:
        for attempt in ATTEMPTS[action]:
            case = _reach(db, cast, state)  # a fresh session each time: the action changes it
            if attempt.only_while_held and not _held(db, cast, case):
                continue
            tried += 1
            answer = attempt.call(cast, case)
            where = f"{action.value} while {state}"
            assert answer.status_code in (200, 201), f"{where}: {answer.text}"
            target = SESSION_FLOW[action][1] or session_status
            request_target = REQUEST_FLOW[action][1] if action in REQUEST_FLOW else request_status
            now_session, now_request, now_rating = _statuses(db, case)
            assert (now_session, now_request) == (target, request_target), where
            if action is Action.RATE:
                assert now_rating == 4
    assert tried >= len(allowed), f"{state}: some allowed action was never tried"


def test_winner_accepting_again_changes_nothing(db: Database, cast: Cast) -> None:
    """The winner's retry (a double click) is answered, not refused; other states are 409."""
    for state in ("waiting", "live", "completed"):
        case = _reach(db, cast, state)
        before = _snapshot(db)
        again = cast.holder.client.post(
            "/api/mechanic/accept", json={"request_id": str(case.request_id)}
        )
        assert again.status_code == 200, again.text
        assert again.json()["session_status"] == state
        assert again.json()["mechanic_id"] == str(cast.holder.id)
        assert _snapshot(db) == before, state
    case = _reach(db, cast, "cancelled_while_waiting")
    before = _snapshot(db)
    again = cast.holder.client.post(
        "/api/mechanic/accept", json={"request_id": str(case.request_id)}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "request_closed"
    assert words.sentence(SessionStatus.CANCELLED) in again.json()["error"]["message"]
    assert _snapshot(db) == before
