"""Every refusal of bad input speaks to a person, never in the validation library's words.

Pages show an error's ``message`` and each ``details[].problem`` as they come, so neither may
read "String should have at least 1 character". Every JSON body, path and header the OpenAPI
document describes is sent wrong in every way a careless client manages (each field missing,
null, of the wrong type, blank, too long, unknown; the body not an object, not JSON), and each
422 must speak plainly while ``details`` still names the field. (The bad inputs of
test_input.py are held to the same words by its own check, through ``library_words``.)
Wording does not depend on the database, so this runs on SQLite only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from pitcrew.web.errors import problem_words
from tests.support.factories import Person

pytestmark = pytest.mark.usefixtures("quick_passwords")

LIBRARY_PHRASES = (
    "String should",
    "Input should",
    "Field required",
    "value is not a valid",
    "Value error,",
    "Extra inputs are not permitted",
    "JSON decode error",
    "Assertion failed,",
)

# A value of every kind a field might wrongly get.
WRONG: tuple[Any, ...] = (None, True, 1.5, -1, "", "   ", "x" * 9000, "\x00", [], {}, "2016")


def library_words(text: str) -> list[str]:
    """The validation library's phrases found in a message meant for a person."""
    return [phrase for phrase in LIBRARY_PHRASES if phrase.lower() in text.lower()]


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """A schema with its ``$ref`` followed (also through ``anyOf``, as optional fields have)."""
    for option in [schema, *schema.get("anyOf", []), *schema.get("allOf", [])]:
        ref = option.get("$ref")
        if ref:
            found: dict[str, Any] = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
            return found
    return schema


def _bodies(schema: dict[str, Any], doc: dict[str, Any]) -> Iterator[Any]:
    yield {}
    yield []
    yield "a sentence"
    yield {"no_such_field": 1}
    for name, field in _resolve(schema, doc).get("properties", {}).items():
        for value in WRONG:
            yield {name: value}
        nested = _resolve(field, doc).get("properties", {})
        for inner in nested:
            for value in WRONG:
                yield {name: {inner: value}}


