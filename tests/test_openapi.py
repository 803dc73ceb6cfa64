"""/openapi.json is a contract clients generate code from: every route, every error it gives.

The errors each route must document follow from what it takes (parameters, a body, ids in
its path) and from the authorization matrix (who gets 401 or 403); each documented error
must have DESIGN's shape, ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.test_authz import MATRIX, api_routes

# DESIGN.md's HTTP API table: what clients were promised.
DESIGN_ROUTES = {
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/logout"),
    ("POST", "/api/intake/start"),
    ("GET", "/api/mechanic/requests"),
    ("POST", "/api/mechanic/accept"),
    ("GET", "/api/mechanic/dashboard"),
    ("GET", "/api/sessions/{session_id}"),
    ("POST", "/api/sessions/{session_id}/join"),
    ("POST", "/api/sessions/{session_id}/complete"),
    ("POST", "/api/sessions/{session_id}/cancel"),
    ("POST", "/api/sessions/{session_id}/rating"),
    ("GET", "/api/sessions/{session_id}/messages"),
    ("POST", "/api/sessions/{session_id}/messages"),
    ("GET", "/api/events"),
    ("GET", "/api/notifications"),
    ("POST", "/api/notifications/{notification_id}/read"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
}

# Routes that refuse on the current state of something (DESIGN: 409 conflict).
SESSION_STATES = {"pending", "waiting", "live", "completed", "cancelled"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def spec(anonymous: httpx.Client) -> dict[str, Any]:
    answer = anonymous.get("/openapi.json")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}
    }


def _required_errors(route: tuple[str, str], op: dict[str, Any]) -> set[int]:
    method, path = route
    need: set[int] = set()
    if op.get("parameters") or op.get("requestBody"):
        need.add(422)
    if op.get("requestBody"):
        need.add(413)
    if "{" in path:
        need.add(404)
    row = MATRIX.get(route)
    if row is not None:
        answers = {
            row.anonymous,
            row.owner,
            row.other_customer,
            row.holder,
            row.other_mechanic,
            row.admin,
        }
        need |= answers & {401, 403}
        if row.anonymous == 401 and method in UNSAFE:
            need.add(403)  # a cookie-signed change without its CSRF token
        if method in UNSAFE and row.needs in SESSION_STATES:
            need.add(409)
    return need


def test_every_route_is_documented(app: FastAPI, spec: dict[str, Any]) -> None:
    documented = set(_operations(spec))
    assert DESIGN_ROUTES - documented == set(), "DESIGN's routes missing from /openapi.json"
    assert api_routes(app) - documented == set(), "routes the app serves but does not document"


def test_every_route_documents_the_errors_it_gives(spec: dict[str, Any]) -> None:
    missing = {}
    for route, op in sorted(_operations(spec).items()):
        listed = {int(code) for code in op["responses"] if code.isdigit()}
        lacking = _required_errors(route, op) - listed
        if lacking:
            missing[f"{route[0]} {route[1]}"] = sorted(lacking)
    assert missing == {}


def test_documented_errors_have_the_error_shape(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    wrong = []
    for (method, path), op in sorted(_operations(spec).items()):
        for code, response in op["responses"].items():
            if not (code.isdigit() and 400 <= int(code) < 500):
                continue
            ref = response.get("content", {}).get("application/json", {}).get("schema", {})
            name = ref.get("$ref", "").rsplit("/", 1)[-1]
            if name not in schemas:
                wrong.append(f"{method} {path} {code}: no schema")
                continue
            error = schemas[name].get("properties", {}).get("error", {})
            body = schemas.get(error.get("$ref", "").rsplit("/", 1)[-1], {})
            if not {"code", "message"} <= set(body.get("required", [])):
                wrong.append(f"{method} {path} {code}: {name} is not the error shape")
    assert wrong == []
    assert "HTTPValidationError" not in schemas, "FastAPI's own 422 shape is not what we send"


def test_a_documented_error_is_what_the_server_sends(anonymous: httpx.Client) -> None:
    """The shape in the document is the shape on the wire (a 401 and a 422 as samples)."""
    unsigned = anonymous.get("/api/auth/me")
    assert unsigned.status_code == 401
    assert set(unsigned.json()["error"]) >= {"code", "message"}
    invalid = anonymous.post("/api/auth/login", json={"email": "x@example.com"})
    assert invalid.status_code == 422
    assert set(invalid.json()["error"]) >= {"code", "message"}


# Fields whose content differs from one case to the next, on purpose: what an event carries
# depends on its kind (docs/ARCHITECTURE.md, "Events"), and a repair's before and after are
# the columns of whichever table it changes. Every other object a route answers with names
# its fields.
OPEN_ON_PURPOSE = {"TimelineEntry.payload", "PlannedChange.before", "PlannedChange.after"}
# The keywords that say what a value is; a schema with none of them says nothing.
SHAPE = {"type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const"}


def _free_form(schema: dict[str, Any]) -> bool:
    """``{}``, an object without properties, or ``additionalProperties`` alone: a client
    generated from it gets a bare dict."""
    if not SHAPE & schema.keys():
        return True
    return schema.get("type") == "object" and not schema.get("properties")


def _free_spots(
    schema: dict[str, Any], components: dict[str, Any], where: str, seen: set[str]
) -> set[str]:
    """Where in ``schema`` (and the components it refers to) a value is free-form."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return set()
        seen.add(name)
        return _free_spots(components[name], components, name, seen)
    spots = {where} if _free_form(schema) else set()
    parts: list[tuple[str, Any]] = [
        (f"{where}.{k}", v) for k, v in schema.get("properties", {}).items()
    ]
    parts += [(where, v) for key in ("anyOf", "oneOf", "allOf") for v in schema.get(key, [])]
    parts += [(f"{where}[]", schema[k]) for k in ("items", "additionalProperties") if k in schema]
    for inner_where, inner in parts:
        if isinstance(inner, dict):
            spots |= _free_spots(inner, components, inner_where, seen)
    return spots


