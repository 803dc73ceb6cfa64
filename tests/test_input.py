"""Bad input, as a careless or hostile client sends it: each gets a clear 4xx and writes nothing.

Every refusal must come in DESIGN's error shape, ``{"error": {"code", "message"}}``, with a
message a person can act on (what to enter, or the limit), the field it is about named in
``details`` for clients, and leave every table as it was.
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

from pitcrew import access, flow
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.errors import Invalid
from pitcrew.models import Base
from pitcrew.schemas import IntakeIn
from tests.support.factories import INTAKE, Person
from tests.test_messages import library_words

pytestmark = pytest.mark.usefixtures("quick_passwords")

# Sign-in bookkeeping may legitimately change on any request; nothing else may.
NOT_WATCHED = {"auth_tokens", "account_tokens", "login_failures", "alembic_version"}


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
    mentions: str = ""  # the message must say this (what to enter, the limit)
    field: str = ""  # and ``details`` must name this field
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
        said = [error["message"], *(d.get("problem", "") for d in error.get("details") or [])]
        if library := [w for text in said for w in library_words(text)]:
            problems.append(f"{label}: the validation library's words {library} in {said}")
        fields = [d.get("field") for d in error.get("details") or []]
        if case.field and case.field not in fields:
            problems.append(f"{label}: details name {fields}, not {case.field!r}")
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
        Bad("no body at all", "POST", start, mentions="Send the request body as a JSON object",
            field="body"),
        Bad("empty object", "POST", start, json={}, mentions="Enter the car's year, make and model",
            field="issue_description"),
        Bad("a list, not an object", "POST", start, json=[INTAKE], field="body",
            mentions="Send the request body as a JSON object"),
        Bad("not JSON", "POST", start, content=b"{vehicle: Honda", field="body",
            mentions="The request body is not valid JSON",
            headers={"content-type": "application/json"}),
        Bad("missing vehicle", "POST", start, json=_without("vehicle"), field="vehicle",
            mentions="Enter the car's year, make and model"),
        Bad("missing issue", "POST", start, json=_without("issue_description"),
            mentions="Describe the problem", field="issue_description"),
        Bad("missing session type", "POST", start, json=_without("session_type"),
            mentions="Choose chat or video", field="session_type"),
        Bad("vehicle as a string", "POST", start, json=_with(vehicle="2016 Honda Civic"),
            mentions="Enter the car's year, make and model", field="vehicle"),
        Bad("year as a word", "POST", start, json=_with(vehicle_year="soon"),
            mentions="Enter a year between 1900 and 2100", field="vehicle.year"),
        Bad("year out of range", "POST", start, json=_with(vehicle_year=1850),
            mentions="Enter a year between 1900 and 2100", field="vehicle.year"),
        Bad("negative mileage", "POST", start, json=_with(vehicle_mileage=-5),
            mentions="Enter the mileage as a whole number from 0 to 2,000,000",
            field="vehicle.mileage"),
        Bad("bad VIN", "POST", start, json=_with(vehicle_vin="I0I0"), field="vehicle.vin",
            mentions="A VIN never contains the letters I, O or Q"),
        Bad("blank make", "POST", start, json=_with(vehicle_make="   "), field="vehicle.make",
            mentions="Enter the make of the car"),
        Bad("whitespace-only issue", "POST", start, json=_with(issue_description=" \t\n "),
            mentions="Describe the problem", field="issue_description"),
        Bad("issue over its limit", "POST", start, json=_with(issue_description="x" * 4001),
            mentions="4,000 characters or fewer", field="issue_description"),
        Bad("issue as a number", "POST", start, json=_with(issue_description=42),
            mentions="Describe the problem", field="issue_description"),
        Bad("unknown session type", "POST", start, json=_with(session_type="phone"),
            mentions="Choose chat or video", field="session_type"),
        Bad("plan code with spaces", "POST", start, json=_with(plan_code="Gold Plan!"),
            mentions="Choose a plan", field="plan_code"),
        Bad("unknown top-level field", "POST", start, json=_with(urgent=True),
            mentions="Unknown field: urgent", field="urgent"),
        Bad("unknown vehicle field", "POST", start, json=_with(vehicle_colour="red"),
            mentions="Unknown field: vehicle.colour", field="vehicle.colour"),
        Bad("body over the limit", "POST", start, status=413, mentions=str(over),
            json=_with(issue_description="x" * (over + 1))),
        Bad("streamed body over the limit", "POST", start, status=413, mentions=str(over),
            content=_chunks(over + 1), headers={"content-type": "application/json"}),
        Bad("Idempotency-Key too long", "POST", start, json=INTAKE,
            headers={"Idempotency-Key": "k" * 201}, field="header.idempotency-key",
            mentions="Idempotency-Key header to 200 characters or fewer"),
        Bad("Idempotency-Key blank", "POST", start, json=INTAKE,
            headers={"Idempotency-Key": " "}, field="header.idempotency-key",
            mentions="Idempotency-Key header"),
    ]  # fmt: skip
    assert _check(db, people, cases) == []


def test_bad_accepts_are_refused_and_write_nothing(
    db: Database, people: dict[str, httpx.Client], customer: Person
) -> None:
    flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))  # one pending
    accept = "/api/mechanic/accept"
    bad_id = "not a valid request id"
    cases = [
        Bad(what, "POST", accept, json=body, who="mechanic", mentions=mentions, status=status,
            field=field)
        for what, body, mentions, field, status in [
            ("no request_id", {}, "Enter the request id", "request_id", 422),
            ("request_id null", {"request_id": None}, bad_id, "request_id", 422),
            ("request_id not a UUID", {"request_id": "abc"}, bad_id, "request_id", 422),
            ("request_id a number", {"request_id": 123}, bad_id, "request_id", 422),
            ("request_id a list", {"request_id": [str(uuid.uuid4())]}, bad_id, "request_id",
             422),
            ("unknown field", {"request_id": str(uuid.uuid4()), "force": True},
             "Unknown field: force", "force", 422),
            ("unknown request", {"request_id": str(uuid.uuid4())}, "request", "", 404),
        ]
    ]  # fmt: skip
    assert _check(db, people, cases) == []


def test_bad_input_on_a_session_is_refused_and_writes_nothing(
    db: Database, people: dict[str, httpx.Client], live: uuid.UUID
) -> None:
    here = f"/api/sessions/{live}"
    nowhere = f"/api/sessions/{uuid.uuid4()}"
    cases = [
        # ids in the path
        Bad("session id not a UUID", "GET", "/api/sessions/not-a-uuid",
            mentions="not a valid session id", field="path.session_id"),
        Bad("session id a number", "POST", "/api/sessions/42/cancel",
            mentions="not a valid session id", field="path.session_id"),
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
        Bad("empty message", "POST", f"{here}/messages", json={"body": ""},
            mentions="Write a message first", field="body"),
        Bad("whitespace message", "POST", f"{here}/messages", json={"body": " \n\t "},
            mentions="Write a message first", field="body"),
        Bad("message over its limit", "POST", f"{here}/messages", json={"body": "x" * 4001},
            mentions="Keep the message to 4,000 characters or fewer", field="body"),
        Bad("message as a number", "POST", f"{here}/messages", json={"body": 42},
            mentions="Write a message first", field="body"),
        Bad("message without body", "POST", f"{here}/messages", json={},
            mentions="Write a message first", field="body"),
        Bad("message with extra field", "POST", f"{here}/messages",
            json={"body": "hi", "sender_id": str(uuid.uuid4())},
            mentions="Unknown field: sender_id", field="sender_id"),
        # complete
        Bad("whitespace summary", "POST", f"{here}/complete", json={"summary": "   "},
            who="mechanic", mentions="Write a summary of what you found", field="summary"),
        Bad("no summary", "POST", f"{here}/complete", json={}, who="mechanic",
            mentions="Write a summary of what you found", field="summary"),
        Bad("summary over its limit", "POST", f"{here}/complete",
            json={"summary": "x" * 8001}, who="mechanic",
            mentions="Keep the summary to 8,000 characters or fewer", field="summary"),
        Bad("summary as a list", "POST", f"{here}/complete", json={"summary": ["a"]},
            who="mechanic", mentions="Write a summary of what you found", field="summary"),
        # rating (the session is live, but bad input is refused before state is looked at)
        Bad("rating 0", "POST", f"{here}/rating", json={"rating": 0},
            mentions="Choose a rating from 1 to 5", field="rating"),
        Bad("rating 6", "POST", f"{here}/rating", json={"rating": 6},
            mentions="Choose a rating from 1 to 5", field="rating"),
        Bad("rating a word", "POST", f"{here}/rating", json={"rating": "five"},
            mentions="Choose a rating from 1 to 5", field="rating"),
        Bad("rating a boolean", "POST", f"{here}/rating", json={"rating": True},
            mentions="Choose a rating from 1 to 5", field="rating"),
        Bad("rating a fraction", "POST", f"{here}/rating", json={"rating": 4.5},
            mentions="Choose a rating from 1 to 5", field="rating"),
        Bad("rating missing", "POST", f"{here}/rating", json={"comment": "fine"},
            mentions="Choose a rating from 1 to 5", field="rating"),
        Bad("comment over its limit", "POST", f"{here}/rating",
            json={"rating": 5, "comment": "x" * 2001},
            mentions="Keep the comment to 2,000 characters or fewer", field="comment"),
        # cancel
        Bad("reason as a number", "POST", f"{here}/cancel", json={"reason": 7},
            mentions="Enter the reason as text", field="reason"),
        Bad("reason over its limit", "POST", f"{here}/cancel", json={"reason": "x" * 1001},
            mentions="Keep the reason to 1,000 characters or fewer", field="reason"),
        Bad("cancel with extra field", "POST", f"{here}/cancel",
            json={"reason": "x", "refund": True}, mentions="Unknown field: refund",
            field="refund"),
    ]  # fmt: skip
    assert _check(db, people, cases) == []


def test_bad_input_elsewhere_is_refused_and_writes_nothing(
    db: Database, people: dict[str, httpx.Client], customer: Person
) -> None:
    naive_cursor = base64.urlsafe_b64encode(f"2020-01-01T00:00:00|{uuid.uuid4()}".encode())
    cases = [
        Bad("register without email", "POST", "/api/auth/register", who="anonymous",
            json={"password": "long enough pass", "name": "Pat"}, field="email",
            mentions="Enter an email address like name@example.com"),
        Bad("register with a bad email", "POST", "/api/auth/register", who="anonymous",
            json={"email": "pat-at-home", "password": "long enough pass", "name": "Pat"},
            mentions="Enter an email address like name@example.com", field="email"),
        Bad("register with a short password", "POST", "/api/auth/register", who="anonymous",
            json={"email": "pat@example.com", "password": "short", "name": "Pat"},
            mentions="Choose a password of at least 8 characters", field="password"),
        Bad("register with a blank name", "POST", "/api/auth/register", who="anonymous",
            json={"email": "pat@example.com", "password": "long enough pass", "name": "  "},
            mentions="Enter your name", field="name"),
        Bad("register as a mechanic", "POST", "/api/auth/register", who="anonymous",
            json={"email": "pat@example.com", "password": "long enough pass", "name": "Pat",
                  "role": "mechanic"}, mentions="Unknown field: role", field="role"),
        Bad("login without password", "POST", "/api/auth/login", who="anonymous",
            json={"email": customer.email}, mentions="Enter a password", field="password"),
        Bad("duty as a word", "POST", "/api/mechanic/duty", who="mechanic",
            json={"on_duty": "maybe"}, mentions="Use true or false", field="on_duty"),
        Bad("unknown tab", "GET", "/api/mechanic/dashboard/archive", who="mechanic",
            status=404, mentions="archive"),
        # A cursor the server never gave out names no page: 404, like an unknown id.
        Bad("garbage cursor", "GET", "/api/mechanic/requests?cursor=%%%", who="mechanic",
            status=404, mentions="cursor"),
        Bad("cursor without a time zone", "GET",
            f"/api/mechanic/dashboard/active?cursor={naive_cursor.decode()}", who="mechanic",
            status=404, mentions="cursor"),
        Bad("notification id not a UUID", "POST", "/api/notifications/xyz/read",
            mentions="not a valid notification id", field="path.notification_id"),
        Bad("unknown notification", "POST", f"/api/notifications/{uuid.uuid4()}/read",
            status=404, mentions="notification"),
    ]  # fmt: skip
    assert _check(db, people, cases) == []


@pytest.mark.parametrize(
    ("value", "what", "words"),
    [
        ("not-an-id", "session_id", "That is not a valid session id"),
        ("42", "request_id", "That is not a valid request id"),
        ("", "report", "That is not a valid report id"),
    ],
)
def test_a_malformed_id_is_refused_in_words_that_name_what_it_was_meant_to_be(
    value: str, what: str, words: str
) -> None:
    """The pages hand ids from their addresses to the domain as text: a malformed one is a
    422 that says which id was wrong, never an error from deeper down."""
    with pytest.raises(Invalid) as refused:
        access.parse_id(value, what)
    assert (refused.value.message, refused.value.code) == (words, "invalid_id")
    same = uuid.uuid4()
    assert access.parse_id(str(same), what) == same == access.parse_id(same, what)


def test_an_unknown_request_or_page_is_named_in_words(
    db: Database, people: dict[str, httpx.Client]
) -> None:
    """Accepting or previewing a request that does not exist, and a cursor never given out,
    answer 404 with the sentence a person reads, not only a code."""
    mechanic = people["mechanic"]
    nowhere = str(uuid.uuid4())
    answers = {
        "accept": mechanic.post("/api/mechanic/accept", json={"request_id": nowhere}),
        "preview": mechanic.get(f"/api/mechanic/requests/{nowhere}"),
    }
    for what, answer in answers.items():
        assert answer.status_code == 404, f"{what}: {answer.text}"
        assert answer.json()["error"]["message"] == "No such request.", what
    cursor = base64.urlsafe_b64encode(b"not a time|not an id").decode()
    page = mechanic.get("/api/mechanic/dashboard/completed", params={"cursor": cursor})
    assert page.status_code == 404, page.text
    assert page.json()["error"] == {
        **page.json()["error"],
        "code": "invalid_cursor",
        "message": "No page has that cursor.",
    }
