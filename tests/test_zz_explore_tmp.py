"""Schemathesis against /openapi.json: no 5xx, every answer matches the schema, bad data refused.

Every operation is fuzzed with every built-in check, signed in as a customer or a mechanic
(whichever the operation is for); then the stateful phase chains real calls: intake →
accept → join → complete → rating, and whatever else the schema's links allow. The number
of examples is bounded, and the examples are the same on every run (derandomized), so CI is
both quick and repeatable; ``PITCREW_FUZZ_EXAMPLES`` searches further.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from pitcrew import auth
from pitcrew.db import Database
from pitcrew.models import Base
from tests.conftest import PASSWORD, Person

# Addresses at special-use domains (example.test, x.invalid) are refused on purpose: no mail
# reaches them. JSON Schema's "email" format allows them, so generate deliverable-looking ones.
schemathesis.openapi.format("email", st.emails())

STREAMS = ("/api/events",)
ACCOUNTS = {
    "users",
    "auth_tokens",
    "login_failures",
}  # a response that lasts as long as the page: not fuzzable
MECHANIC_PATHS = ("/api/mechanic/", "/api/me/", "/join", "/complete", "/release")

# PITCREW_FUZZ_EXAMPLES=500 searches further, with fresh random examples on each run.
EXAMPLES_PER_OPERATION = int(os.environ.get("PITCREW_FUZZ_EXAMPLES", "25"))
REPEATABLE = "PITCREW_FUZZ_EXAMPLES" not in os.environ

EXAMPLES = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=REPEATABLE,
    database=None,
)
STATEFUL = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=REPEATABLE,
    database=None,
    phases=[Phase.explicit, Phase.generate],
)


def positive_data_acceptance_but_nul(ctx: Any, response: Any, case: Any) -> bool | None:
    """The built-in check, but for text with a NUL character: schema-valid, refused by design.

    No database pitcrew runs on can store NUL in text, so every field refuses it with 422
    (``schemas.Strict``) instead of one database failing on it.
    """
    if response.status_code == 422 and "NUL" in response.json()["error"]["message"]:
        return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result


CHECKS: dict[str, Any] = {
    "additional_checks": [positive_data_acceptance_but_nul],
    "excluded_checks": [positive_data_acceptance],
}


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
            case.call_and_validate(headers=headers_for(case.method, case.path), **CHECKS)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as error:  # reported together below
            failures[operation.label] = error
    assert failures == {}, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())


def test_stateful_phase_from_intake_to_completion(
    db: Database, api_schema: OpenApiSchema, headers_for: Callable[[str, str], dict[str, str]]
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
        def setup(self) -> None:
            """Each scenario from no sessions at all, so replaying it replays the same calls."""
            with db.engine.begin() as c:
                for table in reversed(Base.metadata.sorted_tables):
                    if table.name not in ACCOUNTS:
                        c.execute(table.delete())

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers_for(case.method, case.path)}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, transport_kwargs=kwargs, **CHECKS)

    SignedIn.run(settings=STATEFUL)