def _json_answers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for (method, path), op in sorted(_operations(spec).items()):
        for code, response in op["responses"].items():
            body = response.get("content", {}).get("application/json")
            if code.startswith("2") and body is not None:
                yield f"{method} {path} {code}", body.get("schema", {})


def test_every_json_answer_names_its_fields(spec: dict[str, Any]) -> None:
    """A client generated from the document gets typed objects, never a bare dict."""
    components = spec["components"]["schemas"]
    free: dict[str, set[str]] = {}
    for route, schema in _json_answers(spec):
        spots = _free_spots(schema, components, route, set())
        if spots - OPEN_ON_PURPOSE:
            free[route] = spots - OPEN_ON_PURPOSE
    assert free == {}
    everywhere = set().union(
        *(_free_spots(s, components, r, set()) for r, s in _json_answers(spec))
    )
    assert everywhere >= OPEN_ON_PURPOSE, "a field open on purpose is typed now: drop it above"


@pytest.mark.parametrize(
    "schema",
    [
        {},
        {"title": "Anything"},
        {"type": "object"},
        {"type": "object", "additionalProperties": True},
        {"type": "object", "additionalProperties": {"type": "boolean"}},
        {"additionalProperties": {"type": "string"}},
        {"type": "array", "items": {"type": "object"}},
        {"anyOf": [{"type": "object", "additionalProperties": True}, {"type": "null"}]},
        {"type": "object", "properties": {"rows": {"type": "array", "items": {}}}},
        {"$ref": "#/components/schemas/Loose"},
    ],
)
def test_the_check_finds_a_free_form_object_wherever_it_is(schema: dict[str, Any]) -> None:
    loose = {"Loose": {"type": "object", "properties": {"car": {"type": "object"}}}}
    assert _free_spots(schema, loose, "answer", set()) != set()


def test_the_check_passes_an_object_with_its_fields() -> None:
    typed = {
        "Car": {
            "type": "object",
            "properties": {
                "year": {"type": "integer"},
                "vin": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
        }
    }
    page = {
        "type": "object",
        "properties": {"cars": {"type": "array", "items": {"$ref": "#/components/schemas/Car"}}},
    }
    assert _free_spots(page, typed, "answer", set()) == set()


# What each route that answers with something other than JSON sends, as bytes or text.
FILES = {
    ("GET", "/api/sessions/{session_id}/photos/{message_id}"): {
        "image/jpeg",
        "image/png",
        "image/webp",
    },
    ("GET", "/api/sessions/{session_id}/photos/{message_id}/thumb"): {"image/jpeg"},
    ("GET", "/api/sessions/{session_id}/report.pdf"): {"application/pdf"},
    ("GET", "/api/events"): {"text/event-stream"},
    ("GET", "/metrics"): {"text/plain"},
}


def test_every_answer_that_is_not_json_says_its_media_type(spec: dict[str, Any]) -> None:
    """Photos and the report are bytes, the stream and the metrics text; each says which."""
    declared: dict[tuple[str, str], set[str]] = {}
    for route, op in _operations(spec).items():
        for code, response in op["responses"].items():
            for media_type, body in response.get("content", {}).items():
                if code.startswith("2") and media_type != "application/json":
                    declared.setdefault(route, set()).add(media_type)
                    kind = {"type": "string"}
                    if not media_type.startswith("text/"):
                        kind["format"] = "binary"
                    assert body.get("schema") == kind, (route, media_type)
    assert declared == FILES