def _requests(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, url, what httpx sends) for each wrong input to each operation."""
    for template, operations in doc["paths"].items():
        for method, operation in operations.items():
            if "text/event-stream" in operation["responses"].get("200", {}).get("content", {}):
                continue  # a stream stays open; its one parameter is checked in test_sse
            path_names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            good = template
            for name in path_names:
                good = good.replace("{" + name + "}", str(uuid.uuid4()))
                bad = template
                for other in path_names:
                    filler = "not-an-id" if other == name else str(uuid.uuid4())
                    bad = bad.replace("{" + other + "}", filler)
                yield method, bad, {}
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header":
                    for value in ("", " ", "k" * 300):
                        yield method, good, {"headers": {parameter["name"]: value}}
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                for body in _bodies(content["application/json"]["schema"], doc):
                    yield method, good, {"json": body}
                for raw in (b"{vehicle: Honda", b"\xff\xfe not text", b""):
                    headers = {"content-type": "application/json"}
                    yield method, good, {"content": raw, "headers": headers}
            elif content:  # a form (a photo): sent without its parts
                yield method, good, {"data": {}}


def _what_is_wrong(answer: httpx.Response) -> list[str]:
    error = answer.json()["error"]
    wrong = [f"message {error['message']!r}: {library_words(error['message'])}"]
    for detail in error.get("details") or []:
        if not detail.get("field"):
            wrong.append(f"a problem without its field: {detail}")
        wrong.append(f"problem {detail.get('problem')!r}: {library_words(detail['problem'])}")
    return [w for w in wrong if not w.endswith(": []")]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_no_refusal_speaks_in_the_library_words(
    anonymous: TestClient, customer: Person, mechanic: Person
) -> None:
    doc = anonymous.get("/openapi.json").json()
    refused = 0
    problems: list[str] = []
    for method, url, sent in _requests(doc):
        for person in (customer, mechanic):
            answer = person.client.request(method.upper(), url, **sent)
            if answer.status_code != 422:
                continue
            refused += 1
            problems += [
                f"{method.upper()} {url} {sent}: {p}"[:300] for p in _what_is_wrong(answer)
            ]
    assert problems == []
    assert refused > 500, "the sweep must reach the validation of most fields"


@pytest.mark.parametrize(
    ("error", "field", "words"),
    [
        ({"type": "missing", "loc": ("body", "issue_description")}, "issue_description",
         "Describe the problem"),
        ({"type": "string_too_short", "loc": ("body", "name"), "ctx": {"min_length": 1}},
         "name", "Enter your name"),
        ({"type": "value_error", "loc": ("body", "email"), "ctx": {"reason": "no @"}},
         "email", "Enter an email address like name@example.com"),
        ({"type": "string_too_short", "loc": ("body", "password"), "ctx": {"min_length": 8}},
         "password", "Choose a password of at least 8 characters"),
        ({"type": "less_than_equal", "loc": ("body", "vehicle", "year"), "ctx": {"le": 2100}},
         "vehicle.year", "Enter a year between 1900 and 2100"),
        ({"type": "int_parsing", "loc": ("body", "rating")}, "rating",
         "Choose a rating from 1 to 5"),
        ({"type": "enum", "loc": ("body", "session_type"),
          "ctx": {"expected": "'chat' or 'video'"}}, "session_type", "Choose chat or video"),
        ({"type": "extra_forbidden", "loc": ("body", "vehicle", "colour")}, "vehicle.colour",
         "Unknown field: vehicle.colour"),
        ({"type": "bool_parsing", "loc": ("body", "on_duty")}, "on_duty", "Use true or false"),
        ({"type": "json_invalid", "loc": ("body", 9), "ctx": {"error": "Expecting value"}},
         "body", "The request body is not valid JSON"),
        ({"type": "string_too_long", "loc": ("body", "body"), "ctx": {"max_length": 4000}},
         "body", "Keep the message to 4,000 characters or fewer"),
        ({"type": "uuid_parsing", "loc": ("path", "session_id")}, "path.session_id",
         "That is not a valid session id"),
        ({"type": "greater_than_equal", "loc": ("query", "limit"), "ctx": {"ge": 1}},
         "query.limit", "Enter a limit of at least 1"),
        ({"type": "some_new_type", "loc": ("body", "plan_code")}, "plan_code",
         "Choose a plan"),
        ({"type": "some_new_type", "loc": ("body", "colour_code")}, "colour_code",
         "Check the colour code"),
    ],
)  # fmt: skip
def test_each_kind_of_error_has_its_sentence(error: dict[str, Any], field: str, words: str) -> None:
    assert problem_words(error) == (field, words)


def test_the_api_answers_in_words_and_keeps_the_field(
    anonymous: TestClient, customer: Person
) -> None:
    """What a sign-up and an intake with every field wrong answer, on either database."""
    answer = anonymous.post(
        "/api/auth/register", json={"email": "dana@example", "password": "short", "name": " "}
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    problems = {d["field"]: d["problem"] for d in error["details"]}
    assert problems == {
        "email": "Enter an email address like name@example.com",
        "password": "Choose a password of at least 8 characters",
        "name": "Enter your name",
    }
    assert error["message"] in problems.values()

    answer = customer.client.post(
        "/api/intake/start",
        json={"vehicle": {"make": "Honda", "model": ""}, "issue_description": "",
              "session_type": "chat"},
    )  # fmt: skip
    problems = {d["field"]: d["problem"] for d in answer.json()["error"]["details"]}
    assert problems == {
        "vehicle.year": "Enter the car's model year, like 2016",
        "vehicle.model": "Enter the model of the car, like Civic",
        "issue_description": "Describe the problem in a few words",
    }
    rating = customer.client.post(f"/api/sessions/{uuid.uuid4()}/rating", json={"rating": 9})
    assert rating.json()["error"]["message"] == "Choose a rating from 1 to 5"
    assert customer.client.get("/api/sessions/not-an-id").json()["error"]["message"] == (
        "That is not a valid session id"
    )
