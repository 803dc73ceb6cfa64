"""Schemathesis against /openapi.json: no 5xx, every answer matches the schema, bad data refused.

Every operation is fuzzed with every built-in check, signed in as a customer or a mechanic
(whichever the operation is for); then the stateful phase chains real calls: intake →
accept → join → complete → rating, and whatever else the schema's links allow. The number
of examples is bounded so the run fits in CI.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.schemas import OpenApiSchema

from pitcrew import auth
from pitcrew.db import Database
from tests.conftest import PASSWORD, Person

STREAMS = ("/api/events",)  # a response that lasts as long as the page: not fuzzable
MECHANIC_PATHS = ("/api/mechanic/", "/api/me/", "/join", "/complete", "/release")

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
STATEFUL = settings(
    max_examples=25,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def _with_intake_link(raw: dict[str, Any]) -> dict[str, Any]:
    """Tell the stateful phase that an intake's request_id is what a mechanic accepts."""
    raw = copy.deepcopy(raw)
    accept_id = raw["paths"]["/api/mechanic/accept"]["post"]["operationId"]
    created = raw["paths"]["/api/intake/start"]["post"]["responses"]["201"]
    created["links"] = {
        "AcceptTheRequest": {
            "operationId": accept_id,
            "requestBody": {"request_id": "$response.body#/request_id"},
        }
    }
    return raw


@pytest.fixture
def headers_for(
    db: Database, customer: Person, mechanic: Person
) -> Callable[[str, str], dict[str, str]]:
    def pick(method: str, path: str) -> dict[str, str]:
        if path == "/api/auth/logout":
            # Signing out must not sign the fuzzing clients out: a token of its own each time.
            token, _ = auth.login(db, customer.email, PASSWORD, timedelta(minutes=5))
            return {"Authorization": f"Bearer {token}"}
        person = mechanic if any(part in path for part in MECHANIC_PATHS) else customer
        return {"Authorization": str(person.client.headers["Authorization"])}

    return pick


@pytest.fixture
def api_schema(quick_passwords: None, app: FastAPI) -> OpenApiSchema:
    schema = schemathesis.openapi.from_dict(_with_intake_link(app.openapi()))
    schema.app = app
    schema.location = "/openapi.json"
    return schema.exclude(path=list(STREAMS))


def test_every_operation_with_every_check(
    api_schema: OpenApiSchema, headers_for: Callable[[str, str], dict[str, str]]
) -> None:
    """Each operation in turn, its failures gathered so one run reports all of them."""
    failures: dict[str, BaseException] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @EXAMPLES
        @given(case=operation.as_strategy())
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=headers_for(case.method, case.path))

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as error:  # reported together below
            failures[operation.label] = error
    assert failures == {}, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())


def test_stateful_phase_from_intake_to_completion(
    api_schema: OpenApiSchema, headers_for: Callable[[str, str], dict[str, str]]
) -> None:
    machine = api_schema.as_state_machine()
    flow = [
        "POST_api_intake_start___201_AcceptTheRequest__POST_api_mechanic_accept",
        "POST_api_mechanic_accept___200_PostSession__POST_api_sessions_session_id_join",
        "POST_api_sessions_session_id_join___200_PostSession__POST_api_sessions_session_id_complete",
    ]
    missing = [step for step in flow if not hasattr(machine, step)]
    assert missing == [], f"the stateful phase cannot follow the flow: {missing}"

    class SignedIn(machine):  # type: ignore[valid-type, misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers_for(case.method, case.path)}

    SignedIn.run(settings=STATEFUL)
