"""/openapi.json is a contract clients generate code from: every route, every error it gives.

The errors each route must document follow from what it takes (parameters, a body, ids in
its path) and from the authorization matrix (who gets 401 or 403); each documented error
must have DESIGN's shape, ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

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
