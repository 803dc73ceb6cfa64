"""Bad input, as a careless or hostile client sends it: each gets a clear 4xx and writes nothing.

Every refusal must come in DESIGN's error shape, ``{"error": {"code", "message"}}``, with a
message that names what was wrong (the field, or the limit), and leave every table as it was.
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from pitcrew import flow
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Base
from pitcrew.schemas import IntakeIn
from tests.support.factories import INTAKE, Person

pytestmark = pytest.mark.usefixtures("quick_passwords")

# Sign-in bookkeeping may legitimately change on any request; nothing else may.
NOT_WATCHED = {"auth_tokens", "login_failures", "alembic_version"}


@dataclass
class Bad:
    """One bad request and what the client must be told."""

    what: str
    method: str
    path: str
    json: Any = None
    content: bytes | Iterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 422
    mentions: str = ""  # the message must name this (a field, a limit)
    who: str = "customer"  # customer | mechanic | anonymous


def _with(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(INTAKE)
    for key, value in changes.items():
        if key.startswith("vehicle_"):
            body["vehicle"][key.removeprefix("vehicle_")] = value
        else:
            body[key] = value
    return body


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in INTAKE.items() if k != key}


def _chunks(total: int) -> Iterator[bytes]:
    """A body streamed without Content-Length (chunked), so only counting can catch it."""
    yield b'{"issue_description": "'
    sent = 0
    while sent < total:
        yield b"x" * 4096
        sent += 4096
    yield b'"}'


def _row_counts(db: Database) -> dict[str, int]:
    tables = [t for t in Base.metadata.sorted_tables if t.name not in NOT_WATCHED]
    with db.read() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t)) or 0 for t in tables}


def _check(db: Database, people: dict[str, httpx.Client], cases: list[Bad]) -> list[str]:
    """Send each case; return what went wrong, so one run reports every failing case."""
    problems = []
    for case in cases:
        before = _row_counts(db)
        answer = people[case.who].request(
            case.method,
            case.path,
            json=case.json,
            content=case.content,
            headers=case.headers,
        )
        label = f"{case.what} ({case.method} {case.path})"
        if answer.status_code != case.status:
            problems.append(f"{label}: {answer.status_code} {answer.text[:200]}")
            continue
        try:
            body = answer.json()
            error = body["error"]
            assert set(body) == {"error"}
            assert isinstance(error["code"], str) and error["code"]
            assert isinstance(error["message"], str) and error["message"].strip()
        except (ValueError, KeyError, TypeError, AssertionError):
            problems.append(f"{label}: not the error shape: {answer.text[:200]}")
            continue
        if case.mentions.lower() not in error["message"].lower():
            problems.append(f"{label}: message {error['message']!r} lacks {case.mentions!r}")
        after = _row_counts(db)
        if after != before:
            changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
            problems.append(f"{label}: rows written {changed}")
    return problems


@pytest.fixture
def people(customer: Person, mechanic: Person, anonymous: httpx.Client) -> dict[str, httpx.Client]:
    return {"customer": customer.client, "mechanic": mechanic.client, "anonymous": anonymous}


@pytest.fixture
def live(db: Database, customer: Person, mechanic: Person) -> uuid.UUID:
    """A live session between the two, for the routes that act on one."""
    answer, _ = flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))
    flow.accept(db, mechanic.actor, answer.request_id)
    flow.join(db, mechanic.actor, answer.session_id)
    return answer.session_id


def test_bad_intakes_are_refused_and_write_nothing(
    db: Database, people: dict[str, httpx.Client], settings: Settings
) -> None:
    start = "/api/intake/start"
    over = settings.max_body_bytes
    cases = [
        Bad("no body at all", "POST", start, mentions="body"),
        Bad("empty object", "POST", start, json={}, mentions="vehicle"),
        Bad("a list, not an object", "POST", start, json=[INTAKE], mentions="object"),
        Bad("not JSON", "POST", start, content=b"{vehicle: Honda", mentions="JSON",
            headers={"content-type": "application/json"}),
        Bad("missing vehicle", "POST", start, json=_without("vehicle"), mentions="vehicle"),
        Bad("missing issue", "POST", start, json=_without("issue_description"),
            mentions="issue_description"),
        Bad("missing session type", "POST", start, json=_without("session_type"),
            mentions="session_type"),
        Bad("vehicle as a string", "POST", start, json=_with(vehicle="2016 Honda Civic"),
            mentions="vehicle"),
        Bad("year as a word", "POST", start, json=_with(vehicle_year="soon"), mentions="year"),
        Bad("year out of range", "POST", start, json=_with(vehicle_year=1850), mentions="year"),
        Bad("negative mileage", "POST", start, json=_with(vehicle_mileage=-5),
            mentions="mileage"),
        Bad("bad VIN", "POST", start, json=_with(vehicle_vin="I0I0"), mentions="vin"),
        Bad("blank make", "POST", start, json=_with(vehicle_make="   "), mentions="make"),
        Bad("whitespace-only issue", "POST", start, json=_with(issue_description=" \t\n "),
            mentions="issue_description"),
        Bad("issue over its limit", "POST", start, json=_with(issue_description="x" * 4001),
            mentions="issue_description"),
        Bad("issue as a number", "POST", start, json=_with(issue_description=42),
            mentions="issue_description"),
        Bad("unknown session type", "POST", start, json=_with(session_type="phone"),
            mentions="session_type"),
        Bad("plan code with spaces", "POST", start, json=_with(plan_code="Gold Plan!"),
            mentions="plan_code"),
        Bad("unknown top-level field", "POST", start, json=_with(urgent=True),
            mentions="urgent"),
        Bad("unknown vehicle field", "POST", start, json=_with(vehicle_colour="red"),
            mentions="colour"),
        Bad("body over the limit", "POST", start, status=413, mentions=str(over),
            json=_with(issue_description="x" * (over + 1))),
        Bad("streamed body over the limit", "POST", start, status=413, mentions=str(over),
            content=_chunks(over + 1), headers={"content-type": "application/json"}),
        Bad("Idempotency-Key too long", "POST", start, json=INTAKE,
            headers={"Idempotency-Key": "k" * 201}, mentions="idempotency"),
        Bad("Idempotency-Key blank", "POST", start, json=INTAKE,
            headers={"Idempotency-Key": " "}, mentions="idempotency"),
    ]  # fmt: skip
    assert _check(db, people, cases) == []


def test_bad_accepts_are_refused_and_write_nothing(
    db: Database, people: dict[str, httpx.Client], customer: Person
) -> None:
    flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))  # one pending
    accept = "/api/mechanic/accept"
    cases = [
        Bad(what, "POST", accept, json=body, who="mechanic", mentions=mentions, status=status)
        for what, body, mentions, status in [
            ("no request_id", {}, "request_id", 422),
            ("request_id null", {"request_id": None}, "request_id", 422),
            ("request_id not a UUID", {"request_id": "abc"}, "request_id", 422),
            ("request_id a number", {"request_id": 123}, "request_id", 422),
            ("request_id a list", {"request_id": [str(uuid.uuid4())]}, "request_id", 422),
            ("unknown field", {"request_id": str(uuid.uuid4()), "force": True}, "force", 422),
            ("unknown request", {"request_id": str(uuid.uuid4())}, "request", 404),
        ]
    ]
    assert _check(db, people, cases) == []


def test_bad_input_on_a_session_is_refused_and_writes_nothing(
    db: Database, people: dict[str, httpx.Client], live: uuid.UUID
) -> None:
    here = f"/api/sessions/{live}"
    nowhere = f"/api/sessions/{uuid.uuid4()}"
    cases = [
        # ids in the path
        Bad("session id not a UUID", "GET", "/api/sessions/not-a-uuid", mentions="session_id"),
        Bad("session id a number", "POST", "/api/sessions/42/cancel", mentions="session_id"),
        Bad("unknown session", "GET", nowhere, status=404, mentions="session"),
        Bad("join unknown", "POST", f"{nowhere}/join", status=404, who="mechanic",
            mentions="session"),
        Bad("cancel unknown", "POST", f"{nowhere}/cancel", json={}, status=404,
            mentions="session"),
        Bad("chat in unknown", "POST", f"{nowhere}/messages", json={"body": "hi"},
            status=404, mentions="session"),
        Bad("read chat of unknown", "GET", f"{nowhere}/messages", status=404,
            mentions="session"),
        Bad("rate unknown", "POST", f"{nowhere}/rating", json={"rating": 5}, status=404,
            mentions="session"),
        # chat
        Bad("empty message", "POST", f"{here}/messages", json={"body": ""}, mentions="body"),
        Bad("whitespace message", "POST", f"{here}/messages", json={"body": " \n\t "},
            mentions="body"),
        Bad("message over its limit", "POST", f"{here}/messages", json={"body": "x" * 4001},
            mentions="body"),
        Bad("message as a number", "POST", f"{here}/messages", json={"body": 42},
            mentions="body"),
        Bad("message without body", "POST", f"{here}/messages", json={}, mentions="body"),
        Bad("message with extra field", "POST", f"{here}/messages",
            json={"body": "hi", "sender_id": str(uuid.uuid4())}, mentions="sender_id"),
        # complete
        Bad("whitespace summary", "POST", f"{here}/complete", json={"summary": "   "},
            who="mechanic", mentions="summary"),
        Bad("no summary", "POST", f"{here}/complete", json={}, who="mechanic",
            mentions="summary"),
        Bad("summary over its limit", "POST", f"{here}/complete",
            json={"summary": "x" * 8001}, who="mechanic", mentions="summary"),
        Bad("summary as a list", "POST", f"{here}/complete", json={"summary": ["a"]},
            who="mechanic", mentions="summary"),
        # rating (the session is live, but bad input is refused before state is looked at)
        Bad("rating 0", "POST", f"{here}/rating", json={"rating": 0}, mentions="rating"),
        Bad("rating 6", "POST", f"{here}/rating", json={"rating": 6}, mentions="rating"),
        Bad("rating a word", "POST", f"{here}/rating", json={"rating": "five"},
            mentions="rating"),
        Bad("rating a boolean", "POST", f"{here}/rating", json={"rating": True},
            mentions="rating"),
        Bad("rating a fraction", "POST", f"{here}/rating", json={"rating": 4.5},
            mentions="rating"),
        Bad("rating missing", "POST", f"{here}/rating", json={"comment": "fine"},
            mentions="rating"),
        Bad("comment over its limit", "POST", f"{here}/rating",
            json={"rating": 5, "comment": "x" * 2001}, mentions="comment"),
        # cancel
        Bad("reason as a number", "POST", f"{here}/cancel", json={"reason": 7},
            mentions="reason"),
        Bad("reason over its limit", "POST", f"{here}/cancel", json={"reason": "x" * 1001},
            mentions="reason"),
        Bad("cancel with extra field", "POST", f"{here}/cancel",
            json={"reason": "x", "refund": True}, mentions="refund"),
    ]  # fmt: skip
    assert _check(db, people, cases) == []


def test_bad_input_elsewhere_is_refused_and_writes_nothing(
    db: Database, people: dict[str, httpx.Client], customer: Person
) -> None:
    naive_cursor = base64.urlsafe_b64encode(f"2020-01-01T00:00:00|{uuid.uuid4()}".encode())
    cases = [
        Bad("register without email", "POST", "/api/auth/register", who="anonymous",
            json={"password": "long enough pass", "name": "Pat"}, mentions="email"),
        Bad("register with a bad email", "POST", "/api/auth/register", who="anonymous",
            json={"email": "pat-at-home", "password": "long enough pass", "name": "Pat"},
            mentions="email"),
        Bad("register with a short password", "POST", "/api/auth/register", who="anonymous",
            json={"email": "pat@example.com", "password": "short", "name": "Pat"},
            mentions="password"),
        Bad("register with a blank name", "POST", "/api/auth/register", who="anonymous",
            json={"email": "pat@example.com", "password": "long enough pass", "name": "  "},
            mentions="name"),
        Bad("register as a mechanic", "POST", "/api/auth/register", who="anonymous",
            json={"email": "pat@example.com", "password": "long enough pass", "name": "Pat",
                  "role": "mechanic"}, mentions="role"),
        Bad("login without password", "POST", "/api/auth/login", who="anonymous",
            json={"email": customer.email}, mentions="password"),
        Bad("duty as a word", "POST", "/api/mechanic/duty", who="mechanic",
            json={"on_duty": "maybe"}, mentions="on_duty"),
        Bad("unknown tab", "GET", "/api/mechanic/dashboard/archive", who="mechanic",
            status=404, mentions="archive"),
        # A cursor the server never gave out names no page: 404, like an unknown id.
        Bad("garbage cursor", "GET", "/api/mechanic/requests?cursor=%%%", who="mechanic",
            status=404, mentions="cursor"),
        Bad("cursor without a time zone", "GET",
            f"/api/mechanic/dashboard/active?cursor={naive_cursor.decode()}", who="mechanic",
            status=404, mentions="cursor"),
        Bad("notification id not a UUID", "POST", "/api/notifications/xyz/read",
            mentions="notification_id"),
        Bad("unknown notification", "POST", f"/api/notifications/{uuid.uuid4()}/read",
            status=404, mentions="notification"),
    ]  # fmt: skip
    assert _check(db, people, cases) == []
